"""``filter_pure_callback``: ``jax.pure_callback`` for arguments and results of any kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from ._filters import combine, is_array, partition
from ._tree import tree_equal


def _is_struct(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype")


def filter_pure_callback(
    callback: Callable[..., Any],
    *args: Any,
    result_shape_dtypes: Any,
    sharding: Any = None,
    vmap_method: str | None = None,
    **kwargs: Any,
) -> Any:
    """Call the Python function ``callback(*args, **kwargs)`` from inside a traced region.

    Differs from ``jax.pure_callback``: arguments may hold any leaves (only the
    arrays cross into JAX; the rest reach ``callback`` as they are), the result
    may too, and ``result_shape_dtypes`` is keyword-only: a pytree like the
    result with a ``jax.ShapeDtypeStruct`` for each array and the expected value
    for each other leaf. A result whose non-array leaves differ raises (a
    ``RuntimeError`` from JAX, which names the differing values). As Equinox's
    ``filter_pure_callback``; ``sharding`` and ``vmap_method`` go to
    ``jax.pure_callback``.

    Example:
        >>> import jax, jax.numpy as jnp, numpy as np
        >>> import pytreeclass as ptc
        >>> def host(x, unit):
        ...     return np.asarray(x * 2, np.float32), unit
        >>> @jax.jit
        ... def f(x):
        ...     struct = (jax.ShapeDtypeStruct((), jnp.float32), "m")
        ...     return ptc.filter_pure_callback(host, x, "m", result_shape_dtypes=struct)[0]
        >>> f(jnp.array(1.5))
        Array(3., dtype=float32)
    """
    dynamic, static = partition((args, kwargs), is_array)
    dynamic_struct, static_struct = partition(result_shape_dtypes, _is_struct)
    name = getattr(callback, "__qualname__", type(callback).__name__)

    def on_host(dynamic: Any) -> Any:
        call_args, call_kwargs = combine(dynamic, static)
        out = callback(*call_args, **call_kwargs)
        dynamic_out, static_out = partition(out, is_array)
        if tree_equal(static_out, static_struct) is not True:
            raise ValueError(
                f"filter_pure_callback({name}): the callback returned non-array values "
                f"{static_out!r}, but result_shape_dtypes expects {static_struct!r}. Make "
                f"result_shape_dtypes hold the non-array values the callback returns, and a "
                f"jax.ShapeDtypeStruct for each array."
            )
        return dynamic_out

    options: dict[str, Any] = {}
    if sharding is not None:
        options["sharding"] = sharding
    if vmap_method is not None:
        options["vmap_method"] = vmap_method
    dynamic_out = jax.pure_callback(on_host, dynamic_struct, dynamic, **options)
    return combine(dynamic_out, static_struct)
