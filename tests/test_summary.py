"""tree_summary: a row per leaf by key path, totals, static rows, sharding."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import pytreeclass as ptc


@ptc.pytree_dataclass
class Layer:
    weight: jax.Array
    steps: jax.Array
    key: jax.Array
    lr: float
    activation: object = ptc.field(static=True, default=jnp.tanh)


def test_rows_name_every_leaf_and_static_field_by_path():
    layer = Layer(jnp.ones((3, 4), jnp.bfloat16), jnp.arange(2), jax.random.key(0), 0.1)
    summary = ptc.tree_summary({"layer": layer})
    rows = {row.path: row for row in summary.rows}
    assert list(rows) == [
        "['layer'].weight",
        "['layer'].steps",
        "['layer'].key",
        "['layer'].lr",
        "['layer'].activation",
    ]
    weight = rows["['layer'].weight"]
    assert (weight.shape, weight.parameters, weight.bytes, weight.role) == (
        "bf16[3,4]",
        12,
        24,
        "parameter",
    )
    assert rows["['layer'].steps"].role == "array" and rows["['layer'].steps"].parameters == 0
    assert rows["['layer'].key"].shape == "key<fry>[]"
    assert rows["['layer'].lr"].role == "static leaf"
    assert rows["['layer'].activation"].role == "static field"
    assert str(summary).endswith("total: 12 parameters (40 B) in 3 arrays; 2 static values")


def test_works_on_equinox_modules():
    mlp = eqx.nn.MLP(2, 3, 8, 1, key=jax.random.key(0))
    summary = ptc.tree_summary(mlp)
    expected = sum(x.size for x in jax.tree_util.tree_leaves(eqx.filter(mlp, eqx.is_array)))
    assert sum(row.parameters for row in summary.rows) == expected
    assert ".layers[0].weight" in str(summary)


def test_a_sharded_leaf_gets_a_sharding_column():
    mesh = Mesh(np.array(jax.devices("cpu")[:2]), ("data",))  # conftest asks for 8
    sharded = jax.device_put(jnp.ones((4, 2)), NamedSharding(mesh, PartitionSpec("data")))
    summary = ptc.tree_summary({"x": sharded, "y": jnp.ones(2)})
    header = str(summary).splitlines()[0]
    assert header.split()[-1] == "sharding"
    rows = {row.path: row for row in summary.rows}
    assert "data" in rows["['x']"].sharding and rows["['y']"].sharding == ""


def test_a_plain_leaf_and_an_empty_tree():
    assert [row.path for row in ptc.tree_summary(jnp.ones(2)).rows] == ["(root)"]
    assert "total: 0 parameters (0 B) in 0 arrays; 0 static values" in ptc.tree_summary({})


def test_a_filter_eval_shape_model_counts_its_parameters_and_bytes():
    def make():
        return Layer(jnp.ones((3, 4)), jnp.arange(2), jax.random.key(0), 0.1)

    concrete, abstract = ptc.tree_summary(make()), ptc.tree_summary(ptc.filter_eval_shape(make))
    rows = {row.path: row for row in abstract.rows}
    assert (rows[".weight"].parameters, rows[".weight"].bytes, rows[".weight"].role) == (
        12,
        48,
        "parameter",
    )
    assert rows[".steps"].role == "array" and rows[".key"].shape == "key<fry>[]"
    assert [(r.parameters, r.bytes, r.role) for r in abstract.rows] == [
        (r.parameters, r.bytes, r.role) for r in concrete.rows
    ]
    assert str(abstract).splitlines()[-1] == str(concrete).splitlines()[-1]
    mesh = Mesh(np.array(jax.devices("cpu")[:2]), ("data",))
    struct = jax.ShapeDtypeStruct(
        (4,), jnp.float32, sharding=NamedSharding(mesh, PartitionSpec("data"))
    )
    assert "data" in ptc.tree_summary([struct]).rows[0].sharding
