"""nondifferentiable(_backward), side by side with Equinox's (equinox.internal)."""

import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pytreeclass as ptc

FORWARD = pytest.mark.parametrize(
    "nondiff", [ptc.nondifferentiable, eqxi.nondifferentiable], ids=["ptc", "eqx"]
)
BACKWARD = pytest.mark.parametrize(
    "nondiff_backward",
    [ptc.nondifferentiable_backward, eqxi.nondifferentiable_backward],
    ids=["ptc", "eqx"],
)


@FORWARD
def test_identity_and_non_arrays(nondiff):
    tree = {"w": jnp.ones(2), "name": "a"}
    out = ptc.filter_jit(lambda t: nondiff(t))(tree)
    assert out["name"] == "a"
    np.testing.assert_array_equal(out["w"], [1.0, 1.0])
    assert jax.vmap(nondiff)(jnp.arange(3.0)).shape == (3,)


@FORWARD
def test_forward_and_reverse_raise(nondiff):
    f = lambda x: nondiff(x, name="rounding") ** 2  # noqa: E731
    with pytest.raises(RuntimeError, match="rounding cannot be autodifferentiated"):
        jax.grad(f)(1.0)
    with pytest.raises(RuntimeError, match="rounding"):
        jax.jit(jax.grad(f))(1.0)
    with pytest.raises(RuntimeError, match="rounding"):
        jax.jvp(f, (1.0,), (1.0,))
    with pytest.raises(RuntimeError, match="custom words"):
        jax.grad(lambda x: nondiff(x, msg="custom words"))(1.0)


@FORWARD
def test_untouched_by_other_arguments_gradient(nondiff):
    def f(x, y):
        return nondiff(x) * y

    assert jax.grad(f, argnums=1)(3.0, 2.0) == 3.0


@BACKWARD
def test_backward_zero_cotangent_is_fine(nondiff_backward):
    # Equinox's test_grad2: an output the loss does not use.
    @jax.jit
    @jax.grad
    def f(x, y, z):
        x = nondiff_backward(x)
        x, y = ptc.error_if((x, y), z, "oops")
        return y

    f(1.0, 1.0, jnp.array(False))
    g = jax.grad(lambda x, y: (nondiff_backward(x), y * 2.0)[1])
    assert g(1.0, 1.0) == 0.0
    assert jax.vmap(g)(jnp.ones(2), jnp.ones(2)).shape == (2,)


@BACKWARD
def test_backward_raises_in_reverse_mode(nondiff_backward):
    f = lambda x: nondiff_backward(x, name="the state") * 2.0  # noqa: E731
    for g, x in [
        (jax.grad(f), jnp.ones(())),
        (jax.jit(jax.grad(f)), jnp.ones(())),
        (jax.vmap(jax.grad(f)), jnp.ones(2)),
    ]:
        with pytest.raises(RuntimeError, match="the state cannot be reverse-mode"):
            g(x)
    with pytest.raises(RuntimeError, match="the state"):
        jax.grad(lambda x: jax.vmap(f)(x).sum())(jnp.ones(2))


def test_backward_forward_mode_is_refused_by_jax():
    # Chosen difference: Equinox lets jvp through; ours cannot (public JAX API).
    f = lambda x: ptc.nondifferentiable_backward(x) * 2.0  # noqa: E731
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(f, (1.0,), (1.0,))
    with pytest.raises(ValueError, match="symbolic=False"):
        ptc.nondifferentiable_backward(1.0, symbolic=False)
