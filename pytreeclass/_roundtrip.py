"""``assert_roundtrip``: the checks every pytree class should pass, with paths in failures."""

from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import GetAttrKey

from ._dtypes import is_inexact_dtype, is_key_dtype
from ._filters import is_array
from ._jit import filter_jit
from ._registry import SPEC_ATTRIBUTE, is_pytree_dataclass


def assert_trees_equal(expected: Any, actual: Any, path: str = "obj") -> None:
    """Raise ``AssertionError`` naming the first path where the two objects differ.

    Arrays compare by shape, (canonical) dtype and value, NaNs equal (typed
    PRNG keys by their key data); dataclass instances field by field; containers
    item by item; Python floats and complexes by value, NaN equal to NaN;
    anything else by ``==``.
    """
    if is_array(expected) or is_array(actual):
        _assert_arrays_equal(expected, actual, path)
    elif dataclasses.is_dataclass(expected) and not isinstance(expected, type):
        _assert_same_type(expected, actual, path)
        for f in dataclasses.fields(expected):
            assert_trees_equal(
                getattr(expected, f.name), getattr(actual, f.name, _MISSING), f"{path}.{f.name}"
            )
    elif isinstance(expected, list | tuple):
        _assert_same_type(expected, actual, path)
        if len(expected) != len(actual):
            raise AssertionError(f"{path}: length {len(expected)} != {len(actual)}")
        for i, (a, b) in enumerate(zip(expected, actual, strict=True)):
            assert_trees_equal(a, b, f"{path}[{i}]")
    elif isinstance(expected, dict):
        _assert_same_type(expected, actual, path)
        if expected.keys() != actual.keys():
            raise AssertionError(f"{path}: keys {sorted(expected)} != {sorted(actual)}")
        for key in expected:
            assert_trees_equal(expected[key], actual[key], f"{path}[{key!r}]")
    elif not _scalars_equal(expected, actual) or type(expected) is not type(actual):
        raise AssertionError(f"{path}: {expected!r} != {actual!r}")


def _scalars_equal(expected: Any, actual: Any) -> bool:
    if expected is actual or expected == actual:
        return True
    return _is_nan(expected) and _is_nan(actual)


def _is_nan(x: Any) -> bool:
    if isinstance(x, float):
        return math.isnan(x)
    return isinstance(x, complex) and (math.isnan(x.real) or math.isnan(x.imag))


_MISSING = object()


def _assert_same_type(expected: Any, actual: Any, path: str) -> None:
    if type(expected) is not type(actual):
        raise AssertionError(
            f"{path}: type {type(expected).__qualname__} != {type(actual).__qualname__}"
        )


def _assert_arrays_equal(expected: Any, actual: Any, path: str) -> None:
    if not (is_array(expected) and is_array(actual)):
        raise AssertionError(f"{path}: {expected!r} != {actual!r}")
    expected_key, actual_key = is_key_dtype(expected.dtype), is_key_dtype(actual.dtype)
    if expected_key or actual_key:
        if expected.dtype != actual.dtype:
            raise AssertionError(f"{path}: dtype {expected.dtype} != {actual.dtype}")
        expected, actual = jax.random.key_data(expected), jax.random.key_data(actual)
    e, a = np.asarray(expected), np.asarray(actual)
    if e.shape != a.shape:
        raise AssertionError(f"{path}: shape {e.shape} != {a.shape}")
    e_dtype = jax.dtypes.canonicalize_dtype(e.dtype)
    if e_dtype != jax.dtypes.canonicalize_dtype(a.dtype):
        raise AssertionError(f"{path}: dtype {e_dtype} != {a.dtype}")
    if not np.array_equal(
        e.astype(e_dtype), a.astype(e_dtype), equal_nan=is_inexact_dtype(e_dtype)
    ):
        raise AssertionError(f"{path}: values differ:\n{e!r}\n!=\n{a!r}")


def assert_roundtrip(obj: Any) -> None:
    """Check that ``obj`` survives JAX's pytree machinery unchanged.

    1. flatten/unflatten gives an equal object with an equal treedef;
    2. for a pytree dataclass, leaves' key paths start with ``GetAttrKey`` of
       its data fields, in field order, and static fields live in the treedef,
       not among the leaves;
    3. ``filter_jit`` of the identity returns an equal object; so does
       ``jax.jit`` when every leaf is an array or a Python number.

    It never fails on a correct object: NaN equals NaN, and Python numbers
    are compared as what ``jax.jit`` makes of them (``0.1`` as float32); the
    ``jax.jit`` check is left out when a leaf is something ``jax.jit`` cannot
    take as it is (a string; an int beyond int32 or a float beyond float32
    without x64). Raises
    ``AssertionError`` naming the check that failed and the path that differs.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> from pytreeclass.testing import assert_roundtrip
        >>> @ptc.pytree_dataclass
        ... class Point:
        ...     xy: jnp.ndarray
        ...     label: str = ptc.field(static=True, default="p")
        >>> assert_roundtrip(Point(jnp.zeros(2)))
    """
    leaves, treedef = jax.tree_util.tree_flatten(obj)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert_trees_equal(obj, rebuilt, "unflatten(flatten(obj))")
    rebuilt_treedef = jax.tree_util.tree_structure(rebuilt)
    if rebuilt_treedef != treedef:  # type: ignore[operator]  # PyTreeDef stubs lack __ne__
        raise AssertionError(f"treedef changed by a round trip: {treedef} != {rebuilt_treedef}")
    if is_pytree_dataclass(obj):
        first_keys = _first_keys(obj)
        _assert_key_paths_name_fields(obj, first_keys)
        _assert_static_fields_in_treedef(obj, treedef, set(first_keys))
    assert_trees_equal(obj, filter_jit(_identity)(obj), "filter_jit(identity)(obj)")
    if all(map(_jax_jit_takes, leaves)):
        expected = jax.tree_util.tree_map(_as_jax_makes_it, obj)
        jitted = jax.tree_util.tree_map(_back_to_python, obj, jax.jit(_identity)(obj))
        assert_trees_equal(expected, jitted, "jax.jit(identity)(obj)")


def _identity(x: Any) -> Any:
    return x


def _jax_jit_takes(leaf: Any) -> bool:
    """Whether ``jax.jit`` takes ``leaf`` without loss: a big int overflows, and a
    float beyond float32's range becomes inf with a warning."""
    if is_array(leaf):
        return True
    if not isinstance(leaf, int | float | complex):
        return False
    # JAX's default dtype for the Python type (int32/float32/complex64 unless x64),
    # checked with numpy: JAX caches its conversions of Python scalars, so a second
    # look at the same value through jnp.asarray would not warn again.
    python_type = bool if isinstance(leaf, bool) else type(leaf).__mro__[-2]
    dtype = jax.dtypes.canonicalize_dtype(_NUMPY_TYPE[python_type])
    if isinstance(leaf, int) and python_type is int:
        info = np.iinfo(dtype)
        return bool(info.min <= leaf <= info.max)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            np.asarray(leaf, dtype=dtype)
        except (OverflowError, RuntimeWarning):
            return False
    return True


_NUMPY_TYPE = {bool: np.bool_, int: np.int64, float: np.float64, complex: np.complex128}


def _as_jax_makes_it(leaf: Any) -> Any:
    """A Python number as ``jax.jit`` gives it back (``0.1`` through float32)."""
    return leaf if is_array(leaf) else type(leaf)(jnp.asarray(leaf).item())


def _back_to_python(original: Any, traced: Any) -> Any:
    """``jax.jit`` turns Python numbers into arrays; undo that to compare values."""
    return original if is_array(original) else type(original)(traced.item())


def _first_keys(obj: Any) -> list[str]:
    """Per leaf, the field name its key path starts with (or the odd key, as text)."""
    paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(obj)[0]]
    return [p[0].name if p and isinstance(p[0], GetAttrKey) else repr(p[:1]) for p in paths]


def _assert_key_paths_name_fields(obj: Any, actual: list[str]) -> None:
    expected: list[str] = []
    for name in type(obj).__dict__[SPEC_ATTRIBUTE].data_names:
        expected += [name] * len(jax.tree_util.tree_leaves(getattr(obj, name)))
    if actual != expected:
        raise AssertionError(
            f"{type(obj).__qualname__}: leaf key paths start with {actual}, expected "
            f"GetAttrKey of the data fields in order: {expected}"
        )


def _assert_static_fields_in_treedef(obj: Any, treedef: Any, leaf_fields: set[str]) -> None:
    _, metadata = treedef.node_data()
    for name in type(obj).__dict__[SPEC_ATTRIBUTE].static_names:
        value = getattr(obj, name)
        if not any(value is m or value == m for m in metadata):
            raise AssertionError(
                f"{type(obj).__qualname__}.{name}: static value {value!r} "
                f"is not in the treedef metadata {metadata!r}"
            )
        if name in leaf_fields:
            raise AssertionError(f"{type(obj).__qualname__}.{name}: static field has leaves")
