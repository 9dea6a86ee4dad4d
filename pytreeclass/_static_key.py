"""Arguments to ``(dynamic leaves, static key)`` and back, for ``filter_jit``.

Array leaves are traced; every other leaf goes into the static key together
with the treedef and the leaves' types (so ``1``, ``1.0`` and ``True`` are
different keys). Non-array *outputs* travel back inside the output treedef
(``_StaticOutput``), which JAX keeps per trace.
"""

from __future__ import annotations

import itertools
import operator
from typing import Any

import jax
import numpy as np
from jax.tree_util import PyTreeDef

from ._filters import ARRAY_TYPES

__all__ = [
    "KNOWN_ARRAY_TYPES",
    "WithStatic",
    "is_array_type",
    "static_key",
    "static_key_by_type",
    "rebuild_arguments",
    "split_output",
    "SplitFirst",
]


# Traced by filter_jit: arrays, plus ``jax.ShapeDtypeStruct`` so that
# ``.lower(jax.ShapeDtypeStruct(...))`` works as with ``jax.jit`` (calling with
# one fails in JAX, as it should). ``is_array`` stays false for it.
_TRACED_TYPES = (*ARRAY_TYPES, jax.ShapeDtypeStruct)


class _IsArrayType(dict):
    """``type -> bool`` memo: is a leaf of this type traced?"""

    def __missing__(self, cls: type) -> bool:
        result = self[cls] = issubclass(cls, _TRACED_TYPES)
        if result:
            KNOWN_ARRAY_TYPES.add(cls)
        return result


is_array_type = _IsArrayType().__getitem__
# The array types met so far. ``KNOWN_ARRAY_TYPES.issuperset(map(type, leaves))``
# is the cheapest all-arrays test measured: one C loop, no intermediate tuple
# (about half the cost of mapping ``is_array_type`` for an MLP's 33 leaves).
KNOWN_ARRAY_TYPES: set[type] = set()


def static_key(leaves: list, treedef: PyTreeDef) -> tuple[list, Any]:
    """Dynamic leaves, and the hashable key of everything else (just the
    treedef when every leaf is an array)."""
    if KNOWN_ARRAY_TYPES.issuperset(map(type, leaves)):
        return leaves, treedef
    return static_key_by_type(leaves, treedef)


def static_key_by_type(leaves: list, treedef: PyTreeDef) -> tuple[list, Any]:
    """``static_key`` without the known-types shortcut; learns new array types."""
    flags = tuple(map(is_array_type, map(type, leaves)))
    if False not in flags:
        return leaves, treedef
    statics = tuple(itertools.compress(leaves, map(operator.not_, flags)))
    key = (treedef, flags, statics, tuple(map(type, statics)))
    return list(itertools.compress(leaves, flags)), key


def rebuild_arguments(dynamic: list, key: Any) -> Any:
    if type(key) is PyTreeDef:
        return key.unflatten(dynamic)
    treedef, flags, statics, _ = key
    dynamic_iter, static_iter = iter(dynamic), iter(statics)
    return treedef.unflatten([next(dynamic_iter if f else static_iter) for f in flags])


class _StaticOutput:
    """An output's static key, carried in the output treedef (compared by identity,
    since non-array outputs need not be hashable)."""

    def __init__(self, key: tuple):
        self.key = key


class WithStatic:
    def __init__(self, dynamic: list, static: _StaticOutput):
        self.dynamic, self.static = dynamic, static

    def rebuild(self) -> Any:
        return rebuild_arguments(self.dynamic, self.static.key)


jax.tree_util.register_pytree_node(
    WithStatic, lambda w: (w.dynamic, w.static), lambda s, d: WithStatic(list(d), s)
)


def split_output(out: Any) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten(out)
    dynamic, key = static_key(leaves, treedef)
    if key is treedef:
        return out
    return WithStatic(dynamic, _StaticOutput(key))


class SplitFirst:
    """``jitted(kept, donated, key)`` from ``(dynamic, key)``: the first argument's
    array leaves are kept, the rest donated."""

    def __init__(self, jitted: Any):
        self.jitted = jitted
        self.splits: dict[Any, int] = {}

    def _split(self, key: Any) -> int:
        # The split depends on the structure and on which leaves are arrays.
        layout = key if type(key) is PyTreeDef else key[:2]
        split = self.splits.get(layout)
        if split is None:
            n_dynamic = key.num_leaves if layout is key else sum(key[1])
            args, _ = rebuild_arguments([_ARRAY_PLACEHOLDER] * n_dynamic, key)
            split = self.splits[layout] = _first_argument_dynamic_count(args)
        return split

    def __call__(self, dynamic: list, key: Any) -> Any:
        split = self._split(key)
        return self.jitted(dynamic[:split], dynamic[split:], key)

    def lower(self, dynamic: list, key: Any) -> Any:
        split = self._split(key)
        return self.jitted.lower(dynamic[:split], dynamic[split:], key)


# Stands for every array leaf when arguments are rebuilt from a key alone.
_ARRAY_PLACEHOLDER = np.empty(0)


def _first_argument_dynamic_count(args: tuple) -> int:
    if not args:
        return 0
    return sum(1 for leaf in jax.tree_util.tree_leaves(args[0]) if leaf is _ARRAY_PLACEHOLDER)
