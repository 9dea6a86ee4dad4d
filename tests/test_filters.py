"""is_array, is_inexact_array, partition, combine (Equinox semantics)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pytreeclass as ptc


@pytest.mark.parametrize(
    ("value", "array", "inexact"),
    [
        (jnp.ones(2), True, True),
        (jnp.arange(2), True, False),
        (np.ones(2), True, True),
        (np.float32(1.0), True, True),
        (np.int32(1), True, False),
        (jnp.ones(2, dtype=jnp.complex64), True, True),
        (1.0, False, False),
        (1, False, False),
        ("s", False, False),
        (None, False, False),
    ],
)
def test_is_array_and_is_inexact_array(value, array, inexact):
    assert ptc.is_array(value) is array
    assert ptc.is_inexact_array(value) is inexact


def test_is_array_is_true_for_tracers():
    seen = []
    jax.jit(lambda x: seen.append(ptc.is_array(x)))(jnp.ones(1))
    assert seen == [True]


def test_partition_then_combine_restores_the_tree():
    tree = {"w": jnp.ones(2), "name": "layer", "n": 3, "f": jnp.tanh}
    arrays, rest = ptc.partition(tree, ptc.is_array)
    assert arrays == {"w": tree["w"], "name": None, "n": None, "f": None}
    assert rest == {"w": None, "name": "layer", "n": 3, "f": jnp.tanh}
    assert ptc.combine(arrays, rest) == tree


def test_partition_with_prefix_filter_spec_of_bools():
    tree = ({"a": 1, "b": 2}, [3, 4])
    left, right = ptc.partition(tree, (True, False))
    assert left == ({"a": 1, "b": 2}, [None, None])
    assert right == ({"a": None, "b": None}, [3, 4])


def test_partition_replace_value():
    kept, _ = ptc.partition([1, "x"], lambda x: isinstance(x, int), replace=0)
    assert kept == [1, 0]


def test_partition_rejects_bad_filter_spec():
    with pytest.raises(TypeError, match="filter_spec leaves must be bools or callables"):
        ptc.partition([1], "yes")


def test_combine_with_is_leaf():
    out = ptc.combine([(1, 2), None], [None, (3,)], is_leaf=lambda x: isinstance(x, tuple))
    assert out == [(1, 2), (3,)]


def test_combine_needs_a_tree():
    with pytest.raises(TypeError, match="at least one"):
        ptc.combine()
