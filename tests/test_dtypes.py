"""JAX's dtype lattice everywhere: low-precision floats are parameters, typed keys are arrays."""

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

import pytreeclass as ptc

LOW_PRECISION = [jnp.bfloat16, jnp.float16, jnp.float8_e4m3fn, jnp.float8_e5m2]


@ptc.pytree_dataclass
class Model:
    weight: jax.Array
    key: jax.Array
    steps: jax.Array
    name: str = "model"

    def loss(self, x):
        return jnp.sum(self.weight.astype(jnp.float32) * x)


def make_model(dtype=jnp.bfloat16):
    return Model(jnp.ones(3, dtype), jax.random.key(0), jnp.arange(2))


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=str)
def test_low_precision_floats_are_inexact_as_in_jax_and_equinox(dtype):
    x = jnp.ones(2, dtype)
    assert ptc.is_inexact_array(x)
    assert ptc.is_inexact_array(x) == eqx.is_inexact_array(x)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=str)
def test_filter_grad_trains_low_precision_weights(dtype):
    model = make_model(dtype)
    grads = ptc.filter_grad(Model.loss)(model, jnp.arange(3.0))
    reference = jax.grad(lambda w: Model.loss(ptc.replace(model, weight=w), jnp.arange(3.0)))
    assert grads.weight.dtype == dtype
    assert jnp.array_equal(grads.weight, reference(model.weight))
    assert grads.key is None and grads.steps is None


def test_partition_puts_bfloat16_with_the_parameters():
    params, rest = ptc.partition(make_model(), ptc.is_inexact_array)
    assert params.weight is not None and rest.weight is None
    assert params.key is None and rest.key is not None


def test_a_key_array_is_an_array_but_never_inexact():
    key = jax.random.key(0)
    assert ptc.is_array(key) and not ptc.is_inexact_array(key)
    assert eqx.is_array(key) and not eqx.is_inexact_array(key)


def test_repr_shows_key_and_low_precision_summaries():
    text = repr(make_model())
    assert text == "Model(weight=bf16[3], key=key<fry>[], steps=i32[2], name='model')"
    assert "f8_e4m3fn[2]" in repr(ptc.replace(make_model(), weight=jnp.ones(2, jnp.float8_e4m3fn)))


def test_filter_jit_traces_keys_and_explains_retraces_with_them():
    @ptc.filter_jit
    def draw(model):
        return jax.random.normal(model.key.reshape(-1)[0], (2,))

    first = draw(make_model())
    again = draw(ptc.replace(make_model(), key=jax.random.key(1)))
    assert draw.trace_count() == 1 and not jnp.array_equal(first, again)
    draw(ptc.replace(make_model(), key=jax.random.split(jax.random.key(1), 2)))
    assert "model.key: key<fry>[] -> key<fry>[2]" in draw.explain_retrace()


def test_filter_grad_and_vmap_with_key_fields():
    model = make_model(jnp.float32)
    grads = ptc.filter_value_and_grad(Model.loss)(model, jnp.ones(3))[1]
    assert grads.key is None
    keys = jax.random.split(jax.random.key(0), 4)
    samples = ptc.filter_vmap(lambda k: jax.random.normal(k, ()))(keys)
    assert samples.shape == (4,)


def test_tree_equal_compares_keys():
    assert ptc.tree_equal(make_model(), make_model())
    assert not ptc.tree_equal(make_model(), ptc.replace(make_model(), key=jax.random.key(1)))
