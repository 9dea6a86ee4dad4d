"""error_if / branched_error_if, side by side with Equinox's (its tests/test_errors.py)."""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pytreeclass as ptc

LIBS = pytest.mark.parametrize("lib", [ptc, eqx], ids=["ptc", "eqx"])
MSG = "x must be non-negative"


def raises(msg=MSG):
    # JAX raises ValueError or JaxRuntimeError (a RuntimeError) by dispatch path;
    # Equinox's tests accept both, and so do these.
    return pytest.raises((ValueError, RuntimeError), match=re.escape(msg))


def relu_checked(lib):
    def f(x):
        return jax.nn.relu(lib.error_if(x, x < 0, MSG))

    return f


@LIBS
def test_jit_eager_and_filter_jit(lib):
    f = relu_checked(lib)
    for g in (f, jax.jit(f), ptc.filter_jit(f), eqx.filter_jit(f)):
        assert g(jnp.ones(())) == 1.0
        with raises():
            g(-jnp.ones(()))


@LIBS
def test_vmap_raises_if_any_element_fails(lib):
    vf = jax.vmap(relu_checked(lib))
    for g in (vf, jax.jit(vf), ptc.filter_jit(ptc.filter_vmap(relu_checked(lib)))):
        np.testing.assert_array_equal(g(jnp.array([1.0, 2.0])), [1.0, 2.0])
        with raises():
            g(jnp.array([1.0, -1.0]))


@LIBS
def test_grad_and_jvp(lib):
    f = relu_checked(lib)
    for g in (jax.grad(f), jax.jit(jax.grad(f)), ptc.filter_jit(ptc.filter_grad(f))):
        assert g(jnp.ones(())) == 1.0
        with raises():
            g(-jnp.ones(()))

    def jvp(p, t):
        return jax.jvp(f, (p,), (t,))

    for h in (jvp, jax.jit(jvp)):
        h(jnp.ones(()), -jnp.ones(()))  # a negative tangent is fine
        with raises():
            h(-jnp.ones(()), jnp.ones(()))


@LIBS
def test_grad_of_vmap_and_vmap_of_grad(lib):
    f = relu_checked(lib)
    per_example = jax.jit(jax.grad(lambda x: jax.vmap(f)(x).sum()))
    batched_grad = jax.jit(jax.vmap(jax.grad(f)))
    for g in (per_example, batched_grad):
        np.testing.assert_array_equal(g(jnp.array([1.0, 2.0])), [1.0, 1.0])
        with raises():
            g(jnp.array([1.0, -1.0]))


@LIBS
def test_gradient_passes_through_unchanged(lib):
    def f(x):
        return (lib.error_if(x, x > 100.0, "big") ** 2).sum()

    np.testing.assert_allclose(jax.grad(f)(jnp.array([1.0, 3.0])), [2.0, 6.0])


@LIBS
def test_pytree_with_non_arrays_and_integer_leaves(lib):
    tree = {"w": jnp.ones(2), "n": jnp.arange(3), "name": "layer", "k": 3}

    @ptc.filter_jit
    def f(w):
        t = dict(tree, w=w)
        return lib.error_if(t, t["w"].sum() > 10, "too big")

    out = f(jnp.ones(2))
    assert out["name"] == "layer" and out["k"] == 3
    np.testing.assert_array_equal(out["n"], [0, 1, 2])
    with raises("too big"):
        f(jnp.full(2, 6.0))


@LIBS
def test_tracetime_error(lib):
    @jax.jit
    def f(x):
        return lib.error_if(x, True, "hi")

    with raises("hi"):
        f(jnp.ones(()))


@LIBS
def test_nan_and_off(lib):
    @jax.jit
    def nan(x, pred):
        return lib.error_if(x, pred, "hi", on_error="nan")

    assert jnp.isnan(nan(jnp.ones(()), jnp.array(True)))
    assert nan(jnp.ones(()), jnp.array(False)) == 1.0

    @jax.jit
    def off(x, pred):
        return lib.error_if(x, pred, "hi", on_error="off") + 1

    assert off(jnp.ones(()), jnp.array(True)) == 2.0


@LIBS
def test_branched_error_if_picks_message(lib):
    msgs = ["zero", "one", "two"]

    @jax.jit
    def f(x, index):
        return lib.branched_error_if(x, x < 0, index, msgs)

    f(jnp.ones(()), jnp.array(2))
    with raises("two"):
        f(-jnp.ones(()), jnp.array(2))
    with raises("one"):
        f(-jnp.ones(()), jnp.array(1))


@LIBS
def test_branched_error_if_vmap_takes_largest_index(lib):
    def f(x, index):
        return lib.branched_error_if(x, x < 0, index, ["zero", "one", "two"])

    with raises("two"):
        jax.jit(jax.vmap(f))(jnp.array([-1.0, 1.0]), jnp.array([0, 2]))


@LIBS
def test_no_arrays_to_attach_to(lib):
    with pytest.raises(ValueError, match=r"(?i)no arrays"):
        jax.jit(lambda p: lib.error_if("not an array", p, "m"))(jnp.array(True))


@LIBS
def test_false_concrete_pred_returns_input_without_jax(lib):
    x = {"a": 1}
    assert lib.error_if(x, False, "m") is x


def test_messages_name_the_problem():
    with pytest.raises(ValueError, match="no arrays for the check"):
        jax.jit(lambda p: ptc.error_if("not an array", p, "m"))(jnp.array(True))
    with pytest.raises(TypeError, match="msg must be a str"):
        ptc.error_if(jnp.ones(()), False, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="non-empty sequence of str"):
        ptc.branched_error_if(jnp.ones(()), False, 0, "one string")
    with pytest.raises(ValueError, match="on_error is 'breakpoint'"):
        ptc.error_if(jnp.ones(()), False, "m", on_error="breakpoint")  # type: ignore[arg-type]
    with pytest.raises(IndexError, match="out of range for 2 messages"):
        ptc.branched_error_if(jnp.ones(()), True, 5, ["a", "b"])
    with pytest.raises(TypeError, match="index must be an integer"):
        jax.jit(lambda p: ptc.branched_error_if(jnp.ones(()), p, 0.5, ["a"]))(jnp.array(True))


def test_runtime_message_names_call_site():
    @jax.jit
    def f(x):
        return ptc.error_if(x, x < 0, "negative")

    with pytest.raises((ValueError, RuntimeError), match=r"checked at .*test_errors\.py:\d+"):
        f(-jnp.ones(()))


def test_unused_result_is_compiled_away_like_equinox():
    # Documented: the check guards the returned value only.
    @jax.jit
    def f(x):
        ptc.error_if(x, x < 0, "never seen")
        return x

    assert f(-jnp.ones(())) == -1.0
