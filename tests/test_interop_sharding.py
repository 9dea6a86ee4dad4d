"""Multi-device: sharded models keep their sharding through the filtered transforms.

conftest.py asks XLA for eight host devices before JAX starts.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import pytreeclass as ptc

pytestmark = pytest.mark.skipif(
    jax.device_count() < 8, reason="needs XLA_FLAGS=--xla_force_host_platform_device_count=8"
)


@ptc.pytree_dataclass
class Dense:
    w: jax.Array
    b: jax.Array
    name: str = ptc.field(static=True, default="dense")

    def __call__(self, x):
        return jnp.tanh(x @ self.w + self.b[None, :])


@pytest.fixture
def mesh():
    return Mesh(np.array(jax.devices()[:8]).reshape(2, 4), ("data", "model"))


def sharded_model(mesh):
    model = Dense(jnp.ones((8, 16)) * 0.1, jnp.zeros(16))
    shardings = Dense(NamedSharding(mesh, P(None, "model")), NamedSharding(mesh, P("model")))
    return jax.device_put(model, shardings)


def loss(model, x, y):
    return jnp.mean((model(x) - y) ** 2)


def test_filter_jit_keeps_input_sharding(mesh):
    model = sharded_model(mesh)
    out = ptc.filter_jit(lambda m: m)(model)
    assert out.w.sharding.is_equivalent_to(model.w.sharding, 2)
    assert out.b.sharding.is_equivalent_to(model.b.sharding, 1)
    assert out.name == "dense"


def test_filter_grad_under_filter_jit_keeps_sharding(mesh):
    model = sharded_model(mesh)
    x = jax.device_put(jnp.ones((4, 8)), NamedSharding(mesh, P("data", None)))
    grads = ptc.filter_jit(ptc.filter_grad(loss))(model, x, jnp.zeros((4, 16)))
    assert grads.w.sharding.is_equivalent_to(model.w.sharding, 2)
    assert grads.b.sharding.is_equivalent_to(model.b.sharding, 1)


def test_sharded_training_step_keeps_shardings_and_learns(mesh):
    model = sharded_model(mesh)
    x = jax.device_put(jnp.ones((4, 8)), NamedSharding(mesh, P("data", None)))
    y = jnp.full((4, 16), 0.5)

    @ptc.filter_jit
    def step(model, x, y):
        value, grads = ptc.filter_value_and_grad(loss)(model, x, y)
        new = jax.tree_util.tree_map(lambda p, g: p - 0.5 * g, model, grads)
        return new, value

    first = None
    for _ in range(5):
        model, value = step(model, x, y)
        first = value if first is None else first
    assert float(value) < float(first)
    assert model.w.sharding.is_equivalent_to(NamedSharding(mesh, P(None, "model")), 2)
    assert step.trace_count() == 1


def test_shard_map_over_a_pytree_dataclass(mesh):
    model = sharded_model(mesh)

    def local_sum(m):
        return jax.lax.psum(jnp.sum(m.b) + jnp.sum(m.w), "model")

    total = jax.shard_map(
        local_sum,
        mesh=mesh,
        in_specs=(Dense(P(None, "model"), P("model")),),
        out_specs=P(),
    )(model)
    np.testing.assert_allclose(total, jnp.sum(model.w) + jnp.sum(model.b), rtol=1e-5)
