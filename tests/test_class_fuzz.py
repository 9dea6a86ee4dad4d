"""Every SPEC invariant, checked on generated class *definitions* (see class_strategies.py).

The number of generated classes follows the hypothesis profile: 5x its
``max_examples`` for the invariants (``dev`` 150, ``ci`` 500, ``thorough`` 10,000),
2x for the two lighter checks;
``test_the_fuzzer_draws_every_shape`` says how many of each shape one run builds.
Every generated class is also drawn by ``pytreeclass.testing.instances`` (its
annotations are what a user writes, jaxtyping ones included) and checked with
``assert_roundtrip``.
"""

import collections
import dataclasses
import typing

import cloudpickle
import jax
import jax.numpy as jnp
import jaxtyping
import numpy as np
import pytest
from class_strategies import (
    BASES,
    CUSTOM_INITS,
    EVENTS,
    INITS,
    SHADOWING_NAMES,
    CountingMeta,
    Generated,
    _validated_field,
    class_and_instances,
    expected_events,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pytreeclass as ptc
from pytreeclass.testing import assert_roundtrip, assert_trees_equal, instances

FUZZ = settings(
    max_examples=5 * settings.default.max_examples,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    deadline=None,
    # The same classes on every run of a profile (so the shape census below cannot
    # fail by chance); the ``thorough`` profile explores afresh each time.
    derandomize=settings.default.max_examples < 2000,
)
# The two checks that draw a fresh class per example and then re-check it whole:
# fewer examples (2x the profile), to keep CI's one ``ci``-profile run short.
FUZZ_LIGHT = settings(FUZZ, max_examples=2 * settings.default.max_examples)
SHAPES: collections.Counter = collections.Counter()


def _leaves_with_paths(tree):
    return jax.tree_util.tree_flatten_with_path(tree, is_leaf=_none)[0]


def _count_shapes(generated: Generated) -> None:
    plan = generated.plan
    SHAPES["classes"] += 1
    SHAPES[f"base={plan.base}"] += 1
    for klass in plan.chain():
        SHAPES[f"init={klass.init}"] += 1
        SHAPES["with __check_init__"] += klass.check_init
        SHAPES["field-less"] += not klass.fields
        SHAPES["assigning __post_init__"] += klass.post_init_assigns
    SHAPES["shadowing field names"] += any(f.name in SHADOWING_NAMES for f in plan.all_fields())
    SHAPES["jaxtyping fields"] += any(_jaxtyping_fields(generated.obj))
    SHAPES[f"depth={len(plan.chain())}"] += 1


def _events_since(start: int, cls: type) -> collections.Counter:
    """What ran since ``EVENTS[start]``, for the class ``cls`` and its own fields."""
    ran = collections.Counter()
    for what, owner, instance in EVENTS[start:]:
        if what == "convert" or instance == cls.__name__:
            ran[what, owner] += 1
    return ran


@FUZZ
@given(class_and_instances())
def test_generated_classes_keep_every_invariant(generated: Generated):
    _count_shapes(generated)
    plan, obj = generated.plan, generated.obj
    cls = plan.cls

    # Round trips: unflatten(flatten), key paths in field order, statics in the
    # treedef, filter_jit and jax.jit identities.
    assert_roundtrip(obj)

    # Rebuilding runs no __init__, __post_init__, __check_init__ or converter,
    # creates no class through a metaclass, and keeps the type, every base and vars().
    start, classes = len(EVENTS), CountingMeta.created
    rebuilt = jax.tree_util.tree_map(lambda x: x, obj)
    params, rest = ptc.partition(obj, ptc.is_inexact_array)
    ptc.combine(params, rest)
    assert EVENTS[start:] == []
    assert CountingMeta.created == classes
    assert type(rebuilt) is cls
    bases = [b for b in cls.__mro__ if b not in (typing.Protocol, typing.Generic)]
    assert all(isinstance(rebuilt, base) for base in bases)  # typing refuses those two
    assert vars(rebuilt).keys() == vars(obj).keys()

    # Constructed instances are frozen, whatever their __init__ assigned.
    for f in dataclasses.fields(obj)[:1]:
        with pytest.raises(dataclasses.FrozenInstanceError, match=f.name):
            setattr(obj, f.name, None)

    # replace re-runs construction (and so validation), each __check_init__ and each
    # converter exactly once; tree_at runs nothing.
    checked = _validated_field(plan)
    if checked is not None:
        start = len(EVENTS)
        assert_trees_equal(obj, ptc.replace(obj), "replace(obj)")
        ran = _events_since(start, cls)
        assert {k: v for k, v in ran.items() if k[0] in ("convert", "__check_init__")} == (
            expected_events(plan)
        )
        # A hand-written __init__, own or inherited (Equinox's rule), is the one that runs.
        hand_written = any(what == "__init__" for what, _ in ran)
        assert hand_written == (plan.effective_init() in CUSTOM_INITS)
        if plan.validates:
            with pytest.raises(ValueError, match=f"{checked.name} must not be None"):
                ptc.replace(obj, **{checked.name: None})
    start = len(EVENTS)
    if checked is not None and not checked.static:
        relaxed = ptc.tree_at(lambda o: getattr(o, checked.name), obj, None, is_leaf=_none)
        assert getattr(relaxed, checked.name) is None
        assert type(relaxed) is cls
        assert EVENTS[start:] == []
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
    step(jax.tree_util.tree_map(_bumped, obj), batch)
    assert len(traced) == 1
    assert jax.tree_util.tree_structure(grads, is_leaf=_none) == jax.tree_util.tree_structure(
        obj, is_leaf=_none
    )
    grad_leaves = jax.tree_util.tree_leaves(grads, is_leaf=_none)
    for (path, leaf), grad in zip(_leaves_with_paths(obj), grad_leaves, strict=True):
        inexact = ptc.is_inexact_array(leaf)
        assert (grad is not None) == inexact, jax.tree_util.keystr(path)
    assert_trees_equal(batch, mapped, "filter_vmap(identity)(batch)")

    # The class goes by value through cloudpickle (it is not importable by name).
    # Last: loading it back in this process replaces the class's functions by copies.
    # (Statics are not compared: a jitted callable such as jnp.tanh unpickles unequal.)
    if _holds_typed_keys(obj) and not KEYS_PICKLE:
        return  # this JAX cannot pickle typed PRNG keys at all (0.8.3 cannot)
    again = cloudpickle.loads(cloudpickle.dumps(obj))
    assert type(again) is cls and vars(again).keys() == vars(obj).keys()
    arrays = [leaf for leaf in jax.tree_util.tree_leaves(obj) if ptc.is_array(leaf)]
    arrays_again = [leaf for leaf in jax.tree_util.tree_leaves(again) if ptc.is_array(leaf)]
    assert_trees_equal(arrays, arrays_again, "cloudpickle")


def test_the_fuzzer_draws_every_shape():
    """Runs after the fuzz test above (file order): every shape was generated."""
    if not SHAPES:
        pytest.skip("run together with test_generated_classes_keep_every_invariant")
    print("\nclasses per shape in this run:", dict(sorted(SHAPES.items())))
    wanted = [f"base={b}" for b in BASES] + [f"init={i}" for i in INITS]
    wanted += ["with __check_init__", "field-less", "assigning __post_init__"]
    wanted += ["shadowing field names", "depth=2", "depth=3", "jaxtyping fields"]
    assert [shape for shape in wanted if SHAPES[shape] == 0] == []


def _keys_pickle() -> bool:
    try:
        cloudpickle.dumps(jax.random.key(0))
    except TypeError:
        return False
    return True


KEYS_PICKLE = _keys_pickle()


def _holds_typed_keys(obj) -> bool:
    return any(
        ptc.is_array(leaf) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)
        for leaf in jax.tree_util.tree_leaves(obj)
    )


def _none(x):
    return x is None


def _bumped(x):
    """``x + 1`` for number arrays; bools and keys as they are (same dtype, same trace)."""
    if ptc.is_array(x) and jnp.issubdtype(x.dtype, jnp.number):
        return x + 1
    return x


def _jaxtyping_fields(obj) -> list[tuple[str, type]]:
    """(name, annotation) of every jaxtyping field of ``obj``, its bases' included."""
    hints = typing.get_type_hints(type(obj))
    return [
        (f.name, hints[f.name])
        for f in dataclasses.fields(obj)
        if isinstance(hints.get(f.name), type)
        and issubclass(hints[f.name], jaxtyping.AbstractArray)
    ]


def _assert_satisfies_annotations(obj) -> None:
    """jaxtyping's own check over one instance (one memo, symbolic dims last), then nested ones."""
    fields = sorted(_jaxtyping_fields(obj), key=lambda item: "+" in item[1].dim_str)
    with jaxtyping.jaxtyped("context"):
        for name, annotation in fields:
            value = getattr(obj, name)
            assert isinstance(value, annotation), (name, annotation, value.shape, value.dtype)
            assert isinstance(value, np.ndarray) == (annotation.array_type is np.ndarray), name
    for f in dataclasses.fields(obj):
        if ptc.is_pytree_dataclass(getattr(obj, f.name)):
            _assert_satisfies_annotations(getattr(obj, f.name))


@FUZZ_LIGHT
@given(st.data())
def test_instances_draws_every_generated_class(data):
    """``instances()`` + ``assert_roundtrip`` on every generated class, and the draws
    satisfy jaxtyping's own check; the fuzzer's own instances satisfy it too."""
    generated = data.draw(class_and_instances())
    _assert_satisfies_annotations(generated.obj)
    obj = data.draw(instances(generated.plan.cls))
    assert type(obj) is generated.plan.cls
    _assert_satisfies_annotations(obj)
    assert_roundtrip(obj)


def _loss(model):
    leaves = [x for x in jax.tree_util.tree_leaves(model) if ptc.is_inexact_array(x)]
    return sum((jnp.sum(x.astype(jnp.float32)) for x in leaves), jnp.zeros(()))


@FUZZ_LIGHT
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
