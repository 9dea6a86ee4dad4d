"""filter_vmap: arrays mapped, everything else broadcast; per-leaf axes."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pytreeclass as ptc


@ptc.pytree_dataclass
class Layer:
    w: jax.Array
    name: str
    scale: float

    def __call__(self, x):
        return self.w * x * self.scale


def test_default_maps_arrays_on_axis_0_and_broadcasts_the_rest():
    def f(x, name, n):
        return x * n, name

    ys, name = ptc.filter_vmap(f)(jnp.arange(3.0), "tag", 2)
    np.testing.assert_allclose(ys, [0.0, 2.0, 4.0])
    assert name == "tag"


def test_prefix_in_axes_with_none_and_ints():
    layer = Layer(jnp.ones(2), "l", 2.0)
    ys = ptc.filter_vmap(lambda layer, x: layer(x), in_axes=(None, 1))(layer, jnp.ones((2, 5)))
    assert ys.shape == (5, 2)


def test_callable_in_axes_per_leaf():
    tree = {"batched": jnp.ones((4, 2)), "shared": jnp.ones(2)}

    def axis(leaf):
        return 0 if leaf.ndim == 2 else None

    out = ptc.filter_vmap(lambda t: t["batched"] + t["shared"], in_axes=(axis,))(tree)
    assert out.shape == (4, 2)


def test_ensemble_of_models_over_static_fields():
    ensemble = Layer(jnp.ones((3, 2)), "ens", 0.5)
    out = ptc.filter_vmap(lambda layer, x: layer(x), in_axes=(0, None))(ensemble, jnp.ones(2))
    assert out.shape == (3, 2)


def test_out_axes_moves_the_batch_axis_and_none_returns_unbatched():
    def f(x):
        return x * 2, jnp.ones(2)

    mapped, shared = ptc.filter_vmap(f, out_axes=(1, None))(jnp.ones((3, 2)))
    assert mapped.shape == (2, 3)
    assert shared.shape == (2,)


def test_keyword_arguments_use_the_default_axes():
    out = ptc.filter_vmap(lambda x, *, y: x + y)(jnp.ones(3), y=jnp.ones(3))
    assert out.shape == (3,)


def test_axis_name_allows_collectives():
    out = ptc.filter_vmap(lambda x: x - jax.lax.pmean(x, "b"), axis_name="b")(jnp.arange(4.0))
    np.testing.assert_allclose(out, [-1.5, -0.5, 0.5, 1.5])


def test_axis_size_when_nothing_is_mapped():
    out = ptc.filter_vmap(lambda s: jnp.zeros(()) + len(s), axis_size=3)("ab")
    assert out.shape == (3,)


def test_in_axes_length_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="in_axes has 1 entries but the function got 2"):
        ptc.filter_vmap(lambda a, b: a, in_axes=(0,))(jnp.ones(2), jnp.ones(2))


def test_bad_in_axes_entry_is_a_clear_error():
    with pytest.raises(TypeError, match="in_axes entries must be int, None or a callable"):
        ptc.filter_vmap(lambda a: a, in_axes=("zero",))(jnp.ones(2))


def test_composes_with_filter_jit_and_filter_grad_in_any_order():
    def loss(layer, x):
        return jnp.sum(layer(x))

    layer = Layer(jnp.ones(2), "l", 1.0)
    xs = jnp.ones((5, 2))
    per_example = ptc.filter_vmap(ptc.filter_grad(loss), in_axes=(None, 0))
    a = ptc.filter_jit(per_example)(layer, xs)
    b = ptc.filter_vmap(ptc.filter_jit(ptc.filter_grad(loss)), in_axes=(None, 0))(layer, xs)
    c = ptc.filter_grad(
        lambda layer, xs: jnp.sum(ptc.filter_vmap(loss, in_axes=(None, 0))(layer, xs))
    )(layer, xs)
    assert a.w.shape == (5, 2)
    np.testing.assert_allclose(a.w, b.w)
    np.testing.assert_allclose(c.w, a.w.sum(0))
    assert a.name is None


def test_non_callable_is_rejected():
    with pytest.raises(TypeError, match="filter_vmap expects a callable"):
        ptc.filter_vmap(1)


def test_in_axes_prefix_with_a_dict_entry():
    tree = {"batched": jnp.ones((4, 2)), "shared": jnp.ones(2)}
    out = ptc.filter_vmap(
        lambda t, y: t["batched"] + t["shared"] + y, in_axes=({"batched": 0, "shared": None}, None)
    )(tree, jnp.ones(2))
    assert out.shape == (4, 2)


def test_wrapper_of_a_plain_function_adds_no_leaves():
    wrapper = ptc.filter_vmap(lambda x: x, in_axes=(0,))
    assert jax.tree_util.tree_leaves(wrapper) == []
    assert wrapper == ptc.filter_vmap(wrapper.fun, in_axes=(0,))


def test_in_axes_that_is_not_a_prefix_is_a_clear_error():
    with pytest.raises(ValueError, match="in_axes must be a prefix of the pytree it describes"):
        ptc.filter_vmap(lambda t: t, in_axes=({"a": 0, "b": 0},))({"a": jnp.ones(2)})


# --- errors name the argument path -------------------------------------------------------


def test_batch_size_mismatch_names_the_argument_paths():
    @ptc.pytree_dataclass
    class Layer:
        weight: jax.Array

    def apply(model, x):
        return model["layers"][0].weight * x

    model = {"layers": [Layer(jnp.ones(3))]}
    with pytest.raises(ValueError, match=r"size 3: model\['layers'\]\[0\]\.weight.*size 4: x"):
        ptc.filter_vmap(apply)(model, jnp.ones(4))


def test_an_axis_out_of_range_names_the_argument_path():
    with pytest.raises(ValueError, match=r"cannot map y over axis 2: it has shape \(3,\)"):
        ptc.filter_vmap(lambda x, y: x + y, in_axes=(0, 2))(jnp.ones(3), jnp.ones(3))


def test_axis_size_that_disagrees_with_the_arrays_is_named():
    with pytest.raises(ValueError, match=r"size 3: x \(axis 0\); size 5: axis_size"):
        ptc.filter_vmap(lambda x: x, axis_size=5)(jnp.ones(3))


# --- Equinox's out_axes and in_axes=dict ---------------------------------------------------


def test_explicit_int_out_axes_broadcasts_python_numbers_as_equinox_does():
    ours = ptc.filter_vmap(lambda x: 1, out_axes=0, axis_size=5)(1)
    theirs = eqx.filter_vmap(lambda x: 1, out_axes=0, axis_size=5)(1)
    assert jnp.array_equal(ours, theirs) and ours.shape == (5,)
    assert ptc.filter_vmap(lambda x: (x, "tag"))(jnp.ones(2))[1] == "tag"


def test_in_axes_dict_keyed_by_parameter_name_matches_equinox():
    def f(x, y, z):
        return x * y + z

    args = (jnp.ones((3, 2)), jnp.arange(2.0), jnp.ones((3, 2)))
    ours = ptc.filter_vmap(f, in_axes=dict(y=None))(*args)
    theirs = eqx.filter_vmap(f, in_axes=dict(y=None))(*args)
    assert jnp.array_equal(ours, theirs)


def test_in_axes_dict_with_an_unknown_name_says_which():
    with pytest.raises(ValueError, match=r"in_axes names 'w'.*\(x\)"):
        ptc.filter_vmap(lambda x: x, in_axes=dict(w=None))(jnp.ones(2))


def test_nothing_to_map_calls_once_as_equinox_does():
    # A fuzzer finding: an instance without arrays crashed inside jax.vmap.
    ours = ptc.filter_vmap(lambda s: s + "!")("no arrays")
    assert ours == eqx.filter_vmap(lambda s: s + "!")("no arrays") == "no arrays!"
    with pytest.raises(ValueError, match="no argument is mapped and axis_size is not given"):
        ptc.filter_vmap(lambda s: jnp.ones(2))("no arrays")


@pytest.mark.parametrize("lib", [ptc, eqx], ids=["ptc", "eqx"])
def test_extra_keyword_arguments_go_to_jax_vmap(lib):
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:2]), ("batch",))

    @jax.jit
    def mapped(x):
        return lib.filter_vmap(lambda row: row * 2, spmd_axis_name="batch")(x)

    use_mesh = getattr(jax, "set_mesh", None) or jax.sharding.use_mesh  # JAX 0.8 has the latter
    with use_mesh(mesh):
        out = mapped(jnp.ones((2, 3)))
    np.testing.assert_allclose(out, 2.0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'no_such_option'"):
        ptc.filter_vmap(lambda row: row, no_such_option=1)(jnp.ones((2, 3)))
