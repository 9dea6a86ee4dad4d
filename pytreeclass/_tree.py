"""``tree_at`` and ``tree_equal``: Equinox's tree surgery and tree equality, for any pytree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

from ._paths import places
from ._rebuild import copy_with
from ._registry import SPEC_ATTRIBUTE

_tree_util = jax.tree_util
_MISSING: Any = object()


class _LeafWrapper:
    """Makes every leaf a distinct object, so ``where`` can be matched by identity
    (small ints and ``None`` are shared objects in Python)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


class _DistinctTuple(tuple):
    """An empty tuple that is not *the* empty tuple (which Python shares)."""


def _unwrap(x: Any) -> Any:
    return x.value if isinstance(x, _LeafWrapper) else x


def _is_wrapper(x: Any) -> bool:
    return isinstance(x, _LeafWrapper | _DistinctTuple)


def _unwrap_tree(x: Any) -> Any:
    """``x`` as the user gave it: leaves unwrapped, empty tuples restored."""

    def restore(y: Any) -> Any:
        y = _unwrap(y)
        return () if isinstance(y, _DistinctTuple) else y

    return _tree_util.tree_map(restore, x, is_leaf=_is_wrapper)


def _is_empty_tuple(x: Any) -> bool:
    return type(x) is tuple and x == ()


def tree_at(
    where: Callable[[Any], Any],
    pytree: Any,
    replace: Any = _MISSING,
    replace_fn: Callable[[Any], Any] = _MISSING,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """A copy of ``pytree`` with the node(s) that ``where`` selects replaced.

    Equinox's ``tree_at``, on any pytree (ours, Equinox modules, dicts, ...).
    Unlike ``replace``, the new tree is built the way JAX rebuilds one: no
    ``__init__``, ``__post_init__``, converter or check runs. So it works
    inside ``jit``, on ``init=False`` fields and on classes with a custom
    ``__init__``. ``where`` returns one node or a tuple of nodes; ``replace``
    gives one value per node, or ``replace_fn`` maps each node to its value.
    Static fields are part of the treedef, not nodes: change them with
    ``pytreeclass.replace``.

    Example:
        >>> import pytreeclass as ptc
        >>> tree = {"a": 1, "b": [2, 3]}
        >>> ptc.tree_at(lambda t: t["b"][0], tree, 20)
        {'a': 1, 'b': [20, 3]}
        >>> ptc.tree_at(lambda t: (t["a"], t["b"][1]), tree, replace_fn=lambda x: -x)
        {'a': -1, 'b': [2, -3]}
    """
    if (replace is _MISSING) == (replace_fn is _MISSING):
        raise ValueError("tree_at(): pass exactly one of `replace` and `replace_fn`.")
    # Copy every composite node (``[(1,)] * 5`` shares one tuple) and wrap every
    # leaf, so that each node of the tree is a distinct Python object.
    pytree = _tree_util.tree_map(
        lambda x: _DistinctTuple() if _is_empty_tuple(x) else x, pytree, is_leaf=_is_empty_tuple
    )
    selected_plain = where(pytree)
    wrapped = _tree_util.tree_map(_LeafWrapper, pytree, is_leaf=is_leaf)
    selected = where(wrapped)
    _check_where_uses_structure_only(selected_plain, selected, is_leaf)

    single = _is_node_of(selected, wrapped) or not isinstance(selected, tuple | list)
    nodes = (selected,) if single else tuple(selected)
    if replace is not _MISSING:
        replacements = (replace,) if single else tuple(replace)
        if len(replacements) != len(nodes):
            raise ValueError(
                f"tree_at(): `where` selected {len(nodes)} nodes but `replace` has "
                f"{len(replacements)} values; give one value per node."
            )
        functions = [_constant(r) for r in replacements]
    else:
        functions = [lambda node: replace_fn(_unwrap_tree(node))] * len(nodes)
    by_id = {id(node): (node, fn) for node, fn in zip(nodes, functions, strict=True)}
    hits = dict.fromkeys(by_id, 0)

    def replacement(x: Any) -> Any:
        entry = by_id.get(id(x))
        if entry is None or entry[0] is not x:
            return x
        hits[id(x)] += 1
        return entry[1](x)

    out = _tree_util.tree_map(
        replacement, wrapped, is_leaf=lambda x: id(x) in by_id and by_id[id(x)][0] is x
    )
    for node in nodes:
        if hits[id(node)] == 0:
            raise ValueError(_not_in_tree_message(_unwrap(node), pytree, where))
        if hits[id(node)] > 1:
            raise ValueError(
                "tree_at(): `where` does not pick out a single node: it selected an object "
                "that occurs several times. For a None, pass is_leaf=lambda x: x is None."
            )
    return _unwrap_tree(out)


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda _: value


def _check_where_uses_structure_only(plain: Any, wrapped: Any, is_leaf: Any) -> None:
    leaves1, structure1 = _tree_util.tree_flatten(plain, is_leaf=is_leaf)
    leaves2, structure2 = _tree_util.tree_flatten(wrapped)
    leaves2 = [_unwrap(x) for x in leaves2]
    same_structure = structure1 == structure2  # type: ignore[operator]
    if not same_structure or any(a is not b for a, b in zip(leaves1, leaves2, strict=False)):
        raise ValueError(
            "tree_at(): `where` must use only the structure of the tree (attributes, "
            "indices, keys), not the values of its leaves."
        )


def _is_node_of(candidate: Any, tree: Any) -> bool:
    found = False

    def visit(x: Any) -> Any:
        nonlocal found
        found = found or x is candidate
        return x

    _tree_util.tree_map(visit, tree, is_leaf=lambda x: x is candidate)
    return found


def _not_in_tree_message(node: Any, tree: Any, where: Callable[[Any], Any]) -> str:
    static_paths = [
        path for path, kind, value in places(tree) if kind == "static" and value is node
    ]
    path = static_paths[0] if len(static_paths) == 1 else None
    if len(static_paths) > 1:  # a shared object ("relu", a str, a function): which one?
        path = _static_path_selected(tree, where) or static_paths[0]
    if path is not None:
        return (
            f"tree_at(): `where` selected {_tree_util.keystr(path)}, a static field: it is "
            f"part of the treedef, not a node of the tree. Change it with "
            f"pytreeclass.replace(...)."
        )
    return (
        f"tree_at(): `where` selected {_short(node)}, which is not a node of the tree. "
        f"Select a field, element or key that holds a child (not a static field), or "
        f"pass is_leaf= to stop at a subtree."
    )


def _static_path_selected(tree: Any, where: Callable[[Any], Any]) -> tuple | None:
    """The path of the static field ``where`` reads, found by giving every static
    field its own marker object and seeing which marker ``where`` returns."""
    paths: dict[int, tuple] = {}

    def marked(node: Any, path: tuple) -> Any:
        spec = getattr(type(node), SPEC_ATTRIBUTE, None)
        if spec is not None and not isinstance(node, type):
            changes = {}
            for name in spec.field_names:
                child_path = (*path, _tree_util.GetAttrKey(name))
                if name in spec.static_names:
                    marker = _LeafWrapper(None)
                    paths[id(marker)] = child_path
                    changes[name] = marker
                else:
                    changes[name] = marked(node.__dict__[name], child_path)
            return copy_with(node, changes)
        flat, treedef = _tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
        if flat == [((), node)]:
            return node
        return _tree_util.tree_unflatten(treedef, [marked(c, (*path, *k)) for k, c in flat])

    try:
        selected = where(marked(tree, ()))
    except Exception:  # `where` may need what the markers replaced; fall back
        return None
    chosen = selected if isinstance(selected, tuple | list) else (selected,)
    return next((paths[id(x)] for x in chosen if id(x) in paths), None)


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


# --- tree_equal ---------------------------------------------------------------------


def tree_equal(
    *pytrees: Any, typematch: bool = False, rtol: Any = 0.0, atol: Any = 0.0
) -> bool | jax.Array:
    """Whether every tree has the same structure, static values and leaves.

    Equinox's ``tree_equal``: arrays are equal when shape, dtype and values
    are (``allclose`` with ``rtol``/``atol`` for inexact arrays); other leaves
    by ``==``; with ``typematch=True`` leaf types must match too. Differs in
    that the result is a Python ``bool`` unless a traced array decides it
    (under ``jit`` it may be a traced boolean), where Equinox returns a
    concrete ``jax.Array``. ``==`` between pytree dataclass instances is this.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> ptc.tree_equal({"w": jnp.ones(2)}, {"w": jnp.ones(2)})
        True
        >>> ptc.tree_equal({"w": jnp.ones(2)}, {"w": jnp.ones(3)})
        False
    """
    first, treedef = _tree_util.tree_flatten(pytrees[0])
    result: Any = True
    for pytree in pytrees[1:]:
        leaves, other_treedef = _tree_util.tree_flatten(pytree)
        if other_treedef != treedef:  # type: ignore[operator]
            return False
        for a, b in zip(first, leaves, strict=True):
            equal = _leaves_equal(a, b, typematch, rtol, atol)
            if equal is False:
                return False
            if equal is not True:
                result = result & equal
    if isinstance(result, Tracer):
        return result
    return bool(result)


def _leaves_equal(a: Any, b: Any, typematch: bool, rtol: Any, atol: Any) -> Any:
    if typematch and type(a) is not type(b):
        return False
    a_is_array, b_is_array = _is_array(a), _is_array(b)
    if a_is_array != b_is_array:
        return False
    if not a_is_array:
        return bool(a == b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if isinstance(a, np.ndarray | np.generic) and isinstance(b, np.ndarray | np.generic):
        return bool(_array_equal(np, a, b, rtol, atol))
    return _array_equal(jnp, a, b, rtol, atol)


def _is_array(x: Any) -> bool:
    return isinstance(x, jax.Array | np.ndarray | np.generic)


def _array_equal(xnp: Any, a: Any, b: Any, rtol: Any, atol: Any) -> Any:
    exact = isinstance(rtol, int | float) and isinstance(atol, int | float) and rtol == atol == 0
    if exact or not jnp.issubdtype(a.dtype, jnp.inexact):
        return xnp.all(a == b)
    return xnp.allclose(a, b, rtol=rtol, atol=atol)
