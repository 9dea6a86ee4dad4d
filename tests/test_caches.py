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


# --- every cached transform frees what the user drops -----------------------------------


class _Table:
    """A stand-in for a big lookup table that a function closes over, or a static."""

    def __hash__(self):
        return 0

    def __eq__(self, other):
        return type(other) is _Table


CACHED = {
    "filter_jit": ptc.filter_jit,
    "filter_jit, donate='all'": lambda f: ptc.filter_jit(f, donate="all"),
    "filter_jit, donate='all-except-first'": lambda f: ptc.filter_jit(f, donate="all-except-first"),
    "filter_jit(filter_grad)": lambda f: ptc.filter_jit(ptc.filter_grad(f)),
    "filter_jit(filter_vmap)": lambda f: ptc.filter_jit(ptc.filter_vmap(f, in_axes=(0, None))),
    "filter_jit(filter_value_and_grad)": lambda f: ptc.filter_jit(ptc.filter_value_and_grad(f)),
}


@pytest.mark.parametrize("transform", CACHED.values(), ids=CACHED.keys())
@pytest.mark.parametrize("n_arrays", [1, 8], ids=["few leaves", "many leaves"])
def test_cached_transforms_keep_no_function_closure_or_static_alive(transform, n_arrays):
    import gc
    import weakref

    def make():
        table = _Table()

        def loss(xs, static):
            assert table is not None and isinstance(static, _Table)
            return jnp.sum(sum(xs) * 2)

        return loss, weakref.ref(table)

    loss, table_ref = make()
    static = _Table()
    static_ref, function_ref = weakref.ref(static), weakref.ref(loss)
    compiled = transform(loss)
    xs = tuple(jnp.ones(3) for _ in range(n_arrays))
    compiled(xs, static)
    compiled(xs, _Table())  # a cached call: an equal static
    del loss, static, compiled
    gc.collect()
    assert function_ref() is None and table_ref() is None and static_ref() is None
