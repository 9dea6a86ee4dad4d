"""A model-friendly ``__repr__``: arrays print as ``f32[3,4]`` summaries.

``tree_pformat`` / ``tree_pprint`` expose the same layout for any pytree, with
Equinox's options (``width``, ``indent``, ``short_arrays``, ``struct_as_array``,
``truncate_leaf``); ``pytree_repr`` is ``tree_pformat`` with the defaults below.
"""

from __future__ import annotations

import dataclasses
import reprlib
import types
from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from ._dtypes import summarize_array
from ._registry import SPEC_ATTRIBUTE

_WIDTH = 88


def _never(_: Any) -> bool:
    return False


class _Options(NamedTuple):
    width: int = _WIDTH
    indent: int = 2
    short_arrays: bool = True
    struct_as_array: bool = True  # ``__repr__`` summarises structs like arrays
    truncate_leaf: Callable[[Any], bool] = _never


_REPR = _Options()


def _is_array_like(x: Any, options: _Options = _REPR) -> bool:
    if isinstance(x, jax.ShapeDtypeStruct) and not options.struct_as_array:
        return False
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


def _format_leaf(obj: Any, options: _Options) -> str:
    if _is_array_like(obj, options) and not isinstance(obj, (int, float, complex, bool)):
        return summarize_array(obj) if options.short_arrays else repr(obj)
    if isinstance(obj, types.FunctionType | types.BuiltinFunctionType) or (
        callable(obj) and not isinstance(obj, type) and hasattr(obj, "__wrapped__")
    ):
        # ``jax.nn.relu`` and friends are ``custom_jvp`` objects wrapping a function.
        return f"<function {getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}>"
    return reprlib.repr(obj) if isinstance(obj, (str, bytes)) else repr(obj)


def _format(obj: Any, indent: int, seen: set[int], options: _Options) -> str:
    if options.truncate_leaf(obj):
        return f"{type(obj).__name__}(...)"
    layout = _children(obj)
    if layout is None:
        return _format_leaf(obj, options)
    if id(obj) in seen:
        return "..."
    seen.add(id(obj))
    try:
        open_, close, sep, items = layout
        step = indent + options.indent
        parts = [label + sep + _format(value, step, seen, options) for label, value in items]
    finally:
        seen.discard(id(obj))
    one_line = open_ + ", ".join(parts) + close
    if len(one_line) + indent <= options.width and "\n" not in one_line:
        return one_line
    pad = " " * (indent + options.indent)
    body = "".join(f"\n{pad}{part}," for part in parts)
    return f"{open_}{body}\n{' ' * indent}{close}"


def pytree_repr(obj: Any) -> str:
    """The ``__repr__`` installed by ``pytree_dataclass``.

    Fields with ``repr=False`` are left out; arrays are summarised by dtype and
    shape; long models are laid out one field per line.
    """
    return _format(obj, 0, set(), _REPR)


def tree_pformat(
    pytree: Any,
    *,
    width: int = 80,
    indent: int = 2,
    short_arrays: bool = True,
    struct_as_array: bool = False,
    truncate_leaf: Callable[[Any], bool] = _never,
) -> str:
    """Format any pytree as a string the way our ``__repr__`` does: arrays as ``f32[3,4]``.

    JAX has no twin. Our dataclasses, lists, tuples and dicts are laid out
    (one child per line when a line would pass ``width``); other objects show
    their own ``repr``, Equinox modules included. ``short_arrays=False`` shows
    arrays in full; ``struct_as_array`` summarises ``jax.ShapeDtypeStruct``
    too; ``truncate_leaf(node)`` true prints ``Name(...)``. Equinox's
    signature; ours omits the weak-type prefix and numpy marker Equinox
    prints (``f32[]``, not ``weak_f32[]``).

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> ptc.tree_pformat({"w": jnp.zeros((3, 4)), "act": "relu"})
        "{'w': f32[3,4], 'act': 'relu'}"
    """
    options = _Options(width, indent, short_arrays, struct_as_array, truncate_leaf)
    return _format(pytree, 0, set(), options)


def tree_pprint(
    pytree: Any,
    *,
    width: int = 80,
    indent: int = 2,
    short_arrays: bool = True,
    struct_as_array: bool = False,
    truncate_leaf: Callable[[Any], bool] = _never,
) -> None:
    """Print ``tree_pformat(pytree, ...)``: a pytree with arrays summarised.

    Differs from ``print`` (``jax.Array``'s repr shows every value) as
    ``tree_pformat`` says. As Equinox's ``tree_pprint``.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> ptc.tree_pprint([jnp.ones(2, dtype=jnp.int32), None], width=10)
        [
          i32[2],
          None,
        ]
    """
    print(
        tree_pformat(
            pytree,
            width=width,
            indent=indent,
            short_arrays=short_arrays,
            struct_as_array=struct_as_array,
            truncate_leaf=truncate_leaf,
        )
    )
