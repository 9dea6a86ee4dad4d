"""clear_caches, side by side with Equinox's (its tests/test_caches.py)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

import pytreeclass as ptc
from pytreeclass import _static_key

LIBS = pytest.mark.parametrize("lib", [ptc, eqx], ids=["ptc", "eqx"])


@LIBS
def test_functions_work_after_clearing(lib):
    @lib.filter_jit
    def f(x):
        return x + 1

    assert f(jnp.ones(())) == 2.0
    lib.clear_caches()
    assert f(jnp.ones(())) == 2.0
    assert lib.filter_eval_shape(lambda x: x, jnp.ones(2)).shape == (2,)


def test_every_cache_is_cleared_and_rebuilt():
    f = ptc.filter_jit(lambda x, n: x * n)
    g = ptc.filter_jit(lambda x: x + 1)
    f(jnp.ones(2), 2)
    g(jnp.ones(2))
    g(jnp.ones(2))
    assert (f.trace_count(), g.trace_count()) == (1, 1)
    assert _static_key.KNOWN_ARRAY_TYPES
    ptc.clear_caches()
    assert not _static_key.KNOWN_ARRAY_TYPES and not _static_key._IS_ARRAY_TYPE
    f(jnp.ones(2), 2)
    g(jnp.ones(2))
    g(jnp.ones(2))
    assert (f.trace_count(), g.trace_count()) == (2, 2)  # retraced once each, then cached
    assert jax.Array in _static_key.KNOWN_ARRAY_TYPES or _static_key.KNOWN_ARRAY_TYPES


def test_wrappers_still_share_after_clearing():
    def h(x):
        return x * 2

    ptc.filter_jit(h)(jnp.ones(2))
    ptc.clear_caches()
    first, second = ptc.filter_jit(h), ptc.filter_jit(h)
    first(jnp.ones(2))
    second(jnp.ones(2))
    # One cache: the second wrapper finds the first one's trace. Each counts its own.
    assert (first.trace_count(), second.trace_count()) == (1, 0)


def test_nondifferentiable_backward_rules_are_cleared():
    f = jax.grad(lambda x, y: (ptc.nondifferentiable_backward(x, name="a"), y)[1])
    assert f(1.0, 1.0) == 0.0  # x's cotangent is a symbolic zero: no error
    ptc.clear_caches()
    assert f(1.0, 1.0) == 0.0
