"""The base of the transform wrappers: a pytree dataclass holding the wrapped function.

Where the function goes decides ``filter_jit``'s path. A plain function is
*static* (treedef metadata): a wrapper of an all-array model is then all
arrays, and ``filter_jit`` calls ``jax.jit`` on it directly. A function that is
itself a pytree (a model with ``__call__``) must be a *child*, so its arrays
are traced: ``wrap`` picks the subclass with ``fun`` as a data field.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ._dataclass import pytree_dataclass
from ._field import field
from ._filters import is_pytree_node

__all__ = ["FunctionWrapper", "wrap"]

W = TypeVar("W", bound="FunctionWrapper")


@pytree_dataclass
class FunctionWrapper:
    fun: Callable = field(static=True)


_WITH_PYTREE_FUN: dict[type, type] = {}


def _with_pytree_fun(cls: type[W]) -> type[W]:
    """``cls`` with ``fun`` redeclared as a data field (made once per class)."""
    if cls not in _WITH_PYTREE_FUN:
        namespace = {"__annotations__": {"fun": Callable}, "fun": field(), "__module__": __name__}
        subclass = type(f"{cls.__name__}OfPytree", (cls,), namespace)
        subclass.__qualname__ = subclass.__name__
        _WITH_PYTREE_FUN[cls] = pytree_dataclass(subclass)
    return _WITH_PYTREE_FUN[cls]


def wrap(cls: type[W], fun: Any, kind: str, **options: Any) -> W:
    """``cls(fun, **options)``, ``fun`` static unless it is a pytree (or unhashable)."""
    if not callable(fun):
        raise TypeError(f"{kind} expects a callable, got {fun!r}.")
    is_pytree = is_pytree_node(fun)
    try:
        hash(fun)
    except TypeError:
        is_pytree = True  # an unhashable callable cannot be treedef metadata
    return (_with_pytree_fun(cls) if is_pytree else cls)(fun=fun, **options)
