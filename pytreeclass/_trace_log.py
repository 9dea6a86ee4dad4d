"""Why did ``filter_jit`` retrace? A record of each trace's arguments, by key path.

Every node of the arguments is described, not only the leaves: an array by
dtype and shape, another leaf (or a pytree dataclass's static field) by a
short repr, an inner node by its type. ``explain`` then lists the shallowest
paths whose descriptions changed, so a structure change names the subtree
that differs (``model.layers[2]: Linear -> Conv``), not two whole treedefs.
"""

from __future__ import annotations

import functools
import reprlib
from typing import Any

import jax
from jax.tree_util import DictKey, SequenceKey

from ._dtypes import short_dtype_name
from ._filters import ARRAY_TYPES
from ._paths import argument_label, places
from ._registry import is_pytree_dataclass

_short_repr = reprlib.Repr()
_short_repr.maxstring = 40
_short_repr.maxother = 60

Path = tuple[Any, ...]


class TraceLog:
    """Counts traces and describes how the last one differs from the one before.

    ``record`` runs only while JAX traces, and only for a trace that did not
    raise, so it may be slow; the cached call path never touches it.
    """

    def __init__(self, parameter_names: tuple[str, ...]):
        self.parameter_names = parameter_names
        self.count = 0
        self._previous: dict[Path, str] | None = None
        self._latest: dict[Path, str] | None = None

    def record(self, args: tuple, kwargs: dict) -> None:
        self.count += 1
        self._previous = self._latest
        self._latest = {}
        roots = [((SequenceKey(0), SequenceKey(i)), arg) for i, arg in enumerate(args)]
        roots += [((SequenceKey(1), DictKey(name)), value) for name, value in kwargs.items()]
        for root, value in roots:
            for path, kind, node in places(value, root):
                self._latest[path] = _describe(kind, node)

    def explain(self) -> str | None:
        """Which argument paths changed between the last two traces, or ``None``."""
        if self._previous is None or self._latest is None:
            return None
        before, after = self._previous, self._latest
        changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
        shallowest = [p for p in changed if not any(p[:i] in changed for i in range(2, len(p)))]
        if not shallowest:
            return (
                "retraced with the same argument structure, types, shapes, shardings, "
                "weak types and static values: something else keys the trace (a "
                "committed array, a global configuration or context change)."
            )
        order = list(before) + [p for p in after if p not in before]
        return "; ".join(
            f"{argument_label(self.parameter_names, p)}: "
            f"{before.get(p, '(absent)')} -> {after.get(p, '(absent)')}"
            for p in sorted(shallowest, key=order.index)
        )


def _describe(kind: str, node: Any) -> str:
    if kind == "node":
        return _node_name(node)
    return _describe_array(node) if isinstance(node, ARRAY_TYPES) else _short_repr.repr(node)


def _describe_array(x: Any) -> str:
    """``f32[3]``, plus what else keys a trace: `` weak`` for a weakly typed
    array, `` on <sharding>`` unless it sits on the default device alone."""
    try:
        sharding = getattr(x, "sharding", None)  # a numpy array has none
    except Exception:  # a tracer may refuse
        sharding = None
    key = (x.dtype, x.shape, getattr(x, "weak_type", False), sharding)
    try:
        hash(key)
    except TypeError:  # an unhashable sharding
        return _array_text.__wrapped__(*key)
    return _array_text(*key)


# Memoised: a model's arrays share a few descriptions, and describing each anew
# was a fifth of a 1,000-layer model's first call.
@functools.lru_cache(maxsize=1024)
def _array_text(dtype: Any, shape: tuple, weak: bool, sharding: Any) -> str:
    text = f"{short_dtype_name(dtype)}[{','.join(map(str, shape))}]"
    if weak:
        text += " weak"
    if sharding is not None and sharding.device_set != {jax.devices()[0]}:
        spec = getattr(sharding, "spec", None)
        text += (
            f" on {type(sharding).__name__}({spec if spec is not None else sharding.device_set})"
        )
    return text


def _node_name(node: Any) -> str:
    """An inner node's type, with its auxiliary data when that is not just its keys
    (a pytree dataclass's static fields are places of their own)."""
    name = type(node).__qualname__
    if isinstance(node, list | tuple | dict) or node is None or is_pytree_dataclass(node):
        return name
    one_level: Any = jax.tree_util.tree_structure(node, is_leaf=lambda x: x is not node)
    aux = one_level.node_data()  # the stubs lack node_data
    return f"{name}{_short_repr.repr(aux[1])}" if aux and aux[1] is not None else name
