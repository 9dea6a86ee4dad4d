"""``instances()``: hypothesis strategies for pytree dataclasses, read from their annotations.

Only valid instances come out: a draw the class rejects while it is
constructed (``ValueError``, ``TypeError``, a jaxtyping or beartype check) is
drawn again, then discarded, because the validation is the class's contract.
When nearly all draws are rejected, a ``FailedHealthCheck`` names the class and
the exception it raised, which hypothesis's own "filtering too much" cannot.
"""

# No ``from __future__ import annotations``: doctests inherit it, and would then
# write string annotations that the example's classes cannot resolve.
import collections.abc
import dataclasses
import inspect
import sys
import types
import typing
from typing import Any, TypeVar, cast

try:
    from hypothesis import reject
    from hypothesis import strategies as st
    from hypothesis.errors import FailedHealthCheck
    from hypothesis.extra import numpy as hnp
except ImportError as error:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "pytreeclass.testing needs hypothesis: pip install hypothesis (or, in a clone "
        "of the pytreeclass repository, pip install -e '.[testing]'; the package "
        "index's 'pytreeclass' is another project)."
    ) from error

import jax
import jax.numpy as jnp
import numpy as np

from ._field import init_var_fields
from ._jaxtyping_strategies import (
    ArraySizes,
    CannotInferError,
    dims_scope,
    is_jaxtyping_array,
    jaxtyping_arrays,
)
from ._registry import SPEC_ATTRIBUTE, decorated_classes, is_pytree_dataclass

T = TypeVar("T")

MAX_DEPTH = 3
_DTYPES = (np.float32, np.int32, np.bool_, np.float16)
_STATIC_CALLABLES = (jax.nn.relu, jnp.tanh, jnp.sin, jax.nn.sigmoid)
#: Construction attempts per draw before it is discarded (hypothesis's ``.filter`` tries 3).
_ATTEMPTS = 3
#: A class that rejected this many attempts, and 20 for each one it accepted, is
#: reported: "nearly all" leaves room for hypothesis's first, simplest draws (0.0
#: and such), which a class often rejects, and still fires before hypothesis's own
#: health check (50 discarded draws, each of ``_ATTEMPTS`` attempts).
_MOST_REJECTIONS = 100
_SMALL = ArraySizes()


def _numpy_arrays(sizes: ArraySizes) -> st.SearchStrategy[np.ndarray]:
    shapes = hnp.array_shapes(
        min_dims=0, max_dims=sizes.max_dims, min_side=sizes.min_side, max_side=sizes.max_side
    )

    def arrays_of(dtype: Any) -> st.SearchStrategy[np.ndarray]:
        elements = (
            st.floats(-1e3, 1e3, width=cast(Any, np.dtype(dtype).itemsize * 8))
            if np.issubdtype(dtype, np.floating)
            else None
        )
        return hnp.arrays(dtype, shapes, elements=elements)

    return st.sampled_from(_DTYPES).flatmap(arrays_of)


def _strategy_for(
    tp: Any, depth: int, static: bool, where: str, sizes: ArraySizes
) -> st.SearchStrategy:
    """A strategy for values of annotation ``tp`` (``static``: hashable ones only)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is typing.Any or tp is object:
        raise CannotInferError(f"{where}: annotation {tp!r} says nothing about the values")
    if tp is None or tp is type(None):
        return st.none()
    array = is_jaxtyping_array(tp)
    if array or tp in (jax.Array, np.ndarray) or origin is np.ndarray:
        if static:
            raise CannotInferError(f"{where}: a static field cannot hold an (unhashable) array")
        if array:
            return jaxtyping_arrays(tp, sizes, where)
        arrays = _numpy_arrays(sizes)
        return arrays if tp is not jax.Array else arrays.map(jnp.asarray)
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

    def inner(tp: Any, depth: int, where: str) -> st.SearchStrategy:
        return _strategy_for(tp, depth, static, where, sizes)

    if origin in (typing.Union, types.UnionType):
        if depth >= MAX_DEPTH and type(None) in args:
            return st.none()  # stop recursive models at the depth limit
        return st.one_of([inner(a, depth, where) for a in args])
    if tp is collections.abc.Callable or origin is collections.abc.Callable:
        return st.sampled_from(_STATIC_CALLABLES)
    if is_pytree_dataclass(tp):
        if static:
            raise CannotInferError(f"{where}: a static field cannot hold a pytree dataclass")
        if depth > 2 * MAX_DEPTH:
            raise CannotInferError(f"{where}: {tp.__qualname__} nests deeper than the limit")
        return _instances(tp, depth + 1, {}, sizes)
    size = 0 if depth >= MAX_DEPTH else 3
    if size == 0 and origin in (tuple, list, dict) and (origin is not tuple or ... in args):
        return st.just(origin())  # stop recursive models at the depth limit
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = inner(args[0], depth + 1, f"{where}[...]")
            return st.lists(item, max_size=size).map(tuple)
        return st.tuples(*(inner(a, depth + 1, f"{where}[{i}]") for i, a in enumerate(args)))
    if static:
        raise CannotInferError(f"{where}: a static field cannot hold an unhashable {tp!r}")
    if origin is list:
        return st.lists(inner(args[0], depth + 1, f"{where}[...]"), max_size=size)
    if origin is dict and args and args[0] is str:
        values = inner(args[1], depth + 1, f"{where}[...]")
        return st.dictionaries(st.text(max_size=4), values, max_size=size)
    raise CannotInferError(f"{where}: cannot infer a strategy for the annotation {tp!r}")


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


def _takes_fields_by_name(cls: type, parameters: list[dataclasses.Field[Any]]) -> bool:
    signature = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.values()):
        return True  # ``def __init__(self, **kwargs)``, as hand-written inits often are
    return all(f.name in signature for f in parameters)


def _instances(
    cls: type, depth: int, overrides: dict[str, st.SearchStrategy], sizes: ArraySizes
) -> st.SearchStrategy:
    parameters = _init_parameters(cls)
    unknown = set(overrides) - {f.name for f in parameters}
    if unknown:
        raise TypeError(
            f"instances({cls.__qualname__}): no field(s) {sorted(unknown)} to override; "
            f"__init__ takes {', '.join(f.name for f in parameters) or 'none'}."
        )
    if not _takes_fields_by_name(cls, parameters):
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
            strategies[f.name] = _strategy_for(hints[f.name], depth, static, where, sizes)
        except CannotInferError as error:
            if f.default is not dataclasses.MISSING:
                strategies[f.name] = st.just(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                strategies[f.name] = st.builds(f.default_factory)
            else:
                raise TypeError(
                    f"instances({cls.__qualname__}): {error}. Pass a strategy for it: "
                    f"instances({cls.__name__}, {f.name}=st.just(...))."
                ) from None
    return _constructed(cls, st.fixed_dictionaries(strategies))


def _rejected_errors() -> tuple[type[BaseException], ...]:
    """What a class raises to reject its arguments. jaxtyping's ``TypeCheckError``
    is a ``TypeError``; beartype's violations are not. Read from ``sys.modules``:
    an exception of a module nobody imported cannot be raised."""
    errors: list[type[BaseException]] = [ValueError, TypeError]
    roar = sys.modules.get("beartype.roar")
    if roar is not None:
        errors.append(roar.BeartypeCallHintViolation)
    return tuple(errors)


def _constructed(cls: type, arguments: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy:
    """Instances built by ``cls(**arguments)``; rejected arguments are drawn again
    (each draw in its own scope of named dimensions), then the draw discarded."""
    tally = {"accepted": 0, "rejected": 0}

    @st.composite
    def construct(draw: st.DrawFn) -> Any:
        for _ in range(_ATTEMPTS):
            with dims_scope():
                kwargs = draw(arguments)
            try:
                obj = cls(**kwargs)
            except _rejected_errors() as error:
                tally["rejected"] += 1
                if (
                    tally["rejected"] >= _MOST_REJECTIONS
                    and tally["rejected"] > 20 * tally["accepted"]
                ):
                    raise _rejected_nearly_all(cls, tally, error) from error
                continue
            tally["accepted"] += 1
            return obj
        reject()

    return construct()


def _rejected_nearly_all(cls: type, tally: dict[str, int], error: BaseException) -> Exception:
    # A health check, which hypothesis re-raises at once: a plain exception would be
    # taken as a test failure and shrunk, and replays could then construct fine.
    total = tally["accepted"] + tally["rejected"]
    return FailedHealthCheck(
        f"instances({cls.__qualname__}): {cls.__qualname__} rejected {tally['rejected']} of "
        f"the {total} sets of arguments drawn for it while constructing; the last raised "
        f"{type(error).__name__}: {error}. Pass strategies that draw valid values for the "
        f"fields it checks, e.g. instances({cls.__name__}, <field>=st.floats(min_value=0.1))."
    )


def instances(
    cls: type[T], sizes: ArraySizes = _SMALL, /, **overrides: st.SearchStrategy
) -> st.SearchStrategy[T]:
    """A hypothesis strategy for valid instances of the pytree dataclass ``cls``.

    Values come from the field annotations: jaxtyping arrays
    (``Float[Array, "out inp"]``: dtype family, array type, named dimensions
    that agree within one instance, fixed, symbolic, variadic and
    broadcastable dimensions), ``jax.Array``/``np.ndarray`` (float32, int32,
    bool, float16), ``int``, ``float``, ``bool``, ``str``, ``None``,
    ``Optional``/unions, ``Literal``, ``tuple[...]``, ``list[...]``,
    ``dict[str, ...]``, ``Callable`` (a few ``jax.nn`` functions) and nested
    pytree dataclasses (to depth 3). Static fields get hashable values only.
    ``sizes`` (an ``ArraySizes``, positional) bounds array shapes; ``overrides``
    maps a field name to a strategy; a field whose type cannot be inferred uses
    its default, or raises a ``TypeError`` asking for an override. Arguments
    the class rejects while constructing are drawn again or discarded.

    Example:
        >>> import pytreeclass as ptc
        >>> from jaxtyping import Array, Float
        >>> from pytreeclass.testing import instances
        >>> @ptc.pytree_dataclass
        ... class Affine:
        ...     weight: Float[Array, "out inp"]
        ...     bias: Float[Array, " out"]
        >>> from hypothesis import given
        >>> @given(instances(Affine))
        ... def test_shapes_agree(affine):
        ...     assert affine.weight.shape[0] == affine.bias.shape[0]
        >>> test_shapes_agree()
    """
    if not is_pytree_dataclass(cls) or not isinstance(cls, type):
        raise TypeError(f"instances() expects a pytree dataclass, got {cls!r}.")
    if not isinstance(sizes, ArraySizes):
        raise TypeError(
            f"instances({cls.__qualname__}, ...): the second argument sets array sizes and "
            f"must be an ArraySizes, got {sizes!r}; pass field strategies by keyword."
        )
    return _instances(cls, 0, overrides, sizes)


def register_strategies(*classes: type) -> None:
    """Make ``st.from_type(cls)`` (and ``st.builds`` inference) use ``instances(cls)``.

    With no argument, registers every pytree dataclass defined so far. The
    strategy is built when first asked for, so a class whose fields cannot be
    inferred raises then, naming the field.

    Example:
        >>> import pytreeclass as ptc
        >>> from hypothesis import given, strategies as st
        >>> from pytreeclass.testing import register_strategies
        >>> @ptc.pytree_dataclass
        ... class Scale:
        ...     factor: float
        >>> register_strategies(Scale)
        >>> @given(st.from_type(Scale))
        ... def test_scales(scale):
        ...     assert isinstance(scale, Scale)
        >>> test_scales()
    """
    for cls in classes or tuple(decorated_classes()):
        if not is_pytree_dataclass(cls):
            raise TypeError(f"register_strategies() expects pytree dataclasses, got {cls!r}.")
        # A resolver, not a strategy: built only when asked for, so classes that
        # need overrides (or refer to each other) can all be registered up front.
        st.register_type_strategy(cls, instances)
