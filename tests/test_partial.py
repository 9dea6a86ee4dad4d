"""Partial, side by side with Equinox's."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pytreeclass as ptc

LIBS = pytest.mark.parametrize("lib", [ptc, eqx], ids=["ptc", "eqx"])


def affine(w, x, *, b):
    return w * x + b


@LIBS
def test_call_order_and_keywords(lib):
    p = lib.Partial(affine, jnp.full((), 2.0), b=jnp.ones(()))
    assert p(jnp.full((), 3.0)) == 7.0
    assert p.func is affine and len(p.args) == 1 and set(p.keywords) == {"b"}


@LIBS
def test_a_pytree_and_its_arrays_are_traced(lib):
    p = lib.Partial(affine, jnp.full((), 2.0), b=jnp.ones(()))
    leaves = jax.tree_util.tree_leaves(p)
    assert sum(isinstance(x, jax.Array) for x in leaves) == 2
    grads = ptc.filter_grad(lambda p, x: p(x))(p, jnp.full((), 3.0))
    assert grads.args[0] == 3.0 and grads.keywords["b"] == 1.0
    assert ptc.filter_jit(lambda p, x: p(x))(p, jnp.full((), 3.0)) == 7.0


@LIBS
def test_callable_model_as_func(lib):
    model = eqx.nn.Linear(2, 2, key=jax.random.key(0))
    p = lib.Partial(model)
    np.testing.assert_allclose(p(jnp.ones(2)), model(jnp.ones(2)))
    n_model = len(jax.tree_util.tree_leaves(model))
    assert len(jax.tree_util.tree_leaves(p)) == n_model  # the model's arrays are children


@LIBS
def test_equality_and_vmap(lib):
    a = lib.Partial(affine, 1, b=2)
    assert a == lib.Partial(affine, 1, b=2)
    out = ptc.filter_vmap(lambda p, x: p(x))(lib.Partial(affine, jnp.arange(3.0), b=0.0), 2.0)
    np.testing.assert_allclose(out, [0.0, 2.0, 4.0])


def test_not_callable():
    with pytest.raises(TypeError, match="func must be callable"):
        ptc.Partial(3)  # type: ignore[arg-type]
