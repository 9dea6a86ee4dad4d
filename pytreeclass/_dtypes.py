"""The one place that asks what a dtype is: JAX's dtype lattice, never numpy's.

numpy does not know the ml_dtypes floats (``bfloat16``, the ``float8`` and
``float4`` families) are floating, and cannot interpret extended dtypes such
as typed PRNG keys (``key<fry>``) at all. JAX's ``issubdtype`` knows both, so
every filter, ``repr``, trace log and testing helper goes through here.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

_SHORT_PREFIXES = (("bfloat", "bf"), ("float", "f"), ("uint", "u"), ("int", "i"), ("complex", "c"))


def is_inexact_dtype(dtype: Any) -> bool:
    """Floating or complex in JAX's lattice: bfloat16 and float8 included, keys not."""
    return bool(jnp.issubdtype(dtype, jnp.inexact))


def is_key_dtype(dtype: Any) -> bool:
    """A typed PRNG key dtype (``jax.random.key``), which numpy cannot interpret."""
    return bool(jnp.issubdtype(dtype, jax.dtypes.prng_key))


def short_dtype_name(dtype: Any) -> str:
    """``f32``, ``bf16``, ``f8_e4m3fn``, ``i8``, ``u32``, ``c64``, ``bool``, ``key<fry>``."""
    name = str(dtype)
    for prefix, short in _SHORT_PREFIXES:
        rest = name[len(prefix) :]
        if name.startswith(prefix) and rest[:1].isdigit():
            return short + rest
    return name


def summarize_array(x: Any) -> str:
    """``f32[3,4]`` for an array (or tracer) of dtype float32 and shape (3, 4)."""
    return f"{short_dtype_name(x.dtype)}[{','.join(map(str, x.shape))}]"
