"""The README's Python examples run: each on its own (as a newcomer pastes one), and
all in order, as one program."""

import re
import sys
import types
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_python_examples():
    assert len(python_blocks()) >= 4


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_each_readme_example_runs_on_its_own(index, monkeypatch):
    module = types.ModuleType(f"readme_example_{index}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(python_blocks()[index], f"README.md, block {index}", "exec"), module.__dict__)


def test_readme_examples_run(capsys, monkeypatch):
    module = types.ModuleType("readme_examples")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for block in python_blocks():
        exec(compile(block, str(README), "exec"), module.__dict__)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == (
        "Linear(weight=f32[3,2], bias=f32[2], activation=<function relu>, name='linear') None"
    )
    assert printed[1] == "2 lr: 0.1 -> 0.05"


def test_readme_quickstart_commands_match_ci():
    quickstart = README.read_text().split("## Quickstart", 1)[1].split("```bash\n", 1)[1]
    commands = quickstart.split("```", 1)[0].strip().splitlines()
    assert len(commands) == 2
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1] in ci


def test_ci_tests_the_lowest_jax_that_pyproject_allows():
    ci = (README.parent / ".ci" / "run").read_text()
    pyproject = (README.parent / "pyproject.toml").read_text()
    lowest = re.search(r"^LOWEST_JAX=(\S+)", ci, flags=re.MULTILINE).group(1)
    assert f'"jax>={lowest}"' in pyproject
