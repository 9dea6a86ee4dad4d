"""Places in a tree and their names: ``model.layers[0].weight``, not ``args[0]...``.

``places`` walks every node of a tree by key path, a pytree dataclass's
static fields included (the trace log, ``tree_summary`` and ``tree_at``'s
errors all use it); every error and explanation that points into the
arguments of a filtered transform names them with ``argument_label``.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterator
from typing import Any, Literal

from jax.tree_util import DictKey, GetAttrKey, SequenceKey, keystr, tree_flatten_with_path

from ._registry import SPEC_ATTRIBUTE

Place = tuple[tuple[Any, ...], Literal["node", "leaf", "static"], Any]


def places(tree: Any, path: tuple[Any, ...] = ()) -> Iterator[Place]:
    """``(key path, kind, value)`` for every place of ``tree``, parents first.

    ``kind`` is ``"node"`` for an inner node (a pytree dataclass instance
    included), ``"leaf"`` for a leaf, and ``"static"`` for the value of a
    pytree dataclass's static field, which JAX keeps in the treedef.
    """
    spec = getattr(type(tree), SPEC_ATTRIBUTE, None)
    if spec is not None and not isinstance(tree, type):
        yield path, "node", tree
        for name in spec.field_names:
            child, value = (*path, GetAttrKey(name)), tree.__dict__[name]
            if name in spec.static_names:
                yield child, "static", value
            else:
                yield from places(value, child)
        return
    children = tree_flatten_with_path(tree, is_leaf=lambda x: x is not tree)[0]
    if children == [((), tree)]:
        yield path, "leaf", tree
        return
    yield path, "node", tree
    for key, child in children:
        yield from places(child, (*path, *key))


def parameter_names(fun: Callable) -> tuple[str, ...]:
    """The names of ``fun``'s positional parameters (empty if it has no signature)."""
    try:
        parameters = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return ()
    positional = itertools.takewhile(lambda p: p.kind <= p.POSITIONAL_OR_KEYWORD, parameters)
    return tuple(p.name for p in positional)


def argument_label(parameter_names: tuple[str, ...], path: tuple[Any, ...]) -> str:
    """``model.step`` for a key path into the ``(args, kwargs)`` pair of a call."""
    where, key, rest = path[0], path[1], path[2:]
    if where == SequenceKey(1) and isinstance(key, DictKey):
        return f"{key.key}{keystr(rest)}"
    index = key.idx if isinstance(key, SequenceKey) else -1
    if 0 <= index < len(parameter_names):
        return f"{parameter_names[index]}{keystr(rest)}"
    return f"args[{index}]{keystr(rest)}"
