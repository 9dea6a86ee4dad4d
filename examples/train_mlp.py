"""Train a small MLP on synthetic regression data: the README's main job.

The model holds arrays, a static activation function and a string name; it
goes straight into ``ptc.filter_jit`` and ``ptc.filter_value_and_grad`` with
no ``static_argnums``. Exits non-zero if the loss does not fall.

    python examples/train_mlp.py [--steps 300]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

import pytreeclass as ptc


@ptc.pytree_dataclass
class Linear:
    weight: jax.Array
    bias: jax.Array
    activation: Callable[[jax.Array], jax.Array] = ptc.field(static=True, default=jax.nn.relu)

    @classmethod
    def init(cls, key: jax.Array, n_in: int, n_out: int, **kwargs) -> Linear:
        weight = jax.random.normal(key, (n_in, n_out)) * jnp.sqrt(2.0 / n_in)
        return cls(weight, jnp.zeros(n_out), **kwargs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.activation(x @ self.weight + self.bias)


@ptc.pytree_dataclass
class MLP:
    layers: tuple[Linear, ...]
    name: str = "mlp"

    @classmethod
    def init(cls, key: jax.Array, sizes: tuple[int, ...], name: str = "mlp") -> MLP:
        keys = jax.random.split(key, len(sizes) - 1)
        layers = [Linear.init(k, a, b) for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)]
        layers[-1] = ptc.replace(layers[-1], activation=_identity)
        return cls(tuple(layers), name)

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers:
            x = layer(x)
        return x


def _identity(x: jax.Array) -> jax.Array:
    return x


def mse(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


def make_data(key: jax.Array, n: int = 256) -> tuple[jax.Array, jax.Array]:
    x = jax.random.uniform(key, (n, 1), minval=-2.0, maxval=2.0)
    return x, jnp.sin(2.0 * x) + 0.5 * x


def train(steps: int, seed: int = 0) -> tuple[float, float]:
    """Train and return (first loss, final loss)."""
    data_key, model_key = jax.random.split(jax.random.key(seed))
    x, y = make_data(data_key)
    model = MLP.init(model_key, (1, 32, 32, 1), name="sine-regressor")
    optimizer = optax.adam(1e-2)
    opt_state = optimizer.init(ptc.filter(model, ptc.is_inexact_array))

    @ptc.filter_jit
    def step(model: MLP, opt_state: optax.OptState, x: jax.Array, y: jax.Array):
        loss, grads = ptc.filter_value_and_grad(mse)(model, x, y)
        params = ptc.filter(model, ptc.is_inexact_array)
        updates, opt_state = optimizer.update(grads, opt_state, params)  # pyright: ignore[reportArgumentType]
        # None updates (the non-trained leaves) keep their leaf; optax's would fail on them.
        return ptc.apply_updates(model, updates), opt_state, loss

    first = float(mse(model, x, y))
    loss = jnp.asarray(first)
    for i in range(steps + 1):
        model, opt_state, loss = step(model, opt_state, x, y)
        if i % max(steps // 10, 1) == 0:
            print(f"step {i:4d}/{steps}  loss {float(loss):.5f}", flush=True)
    print(
        f"{model.name}: loss {first:.4f} -> {float(loss):.4f} in {steps} steps, "
        f"traced {step.trace_count()} time(s)"
    )
    return first, float(loss)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args(argv)
    first, last = train(args.steps)
    if not last < 0.5 * first:
        print(f"FAILED: the loss did not fall enough ({first:.4f} -> {last:.4f})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
