"""filter_grad / filter_value_and_grad: inexact arrays of the first argument only."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pytreeclass as ptc


@ptc.pytree_dataclass
class Mixed:
    w: jax.Array
    count: jax.Array
    lr: float
    name: str
    act: Callable = ptc.field(static=True, default=jnp.tanh)


def make_mixed():
    return Mixed(jnp.arange(3.0), jnp.arange(3), 0.5, "m")


def loss(model, x):
    return jnp.sum(model.act(model.w * x) * model.lr) + jnp.sum(model.count).astype(jnp.float32)


def test_gradient_has_first_argument_structure_with_none_for_non_inexact():
    grads = ptc.filter_grad(loss)(make_mixed(), jnp.ones(3))
    assert isinstance(grads, Mixed)
    assert grads.count is None
    assert grads.lr is None
    assert grads.name is None
    assert grads.act is jnp.tanh
    expected = jax.grad(lambda w: jnp.sum(jnp.tanh(w) * 0.5))(jnp.arange(3.0))
    np.testing.assert_allclose(grads.w, expected, rtol=1e-6)


def test_other_arguments_may_hold_anything_and_are_not_differentiated():
    def f(x, config, fn):
        return jnp.sum(fn(x)) * config["scale"]

    grads = ptc.filter_grad(f)(jnp.ones(2), {"scale": 3.0, "tag": "t"}, jnp.sin)
    np.testing.assert_allclose(grads, 3.0 * np.cos(1.0) * np.ones(2), rtol=1e-6)


def test_value_and_grad():
    value, grads = ptc.filter_value_and_grad(loss)(make_mixed(), jnp.ones(3))
    np.testing.assert_allclose(value, loss(make_mixed(), jnp.ones(3)), rtol=1e-6)
    assert grads.w.shape == (3,)


def test_has_aux_for_both():
    def with_aux(model):
        return jnp.sum(model.w**2), {"name": model.name}

    grads, aux = ptc.filter_grad(with_aux, has_aux=True)(make_mixed())
    assert aux == {"name": "m"}
    np.testing.assert_allclose(grads.w, 2 * np.arange(3.0))
    (value, aux), grads = ptc.filter_value_and_grad(with_aux, has_aux=True)(make_mixed())
    assert float(value) == 5.0
    assert aux == {"name": "m"}


def test_no_inexact_arrays_gives_all_none_gradient():
    grads = ptc.filter_grad(lambda t: jnp.sum(t[0]).astype(jnp.float32))((jnp.arange(2), "s", 1.5))
    assert grads == (None, None, None)


def test_decorator_form_with_options():
    @ptc.filter_grad(has_aux=True)
    def f(x):
        return jnp.sum(x), "aux"

    grads, aux = f(jnp.ones(2))
    assert aux == "aux"
    np.testing.assert_allclose(grads, [1.0, 1.0])


def test_non_scalar_output_is_a_clear_error():
    def vector_loss(x):
        return x * 2

    with pytest.raises(TypeError, match=r"filter_grad\(.*vector_loss\).*scalar loss.*\(3,\)"):
        ptc.filter_grad(vector_loss)(jnp.ones(3))


def test_has_aux_without_a_pair_is_a_clear_error():
    with pytest.raises(TypeError, match=r"has_aux=True.*pair \(loss, aux\)"):
        ptc.filter_value_and_grad(lambda x: jnp.sum(x), has_aux=True)(jnp.ones(2))


def test_first_argument_by_keyword_is_a_clear_error():
    def by_keyword(x):
        return jnp.sum(x)

    with pytest.raises(TypeError, match=r"by_keyword\).*first positional argument.*'x'"):
        ptc.filter_grad(by_keyword)(x=jnp.ones(2))


def test_non_callable_is_rejected():
    with pytest.raises(TypeError, match="filter_grad expects a callable"):
        ptc.filter_grad("loss")


def test_under_filter_jit_matches_eager():
    eager = ptc.filter_grad(loss)(make_mixed(), jnp.ones(3))
    jitted = ptc.filter_jit(ptc.filter_grad(loss))(make_mixed(), jnp.ones(3))
    np.testing.assert_allclose(eager.w, jitted.w, rtol=1e-6)
    assert jitted.name is None


def test_pytree_function_arrays_are_traced_under_filter_jit():
    @ptc.pytree_dataclass
    class Loss:
        target: jax.Array

        def __call__(self, x):
            return jnp.sum((x - self.target) ** 2)

    grad_fn = ptc.filter_jit(ptc.filter_grad(Loss(jnp.zeros(2))))
    np.testing.assert_allclose(grad_fn(jnp.ones(2)), [2.0, 2.0])
    grad_fn = ptc.filter_jit(ptc.filter_grad(Loss(jnp.ones(2))))
    np.testing.assert_allclose(grad_fn(jnp.ones(2)), [0.0, 0.0])


def test_wrapper_of_a_plain_function_adds_no_leaves():
    # So filter_jit(filter_grad(f)) on an all-array model takes the direct jax.jit path.
    assert jax.tree_util.tree_leaves(ptc.filter_grad(loss)) == []
    assert ptc.filter_grad(loss) == ptc.filter_grad(loss)


@pytest.mark.parametrize("lib", [ptc, __import__("equinox")], ids=["ptc", "eqx"])
def test_extra_keyword_arguments_go_to_jax_grad(lib):
    grad = lib.filter_grad(lambda z: z**2, holomorphic=True)(jnp.asarray(1.0 + 1.0j))
    np.testing.assert_allclose(grad, 2.0 + 2.0j)


def test_filter_grad_refuses_argnums_and_says_why():
    with pytest.raises(TypeError, match=r"argnums=.*first argument"):
        ptc.filter_grad(lambda x: x, argnums=1)
