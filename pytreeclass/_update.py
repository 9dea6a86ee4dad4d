"""``apply_updates``: ``model + updates`` leaf by leaf, where ``None`` means "keep"."""

from __future__ import annotations

from typing import Any, TypeVar

import jax

T = TypeVar("T")


def _is_none(x: Any) -> bool:
    return x is None


def _add(update: Any, leaf: Any) -> Any:
    return leaf if update is None else leaf + update


def apply_updates(model: T, updates: Any) -> T:
    """Return ``model`` with each update added to its leaf; a ``None`` update keeps the leaf.

    Differs from ``optax.apply_updates``: ``updates`` is a *prefix* of
    ``model``, and a ``None`` there (as ``filter_grad`` and ``partition`` give
    for non-arrays, whole subtrees included) leaves that part of the model as
    it is, so strings, callables and frozen parameters survive. No dtype cast
    (``leaf + update`` under JAX's promotion rules). As Equinox's ``apply_updates``.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> model = {"w": jnp.array([1.0, 2.0]), "name": "mlp"}
        >>> ptc.apply_updates(model, {"w": jnp.array([0.5, 0.5]), "name": None})
        {'name': 'mlp', 'w': Array([1.5, 2.5], dtype=float32)}
    """
    try:
        return jax.tree_util.tree_map(_add, updates, model, is_leaf=_is_none)
    except (TypeError, ValueError) as error:
        raise _explain(model, updates, error) from error


def _explain(model: Any, updates: Any, error: Exception) -> Exception:
    """The same error type, naming the first path where ``updates`` does not fit."""
    try:
        pairs = jax.tree_util.tree_flatten_with_path(updates, is_leaf=_is_none)[0]
        treedef: Any = jax.tree_util.tree_structure(updates, is_leaf=_is_none)
        subtrees = treedef.flatten_up_to(model)
    except (TypeError, ValueError):
        return type(error)(
            f"apply_updates(model, updates): updates must have model's structure, or a "
            f"prefix of it (None where a subtree is kept), but they differ: {error}"
        )
    for (path, update), leaf in zip(pairs, subtrees, strict=True):
        if update is None:
            continue
        try:
            _add(update, leaf)
        except Exception:
            where = jax.tree_util.keystr(path) or "the root"
            return type(error)(
                f"apply_updates(model, updates): cannot add the update at {where} (a "
                f"{type(update).__name__}) to the model's {type(leaf).__name__} there. Give "
                f"that place a None update to keep it unchanged. ({error})"
            )
    return error
