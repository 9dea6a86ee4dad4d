"""Every SPEC invariant, checked on generated class *definitions* (see class_strategies.py).

The number of generated classes follows the hypothesis profile: 5x its
``max_examples`` (``dev`` 150, ``ci`` 500, ``thorough`` 10,000).
"""

import jax
import jax.numpy as jnp
import pytest
from class_strategies import Generated, _validated_field, class_and_instances
from hypothesis import HealthCheck, given, settings

import pytreeclass as ptc
from pytreeclass.testing import assert_roundtrip, assert_trees_equal

FUZZ = settings(
    max_examples=5 * settings.default.max_examples,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    deadline=None,
)


def _leaves_with_paths(tree):
    return jax.tree_util.tree_flatten_with_path(tree, is_leaf=_none)[0]


@FUZZ
@given(class_and_instances())
def test_generated_classes_keep_every_invariant(generated: Generated):
    plan, obj = generated.plan, generated.obj
    cls = plan.cls

    # Round trips: unflatten(flatten), key paths in field order, statics in the
    # treedef, filter_jit and jax.jit identities.
    assert_roundtrip(obj)

    # Rebuilding never runs __init__ or __post_init__.
    calls = len(plan.calls)
    rebuilt = jax.tree_util.tree_map(lambda x: x, obj)
    params, rest = ptc.partition(obj, ptc.is_inexact_array)
    ptc.combine(params, rest)
    assert len(plan.calls) == calls
    assert vars(rebuilt).keys() == vars(obj).keys()

    # replace re-runs construction (and so validation); tree_at does not.
    checked = _validated_field(plan)
    if checked is not None:
        assert_trees_equal(obj, ptc.replace(obj), "replace(obj)")
        assert len(plan.calls) > calls
        calls = len(plan.calls)
        if plan.validates:
            with pytest.raises(ValueError, match=f"{checked.name} must not be None"):
                ptc.replace(obj, **{checked.name: None})
    calls = len(plan.calls)
    if checked is not None and not checked.static:
        relaxed = ptc.tree_at(lambda o: getattr(o, checked.name), obj, None, is_leaf=_none)
        assert getattr(relaxed, checked.name) is None
        assert type(relaxed) is cls
        assert len(plan.calls) == calls
    derived = [f for f in plan.all_fields() if not f.init]
    if derived:
        with pytest.raises(TypeError, match=r"init=False field.*tree_at"):
            ptc.replace(obj, **{derived[0].name: None})

    # filter_jit retraces only on static changes; filter_grad gives None exactly on
    # the non-inexact leaves; filter_vmap maps a batch of instances.
    traced = []

    @ptc.filter_jit
    def step(model, batch):
        traced.append(1)
        grads = ptc.filter_grad(_loss)(model)
        mapped = ptc.filter_vmap(lambda m: m)(batch)
        return grads, mapped

    batch = jax.tree_util.tree_map(lambda x: jnp.stack([x, x]) if ptc.is_array(x) else x, obj)
    grads, mapped = step(obj, batch)
    step(jax.tree_util.tree_map(lambda x: x + 1 if ptc.is_array(x) else x, obj), batch)
    assert len(traced) == 1
    assert jax.tree_util.tree_structure(grads, is_leaf=_none) == jax.tree_util.tree_structure(
        obj, is_leaf=_none
    )
    grad_leaves = jax.tree_util.tree_leaves(grads, is_leaf=_none)
    for (path, leaf), grad in zip(_leaves_with_paths(obj), grad_leaves, strict=True):
        inexact = ptc.is_inexact_array(leaf)
        assert (grad is not None) == inexact, jax.tree_util.keystr(path)
    assert_trees_equal(batch, mapped, "filter_vmap(identity)(batch)")


def _none(x):
    return x is None


def _loss(model):
    leaves = [x for x in jax.tree_util.tree_leaves(model) if ptc.is_inexact_array(x)]
    return sum((jnp.sum(x.astype(jnp.float32)) for x in leaves), jnp.zeros(()))


@FUZZ
@given(class_and_instances())
def test_a_static_change_retraces_exactly_once(generated: Generated):
    statics = [f for f in generated.plan.all_fields() if f.static and f.init]
    if not statics:
        return
    f = ptc.filter_jit(lambda o: o)
    f(generated.obj)
    changed = ptc.replace(generated.obj, **{statics[0].name: "a changed static"})
    f(changed)
    f(changed)
    assert f.trace_count() == 2
    assert statics[0].name in f.explain_retrace()
