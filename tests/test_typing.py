"""Type checkers see the generated ``__init__`` (``dataclass_transform``)."""

import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parent.parent


def run_mypy(source: str, tmp_path: Path) -> str:
    module = tmp_path / "snippet.py"
    module.write_text(textwrap.dedent(source))
    stdout, stderr, _ = mypy_api.run(
        [
            str(module),
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "--python-version",
            "3.11",
            "--ignore-missing-imports",
        ]
    )
    return stdout + stderr


def test_mypy_accepts_the_typed_example(tmp_path):
    out = run_mypy((ROOT / "tests" / "typing_check.py").read_text(), tmp_path)
    assert "Success" in out, out


def test_mypy_rejects_wrong_constructor_calls_and_frozen_assignment(tmp_path):
    out = run_mypy(
        """
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
        """,
        tmp_path,
    )
    assert 'Argument "name" to "Linear" has incompatible type "int"' in out, out
    assert 'Missing positional argument "weight"' in out, out
    assert 'Unexpected keyword argument "colour"' in out, out
    assert "read-only" in out or "frozen" in out, out
