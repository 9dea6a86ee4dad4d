"""``tree_at`` and ``tree_equal``, side by side with Equinox's."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pytreeclass as ptc


@ptc.pytree_dataclass
class Linear:
    weight: jax.Array
    bias: jax.Array
    name: str = ptc.field(static=True, default="linear")


@ptc.pytree_dataclass
class Checked:
    x: jax.Array
    double: jax.Array = ptc.field(init=False)

    def __post_init__(self):
        if jnp.any(self.x < 0):
            raise ValueError("x must be >= 0")
        object.__setattr__(self, "double", 2 * self.x)


class EqxLinear(eqx.Module):
    weight: jax.Array
    bias: jax.Array


TREES = {
    "dict": ({"a": 1, "b": [2, 3, (4,)]}, lambda t: t["b"][1]),
    "empty tuples": ([(), (), 1], lambda t: t[2]),
    "several nodes": ({"a": 1, "b": [2, 3]}, lambda t: (t["a"], t["b"])),
    "ours": (Linear(jnp.ones(2), jnp.zeros(2)), lambda m: m.bias),
    "equinox": (EqxLinear(jnp.ones(2), jnp.zeros(2)), lambda m: m.bias),
    "ours in equinox's": (
        [EqxLinear(jnp.ones(2), jnp.zeros(2)), Linear(jnp.ones(1), jnp.ones(1))],
        lambda t: (t[0].weight, t[1].weight),
    ),
}


@pytest.mark.parametrize("case", TREES)
def test_tree_at_matches_equinox_with_replace_fn(case):
    tree, where = TREES[case]

    def bump(node):
        return jax.tree_util.tree_map(lambda x: x + 10, node)

    ours = ptc.tree_at(where, tree, replace_fn=bump)
    theirs = eqx.tree_at(where, tree, replace_fn=bump)
    assert ptc.tree_equal(ours, theirs, typematch=True)


def test_tree_at_with_replace_matches_equinox():
    tree = {"a": 1, "b": [2, 3]}
    where = lambda t: (t["a"], t["b"][0])  # noqa: E731
    assert ptc.tree_at(where, tree, ("A", "B")) == eqx.tree_at(where, tree, ("A", "B"))


def test_tree_at_selects_one_of_several_empty_tuples():
    # Equinox hands its private tuple subclass to replace_fn here; we hand ().
    assert ptc.tree_at(lambda t: t[1], [(), ()], replace_fn=lambda n: (n, 1)) == [(), ((), 1)]


def test_tree_at_bypasses_init_and_validation():
    model = Checked(jnp.ones(2))
    new = ptc.tree_at(lambda m: m.x, model, -jnp.ones(2))
    np.testing.assert_allclose(new.x, -1.0)
    np.testing.assert_allclose(new.double, 2.0)  # not recomputed
    new = ptc.tree_at(lambda m: m.double, model, jnp.zeros(2))  # init=False field
    np.testing.assert_allclose(new.double, 0.0)


def test_tree_at_works_inside_jit():
    @jax.jit
    def zero_bias(layer):
        return ptc.tree_at(lambda m: m.bias, layer, jnp.zeros_like(layer.bias))

    out = zero_bias(Linear(jnp.ones(2), jnp.ones(2)))
    assert out.name == "linear" and out.bias.sum() == 0


def test_tree_at_replaces_none_with_is_leaf():
    tree = (None, 1)
    new = ptc.tree_at(lambda t: t[0], tree, 5, is_leaf=lambda x: x is None)
    assert new == (5, 1)


def test_tree_at_on_a_static_field_names_the_path_and_the_fix():
    layer = {"layer": Linear(jnp.ones(2), jnp.zeros(2))}
    with pytest.raises(ValueError, match=r"\['layer'\]\.name, a static field.*replace"):
        ptc.tree_at(lambda t: t["layer"].name, layer, "renamed")


def test_tree_at_on_something_not_in_the_tree_says_so():
    outside = jnp.ones(3)
    with pytest.raises(ValueError, match="not a node of the tree"):
        ptc.tree_at(lambda t: outside, {"a": jnp.ones(3)}, 1)


def test_tree_at_where_must_not_depend_on_leaf_values():
    tree = [1, 2, "x"]
    with pytest.raises(ValueError, match="only the structure"):
        ptc.tree_at(lambda t: tuple(x for x in t if type(x) is int), tree, replace=(0, 0))


def test_tree_at_needs_exactly_one_replacement():
    with pytest.raises(ValueError, match="exactly one of `replace` and `replace_fn`"):
        ptc.tree_at(lambda t: t[0], [1], 2, replace_fn=lambda x: x)
    with pytest.raises(ValueError, match="selected 2 nodes but `replace` has 1 values"):
        ptc.tree_at(lambda t: (t[0], t[1]), [1, 2], replace=(3,))


# --- tree_equal -------------------------------------------------------------------------

EQUALITY_CASES = {
    "equal arrays": ([jnp.ones(2)], [jnp.ones(2)]),
    "other values": ([jnp.ones(2)], [jnp.zeros(2)]),
    "other shapes": ([jnp.ones(2)], [jnp.ones(3)]),
    "other dtypes": ([jnp.ones(2)], [jnp.ones(2, dtype=jnp.int32)]),
    "numpy and jax": ([np.ones(2, np.float32)], [jnp.ones(2)]),
    "array and number": ([jnp.ones(())], [1.0]),
    "structure": ([1, 2], (1, 2)),
    "statics": (Linear(jnp.ones(1), jnp.ones(1)), Linear(jnp.ones(1), jnp.ones(1), name="b")),
    "models": (Linear(jnp.ones(1), jnp.ones(1)), Linear(jnp.ones(1), jnp.ones(1))),
    "bfloat16": ([jnp.ones(2, jnp.bfloat16)], [jnp.ones(2, jnp.bfloat16)]),
    "keys": ([jax.random.key(0)], [jax.random.key(0)]),
}


@pytest.mark.parametrize("case", EQUALITY_CASES)
@pytest.mark.parametrize("typematch", [False, True])
def test_tree_equal_matches_equinox(case, typematch):
    a, b = EQUALITY_CASES[case]
    ours = ptc.tree_equal(a, b, typematch=typematch)
    assert type(ours) is bool
    assert ours == bool(eqx.tree_equal(a, b, typematch=typematch))


def test_tree_equal_with_tolerances_matches_equinox():
    a, b = [jnp.ones(2)], [jnp.ones(2) + 1e-3]
    assert not ptc.tree_equal(a, b)
    assert ptc.tree_equal(a, b, atol=1e-2) == bool(eqx.tree_equal(a, b, atol=1e-2)) is True


def test_tree_equal_under_jit_returns_a_traced_bool():
    out = jax.jit(lambda a, b: ptc.tree_equal(a, b))([jnp.ones(2)], [jnp.ones(2)])
    assert isinstance(out, jax.Array) and bool(out)


def test_tree_at_on_a_shared_static_value_names_the_field_selected():
    @ptc.pytree_dataclass
    class Model:
        layers: list
        head: Linear

    # "linear" is one (interned) object in all three static fields.
    model = Model(
        [Linear(jnp.ones(2), jnp.zeros(2)), Linear(jnp.ones(2), jnp.zeros(2))],
        Linear(jnp.ones(1), jnp.zeros(1)),
    )
    with pytest.raises(ValueError, match=r"selected \.head\.name, a static field") as info:
        ptc.tree_at(lambda m: m.head.name, model, "out")
    assert "layers" not in str(info.value)
    with pytest.raises(ValueError, match=r"selected \.layers\[1\]\.name, a static field"):
        ptc.tree_at(lambda m: m.layers[1].name, model, "out")
