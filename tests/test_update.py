"""apply_updates, side by side with Equinox's (its tests/test_update.py), and with optax."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import pytreeclass as ptc

LIBS = pytest.mark.parametrize("lib", [ptc, eqx], ids=["ptc", "eqx"])


@ptc.pytree_dataclass
class Model:
    w: jax.Array
    b: jax.Array
    act: object = jax.nn.relu
    tag: str = ptc.field(static=True, default="m")


@LIBS
def test_none_updates_keep_leaves(lib):
    o = object()
    params = [o, jnp.array([5]), jnp.array([2])]
    new = lib.apply_updates(params, [None, -1, 1])
    assert new[0] is o
    np.testing.assert_array_equal(new[1], [4])
    np.testing.assert_array_equal(new[2], [3])


@LIBS
def test_non_addable_leaf_is_type_error(lib):
    with pytest.raises(TypeError):
        lib.apply_updates([object(), jnp.array([2])], [0, 1])


@LIBS
def test_updates_are_a_prefix(lib):
    model = {"frozen": {"a": jnp.ones(2), "name": "x"}, "w": jnp.ones(2)}
    new = lib.apply_updates(model, {"frozen": None, "w": jnp.ones(2)})
    assert new["frozen"] is model["frozen"]
    np.testing.assert_array_equal(new["w"], [2.0, 2.0])


@LIBS
def test_optax_step_on_a_model_with_non_arrays(lib):
    model = Model(jnp.ones(2), jnp.zeros(2))
    params, static = ptc.partition(model, ptc.is_inexact_array)
    optimiser = optax.sgd(0.5)
    state = optimiser.init(params)

    @ptc.filter_jit
    def step(model, state):
        grads = ptc.filter_grad(lambda m: (m.w**2).sum() + m.b.sum())(model)
        updates, state = optimiser.update(grads, state)
        return lib.apply_updates(model, updates), state

    new, state = step(model, state)
    assert new.act is jax.nn.relu and new.tag == "m"
    np.testing.assert_allclose(new.w, [0.0, 0.0])
    np.testing.assert_allclose(new.b, [-0.5, -0.5])
    assert static is not None


def test_messages_name_the_path():
    with pytest.raises(TypeError, match=r"cannot add the update at \[0\] \(a int\).*None update"):
        ptc.apply_updates([object(), jnp.array([2])], [0, 1])
    with pytest.raises(ValueError, match="must have model's structure, or a prefix"):
        ptc.apply_updates({"a": jnp.ones(2)}, {"b": jnp.ones(2)})
