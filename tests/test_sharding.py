"""filter_shard: Equinox's semantics on any pytree; conftest.py asks for 8 host devices."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, SingleDeviceSharding
from jax.sharding import PartitionSpec as P

import pytreeclass as ptc


@ptc.pytree_dataclass
class Dense:
    w: jax.Array
    b: jax.Array
    label: str  # a string leaf: jax.device_put and with_sharding_constraint refuse it
    activation: object = ptc.field(static=True, default=jax.nn.relu)


def make_dense():
    return Dense(jnp.ones((4, 8)), np.zeros(8, np.float32), "dense")


def mesh():
    return Mesh(np.array(jax.devices()[:4]), ("data",))


def test_equinox_test_sharding_side_by_side():
    """Equinox's tests/test_sharding.py, with our function and theirs."""
    cpu = jax.local_devices(backend="cpu")[0]
    mlp = eqx.nn.MLP(2, 2, 2, 2, key=jr.PRNGKey(0))
    cpu_sharding = SingleDeviceSharding(cpu)
    for shard in (ptc.filter_shard, eqx.filter_shard):
        sharded = jax.tree_util.tree_leaves(eqx.filter(shard(mlp, cpu_sharding), eqx.is_array))
        assert all(x.committed and x.sharding == cpu_sharding for x in sharded)
        by_device = jax.tree_util.tree_leaves(eqx.filter(shard(mlp, cpu), eqx.is_array))
        assert all(x.committed and x.sharding == cpu_sharding for x in by_device)


def test_a_model_holding_a_string_is_placed_whole():
    with pytest.raises((TypeError, ValueError)):
        jax.device_put(make_dense(), NamedSharding(mesh(), P()))
    replicated, split = NamedSharding(mesh(), P()), NamedSharding(mesh(), P(None, "data"))
    out = ptc.filter_shard(make_dense(), replicated)
    assert out.label == "dense" and out.activation is jax.nn.relu
    assert out.w.sharding == replicated and out.b.sharding == replicated  # numpy too
    shardings = Dense(split, replicated, replicated)
    out = ptc.filter_shard(make_dense(), shardings)
    assert out.w.sharding == split and out.b.sharding == replicated and out.label == "dense"


def test_inside_jit_it_constrains_and_matches_equinox():
    split = NamedSharding(mesh(), P("data"))

    @ptc.filter_jit
    def step(model):
        return ptc.filter_shard(ptc.tree_at(lambda m: m.w, model, model.w * 2), split)

    out = step(make_dense())
    assert out.w.sharding.is_equivalent_to(split, 2) and out.label == "dense"
    ours = ptc.filter_jit(lambda m: ptc.filter_shard(m, split))(make_dense())
    theirs = eqx.filter_jit(lambda m: eqx.filter_shard(m, split))(make_dense())
    assert ptc.tree_equal(ours, theirs) and ours.w.sharding.is_equivalent_to(theirs.w.sharding, 2)


def test_a_shardings_tree_that_is_not_a_prefix_names_the_path():
    replicated = NamedSharding(mesh(), P())
    with pytest.raises(ValueError, match=r"not a prefix.*at \['layer'\].*dict"):
        ptc.filter_shard({"layer": make_dense()}, {"layer": {"w": replicated}})
    with pytest.raises(TypeError, match=r"holds str 'data' at \['w'\].*Sharding"):
        ptc.filter_shard({"w": jnp.ones(2)}, {"w": "data"})
