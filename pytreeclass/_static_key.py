"""Arguments to ``(dynamic leaves, static key)`` and back, for ``filter_jit``.

Array leaves are traced; every other leaf goes into the static key together
with the treedef and the leaves' types (so ``1``, ``1.0`` and ``True`` are
different keys). Non-array *outputs* travel back inside the output treedef
(``WithStatic``, with a ``Static``), which JAX keeps per trace.
"""

from __future__ import annotations

import functools
import itertools
import operator
import weakref
from typing import Any

import jax
import numpy as np
from jax.tree_util import PyTreeDef

from ._filters import ARRAY_TYPES
from ._static import Static


class _IsArrayType(dict):
    """``weakref.ref(type) -> bool`` memo: is a leaf of this type an array (traced)?

    Keyed by weak references, so that the memo keeps no leaf class alive;
    ``weakref.ref(cls)`` returns the reference held here as a key, so a
    lookup allocates nothing.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cleanups: dict[weakref.ref, weakref.ref] = {}

    def __missing__(self, ref: weakref.ref) -> bool:
        cls: Any = ref()
        result = issubclass(cls, ARRAY_TYPES)
        if result:
            KNOWN_ARRAY_TYPES.add(cls)  # array types are few and live for good
        self[ref] = result  # after the set: a memo hit implies the set knows it
        if not result:
            self._cleanups[ref] = weakref.ref(cls, functools.partial(self._forget, ref))
        return result

    def _forget(self, ref: weakref.ref, _: weakref.ref) -> None:
        self.pop(ref, None)
        self._cleanups.pop(ref, None)

    def forget_all(self) -> None:
        """Empty the memo and ``KNOWN_ARRAY_TYPES`` together (one without the other
        would lose the all-arrays fast path for good)."""
        self.clear()
        self._cleanups.clear()
        KNOWN_ARRAY_TYPES.clear()


_IS_ARRAY_TYPE = _IsArrayType()
_lookup = _IS_ARRAY_TYPE.__getitem__
_new_ref = weakref.ref


def is_array_type(cls: type) -> bool:
    """Whether leaves of type ``cls`` are traced (memoised)."""
    return _lookup(_new_ref(cls))


# The array types met so far. ``KNOWN_ARRAY_TYPES.issuperset(map(type, leaves))``
# is the cheapest all-arrays test measured: one C loop, no intermediate tuple
# (about half the cost of mapping ``is_array_type`` for an MLP's 33 leaves).
KNOWN_ARRAY_TYPES: set[type] = set()


def static_key(leaves: list, treedef: Any) -> tuple[list, Any]:
    """Dynamic leaves, and the hashable key of everything else (just the
    treedef when every leaf is an array)."""
    if KNOWN_ARRAY_TYPES.issuperset(map(type, leaves)):
        return leaves, treedef
    return static_key_by_type(leaves, treedef)


def static_key_by_type(leaves: list, treedef: Any) -> tuple[list, Any]:
    """``static_key`` without the known-types shortcut; learns new array types.

    Few passes over the leaves, each a C loop: Python work before JAX's dispatch
    measured about 2.5 times its cost in a tight loop (the dispatch evicts it
    from the CPU's caches), so every pass shows.
    """
    while True:
        flags = tuple(map(KNOWN_ARRAY_TYPES.__contains__, map(type, leaves)))
        statics = tuple(itertools.compress(leaves, map(operator.not_, flags)))
        static_types = tuple(map(type, statics))
        # Only the leaves not yet known as arrays go through the memo (a lookup each);
        # new array types are counted as arrays from now on, and the key taken again.
        learnt = set(itertools.compress(static_types, map(_lookup, map(_new_ref, static_types))))
        if not learnt:
            break
        KNOWN_ARRAY_TYPES.update(learnt)
    if not statics:
        return leaves, treedef
    if float in static_types or complex in static_types:
        statics = tuple(map(_exact, statics))
    key = (treedef, flags, statics, static_types)
    return list(itertools.compress(leaves, flags)), key


def abstract_key(leaves: list, treedef: Any) -> tuple[list, Any]:
    """``static_key`` for ``lower``: ``jax.ShapeDtypeStruct`` leaves stand for arrays."""
    placeholders = [_ARRAY_PLACEHOLDER if type(x) is jax.ShapeDtypeStruct else x for x in leaves]
    _, key = static_key(placeholders, treedef)
    flags = key[1] if type(key) is not PyTreeDef else (True,) * len(leaves)
    return list(itertools.compress(leaves, flags)), key


class _ExactScalar:
    """A static float or complex, keyed by its exact value: ``-0.0`` and ``0.0``
    differ (``1/x`` does), and every NaN is the same key (``nan != nan`` would
    retrace on each call and grow the cache)."""

    __slots__ = ("bits", "value")

    def __init__(self, value: float | complex):
        self.value = value
        if isinstance(value, complex):
            self.bits: Any = (value.real.hex(), value.imag.hex())
        else:
            self.bits = float(value).hex()

    def __eq__(self, other: object) -> bool:
        return type(other) is _ExactScalar and self.bits == other.bits

    def __hash__(self) -> int:
        return hash(self.bits)

    def __repr__(self) -> str:
        return repr(self.value)


def _exact(x: Any) -> Any:
    return _ExactScalar(x) if type(x) is float or type(x) is complex else x


def _value(x: Any) -> Any:
    return x.value if type(x) is _ExactScalar else x


def rebuild_arguments(dynamic: list, key: Any) -> Any:
    if type(key) is PyTreeDef:
        return key.unflatten(dynamic)
    treedef, flags, statics, _ = key
    dynamic_iter, static_iter = iter(dynamic), iter(map(_value, statics))
    return treedef.unflatten([next(dynamic_iter if f else static_iter) for f in flags])


class WithStatic:
    """A ``filter_jit`` output with non-array leaves: its array leaves, and its static
    key in a ``Static`` (the one carrier, ``_static.py``) that the output treedef keeps.
    An all-array output travels as it is, so the cached call only checks the type."""

    def __init__(self, dynamic: list, static: Static):
        self.dynamic, self.static = dynamic, static

    def rebuild(self) -> Any:
        return rebuild_arguments(self.dynamic, self.static.value)


jax.tree_util.register_pytree_node(
    WithStatic, lambda w: (w.dynamic, w.static), lambda s, d: WithStatic(list(d), s)
)


def split_output(out: Any) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten(out)
    dynamic, key = static_key(leaves, treedef)
    if key is treedef:
        return out
    return WithStatic(dynamic, Static(key))


class SplitFirst:
    """``jitted(kept, donated)`` called as ``entry(dynamic)``: ``dynamic[start:stop]``,
    the array leaves of the first call argument, are kept and the rest donated.

    The first call argument is at ``kept_span``'s ``index`` 0 for a plain function,
    1 when a bound instance (or a pytree ``fun``) comes first: as in Equinox.
    """

    __slots__ = ("jitted", "start", "stop")

    def __init__(self, jitted: Any, start: int, stop: int):
        self.jitted, self.start, self.stop = jitted, start, stop

    def parts(self, dynamic: list) -> tuple[list, list]:
        start, stop = self.start, self.stop
        return dynamic[start:stop], dynamic[:start] + dynamic[stop:]

    def __call__(self, dynamic: list) -> Any:
        return self.jitted(*self.parts(dynamic))

    def lower(self, dynamic: list) -> Any:
        return self.jitted.lower(*self.parts(dynamic))


def kept_span(key: Any, index: int) -> tuple[int, int]:
    """Where the array leaves of argument ``index`` are among the dynamic leaves of
    a call with static key ``key``."""
    n_dynamic = key.num_leaves if type(key) is PyTreeDef else sum(key[1])
    args, _ = rebuild_arguments([_ARRAY_PLACEHOLDER] * n_dynamic, key)
    start = sum(_dynamic_count(arg) for arg in args[:index])
    stop = start + (_dynamic_count(args[index]) if len(args) > index else 0)
    return start, stop


# Stands for every array leaf when arguments are rebuilt from a key alone.
_ARRAY_PLACEHOLDER = np.empty(0)


def _dynamic_count(arg: Any) -> int:
    return sum(1 for leaf in jax.tree_util.tree_leaves(arg) if leaf is _ARRAY_PLACEHOLDER)
