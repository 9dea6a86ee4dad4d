"""optax: training, optimizer states holding our classes, optax.tree_utils."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
import pytest

import pytreeclass as ptc


@pytest.fixture(autouse=True)
def standard_dtype_promotion():
    """optax mixes Python floats with int32 step counters, which strict promotion rejects."""
    with jax.numpy_dtype_promotion("standard"):
        yield


@ptc.pytree_dataclass
class Regressor:
    w: jax.Array
    b: jax.Array
    name: str
    activation: Callable = ptc.field(static=True, default=jnp.tanh)

    def __call__(self, x):
        return self.activation(x @ self.w + self.b)


def make_data():
    x = jax.random.normal(jax.random.key(0), (64, 3))
    return x, jnp.tanh(x @ jnp.array([1.0, -2.0, 0.5]) + 0.3)


def loss(model, x, y):
    return jnp.mean((model(x) - y) ** 2)


@pytest.mark.parametrize(
    "optimizer",
    [optax.adam(5e-2), optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(5e-2))],
    ids=["adam", "chain(clip,adamw)"],
)
def test_training_under_filter_jit_reduces_the_loss(optimizer):
    model = Regressor(jnp.zeros(3), jnp.zeros(()), "reg")
    opt_state = optimizer.init(ptc.partition(model, ptc.is_inexact_array)[0])
    x, y = make_data()

    @ptc.filter_jit
    def step(model, opt_state):
        value, grads = ptc.filter_value_and_grad(loss)(model, x, y)
        params, rest = ptc.partition(model, ptc.is_inexact_array)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return ptc.combine(optax.apply_updates(params, updates), rest), opt_state, value

    first = float(loss(model, x, y))
    for _ in range(50):
        model, opt_state, value = step(model, opt_state)
    assert float(value) < 0.2 * first
    assert model.name == "reg"
    assert step.trace_count() == 1


def test_optimizer_state_holds_our_classes():
    model = Regressor(jnp.ones(3), jnp.zeros(()), "reg")
    params, _ = ptc.partition(model, ptc.is_inexact_array)
    state = optax.adam(1e-3).init(params)
    adam_state = state[0]
    assert isinstance(adam_state.mu, Regressor)
    assert adam_state.mu.activation is jnp.tanh
    assert adam_state.mu.name is None
    moved = jax.jit(lambda s: s)(state)
    assert isinstance(moved[0].nu, Regressor)


def test_optax_tree_utils_work_on_our_classes():
    params, _ = ptc.partition(Regressor(jnp.ones(3), jnp.ones(()), "r"), ptc.is_inexact_array)
    assert float(optax.tree_utils.tree_norm(params)) == pytest.approx(2.0)
    zeros = optax.tree_utils.tree_zeros_like(params)
    assert isinstance(zeros, Regressor)
    assert float(optax.tree_utils.tree_sum(zeros)) == 0.0
    doubled = optax.tree_utils.tree_add(params, params)
    assert float(optax.tree_utils.tree_vdot(doubled, params)) == pytest.approx(8.0)
