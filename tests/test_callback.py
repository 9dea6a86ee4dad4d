"""filter_pure_callback, side by side with Equinox's (its tests/test_callback.py)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pytreeclass as ptc

LIBS = pytest.mark.parametrize("lib", [ptc, eqx], ids=["ptc", "eqx"])
SENTINEL_IN, SENTINEL_OUT = object(), object()
STRUCT = (jax.ShapeDtypeStruct((), jnp.float32), SENTINEL_OUT)


def host(x, y):
    assert y is SENTINEL_IN
    return (x + 1).astype(np.float32), SENTINEL_OUT


@LIBS
def test_callback_eager_and_jitted(lib):
    out = lib.filter_pure_callback(host, jnp.ones(()), SENTINEL_IN, result_shape_dtypes=STRUCT)
    assert out[1] is SENTINEL_OUT and out[0] == 2.0

    @ptc.filter_jit
    def g(x):
        return lib.filter_pure_callback(host, x, SENTINEL_IN, result_shape_dtypes=STRUCT)

    out = g(jnp.full((), 2.0, jnp.float32))
    assert out[1] is SENTINEL_OUT and out[0] == 3.0


@LIBS
def test_keyword_arguments_and_vmap(lib):
    def scaled(x, *, factor, unit):
        assert unit == "m"
        return {"y": np.asarray(x * factor, np.float32), "unit": unit}

    struct = {"y": jax.ShapeDtypeStruct((), jnp.float32), "unit": "m"}

    def f(x):
        return lib.filter_pure_callback(
            scaled, x, factor=2.0, unit="m", result_shape_dtypes=struct, vmap_method="sequential"
        )["y"]

    np.testing.assert_allclose(jax.jit(jax.vmap(f))(jnp.arange(3.0)), [0.0, 2.0, 4.0])


@LIBS
def test_wrong_static_output(lib):
    def wrong(x, y):
        return x + 1, SENTINEL_IN

    with pytest.raises(RuntimeError):
        lib.filter_pure_callback(wrong, jnp.ones(()), 1, result_shape_dtypes=STRUCT)

    @ptc.filter_jit
    def g(x):
        return lib.filter_pure_callback(wrong, x, 1, result_shape_dtypes=STRUCT)

    with pytest.raises(RuntimeError):
        g(jnp.ones(()))


def test_wrong_static_output_message():
    def wrong(x):
        return x + 1, "other"

    struct = (jax.ShapeDtypeStruct((), jnp.float32), "expected")
    with pytest.raises(RuntimeError, match=r"wrong\): the callback returned non-array values"):
        ptc.filter_pure_callback(wrong, jnp.ones(()), result_shape_dtypes=struct)


def test_result_shape_dtypes_is_keyword_only():
    with pytest.raises(TypeError):
        ptc.filter_pure_callback(host, STRUCT, jnp.ones(()))  # type: ignore[call-arg]
