"""Correct uses of pytreeclass that mypy must accept (CI runs mypy on this file).

The matching wrong uses, which mypy must reject, are in test_typing.py.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

import pytreeclass as ptc


@ptc.pytree_dataclass
class Linear:
    weight: jax.Array
    bias: jax.Array
    activation: Callable[[jax.Array], jax.Array] = ptc.field(static=True, default=jax.nn.relu)


@ptc.pytree_dataclass(frozen=False, kw_only=True)
class Counter:
    count: int = 0


def build() -> tuple[Linear, Counter]:
    layer = Linear(jnp.ones((2, 2)), jnp.zeros(2), activation=jnp.tanh)
    weight: jax.Array = layer.weight
    layer = ptc.replace(layer, weight=weight * 2)
    counter = Counter(count=1)
    counter.count += 1
    return layer, counter
