"""``Partial``: ``functools.partial`` as a pytree, for any callable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from ._dataclass import pytree_dataclass

R = TypeVar("R")


@pytree_dataclass
class Partial(Generic[R]):
    """``functools.partial`` whose function, arguments and keywords are pytree children.

    Differs from ``jax.tree_util.Partial``, which keeps ``func`` in the treedef
    and so misbehaves for a callable that is itself a pytree (a model): here
    ``func`` is a child like the arguments, so a model's arrays are traced and
    differentiated, and a plain function is a static leaf under ``filter_jit``.
    Compares by value. As Equinox's ``Partial``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> scale = ptc.Partial(jnp.multiply, jnp.ones(()) * 3)
        >>> scale(jnp.ones(()) * 2)
        Array(6., dtype=float32)
        >>> len(jax.tree_util.tree_leaves(scale))  # the function and the array
        2
    """

    func: Callable[..., R]
    args: tuple[Any, ...]
    keywords: dict[str, Any]

    def __init__(self, func: Callable[..., R], /, *args: Any, **kwargs: Any):
        if not callable(func):
            raise TypeError(f"Partial(func, ...): func must be callable, got {func!r}.")
        # object.__setattr__ as in CPython's frozen dataclasses (type checkers see
        # frozen fields as read-only).
        object.__setattr__(self, "func", func)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "keywords", kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        return self.func(*self.args, *args, **kwargs, **self.keywords)
