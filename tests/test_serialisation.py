"""tree_serialise_leaves / tree_deserialise_leaves: Equinox's format, both directions."""

import pickle

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

import pytreeclass as ptc


@ptc.pytree_dataclass
class Layer:
    weight: jax.Array
    steps: jax.Array
    scale: float
    count: int
    half: jax.Array
    name: str = ptc.field(static=True, default="layer")


def make_layer(seed=0.0):
    return Layer(
        jnp.arange(6.0).reshape(2, 3) + seed,
        jnp.arange(2),
        0.5 + seed,
        3,
        jnp.ones(2, jnp.bfloat16) * (1 + seed),
    )


def test_round_trip_keeps_arrays_numbers_and_statics(tmp_path):
    ptc.tree_serialise_leaves(tmp_path / "model", make_layer(1.0))
    loaded = ptc.tree_deserialise_leaves(tmp_path / "model", make_layer())
    assert (tmp_path / "model.eqx").exists()  # the suffix Equinox adds
    assert loaded == make_layer(1.0)
    assert type(loaded.scale) is float and loaded.half.dtype == jnp.bfloat16


def test_files_written_by_equinox_load_here_and_back(tmp_path):
    eqx.tree_serialise_leaves(tmp_path / "theirs.eqx", make_layer(2.0))
    assert ptc.tree_deserialise_leaves(tmp_path / "theirs.eqx", make_layer()) == make_layer(2.0)
    ptc.tree_serialise_leaves(tmp_path / "ours.eqx", make_layer(3.0))
    assert eqx.tree_deserialise_leaves(tmp_path / "ours.eqx", make_layer()) == make_layer(3.0)
    assert (tmp_path / "ours.eqx").read_bytes() == _equinox_bytes(tmp_path, make_layer(3.0))


def _equinox_bytes(tmp_path, tree):
    eqx.tree_serialise_leaves(tmp_path / "reference.eqx", tree)
    return (tmp_path / "reference.eqx").read_bytes()


def test_an_equinox_module_round_trips_through_us(tmp_path):
    mlp = eqx.nn.MLP(2, 2, 4, 1, key=jax.random.key(0))
    ptc.tree_serialise_leaves(tmp_path / "mlp.eqx", mlp)
    like = eqx.nn.MLP(2, 2, 4, 1, key=jax.random.key(1))
    loaded = eqx.tree_deserialise_leaves(tmp_path / "mlp.eqx", like)
    assert ptc.tree_equal(loaded, mlp)


def test_loading_into_an_abstract_model_from_filter_eval_shape(tmp_path):
    ptc.tree_serialise_leaves(tmp_path / "m.eqx", make_layer(1.0))
    abstract = ptc.filter_eval_shape(make_layer)
    assert isinstance(abstract.weight, jax.ShapeDtypeStruct)
    assert ptc.tree_deserialise_leaves(tmp_path / "m.eqx", abstract) == make_layer(1.0)


def test_typed_keys_round_trip(tmp_path):
    tree = {"key": jax.random.split(jax.random.key(3), 2)}
    ptc.tree_serialise_leaves(tmp_path / "k.eqx", tree)
    like = {"key": jax.random.split(jax.random.key(0), 2)}
    loaded = ptc.tree_deserialise_leaves(tmp_path / "k.eqx", like)
    assert jnp.array_equal(jax.random.key_data(loaded["key"]), jax.random.key_data(tree["key"]))


def test_a_mismatch_names_the_path_and_both_sides(tmp_path):
    ptc.tree_serialise_leaves(tmp_path / "m.eqx", make_layer())
    like = ptc.replace(make_layer(), weight=jnp.ones((3, 3)))
    with pytest.raises(
        ValueError, match=r"at \.weight: the file has f32\[2, 3\], `like` has f32\[3, 3\]"
    ):
        ptc.tree_deserialise_leaves(tmp_path / "m.eqx", like)


def test_a_shorter_or_longer_file_says_so(tmp_path):
    ptc.tree_serialise_leaves(tmp_path / "short.eqx", [jnp.ones(1)])
    with pytest.raises(ValueError, match=r"ends before the leaf at \[1\]"):
        ptc.tree_deserialise_leaves(tmp_path / "short.eqx", [jnp.ones(1), jnp.ones(1)])
    ptc.tree_serialise_leaves(tmp_path / "long.eqx", [jnp.ones(1), jnp.ones(1)])
    with pytest.raises(ValueError, match="more leaves than `like`"):
        ptc.tree_deserialise_leaves(tmp_path / "long.eqx", [jnp.ones(1)])


def test_a_file_that_is_not_a_leaves_file_says_so(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    with pytest.raises(ValueError, match=r"not in the format.*at \[0\].*pickled data"):
        ptc.tree_deserialise_leaves(path, [jnp.ones(2)])
    path.write_bytes(b"weights: 1, 2")
    with pytest.raises(ValueError, match=r"not in the format.*b'weight'"):
        ptc.tree_deserialise_leaves(path, [jnp.ones(2)])
