"""A model-friendly ``__repr__``: arrays print as ``f32[3,4]`` summaries."""

from __future__ import annotations

import dataclasses
import reprlib
import types
from typing import Any

from ._dtypes import summarize_array
from ._registry import SPEC_ATTRIBUTE

_WIDTH = 88


def _is_array_like(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, type)


def _children(obj: Any) -> tuple[str, str, str, list[tuple[str, Any]]] | None:
    """(open, close, separator, [(label, value)]) for containers we lay out."""
    # ``hasattr`` rather than ``is_pytree_dataclass``: an instance of an
    # undecorated subclass inherits this ``__repr__`` and must not recurse.
    if hasattr(type(obj), SPEC_ATTRIBUTE) and not isinstance(obj, type):
        items = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.repr]
        return f"{type(obj).__name__}(", ")", "=", items
    if isinstance(obj, list):
        return "[", "]", "", [("", v) for v in obj]
    if type(obj) is tuple:
        return "(", ",)" if len(obj) == 1 else ")", "", [("", v) for v in obj]
    if type(obj) is dict:
        return "{", "}", ": ", [(repr(k), v) for k, v in obj.items()]
    return None


def _format_leaf(obj: Any) -> str:
    if _is_array_like(obj) and not isinstance(obj, (int, float, complex, bool)):
        return summarize_array(obj)
    if isinstance(obj, types.FunctionType | types.BuiltinFunctionType) or (
        callable(obj) and not isinstance(obj, type) and hasattr(obj, "__wrapped__")
    ):
        # ``jax.nn.relu`` and friends are ``custom_jvp`` objects wrapping a function.
        return f"<function {getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}>"
    return reprlib.repr(obj) if isinstance(obj, (str, bytes)) else repr(obj)


def _format(obj: Any, indent: int, seen: set[int]) -> str:
    layout = _children(obj)
    if layout is None:
        return _format_leaf(obj)
    if id(obj) in seen:
        return "..."
    seen.add(id(obj))
    try:
        open_, close, sep, items = layout
        parts = [label + sep + _format(value, indent + 2, seen) for label, value in items]
    finally:
        seen.discard(id(obj))
    one_line = open_ + ", ".join(parts) + close
    if len(one_line) + indent <= _WIDTH and "\n" not in one_line:
        return one_line
    pad = " " * (indent + 2)
    body = "".join(f"\n{pad}{part}," for part in parts)
    return f"{open_}{body}\n{' ' * indent}{close}"


def pytree_repr(obj: Any) -> str:
    """The ``__repr__`` installed by ``pytree_dataclass``.

    Fields with ``repr=False`` are left out; arrays are summarised by dtype and
    shape; long models are laid out one field per line.
    """
    return _format(obj, 0, set())
