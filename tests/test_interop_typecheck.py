"""Runtime type checkers (jaxtyping, beartype) on pytree dataclasses, both decorator orders."""

import dataclasses

import beartype
import jax
import jax.numpy as jnp
import pytest
from beartype.roar import BeartypeCallHintParamViolation
from jaxtyping import Array, Float, TypeCheckError, jaxtyped

import pytreeclass as ptc


def jaxtyped_above():
    @jaxtyped(typechecker=beartype.beartype)
    @ptc.pytree_dataclass
    class Linear:
        weight: Float[Array, "out inp"]
        bias: Float[Array, " out"]

    return Linear


def jaxtyped_below():
    # jaxtyped checks dataclasses only, so below us the class must already be one.
    @ptc.pytree_dataclass
    @jaxtyped(typechecker=beartype.beartype)
    @dataclasses.dataclass(frozen=True)
    class Linear:
        weight: Float[Array, "out inp"]
        bias: Float[Array, " out"]

    return Linear


def beartype_alone():
    @beartype.beartype
    @ptc.pytree_dataclass
    class Linear:
        weight: Float[Array, "out inp"]
        bias: Float[Array, " out"]

    return Linear


CHECKED = {
    "jaxtyped above": jaxtyped_above,
    "jaxtyped below": jaxtyped_below,
    "beartype alone": beartype_alone,
}
TYPE_ERRORS = (TypeCheckError, BeartypeCallHintParamViolation)


@pytest.mark.parametrize("make", CHECKED)
def test_construction_is_checked(make):
    Linear = CHECKED[make]()
    Linear(jnp.ones((2, 3)), jnp.ones(2))
    with pytest.raises(TYPE_ERRORS):
        Linear(jnp.ones((2, 3)), "not an array")


@pytest.mark.parametrize("make", CHECKED)
def test_construction_inside_jit_is_checked(make):
    Linear = CHECKED[make]()
    with pytest.raises(TYPE_ERRORS):
        jax.jit(lambda w: Linear(w, jnp.ones(2, dtype=jnp.int32)))(jnp.ones((2, 3)))


@pytest.mark.parametrize("make", CHECKED)
def test_every_transform_rebuilds_without_the_checker(make):
    Linear = CHECKED[make]()
    layer = Linear(jnp.ones((2, 3)), jnp.ones(2))
    assert type(jax.tree_util.tree_map(lambda x: None, layer)) is Linear
    assert jax.jit(lambda m: m)(layer) == layer
    stacked = jax.tree_util.tree_map(lambda x: jnp.stack([x] * 4), layer)  # rank 3: unchecked
    assert type(stacked) is Linear
    assert jax.vmap(lambda m: m.weight.sum())(stacked).shape == (4,)
    grads = jax.grad(lambda m: jnp.sum(m.weight @ jnp.ones(3) + m.bias))(layer)
    assert type(grads) is Linear
    assert ptc.filter_jit(lambda m: m)(layer) == layer


@pytest.mark.parametrize("make", CHECKED)
def test_the_check_runs_once_per_user_construction(make):
    Linear = CHECKED[make]()
    calls = []
    checked_init = Linear.__init__

    def counting_init(self, *args, **kwargs):
        calls.append(1)
        checked_init(self, *args, **kwargs)

    Linear.__init__ = counting_init
    layer = Linear(jnp.ones((2, 3)), jnp.ones(2))
    jax.jit(lambda m: jax.tree_util.tree_map(lambda x: x + 1, m))(layer)
    jax.vmap(lambda m: m)(jax.tree_util.tree_map(lambda x: x[None], layer))
    assert calls == [1]
