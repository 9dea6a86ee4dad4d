"""Names for places in a call's arguments: ``model.layers[0].weight``, not ``args[0]...``.

Every error and explanation that points into the arguments of a filtered
transform goes through ``argument_label``, so they all read alike.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable
from typing import Any

from jax.tree_util import DictKey, SequenceKey, keystr


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
