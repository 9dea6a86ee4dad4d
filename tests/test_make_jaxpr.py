"""filter_make_jaxpr, side by side with Equinox's (its tests/test_make_jaxpr.py)."""

import collections

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from jax import lax

import pytreeclass as ptc

LIBS = pytest.mark.parametrize("lib", [ptc, eqx], ids=["ptc", "eqx"])


def primitive_counts(jaxpr):
    counts = collections.Counter()
    for eqn in jaxpr.eqns:
        counts[eqn.primitive] += 1
    return dict(counts)


@ptc.pytree_dataclass
class Affine:
    w: jax.Array
    b: jax.Array
    name: str = ptc.field(static=True, default="affine")

    def __call__(self, other, x):
        return other.weight @ (self.w @ x) + self.b, self.name


@LIBS
def test_model_function_and_closure_constants(lib):
    key1, key2 = jax.random.split(jax.random.key(0))
    inner = Affine(jax.random.normal(key1, (2, 2)), jnp.zeros(2))
    closed = jax.random.normal(key2, (2,))
    sentinel = object()

    def f(model, other, x):
        y, name = model(other, x)
        return y * closed, (name, sentinel)

    other = eqx.nn.Linear(2, 2, key=key2)
    x = jnp.array([1.0, 2.0])
    closed_jaxpr, structs, static = lib.filter_make_jaxpr(f)(inner, other, x)
    assert primitive_counts(closed_jaxpr.jaxpr) == {
        lax.dot_general_p: 2,
        lax.add_p: 1,
        lax.mul_p: 1,
    }
    # Arrays of the arguments are inputs; the closed-over array is a constant.
    assert len(closed_jaxpr.jaxpr.invars) == len(jax.tree_util.tree_leaves((inner, other, x)))
    assert {id(c) for c in closed_jaxpr.consts} == {id(closed)}
    assert structs == (jax.ShapeDtypeStruct((2,), jnp.float32), (None, None))
    assert static == (None, ("affine", sentinel))


@LIBS
def test_struct_inputs_and_struct_in_static_output(lib):
    struct = jax.ShapeDtypeStruct((2,), jnp.float32)

    def f(x):
        return x[None] * x[:, None], jax.ShapeDtypeStruct((3,), jnp.float32)

    closed_jaxpr, structs, static = lib.filter_make_jaxpr(f)(struct)
    assert primitive_counts(closed_jaxpr.jaxpr) == {lax.broadcast_in_dim_p: 2, lax.mul_p: 1}
    assert closed_jaxpr.consts == []
    assert structs == (jax.ShapeDtypeStruct((2, 2), jnp.float32), None)
    assert static == (None, jax.ShapeDtypeStruct((3,), jnp.float32))


@LIBS
def test_python_numbers_are_static(lib):
    closed_jaxpr, _, _ = lib.filter_make_jaxpr(lambda x, n: x * n)(jnp.ones(3), 2.0)
    assert len(closed_jaxpr.jaxpr.invars) == 1


def test_wraps_and_refuses_non_callables():
    def loss(x):
        return x

    assert ptc.filter_make_jaxpr(loss).__wrapped__ is loss  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="expects a callable"):
        ptc.filter_make_jaxpr(3)  # type: ignore[arg-type]
