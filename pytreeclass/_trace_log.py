"""Why did ``filter_jit`` retrace? A record of each trace's arguments, by key path."""

from __future__ import annotations

import dataclasses
import reprlib
from typing import Any

import jax
from jax.tree_util import DictKey, GetAttrKey, SequenceKey, keystr

from ._field import is_static
from ._filters import ARRAY_TYPES
from ._registry import is_pytree_dataclass
from ._repr import summarize_array

__all__ = ["TraceLog"]

_short_repr = reprlib.Repr()
_short_repr.maxstring = 40
_short_repr.maxother = 60


class TraceLog:
    """Counts traces and describes how the last one differs from the one before.

    ``record`` runs only while JAX traces, so it may be slow; the cached call
    path never touches it.
    """

    def __init__(self, parameter_names: tuple[str, ...]):
        self.parameter_names = parameter_names
        self.count = 0
        self._previous: dict[str, str] | None = None
        self._latest: dict[str, str] | None = None

    def record(self, args: tuple, kwargs: dict) -> None:
        self.count += 1
        self._previous = self._latest
        self._latest = {}
        self._describe_tree((), (args, kwargs))
        self._latest["(tree structure)"] = str(jax.tree_util.tree_structure((args, kwargs)))

    def _describe_tree(self, prefix: tuple, tree: Any) -> None:
        """Leaves by key path; a pytree dataclass's static fields count as leaves."""
        assert self._latest is not None
        flat = jax.tree_util.tree_flatten_with_path(tree, is_leaf=_is_nested_pytree_dataclass)[0]
        for path, leaf in flat:
            if not is_pytree_dataclass(leaf):
                self._latest[self.label(prefix + path)] = _describe(leaf)
                continue
            for f in dataclasses.fields(leaf):
                child_path = (*prefix, *path, GetAttrKey(f.name))
                if is_static(f):
                    self._latest[self.label(child_path)] = _describe(getattr(leaf, f.name))
                else:
                    self._describe_tree(child_path, getattr(leaf, f.name))

    def label(self, path: tuple) -> str:
        """``model.step`` for a path into the ``(args, kwargs)`` pair."""
        where, key, rest = path[0], path[1], path[2:]
        if where == SequenceKey(1) and isinstance(key, DictKey):
            return f"{key.key}{keystr(rest)}"
        index = key.idx if isinstance(key, SequenceKey) else -1
        if 0 <= index < len(self.parameter_names):
            return f"{self.parameter_names[index]}{keystr(rest)}"
        return f"args[{index}]{keystr(rest)}"

    def explain(self) -> str | None:
        """Which argument paths changed between the last two traces, or ``None``."""
        if self._previous is None or self._latest is None:
            return None
        before, after = self._previous, self._latest
        changes = [
            f"{path}: {before.get(path, '(absent)')} -> {after.get(path, '(absent)')}"
            for path in {**before, **after}
            if before.get(path) != after.get(path) and path != "(tree structure)"
        ]
        if not changes and before["(tree structure)"] != after["(tree structure)"]:
            changes = [
                f"tree structure: {before['(tree structure)']} -> {after['(tree structure)']}"
            ]
        if not changes:
            return (
                "retraced with the same argument structure, types, shapes and static "
                "values: an array's sharding, weak type or placement changed."
            )
        return "; ".join(changes)


def _is_nested_pytree_dataclass(x: Any) -> bool:
    return is_pytree_dataclass(x) and not isinstance(x, type)


def _describe(leaf: Any) -> str:
    if isinstance(leaf, ARRAY_TYPES):
        return summarize_array(leaf)
    return _short_repr.repr(leaf)
