"""Correct uses of pytreeclass that mypy and pyright must accept.

``wrong_uses.py`` beside it holds the uses they must reject. Both run once
each in CI's lint step (``mypy`` and ``pyright``, configured in pyproject).
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

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.activation(x @ self.weight + self.bias)

    @ptc.filter_jit
    def jitted(self, x: jax.Array) -> jax.Array:
        return self(x)

    @ptc.filter_grad
    def grad_of_loss(self, x: jax.Array) -> jax.Array:
        return jnp.sum(self(x))


@ptc.pytree_dataclass(frozen=False, kw_only=True)
class Counter:
    count: int = 0


def loss(model: Linear, x: jax.Array, scale: float = 1.0) -> jax.Array:
    return jnp.sum(model(x)) * scale


def build() -> tuple[Linear, Counter]:
    layer = Linear(jnp.ones((2, 2)), jnp.zeros(2), activation=jnp.tanh)
    weight: jax.Array = layer.weight
    layer = ptc.replace(layer, weight=weight * 2)
    layer = ptc.tree_at(lambda m: m.bias, layer, jnp.ones(2))
    counter = Counter(count=1)
    counter.count += 1
    return layer, counter


def transforms(layer: Linear, x: jax.Array) -> None:
    step = ptc.filter_jit(loss)
    value: jax.Array = step(layer, x, scale=2.0)
    traces: int = step.trace_count()
    why: str | None = step.explain_retrace()
    grads: Linear = ptc.filter_grad(loss)(layer, x)
    both: tuple[jax.Array, Linear] = ptc.filter_value_and_grad(loss)(layer, x)
    batched: jax.Array = ptc.filter_vmap(loss, in_axes=(None, 0))(layer, x)
    from_method: Linear = layer.grad_of_loss(x)
    layer.jitted(x)
    equal: bool | jax.Array = ptc.tree_equal(layer, grads)
    del value, traces, why, both, batched, from_method, equal
