"""The package's face: what ``import pytreeclass`` shows, and its metadata."""

import pathlib
import re
import tomllib

import pytreeclass as ptc
import pytreeclass.transforms

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_package_exposes_only_its_api():
    leaked = {"version", "PackageNotFoundError", "importlib", "metadata"} & set(dir(ptc))
    assert leaked == set()
    assert all(not name.startswith("_installed") for name in dir(ptc))


def test_the_version_is_pyprojects():
    assert ptc.__version__ == PYPROJECT["project"]["version"]


def test_the_transforms_live_in_pytreeclass_transforms():
    transforms = {n for n in dir(pytreeclass.transforms) if not n.startswith("_")}
    assert {n for n in dir(ptc) if n.startswith("filter_")} <= transforms
    for name in transforms:
        value = getattr(pytreeclass.transforms, name)
        assert getattr(ptc, name) is value, name  # one object, two spellings
        assert value.__module__ == "pytreeclass.transforms", name


def test_the_classifiers_claim_the_pythons_ci_tests():
    claimed = {
        c.rsplit(" :: ", 1)[1]
        for c in PYPROJECT["project"]["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    ci = (ROOT / ".ci" / "run").read_text()
    tested = {"3.11", *re.findall(r"^(?:NEWEST|LOWEST_JAX)_PYTHON=([\d.]+)", ci, flags=re.M)}
    assert claimed == tested
    assert PYPROJECT["project"]["requires-python"] == f">={min(claimed, key=lambda v: int(v[2:]))}"
