"""``filter_make_jaxpr``: ``jax.make_jaxpr`` for arguments and outputs of any kind."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec

import jax

from ._ad import _is_struct
from ._filters import combine, partition
from ._static import Static, split_static

P = ParamSpec("P")


def filter_make_jaxpr(fun: Callable[P, Any]) -> Callable[P, tuple[Any, Any, Any]]:
    """Wrap ``fun`` so that calling it gives ``(closed_jaxpr, out_structs, out_static)``.

    Differs from ``jax.make_jaxpr``: arguments may hold any leaves. Leaves with
    a shape and dtype (JAX and numpy arrays, ``jax.ShapeDtypeStruct``) are the
    jaxpr's inputs; everything else, Python numbers included, is static. The
    output may hold any leaves too: ``out_structs`` has a ``ShapeDtypeStruct``
    for each output array and ``None`` elsewhere, ``out_static`` the other
    leaves and ``None`` for arrays. Arrays closed over (or held by a model
    ``fun``) become the jaxpr's constants. As Equinox's ``filter_make_jaxpr``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> def f(x, scale, name):
        ...     return x * scale, name
        >>> jaxpr, structs, static = ptc.filter_make_jaxpr(f)(jnp.ones(3), 2.0, "y")
        >>> [eqn.primitive.name for eqn in jaxpr.jaxpr.eqns]
        ['mul']
        >>> structs, static
        ((ShapeDtypeStruct(shape=(3,), dtype=float32), None), (None, 'y'))
    """
    if not callable(fun):
        raise TypeError(f"filter_make_jaxpr expects a callable, got {fun!r}.")
    call: Callable[..., Any] = fun  # called with the arguments rebuilt from leaves

    @functools.wraps(fun)
    def make_jaxpr(*args: Any, **kwargs: Any) -> tuple[Any, Any, Any]:
        dynamic, static = partition((args, kwargs), _is_struct)
        leaves, treedef = jax.tree_util.tree_flatten(dynamic)

        def traced(*leaves: Any) -> tuple[Any, Static]:
            call_args, call_kwargs = combine(jax.tree_util.tree_unflatten(treedef, leaves), static)
            return split_static(call(*call_args, **call_kwargs))

        jaxpr, (out_structs, box) = jax.make_jaxpr(traced, return_shape=True)(*leaves)
        return jaxpr, out_structs, box.value

    return make_jaxpr
