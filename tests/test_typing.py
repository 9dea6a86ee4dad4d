"""Type checkers see the generated ``__init__`` (``dataclass_transform``).

One run of each checker (mypy is slow: it checks JAX too) over the typed
example, which must pass, and over wrong uses, which must each be reported.
Both checkers come with the ``[test]`` extra.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import mypy.api as mypy_api
import pytest

TYPED_EXAMPLE = Path(__file__).resolve().parent / "typing_check.py"

WRONG_USES = """
import jax
import jax.numpy as jnp
import pytreeclass as ptc

@ptc.pytree_dataclass
class Linear:
    weight: jax.Array
    name: str = ptc.field(static=True, default="linear")

Linear(jnp.ones(2), name=3)
Linear()
Linear(jnp.ones(2), colour="red")
Linear(jnp.ones(2)).weight = jnp.ones(2)
"""


@pytest.fixture(scope="module")
def wrong_uses(tmp_path_factory):
    path = tmp_path_factory.mktemp("typing") / "wrong_uses.py"
    path.write_text(textwrap.dedent(WRONG_USES))
    return path


@pytest.fixture(scope="module")
def mypy_report(wrong_uses):
    folder, wrong = wrong_uses.parent, wrong_uses
    stdout, stderr, _ = mypy_api.run(
        [
            str(TYPED_EXAMPLE),
            str(wrong),
            "--cache-dir",
            str(folder / "cache"),
            "--python-version",
            "3.11",
            "--ignore-missing-imports",
        ]
    )
    return stdout + stderr


def test_mypy_accepts_the_typed_example(mypy_report):
    assert "typing_check.py" not in mypy_report, mypy_report


@pytest.mark.parametrize(
    "expected",
    [
        'Argument "name" to "Linear" has incompatible type "int"',
        'Missing positional argument "weight"',
        'Unexpected keyword argument "colour"',
        'Property "weight" defined in "Linear" is read-only',
    ],
)
def test_mypy_rejects_wrong_uses(mypy_report, expected):
    assert expected in mypy_report, mypy_report


@pytest.fixture(scope="module")
def pyright_errors(wrong_uses):
    pyright = Path(sys.executable).with_name("pyright")
    result = subprocess.run(
        [
            str(pyright),
            "--outputjson",
            "--pythonpath",
            sys.executable,
            str(TYPED_EXAMPLE),
            str(wrong_uses),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    return [
        (Path(d["file"]).name, d["message"])
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]


def test_pyright_accepts_the_typed_example(pyright_errors):
    assert [e for e in pyright_errors if e[0] == TYPED_EXAMPLE.name] == []


@pytest.mark.parametrize(
    "expected",
    [
        'cannot be assigned to parameter "name" of type "str"',
        'Argument missing for parameter "weight"',
        'No parameter named "colour"',
        'Attribute "weight" is read-only',
    ],
)
def test_pyright_rejects_wrong_uses(pyright_errors, expected):
    messages = [message for file, message in pyright_errors if file == "wrong_uses.py"]
    assert any(expected in m for m in messages), messages
