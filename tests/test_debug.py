"""debug.assert_max_traces / get_num_traces, side by side with Equinox's (its test_debug.py)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

import pytreeclass as ptc

LIBS = pytest.mark.parametrize("lib", [ptc, eqx], ids=["ptc", "eqx"])


@LIBS
def test_max_traces(lib):
    @jax.jit
    @lib.debug.assert_max_traces(max_traces=1)
    def f(x):
        return x + 1

    f(1)
    f(2)
    with pytest.raises(RuntimeError, match="can only be traced 1 times"):
        f(3.0)


@LIBS
def test_max_traces_clone(lib):
    layer = eqx.nn.Linear(3, 4, key=jax.random.key(0))
    wrapped = lib.filter_jit(lib.debug.assert_max_traces(layer, max_traces=2))
    leaves, treedef = jax.tree_util.tree_flatten(wrapped)
    clone = jax.tree_util.tree_unflatten(treedef, leaves)
    wrapped(jnp.array([1.0, 2.0, 3.0]))
    assert lib.debug.get_num_traces(wrapped) == 1
    assert lib.debug.get_num_traces(clone) == 1
    with jax.numpy_dtype_promotion("standard"):
        clone(jnp.array([1, 2, 3]))
        assert lib.debug.get_num_traces(wrapped) == 2
        assert lib.debug.get_num_traces(clone) == 2
        with pytest.raises(RuntimeError, match="can only be traced 2 times"):
            wrapped(jnp.array([False, False, False]))


@LIBS
def test_under_filter_jit_and_none_limit(lib):
    @ptc.filter_jit
    @lib.debug.assert_max_traces(max_traces=None)
    def f(x, n):
        return x * n

    for n in range(4):
        f(jnp.ones(2), n)
    assert lib.debug.get_num_traces(f) == 4


@LIBS
def test_not_wrapped(lib):
    with pytest.raises(ValueError, match="assert_max_traces"):
        lib.debug.get_num_traces(lambda x: x)


def test_message_names_the_changed_argument():
    @jax.jit
    @ptc.debug.assert_max_traces(max_traces=1)
    def f(x, y):
        return x + y

    f(jnp.ones(2), jnp.ones(2))
    with pytest.raises(RuntimeError, match=r"traced 2 times.*y: f32\[2\] -> f32\[3\]"):
        f(jnp.ones(2), jnp.ones(3))


def test_get_num_traces_of_plain_filter_jit_and_bad_max_traces():
    f = ptc.filter_jit(lambda x: x)
    f(jnp.ones(1))
    f(jnp.ones(2))
    assert ptc.debug.get_num_traces(f) == 2
    with pytest.raises(TypeError, match="takes an int or None"):
        ptc.debug.assert_max_traces(lambda x: x, max_traces="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects a callable"):
        ptc.debug.assert_max_traces(3, max_traces=1)  # type: ignore[call-overload]
