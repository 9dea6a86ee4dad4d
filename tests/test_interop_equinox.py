"""equinox: our classes inside eqx.Module and theirs inside ours, under both jits."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import pytreeclass as ptc


@ptc.pytree_dataclass
class Scale:
    factor: jax.Array
    label: str = ptc.field(static=True, default="scale")


class EqxBlock(eqx.Module):
    scale: Scale
    linear: eqx.nn.Linear

    def __call__(self, x):
        return self.linear(x) * self.scale.factor


@ptc.pytree_dataclass
class Wrapper:
    block: EqxBlock
    name: str
    offset: jax.Array

    def __call__(self, x):
        return self.block(x) + self.offset


def make_wrapper():
    block = EqxBlock(Scale(2 * jnp.ones(())), eqx.nn.Linear(3, 2, key=jax.random.key(0)))
    return Wrapper(block, "w", jnp.ones(2))


def test_ours_in_theirs_and_theirs_in_ours_under_both_jits():
    model, x = make_wrapper(), jnp.ones(3)
    expected = model(x)
    np.testing.assert_allclose(eqx.filter_jit(lambda m, x: m(x))(model, x), expected)
    np.testing.assert_allclose(ptc.filter_jit(lambda m, x: m(x))(model, x), expected)
    np.testing.assert_allclose(ptc.filter_jit(model)(x), expected)


def test_filter_grad_through_an_eqx_module_field():
    grads = ptc.filter_grad(lambda m, x: jnp.sum(m(x)))(make_wrapper(), jnp.ones(3))
    assert isinstance(grads.block, EqxBlock)
    assert grads.block.linear.weight.shape == (2, 3)
    assert grads.name is None


def test_eqx_tree_at_rebuilds_our_class_without_rerunning_validation():
    model = make_wrapper()
    new = eqx.tree_at(lambda m: m.block.scale.factor, model, jnp.zeros(()))
    assert float(new.block.scale.factor) == 0.0
    assert new.block.scale.label == "scale"
    replaced = eqx.tree_at(lambda m: m.offset, model, replace_fn=lambda x: x + 1)
    np.testing.assert_allclose(replaced.offset, [2.0, 2.0])


def test_eqx_partition_and_combine():
    model = make_wrapper()
    params, static = eqx.partition(model, eqx.is_inexact_array)
    assert static.name == "w"
    assert params.name is None
    rebuilt = eqx.combine(params, static)
    np.testing.assert_allclose(rebuilt(jnp.ones(3)), model(jnp.ones(3)))


def test_eqx_tree_pformat_shows_our_fields():
    text = eqx.tree_pformat(make_wrapper())
    assert "Wrapper(" in text
    assert "name='w'" in text
    assert "factor=f32[]" in text
