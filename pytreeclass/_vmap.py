"""``filter_vmap``: ``jax.vmap`` that maps arrays and broadcasts everything else."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import jax
import jax.numpy as jnp

from ._dataclass import pytree_dataclass
from ._field import field
from ._filters import is_array
from ._wrapper import FunctionWrapper, wrap

__all__ = ["filter_vmap"]


def _map_arrays_on_axis_0(leaf: Any) -> int | None:
    """The default ``in_axes``/``out_axes``: arrays on axis 0, the rest broadcast."""
    return 0 if is_array(leaf) else None


class _Axes(tuple):
    """The per-leaf axes of one ``in_axes`` entry (a marker type, not a pytree node)."""


def _is_none(x: Any) -> bool:
    return x is None


class _AxisSpec:
    """An ``in_axes``/``out_axes`` prefix tree, frozen so it can be static metadata."""

    def __init__(self, tree: Any, what: str):
        leaves, self.treedef = jax.tree_util.tree_flatten(tree, is_leaf=_is_none)
        for spec in leaves:
            if not (spec is None or isinstance(spec, int) or callable(spec)):
                raise TypeError(
                    f"filter_vmap: {what} entries must be int, None or a callable leaf -> "
                    f"int | None, got {spec!r}."
                )
        self.leaves = tuple(leaves)
        self.tree = tree

    def __hash__(self) -> int:
        return hash((self.leaves, self.treedef))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _AxisSpec):
            return NotImplemented
        return self.leaves == other.leaves and bool(self.treedef == other.treedef)  # type: ignore[operator]

    def __repr__(self) -> str:
        return repr(self.tree)


def _leaf_axes(spec_tree: Any, tree: Any, what: str) -> list[int | None]:
    """One axis (or ``None``) per leaf of ``tree``, from a prefix tree of specs."""

    def expand(spec: Any, subtree: Any) -> _Axes:
        leaves = jax.tree_util.tree_leaves(subtree)
        if callable(spec):
            return _Axes(spec(leaf) if is_array(leaf) else None for leaf in leaves)
        return _Axes(spec if is_array(leaf) else None for leaf in leaves)

    try:
        expanded = jax.tree_util.tree_map(expand, spec_tree, tree, is_leaf=_is_none)
    except ValueError as error:
        raise ValueError(
            f"filter_vmap: {what} must be a prefix of the pytree it describes: {error}"
        ) from None
    flat = jax.tree_util.tree_leaves(expanded, is_leaf=lambda x: isinstance(x, _Axes))
    return [axis for axes in flat for axis in axes]


@pytree_dataclass
class _VmapWrapper(FunctionWrapper):
    in_axes: _AxisSpec = field(static=True)
    out_axes: _AxisSpec = field(static=True)
    axis_name: Hashable | None = field(static=True)
    axis_size: int | None = field(static=True)

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
        in_axes = self.in_axes.tree
        if isinstance(in_axes, list):
            in_axes = tuple(in_axes)
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise ValueError(
                f"filter_vmap: in_axes has {len(in_axes)} entries but the function got "
                f"{len(args)} positional arguments; give one entry per argument."
            )
        axes = _leaf_axes(in_axes, args, "in_axes")
        axes += _leaf_axes(_map_arrays_on_axis_0, kwargs, "in_axes")
        mapped = [i for i, leaf in enumerate(leaves) if is_array(leaf)]
        static_out: list[Any] = []

        def inner(dynamic: list) -> tuple[list, list]:
            full = list(leaves)
            for i, value in zip(mapped, dynamic, strict=True):
                full[i] = value
            inner_args, inner_kwargs = jax.tree_util.tree_unflatten(treedef, full)
            out = self.fun(*inner_args, **inner_kwargs)
            out_leaves, out_tree = jax.tree_util.tree_flatten(out)
            out_axes = _leaf_axes(self.out_axes.tree, out, "out_axes")
            batched = [
                (i, a)
                for i, (x, a) in enumerate(zip(out_leaves, out_axes, strict=True))
                if is_array(x)
            ]
            static_out.append((out_tree, out_leaves, batched))
            return (
                [out_leaves[i] for i, a in batched if a is not None],
                [out_leaves[i] for i, a in batched if a is None],
            )

        mapped_out, unmapped_out = jax.vmap(
            inner,
            in_axes=([axes[i] for i in mapped],),
            out_axes=(0, None),
            axis_name=self.axis_name,
            axis_size=self.axis_size,
        )([leaves[i] for i in mapped])
        out_tree, out_leaves, batched = static_out[-1]
        mapped_iter, unmapped_iter = iter(mapped_out), iter(unmapped_out)
        out_leaves = list(out_leaves)
        for i, axis in batched:
            if axis is None:
                out_leaves[i] = next(unmapped_iter)
            else:
                value = next(mapped_iter)
                out_leaves[i] = value if axis == 0 else jnp.moveaxis(value, 0, axis)
        return out_tree.unflatten(out_leaves)


def filter_vmap(
    fun: Callable | None = None,
    *,
    in_axes: Any = _map_arrays_on_axis_0,
    out_axes: Any = _map_arrays_on_axis_0,
    axis_name: Hashable | None = None,
    axis_size: int | None = None,
) -> Any:
    """Vectorise ``fun`` over array leaves; every non-array leaf is broadcast.

    Differs from ``jax.vmap``: arguments may hold any leaves. ``in_axes`` is a
    prefix pytree of the positional arguments (keyword arguments always use
    the default) whose entries are an ``int``, ``None`` or a callable
    ``leaf -> int | None``; the default maps axis 0 of every array. Non-array
    leaves are never mapped, and non-array outputs come back unbatched.
    ``out_axes`` works the same way on the output.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> def affine(x, w, name):
        ...     return x * w, name
        >>> batched = ptc.filter_vmap(affine, in_axes=(0, None, None))
        >>> batched(jnp.arange(3.0), jnp.ones(()), "f")
        (Array([0., 1., 2.], dtype=float32), 'f')
    """
    if fun is None:
        return lambda f: filter_vmap(
            f, in_axes=in_axes, out_axes=out_axes, axis_name=axis_name, axis_size=axis_size
        )
    return wrap(
        _VmapWrapper,
        fun,
        "filter_vmap",
        in_axes=_AxisSpec(in_axes, "in_axes"),
        out_axes=_AxisSpec(out_axes, "out_axes"),
        axis_name=axis_name,
        axis_size=axis_size,
    )
