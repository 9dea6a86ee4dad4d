"""tree_serialise_leaves / tree_deserialise_leaves: Equinox's format, both directions."""

import pickle

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
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


# --- Equinox's own tests, side by side: files written by one library, read by the other ---

BOTH = {"ours": ptc, "equinox": eqx}


def _example_trees():
    """Equinox's tests/test_serialisation.py ``_example_trees``."""
    scalars = (True, 1, 1.0, 1 + 1j)
    tree = (jnp.array(1), jnp.array([1.0, 2.0]), np.array(1), np.array([1.0, 2.0]), scalars)
    like_scalars = (False, 6, 6.0, 6 + 6j)
    like = (jnp.array(5), jnp.array([6.0, 7.0]), np.array(5), np.array([6.0, 7.0]), like_scalars)
    func, obj = (lambda x: x), object()
    return (*tree, lambda x: x, object()), (*like, func, obj), func, obj


@pytest.mark.parametrize(("writer", "reader"), [(w, r) for w in BOTH for r in BOTH])
@pytest.mark.parametrize("through", ["path", "file"])
def test_leaf_serialisation_path_and_file(tmp_path, writer, reader, through):
    """Equinox's test_leaf_serialisation_path / _file: numpy leaves stay numpy."""
    tree, like, like_func, like_obj = _example_trees()
    if through == "path":
        BOTH[writer].tree_serialise_leaves(tmp_path, tree)
        loaded = BOTH[reader].tree_deserialise_leaves(tmp_path, like)
    else:
        with open(tmp_path / "test.eqx", "wb") as file:
            BOTH[writer].tree_serialise_leaves(file, tree)
        with open(tmp_path / "test.eqx", "rb") as file:
            loaded = BOTH[reader].tree_deserialise_leaves(file, like)
    assert eqx.tree_equal(tree[:-2], loaded[:-2])
    assert type(loaded[2]) is np.ndarray and type(loaded[3]) is np.ndarray
    assert loaded[-2] is like_func and loaded[-1] is like_obj


@pytest.mark.parametrize(("writer", "reader"), [(w, r) for w in BOTH for r in BOTH])
def test_generic_dtype_serialisation(tmp_path, writer, reader):
    """Equinox's test_generic_dtype_serialisation: numpy scalars, bfloat16 included."""
    jax_array = jnp.array(jax.dtypes.bfloat16(1))
    BOTH[writer].tree_serialise_leaves(tmp_path, jax_array)
    loaded = BOTH[reader].tree_deserialise_leaves(tmp_path, jnp.array(jax.dtypes.bfloat16(2)))
    assert eqx.tree_equal(jax_array, loaded)
    bf16 = jax.dtypes.bfloat16
    tree = jnp.array(1), bf16(1), np.float32(1), jnp.array(1)
    like = jnp.array(2), bf16(2), np.float32(2), jnp.array(2)
    for written in (tree, jax.jit(lambda x: x)(tree)):
        BOTH[writer].tree_serialise_leaves(tmp_path, written)
        loaded = BOTH[reader].tree_deserialise_leaves(tmp_path, like)
        assert loaded == tree
        assert [type(x) for x in loaded[1:3]] == [bf16, np.float32]


@pytest.mark.parametrize(("writer", "reader"), [(w, r) for w in BOTH for r in BOTH])
def test_custom_leaf_serialisation(tmp_path, writer, reader):
    """Equinox's test_custom_leaf_serialisation: the filter_spec hooks."""
    tree, _, _, _ = _example_trees()
    write, read = BOTH[writer], BOTH[reader]

    def ser_filter_spec(f, x):
        if not isinstance(x, jax.Array):
            write.default_serialise_filter_spec(f, x)

    write.tree_serialise_leaves(tmp_path, tree, filter_spec=ser_filter_spec)
    like_func, like_obj = (lambda x: x), object()
    like = (np.array(5), np.array([6.0, 7.0]), (False, 6, 6.0, 6 + 6j), like_func, like_obj)
    unlike_func = lambda x: -x  # noqa: E731 - as in Equinox's test

    def deser_filter_spec(f, x):
        return unlike_func if callable(x) else read.default_deserialise_filter_spec(f, x)

    loaded = read.tree_deserialise_leaves(tmp_path, like, filter_spec=deser_filter_spec)
    assert eqx.tree_equal(loaded[:3], tree[2:5])
    assert loaded[-2] is unlike_func and loaded[-1] is like_obj


def test_numpy_leaves_keep_their_exact_dtype_without_x64(tmp_path):
    tree = {"big": np.array(2**40 + 1), "tenth": np.float64(0.1), "table": np.arange(3.0)}
    ptc.tree_serialise_leaves(tmp_path / "n.eqx", tree)
    like = {"big": np.array(0), "tenth": np.float64(0), "table": np.zeros(3)}
    loaded = ptc.tree_deserialise_leaves(tmp_path / "n.eqx", like)
    assert type(loaded["big"]) is np.ndarray and loaded["big"].dtype == np.int64
    assert int(loaded["big"]) == 2**40 + 1 and loaded["tenth"] == np.float64(0.1)
    assert type(loaded["tenth"]) is np.float64 and loaded["table"].dtype == np.float64


def test_a_filter_spec_may_be_a_prefix_tree_and_is_leaf_stops_early(tmp_path):
    tree = {"keep": jnp.ones(2), "skip": jnp.full(2, 5.0)}
    spec = {"keep": ptc.default_serialise_filter_spec, "skip": lambda f, x: None}
    ptc.tree_serialise_leaves(tmp_path / "p.eqx", tree, filter_spec=spec)
    like = {"keep": jnp.zeros(2), "skip": jnp.zeros(2)}
    spec = {"keep": ptc.default_deserialise_filter_spec, "skip": lambda f, x: x}
    loaded = ptc.tree_deserialise_leaves(tmp_path / "p.eqx", like, filter_spec=spec)
    assert ptc.tree_equal(loaded, {"keep": jnp.ones(2), "skip": jnp.zeros(2)})
    seen = []
    ptc.tree_serialise_leaves(
        tmp_path / "l.eqx",
        [(1, 2)],
        filter_spec=lambda f, x: seen.append(x),
        is_leaf=tuple.__instancecheck__,
    )
    assert seen == [(1, 2)]


def test_a_filter_spec_that_is_not_a_prefix_or_changes_a_leaf_names_it(tmp_path):
    with pytest.raises(ValueError, match="prefix of the tree"):
        ptc.tree_serialise_leaves(tmp_path / "x.eqx", [1, 2], filter_spec=[lambda f, x: None])
    ptc.tree_serialise_leaves(tmp_path / "x.eqx", {"w": jnp.ones(2)})
    with pytest.raises(ValueError, match=r"leaf at \['w'\] changed from f32\[2\].*filter_spec"):
        ptc.tree_deserialise_leaves(
            tmp_path / "x.eqx", {"w": jnp.ones(2)}, filter_spec=lambda f, x: jnp.ones(3)
        )


def test_a_typed_key_loads_into_a_filter_eval_shape_template(tmp_path):
    @ptc.pytree_dataclass
    class Keyed:
        key: jax.Array
        weight: jax.Array

    def make(seed=0):
        return Keyed(jax.random.split(jax.random.key(seed), 3), jnp.ones(2) * seed)

    ptc.tree_serialise_leaves(tmp_path / "k.eqx", make(7))
    loaded = ptc.tree_deserialise_leaves(tmp_path / "k.eqx", ptc.filter_eval_shape(make))
    assert loaded.key.dtype == make().key.dtype and loaded.key.shape == (3,)
    assert jnp.array_equal(jax.random.key_data(loaded.key), jax.random.key_data(make(7).key))


def _mesh():
    return jax.sharding.Mesh(np.array(jax.devices()[:4]), ("data",))


def test_deserialise_places_leaves_with_likes_sharding(tmp_path):
    """conftest.py asks for 8 host devices."""
    P = jax.sharding.PartitionSpec
    replicated = jax.sharding.NamedSharding(_mesh(), P())
    split = jax.sharding.NamedSharding(_mesh(), P("data"))
    model = {
        "w": jax.device_put(jnp.arange(8.0), split),
        "b": jax.device_put(jnp.ones(2), replicated),
    }
    model["key"] = jax.device_put(jax.random.split(jax.random.key(0), 4), split)
    ptc.tree_serialise_leaves(tmp_path / "s.eqx", model)
    like = {"w": jnp.zeros(8), "b": jnp.zeros(2), "key": jax.random.split(jax.random.key(1), 4)}
    like = jax.device_put(like, {"w": split, "b": replicated, "key": split})
    loaded = ptc.tree_deserialise_leaves(tmp_path / "s.eqx", like)
    assert loaded["w"].sharding == split and loaded["b"].sharding == replicated
    assert loaded["key"].sharding == split and ptc.tree_equal(loaded["w"], model["w"])
    abstract = jax.tree_util.tree_map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), like
    )
    from_struct = ptc.tree_deserialise_leaves(tmp_path / "s.eqx", abstract)
    assert from_struct["w"].sharding == split and from_struct["b"].sharding == replicated


def test_an_uncommitted_like_gives_an_uncommitted_leaf(tmp_path):
    ptc.tree_serialise_leaves(tmp_path / "u.eqx", [jnp.ones(2)])
    (loaded,) = ptc.tree_deserialise_leaves(tmp_path / "u.eqx", [jnp.zeros(2)])
    assert not loaded.committed
