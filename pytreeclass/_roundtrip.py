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
from ._filters import is_array, is_inexact_array
from ._grad import filter_grad
from ._jit import filter_jit
from ._registry import SPEC_ATTRIBUTE, is_pytree_dataclass
from ._vmap import filter_vmap


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
    3. the treedef rebuilds with placeholder leaves (``None``, ``object()``
       sentinels, booleans), the way ``partition``, ``filter``, masks,
       ``filter_grad`` and ``vmap`` axis specs rebuild trees, and gives the
       placeholders back where they were put;
    4. ``filter_grad`` of the sum of the float leaves gives gradients of
       ``obj``'s structure, ``None`` exactly at the other leaves, and
       ``filter_vmap`` of the identity gives back a batch of ``obj``;
    5. ``filter_jit`` of the identity returns an equal object; so does
       ``jax.jit`` when every leaf is an array or a Python number.

    It never fails on a correct object: NaN equals NaN, and Python numbers
    are compared as what ``jax.jit`` makes of them (``0.1`` as float32); the
    ``jax.jit`` check is left out when a leaf is something ``jax.jit`` cannot
    take as it is (a string; an int beyond int32 or a float beyond float32
    without x64). Raises ``AssertionError`` naming the check that failed, the
    path that differs and, for checks 3 and 4, the usual cause: an unflatten
    that runs validation (jax-ml/jax#25486), which ``tree_map`` over arrays
    never shows.

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
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(obj)[0]]
    _assert_rebuilds_with_placeholders(treedef, leaves, paths)
    _assert_transforms_keep_structure(obj, treedef, leaves, paths)
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
    # The number type itself, also for subclasses (IntEnum, IntFlag, user ints).
    python_type = next(t for t in (bool, int, float, complex) if isinstance(leaf, t))
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


# --- rebuilds with placeholder leaves ---------------------------------------------

_CAUSE = (
    "This usually means the class's unflatten runs validation or conversion (a "
    "validating __init__ or __post_init__ called from tree_unflatten): tree_map over "
    "arrays works, but partition, filter, filter_grad, masks and vmap axis specs rebuild "
    "the tree with None, sentinels or booleans. Rebuild without running __init__ "
    "(object.__new__, then set the fields), as pytree_dataclass does; see jax-ml/jax#25486."
)
#: Placeholder leaves, by what puts them in trees.
_PLACEHOLDERS = {
    "None leaves (as partition, filter and filter_grad build)": lambda i: None,
    "object() leaves (as sentinels and tree_at build)": lambda i: object(),
    "boolean leaves (as filter specs, masks and axis specs build)": lambda i: i % 2 == 0,
}


def _assert_rebuilds_with_placeholders(treedef: Any, leaves: list[Any], paths: list[str]) -> None:
    """Each kind of placeholder goes in every leaf and comes back out where it was put."""
    for what, make in _PLACEHOLDERS.items():
        placeholders = [make(i) for i in range(len(leaves))]
        check = f"rebuild with {what}"
        try:
            rebuilt = jax.tree_util.tree_unflatten(treedef, placeholders)
        except Exception as error:
            where = _first_failing_leaf(treedef, leaves, paths, make)
            raise AssertionError(
                f"{check}: tree_unflatten raised {type(error).__name__}: {error} "
                f"(with the placeholder at {where}). {_CAUSE}"
            ) from error
        found = _subtrees_at_leaves(check, treedef, rebuilt)
        for path, placeholder, got in zip(paths, placeholders, found, strict=True):
            if got is not placeholder:
                raise AssertionError(
                    f"{check}: obj{path} came back as {got!r}, not the placeholder "
                    f"{placeholder!r} put there. {_CAUSE}"
                )


def _first_failing_leaf(treedef: Any, leaves: list[Any], paths: list[str], make: Any) -> str:
    """The path of the first leaf whose placeholder alone breaks the rebuild."""
    for i, path in enumerate(paths):
        try:
            jax.tree_util.tree_unflatten(treedef, [*leaves[:i], make(i), *leaves[i + 1 :]])
        except Exception:
            return f"obj{path}"
    return "every leaf at once (no single one fails alone)"


def _subtrees_at_leaves(check: str, treedef: Any, tree: Any) -> list[Any]:
    """What ``tree`` holds where ``treedef`` has leaves, or an error saying it differs."""
    try:
        return treedef.flatten_up_to(tree)
    except (ValueError, TypeError) as error:
        raise AssertionError(
            f"{check}: the result does not have obj's structure: {error}. {_CAUSE}"
        ) from None


# --- transforms of the identity ---------------------------------------------------


def _assert_transforms_keep_structure(
    obj: Any, treedef: Any, leaves: list[Any], paths: list[str]
) -> None:
    check = "filter_grad(sum of the float leaves)(obj)"
    grads = _transformed(check, lambda: filter_grad(_sum_of_inexact_leaves)(obj))
    for path, leaf, grad in zip(
        paths, leaves, _subtrees_at_leaves(check, treedef, grads), strict=True
    ):
        if (grad is None) == is_inexact_array(leaf):
            expected = "a gradient" if grad is None else "None"
            raise AssertionError(f"{check}: obj{path} is {grad!r} in the gradients, not {expected}")
    if any(map(is_array, leaves)):
        batch = jax.tree_util.tree_map(lambda x: jnp.stack([x, x]) if is_array(x) else x, obj)
        check = "filter_vmap(identity)(batch of obj)"
        mapped = _transformed(check, lambda: filter_vmap(_identity)(batch))
        assert_trees_equal(batch, mapped, check)


def _transformed(check: str, run: Any) -> Any:
    try:
        return run()
    except Exception as error:
        raise AssertionError(f"{check} raised {type(error).__name__}: {error}. {_CAUSE}") from error


def _sum_of_inexact_leaves(tree: Any) -> jax.Array:
    inexact = [x for x in jax.tree_util.tree_leaves(tree) if is_inexact_array(x)]
    return sum((jnp.sum(jnp.real(x).astype(jnp.float32)) for x in inexact), jnp.zeros(()))
