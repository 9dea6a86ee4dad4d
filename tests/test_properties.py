"""Hypothesis properties over random nested pytree dataclasses (using pytreeclass.testing).

Key paths and static fields are checked by ``assert_roundtrip``; whole class
definitions are varied in test_class_fuzz.py.
"""

from collections.abc import Callable

import jax
from hypothesis import given

import pytreeclass as ptc
from pytreeclass.testing import assert_roundtrip, assert_trees_equal, instances


@ptc.pytree_dataclass
class Layer:
    weight: jax.Array
    bias: jax.Array | None
    scale: float
    activation: Callable = ptc.field(static=True)
    name: str = ptc.field(static=True, default="layer")


@ptc.pytree_dataclass
class Model:
    layers: tuple[Layer, ...]
    head: Layer
    label: str
    extra: "Model | None" = None


@given(instances(Model))
def test_flatten_unflatten_roundtrip(model):
    assert_roundtrip(model)


@given(instances(Model))
def test_partition_combine_is_identity(model):
    arrays, rest = ptc.partition(model, ptc.is_array)
    assert_trees_equal(model, ptc.combine(arrays, rest))
    assert all(ptc.is_array(leaf) for leaf in jax.tree_util.tree_leaves(arrays))


@given(instances(Layer), instances(Layer))
def test_replace_changes_only_the_named_field(layer, other):
    new = ptc.replace(layer, weight=other.weight)
    assert new.weight is other.weight
    assert new.activation is layer.activation


@given(instances(Layer))
def test_filter_jit_traces_once_per_structure(layer):
    f = ptc.filter_jit(lambda layer: layer.weight)
    f(layer)
    f(ptc.replace(layer))
    assert f.trace_count() == 1
