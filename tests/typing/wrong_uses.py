"""Wrong uses that mypy and pyright must each report.

Every line below carries a ``# type: ignore[...]`` for mypy and a
``# pyright: ignore[...]`` for pyright; with ``warn_unused_ignores`` and
``reportUnnecessaryTypeIgnoreComment``, an error that stops being reported
fails the lint step. The body is never run.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import pytreeclass as ptc


@ptc.pytree_dataclass
class Linear:
    weight: jax.Array
    name: str = ptc.field(static=True, default="linear")


def loss(model: Linear, x: jax.Array) -> jax.Array:
    return jnp.sum(model.weight * x)


def never_called() -> None:
    Linear(jnp.ones(2), name=3)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    Linear()  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    Linear(jnp.ones(2), colour="red")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    Linear(jnp.ones(2)).weight = jnp.ones(2)  # type: ignore[misc]  # pyright: ignore[reportAttributeAccessIssue]
    ptc.filter_jit(loss)(jnp.ones(2), jnp.ones(2))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    ptc.filter_jit(loss)(Linear(jnp.ones(2)))  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    ptc.filter_vmap(loss)(Linear(jnp.ones(2)), "x")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    grads: str = ptc.filter_grad(loss)(Linear(jnp.ones(2)), jnp.ones(2))  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]
    del grads
