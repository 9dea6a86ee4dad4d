"""``Static``: the one carrier of non-array values through JAX transforms.

Every transform that must carry something that is not an array through JAX
(``filter_jit``'s non-array outputs, AD's and custom AD's static arguments,
outputs and residuals, ``filter_vmap``'s unbatched outputs, ``filter_make_jaxpr``,
checkpointing, closure conversion, ``has_aux``) wraps it in a ``Static``.

Why it flattens to no leaves: JAX then keeps the value in the treedef, where
it is never traced, batched or differentiated, and comes back with the output
treedef of each trace. Why it compares by identity, then tree equality: JAX
compares the treedefs of a custom rule's outputs with the function's (equal
values must match), and looks the same object up again on a cache hit
(identity is the fast answer). It hashes by the value's structure, so the
value need not be hashable.
"""

from __future__ import annotations

from typing import Any

import jax

from ._filters import combine, is_array, partition
from ._tree import tree_equal


class Static:
    """A pytree node with no leaves that carries ``value`` in its treedef."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other: object) -> bool:
        if type(other) is not Static:
            return NotImplemented
        return self.value is other.value or tree_equal(self.value, other.value) is True

    def __hash__(self) -> int:
        return hash(jax.tree_util.tree_structure(self.value))

    def __repr__(self) -> str:
        return f"Static({self.value!r})"


jax.tree_util.register_pytree_node(Static, lambda static: ((), static), lambda static, _: static)


def split_static(tree: Any) -> tuple[Any, Static]:
    """``(arrays, Static(rest))``: ``tree``'s array leaves (``None`` elsewhere), and the
    rest (``None`` at the arrays) carried in a ``Static``. ``join_static`` undoes it."""
    arrays, rest = partition(tree, is_array)
    return arrays, Static(rest)


def join_static(arrays: Any, static: Static) -> Any:
    return combine(arrays, static.value)
