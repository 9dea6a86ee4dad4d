"""``filter_vmap``: ``jax.vmap`` that maps arrays and broadcasts everything else."""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any, ParamSpec, TypeVar, overload

import jax
import jax.numpy as jnp

from ._dataclass import pytree_dataclass
from ._field import field
from ._filters import is_array, is_array_like
from ._paths import argument_label, parameter_names
from ._static import Static
from ._wrapper import FunctionWrapper, transform_wrapper, wrap

P = ParamSpec("P")
R = TypeVar("R")


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


def _leaf_axes(spec_tree: Any, tree: Any, what: str, explicit_ints: str = "arrays") -> list:
    """One axis (or ``None``) per leaf of ``tree``, from a prefix tree of specs.

    A callable spec decides per array leaf. An ``int`` applies to the array
    leaves; for ``out_axes`` (``explicit_ints="array-likes"``) also to Python
    numbers, which ``jax.vmap`` then broadcasts, as Equinox does.
    """
    takes_int = is_array if explicit_ints == "arrays" else is_array_like

    def expand(spec: Any, subtree: Any) -> _Axes:
        leaves = jax.tree_util.tree_leaves(subtree)
        if callable(spec):
            return _Axes(spec(leaf) if is_array(leaf) else None for leaf in leaves)
        return _Axes(spec if takes_int(leaf) else None for leaf in leaves)

    try:
        expanded = jax.tree_util.tree_map(expand, spec_tree, tree, is_leaf=_is_none)
    except ValueError as error:
        raise ValueError(
            f"filter_vmap: {what} must be a prefix of the pytree it describes: {error}"
        ) from None
    flat = jax.tree_util.tree_leaves(expanded, is_leaf=lambda x: isinstance(x, _Axes))
    return [axis for axes in flat for axis in axes]


def _named_in_axes(fun: Callable, in_axes: dict, args: tuple) -> tuple:
    """``in_axes=dict(x=0)`` as a tuple over the positional arguments (Equinox's rule:
    a parameter that is not named gets the default)."""
    names = parameter_names(fun)
    unknown = sorted(set(in_axes) - set(names[: len(args)]))
    if unknown:
        raise ValueError(
            f"filter_vmap({_name(fun)}): in_axes names {', '.join(map(repr, unknown))}, which "
            f"{'is' if len(unknown) == 1 else 'are'} not among the positional arguments "
            f"passed ({', '.join(names[: len(args)]) or 'none'}). Pass it positionally, or "
            f"key in_axes by one of those names."
        )
    return tuple(in_axes.get(name, _map_arrays_on_axis_0) for name in names[: len(args)])


def _name(fun: Callable) -> str:
    return getattr(fun, "__qualname__", None) or type(fun).__qualname__


def _check_batch_sizes(
    fun: Callable, paths: list, leaves: list, axes: list, axis_size: int | None
) -> None:
    """Name the argument paths when mapped axes are out of range or disagree in size,
    instead of JAX's ``dynamic[0]``-style internal names."""
    sizes: dict[int, list[Any]] = {}
    for path, leaf, axis in zip(paths, leaves, axes, strict=True):
        if axis is None:
            continue
        ndim = len(leaf.shape)
        if not -ndim <= axis < max(ndim, 1) or ndim == 0:
            where = argument_label(parameter_names(fun), path)
            raise ValueError(
                f"filter_vmap({_name(fun)}): cannot map {where} over axis {axis}: it has "
                f"shape {tuple(leaf.shape)}. Give it an in_axes entry within its rank, "
                f"or None to broadcast it."
            )
        sizes.setdefault(leaf.shape[axis], []).append((path, axis))
    if axis_size is not None and set(sizes) - {axis_size}:
        sizes.setdefault(axis_size, []).append("axis_size")
    if len(sizes) > 1:
        names = parameter_names(fun)

        def label(where: Any) -> str:
            if where == "axis_size":
                return where
            return f"{argument_label(names, where[0])} (axis {where[1]})"

        detail = "; ".join(f"size {n}: {', '.join(map(label, w))}" for n, w in sizes.items())
        raise ValueError(
            f"filter_vmap({_name(fun)}): the mapped axes have different sizes ({detail}). "
            f"Map arguments of one batch size, or give in_axes=None to those to broadcast."
        )


@transform_wrapper
@pytree_dataclass
class _VmapWrapper(FunctionWrapper):
    in_axes: _AxisSpec = field(static=True)
    out_axes: _AxisSpec = field(static=True)
    axis_name: Hashable | None = field(static=True)
    axis_size: int | None = field(static=True)
    #: More options for ``jax.vmap`` (``spmd_axis_name``), as sorted items.
    vmap_kwargs: tuple[tuple[str, Any], ...] = field(static=True, default=())

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        flat, treedef = jax.tree_util.tree_flatten_with_path((args, kwargs))
        paths, leaves = [p for p, _ in flat], [x for _, x in flat]
        in_axes = self.in_axes.tree
        if isinstance(in_axes, dict):
            in_axes = _named_in_axes(self.fun, in_axes, args)
        if isinstance(in_axes, list):
            in_axes = tuple(in_axes)
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise ValueError(
                f"filter_vmap({_name(self.fun)}): in_axes has {len(in_axes)} entries but "
                f"the function got {len(args)} positional arguments; give one entry per "
                f"argument."
            )
        axes = _leaf_axes(in_axes, args, "in_axes")
        axes += _leaf_axes(_map_arrays_on_axis_0, kwargs, "in_axes")
        mapped = [i for i, leaf in enumerate(leaves) if is_array(leaf)]
        _check_batch_sizes(self.fun, paths, leaves, axes, self.axis_size)

        def inner(dynamic: list) -> tuple[list, list, Static]:
            full = list(leaves)
            for i, value in zip(mapped, dynamic, strict=True):
                full[i] = value
            inner_args, inner_kwargs = jax.tree_util.tree_unflatten(treedef, full)
            out = self.fun(*inner_args, **inner_kwargs)
            out_leaves, out_tree = jax.tree_util.tree_flatten(out)
            out_axes = _leaf_axes(self.out_axes.tree, out, "out_axes", "array-likes")
            batched = [
                (i, a)
                for i, (x, a) in enumerate(zip(out_leaves, out_axes, strict=True))
                if is_array(x) or a is not None
            ]
            # What is not an array leaves the trace in a Static (arrays: None there).
            layout = (out_tree, [None if is_array(x) else x for x in out_leaves], batched)
            return (
                [out_leaves[i] for i, a in batched if a is not None],
                [out_leaves[i] for i, a in batched if a is None],
                Static(layout),
            )

        mapped_axes = [axes[i] for i in mapped]
        if all(axis is None for axis in mapped_axes) and self.axis_size is None:
            # Nothing to map over and no size: call once, as Equinox does.
            mapped_out, unmapped_out, static_out = inner([leaves[i] for i in mapped])
            if mapped_out:
                raise ValueError(
                    f"filter_vmap({_name(self.fun)}): no argument is mapped and axis_size "
                    f"is not given, so the batch size of the outputs is unknown. Map an "
                    f"argument, pass axis_size=, or give out_axes=None."
                )
        else:
            mapped_out, unmapped_out, static_out = jax.vmap(
                inner,
                in_axes=(mapped_axes,),
                out_axes=(0, None, None),
                axis_name=self.axis_name,
                axis_size=self.axis_size,
                **dict(self.vmap_kwargs),
            )([leaves[i] for i in mapped])
        out_tree, out_leaves, batched = static_out.value
        mapped_iter, unmapped_iter = iter(mapped_out), iter(unmapped_out)
        out_leaves = list(out_leaves)
        for i, axis in batched:
            if axis is None:
                out_leaves[i] = next(unmapped_iter)
            else:
                value = next(mapped_iter)
                out_leaves[i] = value if axis == 0 else jnp.moveaxis(value, 0, axis)
        return out_tree.unflatten(out_leaves)


@overload
def filter_vmap(
    fun: Callable[P, R],
    *,
    in_axes: Any = ...,
    out_axes: Any = ...,
    axis_name: Hashable | None = None,
    axis_size: int | None = None,
    **vmap_kwargs: Any,
) -> Callable[P, R]: ...


@overload
def filter_vmap(
    fun: None = None,
    *,
    in_axes: Any = ...,
    out_axes: Any = ...,
    axis_name: Hashable | None = None,
    axis_size: int | None = None,
    **vmap_kwargs: Any,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def filter_vmap(
    fun: Callable | None = None,
    *,
    in_axes: Any = _map_arrays_on_axis_0,
    out_axes: Any = _map_arrays_on_axis_0,
    axis_name: Hashable | None = None,
    axis_size: int | None = None,
    **vmap_kwargs: Any,
) -> Any:
    """Vectorise ``fun`` over array leaves; every non-array leaf is broadcast.

    Differs from ``jax.vmap``: arguments may hold any leaves. ``in_axes`` is a
    prefix pytree of the positional arguments (keyword arguments always use
    the default) whose entries are an ``int``, ``None`` or a callable
    ``leaf -> int | None``; the default maps axis 0 of every array. Non-array
    leaves are never mapped, and non-array outputs come back unbatched.
    ``out_axes`` works the same way on the output. Further keyword arguments
    (``spmd_axis_name``) go to ``jax.vmap``, as in Equinox.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> def affine(x, w, name):
        ...     return x * w, name
        >>> batched = ptc.filter_vmap(affine, in_axes=(0, None, None))
        >>> batched(jnp.arange(3.0), jnp.ones(()), "f")
        (Array([0., 1., 2.], dtype=float32), 'f')
    """
    options = {"in_axes": in_axes, "out_axes": out_axes, "axis_name": axis_name}
    if fun is None:
        return functools.partial(filter_vmap, **options, axis_size=axis_size, **vmap_kwargs)
    return wrap(
        _VmapWrapper,
        fun,
        "filter_vmap",
        in_axes=_AxisSpec(in_axes, "in_axes"),
        out_axes=_AxisSpec(out_axes, "out_axes"),
        axis_name=axis_name,
        axis_size=axis_size,
        vmap_kwargs=tuple(sorted(vmap_kwargs.items())),
    )
