"""``in_shardings`` and ``out_shardings`` for ``filter_jit``, shaped like what they place."""

from __future__ import annotations

import functools
from typing import Any

import jax

from ._filters import is_array


class Placement:
    """``in_shardings`` / ``out_shardings`` as a user gives them to ``filter_jit``:
    one ``Sharding`` for every array, or trees shaped like the positional
    arguments (a tuple, one entry each) / the output, whose entries are a
    ``Sharding`` (for every array below), ``None`` (leave as is) or a deeper
    tree. Non-array leaves are never touched. Applied inside the trace with
    ``jax.lax.with_sharding_constraint``, so statics, bound defaults and
    non-array outputs need no entry of their own, on every path.
    """

    def __init__(self, name: str, shardings: Any, what: str):
        self.name, self.shardings, self.what = name, shardings, what
        single = isinstance(shardings, jax.sharding.Sharding)
        top_level = shardings is None or single or isinstance(shardings, tuple | list)
        if what == "in_shardings" and not top_level:
            raise TypeError(
                f"filter_jit({name}, in_shardings=...): give one Sharding for every "
                f"array, or a tuple with one entry per positional argument (a "
                f"Sharding, None, or a tree shaped like that argument); got "
                f"{type(shardings).__name__}."
            )

    def arguments(self, args: tuple) -> tuple:
        if isinstance(self.shardings, jax.sharding.Sharding):
            return self.tree(args)
        if len(self.shardings) != len(args):
            raise ValueError(
                f"filter_jit({self.name}, in_shardings=...): {len(self.shardings)} entries "
                f"for {len(args)} positional arguments; give one entry per argument "
                f"(None for those to leave as they are)."
            )
        return tuple(
            self._constrain(s, arg, f"in_shardings[{i}]")
            for i, (s, arg) in enumerate(zip(self.shardings, args, strict=True))
        )

    def tree(self, tree: Any) -> Any:
        return self._constrain(self.shardings, tree, self.what)

    def _constrain(self, shardings: Any, tree: Any, where: str) -> Any:
        def place(sharding: Any, subtree: Any) -> Any:
            if sharding is None:
                return subtree
            if not isinstance(sharding, jax.sharding.Sharding):
                raise TypeError(
                    f"filter_jit({self.name}): {where} holds {sharding!r} where a "
                    f"Sharding or None belongs."
                )
            constrain = functools.partial(jax.lax.with_sharding_constraint, shardings=sharding)
            return jax.tree_util.tree_map(lambda x: constrain(x) if is_array(x) else x, subtree)

        try:
            return jax.tree_util.tree_map(place, shardings, tree, is_leaf=_is_sharding_entry)
        except ValueError as error:
            raise ValueError(
                f"filter_jit({self.name}): {where} is not shaped like the value it "
                f"places ({error}). Give a Sharding, None, or a tree with the value's "
                f"structure."
            ) from None


def _is_sharding_entry(x: Any) -> bool:
    return x is None or isinstance(x, jax.sharding.Sharding)
