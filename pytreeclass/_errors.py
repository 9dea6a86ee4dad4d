"""``error_if`` and ``branched_error_if``: runtime checks that survive ``jit``, ``vmap`` and AD.

How one check runs, by what ``pred`` is when ``error_if`` is called:

==========================  ==================================================
``pred`` (and ``index``)    what happens
==========================  ==================================================
concrete (bool, numpy,      decided now: raise ``RuntimeError(msg)`` at once
a committed jax array)      (eagerly, or while ``jit`` traces), or return ``x``
a tracer                    a ``lax.cond`` on the (unbatched) predicate whose
                            taken branch is a ``pure_callback`` that raises
==========================  ==================================================

Why each piece (see ``_check``):

- the predicate is reduced with ``jnp.any`` and, under ``vmap``, across the
  batch too (``_any_in_batch``, a ``custom_vmap``), so the ``cond`` is never
  turned into a ``select`` that would run the raising branch for every call;
- the raising branch *returns* ``x``-shaped arrays, so the callback feeds the
  result and cannot be dead-code eliminated while the result is used;
- a ``custom_jvp`` keeps the ``cond`` out of AD: tangents pass straight
  through, and ``grad`` neither differentiates nor duplicates the check.

When ``pred`` is false the compiled cost is one ``cond`` on a scalar, as in
Equinox. A raised check reaches the caller as JAX's ``JaxRuntimeError`` (a
``RuntimeError``; ``ValueError`` on some dispatch paths) whose text holds the
message; Equinox's ``filter_jit`` rewrites it into ``EquinoxRuntimeError``.
"""

from __future__ import annotations

import functools
import os
import traceback
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer
from jax.custom_batching import custom_vmap

from ._filters import combine, is_array, partition

T = TypeVar("T")
OnError = Literal["default", "raise", "nan", "off"]
_MODES = ("raise", "nan", "off")
# Read once, like Equinox's EQX_ON_ERROR: "off" removes every check from new traces.
_DEFAULT_MODE = os.environ.get("PTC_ON_ERROR", "raise")


@custom_vmap
def _any_in_batch(pred: jax.Array) -> jax.Array:
    return jnp.any(pred)


@_any_in_batch.def_vmap
def _any_in_batch_vmap(axis_size: int, in_batched: list, pred: jax.Array) -> tuple:
    del axis_size, in_batched
    return _any_in_batch(pred), False  # one answer for the whole batch


@custom_vmap
def _max_in_batch(index: jax.Array) -> jax.Array:
    return jnp.max(index)


@_max_in_batch.def_vmap
def _max_in_batch_vmap(axis_size: int, in_batched: list, index: jax.Array) -> tuple:
    del axis_size, in_batched
    return _max_in_batch(index), False


class _Check:
    """What one call site checks: its messages, mode and where it was written.
    Hashable (a ``custom_jvp`` static argument) and compared by value."""

    __slots__ = ("mode", "msgs", "site")

    def __init__(self, msgs: tuple[str, ...], mode: str, site: str):
        self.msgs, self.mode, self.site = msgs, mode, site

    def _key(self) -> tuple:
        return self.msgs, self.mode, self.site

    def __eq__(self, other: object) -> bool:
        return type(other) is _Check and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def raise_for(self, index: Any) -> Any:
        """The ``pure_callback`` body: never returns."""
        message = self.msgs[int(np.asarray(index))]
        where = f"\n\n(ptc.error_if, checked at {self.site})" if self.site else ""
        raise RuntimeError(message + where)


def _nan_like(x: jax.Array) -> jax.Array:
    dtype = x.dtype
    if jnp.issubdtype(dtype, jnp.inexact):
        fill: Any = jnp.nan
    elif jnp.issubdtype(dtype, jnp.integer):
        fill = jnp.iinfo(dtype).max
    elif jnp.issubdtype(dtype, jnp.bool_):
        fill = True
    else:
        return x  # keys and other extended dtypes have no "invalid" value
    return jnp.full(x.shape, fill, dtype)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _check(check: _Check, leaves: list, pred: jax.Array, index: jax.Array) -> list:
    pred = _any_in_batch(pred)
    if check.mode == "nan":
        return jax.lax.cond(pred, lambda xs: [_nan_like(x) for x in xs], lambda xs: xs, leaves)
    index = _max_in_batch(index)
    structs = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves]

    def fail(xs: list) -> list:
        del xs
        return jax.pure_callback(check.raise_for, structs, index)

    return jax.lax.cond(pred, fail, lambda xs: xs, leaves)


@_check.defjvp
def _check_jvp(check: _Check, primals: tuple, tangents: tuple) -> tuple:
    leaves, pred, index = primals
    return _check(check, leaves, pred, index), tangents[0]


def error_if(x: T, pred: Any, msg: str, *, on_error: OnError = "default") -> T:
    """Return ``x`` unchanged, or raise ``msg`` at run time when any of ``pred`` is true.

    JAX has no twin (``checkify`` needs a functionalized call): this works inside
    ``jax.jit`` / ``filter_jit``, ``vmap`` (an error if any batch element fails)
    and ``grad`` (the check is not differentiated), on any pytree ``x`` holding
    at least one array. Use the returned value: an unused one is compiled away
    with its check. A ``pred`` known while tracing raises at once. As
    Equinox's ``error_if``; ``on_error`` is ``"raise"``, ``"nan"`` (return
    NaN-filled arrays instead) or ``"off"``, with ``"default"`` read from the
    ``PTC_ON_ERROR`` environment variable at import (``"raise"`` if unset).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> @jax.jit
        ... def safe_log(x):
        ...     x = ptc.error_if(x, x <= 0, "safe_log needs x > 0")
        ...     return jnp.log(x)
        >>> safe_log(jnp.ones(()))
        Array(0., dtype=float32)
        >>> try:
        ...     safe_log(-jnp.ones(()))
        ... except (RuntimeError, ValueError) as error:  # JAX's type varies by dispatch path
        ...     print("safe_log needs x > 0" in str(error))
        True
    """
    if not isinstance(msg, str):
        raise TypeError(f"error_if(x, pred, msg): msg must be a str, got {type(msg).__name__}.")
    return branched_error_if(x, pred, 0, [msg], on_error=on_error)


def branched_error_if(
    x: T, pred: Any, index: Any, msgs: Sequence[str], *, on_error: OnError = "default"
) -> T:
    """``error_if`` with several messages: raise ``msgs[index]`` when ``pred`` holds.

    Under ``vmap`` the largest ``index`` of the batch picks the message; else
    as ``error_if`` (and Equinox's ``branched_error_if``).

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> x = jnp.array([1.0, 2.0])
        >>> ptc.branched_error_if(x, jnp.array(False), 1, ["too small", "too big"])
        Array([1., 2.], dtype=float32)
        >>> try:
        ...     ptc.branched_error_if(x, True, 1, ["too small", "too big"])
        ... except RuntimeError as error:
        ...     print(error)
        too big
    """
    mode = _mode(on_error)
    if isinstance(msgs, str) or not all(isinstance(m, str) for m in msgs) or not msgs:
        raise TypeError(
            f"branched_error_if(x, pred, index, msgs): msgs must be a non-empty sequence "
            f"of str, got {msgs!r}. For one message use error_if(x, pred, msg)."
        )
    msgs = tuple(msgs)
    decided = _decided_now(pred, index, msgs)
    if decided is False or mode == "off":
        return x
    if decided is not None and mode == "raise":
        raise RuntimeError(msgs[decided])
    dynamic, static = partition(x, is_array)
    leaves, treedef = jax.tree_util.tree_flatten(dynamic)
    if not leaves:
        raise ValueError(
            "error_if(x, pred, msg): x holds no arrays for the check to attach to "
            f"(got {type(x).__name__}). Pass the array(s) the check guards, e.g. "
            "x = error_if(x, x < 0, msg), and use the returned value."
        )
    pred, index = jnp.asarray(pred), jnp.asarray(index)
    if not jnp.issubdtype(index.dtype, jnp.integer):
        raise TypeError(
            f"branched_error_if: index must be an integer array or int, got dtype {index.dtype}."
        )
    check = _Check(msgs, mode, _call_site() if mode == "raise" else "")
    checked = _check(check, leaves, pred, index.astype(jnp.int32))
    return combine(jax.tree_util.tree_unflatten(treedef, checked), static)


def _mode(on_error: str) -> str:
    mode = _DEFAULT_MODE if on_error == "default" else on_error
    if mode not in _MODES:
        source = "the PTC_ON_ERROR environment variable" if on_error == "default" else "on_error"
        raise ValueError(
            f"error_if: {source} is {mode!r}; use one of {', '.join(map(repr, _MODES))}. "
            f"(Equinox's 'breakpoint' is not offered: use jax.debug.breakpoint.)"
        )
    return mode


def _decided_now(pred: Any, index: Any, msgs: tuple[str, ...]) -> int | bool | None:
    """``False`` when ``pred`` is concretely false, the message index when it is
    concretely true (and ``index`` concrete), ``None`` when only run time can tell.

    Plain Python bools and ints need no JAX call, so a check costs nothing
    before a backend starts (as in Equinox)."""
    if isinstance(pred, Tracer):
        return None
    truth = bool(pred) if isinstance(pred, bool) else bool(np.any(np.asarray(pred)))
    if not truth:
        return False
    if isinstance(index, Tracer):
        return None
    position = int(index) if isinstance(index, int) else int(np.max(np.asarray(index)))
    if not 0 <= position < len(msgs):
        raise IndexError(
            f"branched_error_if: index {position} is out of range for {len(msgs)} messages."
        )
    return position


def _call_site() -> str:
    """``file:line`` of the user's call, read while tracing only (never per call)."""
    here = os.path.dirname(__file__)
    for frame in reversed(traceback.extract_stack(limit=12)[:-1]):
        if not frame.filename.startswith(here):
            return f"{frame.filename}:{frame.lineno}"
    return ""
