"""Small tree tools: ``if_array``, ``tree_flatten_one_level``, ``tree_check``."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from ._filters import is_array

_LEAF = jax.tree_util.tree_structure(0)


@dataclasses.dataclass(frozen=True)
class if_array:  # noqa: N801 - Equinox's name: used like a function, ``in_axes=if_array(1)``
    """An axis spec for ``filter_vmap``: ``axis`` for array leaves, ``None`` for the rest.

    ``jax.vmap`` has no twin (it takes only ints and ``None``). Hashable and
    compared by value, so it may sit in a ``filter_jit`` static argument. As
    Equinox's ``if_array``.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> ptc.if_array(1)(jnp.zeros((2, 3))), ptc.if_array(1)("tag")
        (1, None)
    """

    axis: int

    def __call__(self, x: Any) -> int | None:
        return self.axis if is_array(x) else None


def tree_flatten_one_level(pytree: Any) -> tuple[list[Any], Any]:
    """Flatten only the root: its immediate children, and a treedef with a leaf for each.

    ``jax.tree_util`` has no public twin. A leaf flattens to ``[leaf]``; ``None``
    and empty containers count as leaves of the root, as in JAX. A node that
    is its own immediate child (``x = []; x.append(x)``) raises ``ValueError``.
    As Equinox's ``tree_flatten_one_level``.

    Example:
        >>> import pytreeclass as ptc
        >>> ptc.tree_flatten_one_level({"a": 3, "b": (1, 2)})
        ([3, (1, 2)], PyTreeDef({'a': *, 'b': *}))
    """
    seen_root = False

    def is_leaf(node: Any) -> bool:
        nonlocal seen_root
        if node is not pytree:
            return True
        if seen_root:
            raise ValueError(
                f"tree_flatten_one_level: a {type(pytree).__name__} node contains itself as "
                f"an immediate child (as in x = []; x.append(x)). A pytree must be a tree: "
                f"put a copy there instead."
            )
        seen_root = True
        return False

    return jax.tree_util.tree_flatten(pytree, is_leaf=is_leaf)


def tree_check(pytree: Any) -> None:
    """Raise ``ValueError`` if a non-leaf node appears twice, or inside itself.

    JAX allows a node twice, but every transform (``jit``, ``grad``, ...)
    returns two independent copies, so shared layers silently stop being
    shared; this finds such places before a transform does. Leaves, ``None``
    and empty containers may repeat. As Equinox's ``tree_check``; the message
    names both key paths.

    Example:
        >>> import pytreeclass as ptc
        >>> shared = [1.0]
        >>> try:
        ...     ptc.tree_check({"a": shared, "b": shared})
        ... except ValueError as error:
        ...     print(str(error).splitlines()[0])
        tree_check: the same list appears at ['a'] and at ['b'].
    """
    _check_node(pytree, "", {})


def _check_node(node: Any, path: str, seen: dict[int, tuple[str, bool]]) -> None:
    children, treedef = tree_flatten_one_level(node)
    if treedef == _LEAF or treedef.num_leaves == 0:
        return  # leaves and empty containers may repeat
    kind = type(node).__name__
    if id(node) in seen:
        first, open_ = seen[id(node)]
        if open_:
            raise ValueError(
                f"tree_check: the {kind} at {first or 'the root'} contains itself (again at "
                f"{path}). A pytree must be a tree: break the cycle."
            )
        raise ValueError(
            f"tree_check: the same {kind} appears at {first or 'the root'} and at {path}.\n"
            f"After flattening and unflattening (e.g. through jit) these become two "
            f"independent copies; pass one and refer to it, or copy it explicitly."
        )
    seen[id(node)] = (path, True)
    keyed = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)[0]
    for (key, _), child in zip(keyed, children, strict=True):
        _check_node(child, path + jax.tree_util.keystr(key), seen)
    seen[id(node)] = (path, False)
