"""Type checkers see the generated ``__init__`` (``dataclass_transform``).

One mypy run (it is slow: it checks JAX too) over the typed example, which
must pass, and over wrong uses, which must each be reported.
"""

import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

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
def mypy_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mypy")
    wrong = folder / "wrong_uses.py"
    wrong.write_text(textwrap.dedent(WRONG_USES))
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
