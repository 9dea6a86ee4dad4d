"""Every filtered transform as a method decorator and on bound methods, side by side with Equinox.

The cases follow Equinox's own ``test_methods`` (call or named method, the
transform inside the class or applied from outside).
"""

import gc
import inspect
import weakref

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

import pytreeclass as ptc

TRANSFORMS = {
    "filter_jit": (ptc.filter_jit, eqx.filter_jit),
    "filter_grad": (ptc.filter_grad, eqx.filter_grad),
    "filter_value_and_grad": (ptc.filter_value_and_grad, eqx.filter_value_and_grad),
    "filter_vmap": (ptc.filter_vmap, eqx.filter_vmap),
}


def model_classes(transform):
    """The same model in both libraries: the method reduces to a scalar for grads."""
    ours, theirs = TRANSFORMS[transform]

    def body(self, x):
        return jnp.sum(self.weight * x) + self.increment

    @ptc.pytree_dataclass
    class Ours:
        weight: jax.Array
        increment: int
        __call__ = ours(body)
        method = ours(body)
        plain = body

    class Theirs(eqx.Module):
        weight: jax.Array
        increment: int
        __call__ = theirs(body)
        method = theirs(body)
        plain = body

    return Ours, Theirs


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("where", ["__call__", "method", "outer call", "outer method"])
def test_methods_match_equinox(transform, where):
    Ours, Theirs = model_classes(transform)
    weight, x = jnp.arange(3.0), jnp.ones(3)
    ours, theirs = Ours(weight, 5), Theirs(weight, 5)
    ptc_t, eqx_t = TRANSFORMS[transform]
    if where == "__call__":
        got, expected = ours(x), theirs(x)
    elif where == "method":
        got, expected = ours.method(x), theirs.method(x)
    elif where == "outer call":
        got, expected = ptc_t(ours.plain)(x), eqx_t(theirs.plain)(x)
    else:
        got, expected = ptc_t(Ours.plain)(ours, x), eqx_t(Theirs.plain)(theirs, x)
    leaves = jax.tree_util.tree_leaves(got)
    assert leaves and len(leaves) == len(jax.tree_util.tree_leaves(expected))
    for a, b in zip(leaves, jax.tree_util.tree_leaves(expected), strict=True):
        assert jnp.array_equal(a, b)


def _with_jvp_rule(fn):
    transformed = ptc.filter_custom_jvp(fn)
    transformed.def_jvp(lambda primals, tangents: (fn(*primals), jnp.zeros(())))
    return transformed


def _with_vjp_rule(fn):
    transformed = ptc.filter_custom_vjp(fn)
    transformed.def_fwd(lambda perturbed, vjp_arg, x: (fn(vjp_arg, x), None))
    transformed.def_bwd(lambda saved, grad, perturbed, vjp_arg, x: vjp_arg)
    return transformed


# Every transform that returns a function-like object (SPEC: one kind of
# transform object, which binds as a method and keeps the function's metadata).
FUNCTION_TRANSFORMS = {
    **{name: ours for name, (ours, _) in TRANSFORMS.items()},
    "filter_jacfwd": ptc.filter_jacfwd,
    "filter_jacrev": ptc.filter_jacrev,
    "filter_hessian": ptc.filter_hessian,
    "filter_checkpoint": ptc.filter_checkpoint,
    "filter_make_jaxpr": ptc.filter_make_jaxpr,
    "filter_custom_jvp": _with_jvp_rule,
    "filter_custom_vjp": _with_vjp_rule,
}


def _comparable(out):
    """A jaxpr compares by its text; everything else as a tree of arrays."""
    return jax.tree_util.tree_map(
        lambda x: str(x) if isinstance(x, jax.extend.core.ClosedJaxpr) else x, out
    )


@pytest.mark.parametrize("transform", FUNCTION_TRANSFORMS)
def test_every_transform_keeps_the_functions_metadata_and_binds_as_a_method(transform):
    def scaled(self, x):
        """Scale x by the weight."""
        return jnp.sum(self.weight * x)

    transformed = FUNCTION_TRANSFORMS[transform](scaled)
    assert transformed.__name__ == "scaled"
    assert transformed.__qualname__.endswith("scaled")
    assert transformed.__module__ == scaled.__module__
    assert transformed.__doc__ == "Scale x by the weight."
    assert inspect.unwrap(transformed) is scaled
    assert list(inspect.signature(transformed).parameters) == ["self", "x"]

    @ptc.pytree_dataclass
    class Model:
        weight: jax.Array
        method = transformed

    model, x = Model(jnp.full(3, 2.0)), jnp.arange(3.0)
    through_the_method = _comparable(model.method(x))
    called_directly = _comparable(FUNCTION_TRANSFORMS[transform](scaled)(model, x))
    assert ptc.tree_equal(through_the_method, called_directly)


@ptc.pytree_dataclass
class Model:
    weight: jax.Array

    def loss(self, x):
        return jnp.sum(self.weight * x)


BUILDS = {
    "jit": ptc.filter_jit,
    "jit(grad)": lambda f: ptc.filter_jit(ptc.filter_grad(f)),
    "jit(vmap)": lambda f: ptc.filter_jit(ptc.filter_vmap(f, in_axes=0)),
}


@pytest.mark.parametrize("build", BUILDS.values(), ids=BUILDS.keys())
def test_bound_methods_of_models_trace_once_and_keep_no_model_alive(build):
    traces = []

    def counted(self, x):
        traces.append(1)
        return Model.loss(self, x)

    refs = []
    for i in range(3):
        model = Model(jnp.full(3, float(i)))
        bound = counted.__get__(model)
        build(bound)(jnp.ones(3))
        refs.append(weakref.ref(model))
        del model, bound
    gc.collect()
    assert len(traces) == 1
    assert all(ref() is None for ref in refs)


class Trainer:
    """An ordinary object (not a pytree) with a method."""

    def __init__(self, scale):
        self.scale = scale

    def step(self, x):
        return x * self.scale


def test_rebuilding_a_wrapper_of_an_equal_bound_method_never_dangles():
    trainer = Trainer(2.0)
    first = ptc.filter_jit(trainer.step)
    first(jnp.ones(1))
    second = ptc.filter_jit(trainer.step)  # an equal but distinct bound method
    del first
    gc.collect()
    assert float(second(jnp.ones(2)).sum()) == 4.0  # a new shape: a new trace
