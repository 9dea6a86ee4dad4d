"""Property-based testing of pytree classes: hypothesis strategies and round-trip checks.

Needs hypothesis (``pip install "pytreeclass[testing]"``); ``import pytreeclass``
itself never imports it.

Example:
    >>> import jax
    >>> import pytreeclass as ptc
    >>> from hypothesis import given
    >>> from pytreeclass.testing import assert_roundtrip, instances
    >>> @ptc.pytree_dataclass
    ... class Layer:
    ...     weight: jax.Array
    ...     name: str = ptc.field(static=True, default="layer")
    >>> @given(instances(Layer))
    ... def test_layer_roundtrips(layer):
    ...     assert_roundtrip(layer)
    >>> test_layer_roundtrips()
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import types
import typing
from typing import Any, cast

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as error:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "pytreeclass.testing needs hypothesis; install it with "
        "pip install 'pytreeclass[testing]' (or pip install hypothesis)."
    ) from error

import jax
import jax.numpy as jnp
import numpy as np

from ._field import init_var_fields
from ._registry import SPEC_ATTRIBUTE, decorated_classes, is_pytree_dataclass
from ._roundtrip import assert_roundtrip, assert_trees_equal

__all__ = ["instances", "register_strategies", "assert_roundtrip", "assert_trees_equal"]

MAX_DEPTH = 3
_DTYPES = (np.float32, np.int32, np.bool_, np.float16)
_STATIC_CALLABLES = (jax.nn.relu, jnp.tanh, jnp.sin, jax.nn.sigmoid)


class _CannotInferError(TypeError):
    pass


def _numpy_arrays() -> st.SearchStrategy[np.ndarray]:
    def arrays_of(dtype: Any) -> st.SearchStrategy[np.ndarray]:
        elements = (
            st.floats(-1e3, 1e3, width=cast(Any, np.dtype(dtype).itemsize * 8))
            if np.issubdtype(dtype, np.floating)
            else None
        )
        return hnp.arrays(
            dtype, hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), elements=elements
        )

    return st.sampled_from(_DTYPES).flatmap(arrays_of)


def _strategy_for(tp: Any, depth: int, static: bool, where: str) -> st.SearchStrategy:
    """A strategy for values of annotation ``tp`` (``static``: hashable ones only)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is typing.Any or tp is object:
        raise _CannotInferError(f"{where}: annotation {tp!r} says nothing about the values")
    if tp is None or tp is type(None):
        return st.none()
    if tp in (jax.Array, np.ndarray) or origin is np.ndarray:
        if static:
            raise _CannotInferError(f"{where}: a static field cannot hold an (unhashable) array")
        return _numpy_arrays() if tp is not jax.Array else _numpy_arrays().map(jnp.asarray)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers()  # big ones too: assert_roundtrip must cope
    if tp is float:
        return st.floats()  # NaN, infinities and 0.1 (not a float32) included
    if tp is str:
        return st.text(max_size=8)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, types.UnionType):
        if depth >= MAX_DEPTH and type(None) in args:
            return st.none()  # stop recursive models at the depth limit
        return st.one_of([_strategy_for(a, depth, static, where) for a in args])
    if tp is collections.abc.Callable or origin is collections.abc.Callable:
        return st.sampled_from(_STATIC_CALLABLES)
    if is_pytree_dataclass(tp):
        if static:
            raise _CannotInferError(f"{where}: a static field cannot hold a pytree dataclass")
        if depth > 2 * MAX_DEPTH:
            raise _CannotInferError(f"{where}: {tp.__qualname__} nests deeper than the limit")
        return _instances(tp, depth + 1, {})
    size = 0 if depth >= MAX_DEPTH else 3
    if size == 0 and origin in (tuple, list, dict) and (origin is not tuple or ... in args):
        return st.just(origin())  # stop recursive models at the depth limit
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _strategy_for(args[0], depth + 1, static, f"{where}[...]")
            return st.lists(item, max_size=size).map(tuple)
        return st.tuples(
            *(_strategy_for(a, depth + 1, static, f"{where}[{i}]") for i, a in enumerate(args))
        )
    if static:
        raise _CannotInferError(f"{where}: a static field cannot hold an unhashable {tp!r}")
    if origin is list:
        return st.lists(_strategy_for(args[0], depth + 1, static, f"{where}[...]"), max_size=size)
    if origin is dict and args and args[0] is str:
        values = _strategy_for(args[1], depth + 1, static, f"{where}[...]")
        return st.dictionaries(st.text(max_size=4), values, max_size=size)
    raise _CannotInferError(f"{where}: cannot infer a strategy for the annotation {tp!r}")


def _init_parameters(cls: type) -> list[dataclasses.Field[Any]]:
    """The dataclass fields ``__init__`` takes, ``InitVar`` pseudo-fields included."""
    init_vars = init_var_fields(cls)
    table = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return [
        f for f in table.values() if f.init and (f in dataclasses.fields(cls) or f in init_vars)
    ]


def _field_hints(cls: type, names: list[str]) -> dict[str, Any]:
    """Resolved annotations of the fields in ``names``; a field whose annotation
    cannot be resolved raises, naming it and the override to pass."""
    try:
        hints = typing.get_type_hints(cls)
    except NameError:
        hints = {}
    table = cls.__dataclass_fields__  # type: ignore[attr-defined]
    for name in names:
        if name not in hints:
            if isinstance(table[name].type, str):
                raise TypeError(
                    f"instances({cls.__qualname__}): cannot resolve the annotation "
                    f"{table[name].type!r} of field {name!r}; define the class at module "
                    f"level, or pass a strategy for it: "
                    f"instances({cls.__name__}, {name}=st.just(...))."
                )
            hints[name] = table[name].type
    return {name: _unwrap_init_var(hints[name]) for name in names}


def _unwrap_init_var(tp: Any) -> Any:
    return tp.type if isinstance(tp, dataclasses.InitVar) else tp


def _instances(cls: type, depth: int, overrides: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    parameters = _init_parameters(cls)
    unknown = set(overrides) - {f.name for f in parameters}
    if unknown:
        raise TypeError(
            f"instances({cls.__qualname__}): no field(s) {sorted(unknown)} to override; "
            f"__init__ takes {', '.join(f.name for f in parameters) or 'none'}."
        )
    signature = inspect.signature(cls).parameters
    if any(f.name not in signature for f in parameters):
        raise TypeError(
            f"instances({cls.__qualname__}): its __init__ does not take its fields by name; "
            f"build instances yourself, e.g. st.builds({cls.__name__}, ...)."
        )
    inferred = [f for f in parameters if f.name not in overrides]
    hints = _field_hints(cls, [f.name for f in inferred])
    strategies = dict(overrides)
    for f in inferred:
        where = f"{cls.__qualname__}.{f.name}"
        try:
            static = f.name in cls.__dict__[SPEC_ATTRIBUTE].static_names
            strategies[f.name] = _strategy_for(hints[f.name], depth, static, where)
        except _CannotInferError as error:
            if f.default is not dataclasses.MISSING:
                strategies[f.name] = st.just(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                strategies[f.name] = st.builds(f.default_factory)
            else:
                raise TypeError(
                    f"instances({cls.__qualname__}): {error}. Pass a strategy for it: "
                    f"instances({cls.__name__}, {f.name}=st.just(...))."
                ) from None
    return st.fixed_dictionaries(strategies).map(lambda kwargs: cls(**kwargs))


def instances(cls: type, /, **overrides: st.SearchStrategy) -> st.SearchStrategy:
    """A hypothesis strategy for instances of the pytree dataclass ``cls``.

    Values come from the field annotations: ``jax.Array``/``np.ndarray``
    (shapes up to ``3x3``; float32, int32, bool, float16), ``int``, ``float``
    (finite), ``bool``, ``str``, ``None``, ``Optional``/unions, ``Literal``,
    ``tuple[...]``, ``list[...]``, ``dict[str, ...]``, ``Callable`` (a few
    ``jax.nn`` functions) and nested pytree dataclasses (to depth 3). Static
    fields get hashable values only. ``overrides`` maps a field name to a
    strategy; a field whose type cannot be inferred uses its default, or
    raises a ``TypeError`` asking for an override.
    """
    if not is_pytree_dataclass(cls) or not isinstance(cls, type):
        raise TypeError(f"instances() expects a pytree dataclass, got {cls!r}.")
    return _instances(cls, 0, overrides)


def register_strategies(*classes: type) -> None:
    """Make ``st.from_type(cls)`` (and ``st.builds`` inference) use ``instances(cls)``.

    With no argument, registers every pytree dataclass defined so far. The
    strategy is built when first asked for, so a class whose fields cannot be
    inferred raises then, naming the field.
    """
    for cls in classes or tuple(decorated_classes()):
        if not is_pytree_dataclass(cls):
            raise TypeError(f"register_strategies() expects pytree dataclasses, got {cls!r}.")
        # A resolver, not a strategy: built only when asked for, so classes that
        # need overrides (or refer to each other) can all be registered up front.
        st.register_type_strategy(cls, instances)
