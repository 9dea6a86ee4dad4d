"""``filter_shard``: Equinox's filtered ``with_sharding_constraint`` / ``device_put``.

``jax.device_put``, ``jax.lax.with_sharding_constraint`` and ``jax.reshard``
take only arrays at the leaves, so a model holding a string, a callable or a
Python number at a leaf cannot be placed with them in one call. This places
the array leaves and hands the rest back untouched.
"""

from __future__ import annotations

from typing import Any

import jax
from jax.sharding import PartitionSpec, Sharding, SingleDeviceSharding

from ._filters import combine, is_array, partition


def _is_sharding(x: Any) -> bool:
    return isinstance(x, Sharding | PartitionSpec)


def filter_shard(
    x: Any,
    device_or_shardings: jax.Device | Any,  # pyright: ignore[reportInvalidTypeForm]  # as Equinox
) -> Any:
    """``x`` with its array leaves placed (outside ``jit``) or constrained (inside) as given.

    Equinox's ``filter_shard``, same signature and semantics, on any pytree:
    ``device_or_shardings`` is one device, or a pytree of ``Sharding`` (or
    ``PartitionSpec`` under a mesh context) whose structure is a prefix of
    ``x``; each applies to the arrays below it. Arrays (numpy ones included)
    go through ``jax.lax.with_sharding_constraint``, which inside ``jit`` is a
    constraint and outside it a transfer, as ``jax.device_put`` is; every other
    leaf (strings, callables, Python numbers) is returned as it is. Differs
    from the ``jax.*`` functions in taking those leaves at all; from Equinox's
    in naming the key path where ``device_or_shardings`` is not a prefix of
    ``x`` or holds something that is not a sharding.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> device = jax.devices()[0]
        >>> out = ptc.filter_shard({"w": jnp.ones(2), "name": "dense"}, device)
        >>> out["name"], out["w"].sharding == jax.sharding.SingleDeviceSharding(device)
        ('dense', True)
    """
    if isinstance(device_or_shardings, jax.Device):
        shardings: Any = SingleDeviceSharding(device_or_shardings)
    else:
        shardings = device_or_shardings
    flat = jax.tree_util.tree_flatten_with_path(shardings, is_leaf=_is_sharding)[0]
    for path, leaf in flat:
        if not _is_sharding(leaf):
            raise TypeError(
                f"filter_shard: `device_or_shardings` holds {type(leaf).__name__} "
                f"{_short(leaf)} at {_keystr(path)}; give one jax.Device, or a pytree of "
                f"jax.sharding.Sharding (e.g. NamedSharding(mesh, PartitionSpec(...))) "
                f"whose structure is a prefix of the tree."
            )
    dynamic, static = partition(x, is_array)
    # Matched against the arrays alone, as Equinox does: a None in the shardings
    # may stand where the tree holds no array (``filter(model, is_array)`` mapped
    # to shardings is a valid spec).
    mismatch = _first_mismatch(shardings, dynamic, ())
    if mismatch is not None:
        path, expected, found = mismatch
        raise ValueError(
            f"filter_shard: `device_or_shardings` is not a prefix of the tree: at "
            f"{_keystr(path)} it has {expected} where the tree has {found} (a None in the "
            f"tree: no array there). Give one sharding per subtree, in a pytree shaped "
            f"like the top of the tree."
        )
    # Equinox's choice: with_sharding_constraint is also a transfer outside jit,
    # so one call serves both places.
    dynamic = jax.lax.with_sharding_constraint(dynamic, shardings)
    return combine(dynamic, static)


def _children(node: Any) -> tuple[list, Any]:
    """One level of ``node``: its children with their keys, and its one-level treedef."""
    return jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda child: child is not node)


def _first_mismatch(prefix: Any, tree: Any, path: tuple) -> tuple[tuple, str, str] | None:
    """Where ``prefix`` stops being a prefix of ``tree``: path, what each side has."""
    if _is_sharding(prefix):
        return None
    prefix_children, prefix_def = _children(prefix)
    tree_children, tree_def = _children(tree)
    if prefix_def != tree_def:
        return path, _node_name(prefix), _node_name(tree)
    for (key, child), (_, tree_child) in zip(prefix_children, tree_children, strict=True):
        found = _first_mismatch(child, tree_child, (*path, *key))
        if found is not None:
            return found
    return None


def _node_name(node: Any) -> str:
    if node is None:
        return "None"
    children = jax.tree_util.tree_flatten(node, is_leaf=lambda child: child is not node)[0]
    if children == [node]:
        return f"a leaf ({type(node).__name__})"
    if isinstance(node, dict):
        return f"a dict with keys {sorted(map(repr, node))}"
    return f"a {type(node).__name__} of {len(children)} child{'ren' * (len(children) != 1)}"


def _keystr(path: tuple) -> str:
    return jax.tree_util.keystr(path) or "the top"


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."
