"""Hypothesis strategies for jaxtyping annotations (``Float[Array, "batch out"]`` and kin).

jaxtyping stays optional: nothing here imports it. An annotation can only be a
jaxtyping one if the module that wrote it imported jaxtyping, so ``sys.modules``
is asked, never the import system.

What an annotation says, and what is drawn for it:

==========================  ==============================================
``"out inp"`` (named)       one size per name within one scope
``"3"``, ``"rows=3"``       exactly 3
``"n+1"`` (symbolic)        evaluated with the scope's sizes
``"*batch"``, ``"..."``     0 to ``max_dims`` dims (``*batch`` the same
                            dims within the scope, ``...`` fresh ones)
``"#n"``, ``"*#batch"``     the scope's size(s), or 1 where broadcastable
``"_"``, ``"_n"``, ``"?n"`` a fresh size; ``?n`` one size per scope
``Float``, ``Int``, ...     the family's dtypes JAX can hold (bfloat16 and
                            float8 among floats); 64-bit only under x64
``Key``                     typed PRNG keys (``jax.random.key``)
``Shaped``                  a few common dtypes
``Array`` / ``np.ndarray``  ``jax.Array`` / numpy arrays
==========================  ==============================================

A scope is a ``dims_scope()`` block: ``instances()`` opens one per instance it
draws, and a nested instance opens its own, as jaxtyping's dataclass check
keeps one memo per ``__init__`` call.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import contextvars
import dataclasses
import functools
import sys
from collections.abc import Iterator
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import reject
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


class CannotInferError(TypeError):
    """No strategy follows from an annotation (the message says where and why)."""


@dataclasses.dataclass(frozen=True)
class ArraySizes:
    """How big the arrays ``instances()`` draws get.

    Small by default, so that a model of many layers draws quickly:
    every free dimension (named, anonymous, unannotated) has a size from
    ``min_side`` to ``max_side``; variadic dimensions (``*batch``, ``...``)
    and unannotated arrays have up to ``max_dims`` dims. Fixed sizes
    (``"3"``) are what the annotation says, whatever these are.

    Example:
        >>> from pytreeclass.testing import ArraySizes
        >>> ArraySizes(max_side=8)
        ArraySizes(min_side=1, max_side=8, max_dims=2)
    """

    min_side: int = 1
    max_side: int = 3
    max_dims: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.min_side <= self.max_side or self.max_dims < 0:
            raise ValueError(
                f"ArraySizes: need 0 <= min_side <= max_side and max_dims >= 0, got {self}."
            )


@dataclasses.dataclass
class _Scope:
    sizes: dict[str, int]
    shapes: dict[str, tuple[int, ...]]


_SCOPE: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("dims", default=None)


@contextlib.contextmanager
def dims_scope() -> Iterator[None]:
    """Named dimensions drawn inside this block agree with each other."""
    token = _SCOPE.set(_Scope({}, {}))
    try:
        yield
    finally:
        _SCOPE.reset(token)


def is_jaxtyping_array(tp: Any) -> bool:
    """Whether ``tp`` is a jaxtyping array annotation, such as ``Float[Array, "n"]``."""
    jaxtyping = sys.modules.get("jaxtyping")
    abstract = getattr(jaxtyping, "AbstractArray", None)
    return abstract is not None and isinstance(tp, type) and issubclass(tp, abstract)


@dataclasses.dataclass(frozen=True)
class _Dim:
    kind: str  # fixed, named, anonymous, symbolic, variadic, anonymous variadic
    value: Any = None  # the size, the name or the expression
    broadcastable: bool = False


def _parse_dims(dim_str: str, where: str) -> tuple[_Dim, ...]:
    """jaxtyping's shape grammar (its ``_make_array_cached``), read from the public
    ``dim_str``: jaxtyping's own parsed form is private."""
    dims = []
    for elem in dim_str.split():
        if elem == "...":
            dims.append(_Dim("anonymous variadic"))
            continue
        broadcastable = variadic = anonymous = False
        while elem:
            if elem[0] in "#*_?":
                broadcastable |= elem[0] == "#"
                variadic |= elem[0] == "*"
                anonymous |= elem[0] == "_"
                elem = elem[1:]  # "?": one size per scope satisfies any tree path
            elif elem.count("=") == 1:
                elem = elem.split("=")[1]  # "rows=3" is "3"
            else:
                break
        if not elem or elem.isidentifier():
            kinds = {(False, False): "named", (False, True): "variadic"}
            kinds |= {(True, False): "anonymous", (True, True): "anonymous variadic"}
            dims.append(_Dim(kinds[anonymous or not elem, variadic], elem, broadcastable))
        elif elem.isdigit():
            dims.append(_Dim("fixed", int(elem), broadcastable))
        else:
            try:
                ast.parse(elem, mode="eval")
            except SyntaxError:
                raise CannotInferError(f"{where}: cannot read the dimension {elem!r}") from None
            if "{" in elem:
                raise CannotInferError(
                    f"{where}: the dimension {elem!r} refers to other arguments"
                ) from None
            dims.append(_Dim("symbolic", elem, broadcastable))
    return tuple(dims)


# What ``Shaped`` (any dtype) draws; the first of each list is what shrinking reaches.
_ANY_DTYPES = ("float32", "int32", "bool", "bfloat16", "float16", "int8", "uint8", "complex64")
_FIRST = ("float32", "int32", "bool", "uint32", "complex64")
_KEY = "prng_key"
# Never drawn: XLA's CPU compiler aborts the process on 2-bit integers (seen on JAX
# 0.8.3: "Check failed: bit_offset" stacking an int2 array), and no model holds them.
_NEVER = frozenset({"int2", "uint2"})


def _dtypes(tp: Any, on_jax: bool, where: str) -> list[Any]:
    names = tp.dtypes if isinstance(tp.dtypes, list | tuple) else _ANY_DTYPES
    names = sorted(names, key=lambda n: (n not in _FIRST, n != "float16"))
    dtypes: list[Any] = []
    for name in names:
        if name in _NEVER:
            continue
        if name == _KEY:
            if not on_jax:
                raise CannotInferError(f"{where}: numpy arrays cannot hold typed PRNG keys")
            dtypes.append(_KEY)
            continue
        try:
            dtype = jnp.dtype(name)
        except TypeError:  # a dtype this numpy/ml_dtypes does not have
            continue
        # A jax.Array holds no 64-bit values unless jax_enable_x64 is on.
        if (not on_jax or jax.dtypes.canonicalize_dtype(dtype) == dtype) and dtype not in dtypes:
            dtypes.append(dtype)
    if not dtypes:
        raise CannotInferError(
            f"{where}: none of the dtypes {list(names)} can be held by a "
            f"{'jax' if on_jax else 'numpy'} array here (64-bit ones need jax_enable_x64)"
        )
    return dtypes


def jaxtyping_arrays(tp: Any, sizes: ArraySizes, where: str) -> st.SearchStrategy[Any]:
    """Arrays of the dtype family, shape and array type ``tp`` (a jaxtyping
    annotation) says; named dimensions agree within the ``dims_scope()``."""
    if tp.array_type in (jax.Array, Any):
        on_jax = True
    elif tp.array_type is np.ndarray:
        on_jax = False
    else:
        raise CannotInferError(f"{where}: cannot draw arrays of type {tp.array_type!r}")
    dims = _parse_dims(tp.dim_str, where)
    dtypes = _dtypes(tp, on_jax, where)

    @st.composite
    def arrays(draw: st.DrawFn) -> Any:
        scope = _SCOPE.get() or _Scope({}, {})
        shape = _draw_shape(draw, dims, sizes, scope)
        dtype = draw(st.sampled_from(dtypes))
        value = draw(_values(dtype, shape))
        return jnp.asarray(value) if on_jax and dtype != _KEY else value

    return arrays()


def _draw_shape(
    draw: st.DrawFn, dims: tuple[_Dim, ...], sizes: ArraySizes, scope: _Scope
) -> tuple[int, ...]:
    side = st.integers(sizes.min_side, sizes.max_side)
    free_shape = st.lists(side, max_size=sizes.max_dims).map(tuple)
    shape: list[int] = []
    for dim in dims:
        if dim.kind == "anonymous variadic":
            shape += draw(free_shape)
            continue
        if dim.kind == "variadic":
            if dim.value not in scope.shapes:
                scope.shapes[dim.value] = draw(free_shape)
            full = scope.shapes[dim.value]
            shape += _broadcastable_to(draw, full) if dim.broadcastable else full
            continue
        if dim.kind == "fixed":
            size = dim.value
        elif dim.kind == "anonymous":
            size = draw(side)
        elif dim.kind == "named":
            if dim.value not in scope.sizes:
                scope.sizes[dim.value] = draw(side)
            size = scope.sizes[dim.value]
        else:
            size = _evaluate(draw, dim.value, side, scope)
        shape.append(1 if dim.broadcastable and draw(st.booleans()) else size)
    return tuple(shape)


def _broadcastable_to(draw: st.DrawFn, full: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts to ``full``: leading dims dropped, some sizes 1."""
    part = full[draw(st.integers(0, len(full))) :]
    return tuple(1 if draw(st.booleans()) else size for size in part)


def _evaluate(draw: st.DrawFn, expression: str, side: st.SearchStrategy[int], scope: _Scope) -> int:
    """A symbolic dimension (``"n+1"``), with sizes drawn for names not seen yet."""
    names = {n.id for n in ast.walk(ast.parse(expression, mode="eval")) if isinstance(n, ast.Name)}
    for name in sorted(names - scope.sizes.keys() - set(dir(builtins))):
        scope.sizes[name] = draw(side)
    size = eval(expression, dict(scope.sizes))  # what jaxtyping does with the expression
    if not isinstance(size, int) or size < 0:
        reject()  # "n-2" with n == 1: no array has that shape
    return size


@functools.lru_cache(maxsize=512)
def _values(dtype: Any, shape: tuple[int, ...]) -> st.SearchStrategy[Any]:
    if dtype == _KEY:
        impl = jax.random.key_impl(jax.random.key(0))
        data_shape = jax.random.key_data(jax.random.key(0)).shape
        data = hnp.arrays(np.uint32, shape + data_shape)
        return data.map(lambda d: jax.random.wrap_key_data(jnp.asarray(d), impl=impl))
    if dtype.type.__module__ == "numpy":  # numpy's own dtypes: hypothesis draws them
        width = cast(Any, dtype.itemsize * 8)
        elements: st.SearchStrategy[Any] | None = None
        if dtype.kind == "f":
            elements = st.floats(-1e3, 1e3, width=width)
        elif dtype.kind == "c":
            elements = st.complex_numbers(max_magnitude=1e3, width=width, allow_nan=False)
        return hnp.arrays(dtype, shape, elements=elements)
    # ml_dtypes (bfloat16, float8, int4, ...): drawn in a wider type, then cast.
    if jnp.issubdtype(dtype, jnp.floating):
        bound = min(1e3, float(jnp.finfo(dtype).max))
        wide = hnp.arrays(np.float32, shape, elements=st.floats(-bound, bound, width=32))
    else:
        info = jnp.iinfo(dtype)
        wide = hnp.arrays(np.int64, shape, elements=st.integers(int(info.min), int(info.max)))
    return wide.map(lambda a: a.astype(dtype))
