"""if_array, tree_flatten_one_level, tree_check, tree_pformat/tree_pprint, side by side
with Equinox's (its tests/test_tree.py and test_pformat.py)."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pytreeclass as ptc

LIBS = pytest.mark.parametrize("lib", [ptc, eqx], ids=["ptc", "eqx"])


@ptc.pytree_dataclass
class Layer:
    w: jax.Array
    name: str = ptc.field(static=True, default="layer")


@LIBS
def test_if_array(lib):
    spec = lib.if_array(1)
    assert spec(jnp.zeros((2, 3))) == 1 and spec(np.zeros(2)) == 1
    assert spec(True) is None and spec("x") is None
    assert lib.if_array(1) == lib.if_array(1) and hash(lib.if_array(1)) == hash(lib.if_array(1))


@LIBS
def test_if_array_as_vmap_axis(lib):
    def f(x, tag):
        return x.sum(), tag

    out = ptc.filter_vmap(f, in_axes=lib.if_array(1))(jnp.ones((2, 3)), "t")
    np.testing.assert_array_equal(out[0], [2.0, 2.0, 2.0])
    assert out[1] == "t"


@LIBS
def test_tree_flatten_one_level(lib):
    leaves, treedef = lib.tree_flatten_one_level({"a": 3, "b": (1, 2)})
    assert leaves == [3, (1, 2)]
    assert treedef == jax.tree_util.tree_structure({"a": 0, "b": 0})
    leaves, treedef = lib.tree_flatten_one_level(4)
    assert leaves == [4] and treedef == jax.tree_util.tree_structure(0)

    x: list = []
    y: list = [x]
    x.append(y)
    leaves, treedef = lib.tree_flatten_one_level(x)
    assert leaves == [y] and treedef == jax.tree_util.tree_structure([0])

    z: list = []
    z.append(z)
    with pytest.raises(ValueError, match="immediate"):
        lib.tree_flatten_one_level(z)


@LIBS
def test_tree_flatten_one_level_special(lib):
    layer = Layer(jnp.ones(2))
    leaves, treedef = lib.tree_flatten_one_level([None, None, layer, 1, 2])
    assert leaves[:2] == [None, None] and leaves[2] is layer and leaves[3:] == [1, 2]
    assert treedef == jax.tree_util.tree_structure([0, 0, 0, 0, 0])
    leaves, _ = lib.tree_flatten_one_level(layer)
    assert len(leaves) == 1 and leaves[0] is layer.w


@LIBS
def test_tree_check(lib):
    x: list = []
    y: list = [x]
    x.append(y)
    with pytest.raises(ValueError, match=r"self-referential|contains itself"):
        lib.tree_check(x)
    z: list = []
    z.append(z)
    with pytest.raises(ValueError, match=r"self-referential|contains itself"):
        lib.tree_check(z)
    shared = Layer(jnp.ones(2))
    with pytest.raises(ValueError, match="appears"):
        lib.tree_check([shared, shared])
    lib.tree_check([None, None])
    lib.tree_check([0, 0])
    lib.tree_check([[], []])
    lib.tree_check([eqx.Module(), eqx.Module()])
    lib.tree_check([Layer(jnp.ones(2)), Layer(jnp.ones(2))])
    e = [1]
    with pytest.raises(ValueError, match="appears"):
        lib.tree_check([e, e])


def test_tree_check_messages_name_paths():
    shared = Layer(jnp.ones(2))
    with pytest.raises(ValueError, match=r"same Layer appears at \['a'\]\[0\] and at \['b'\]"):
        ptc.tree_check({"a": [shared], "b": shared})
    z: list = [1]
    z.append(z)
    with pytest.raises(ValueError, match="contains itself"):
        ptc.tree_check({"k": [z]})


@LIBS
def test_pformat_arrays(lib):
    assert lib.tree_pformat(jnp.arange(12).reshape(3, 4)) == "i32[3,4]"
    assert lib.tree_pformat(jnp.ones((2,), jnp.float32), short_arrays=False) == repr(
        jnp.ones((2,), jnp.float32)
    )
    assert lib.tree_pformat(np.array(1), short_arrays=False) == "array(1)"


@LIBS
def test_pformat_struct_and_truncate(lib):
    struct = jax.ShapeDtypeStruct((2, 3), jnp.float32)
    assert lib.tree_pformat(struct, struct_as_array=True) == "f32[2,3]"
    assert lib.tree_pformat(struct) == repr(struct)

    class Foo:
        pass

    foo = Foo()
    assert lib.tree_pformat([foo, 1], truncate_leaf=lambda x: x is foo) == "[Foo(...), 1]"


@LIBS
def test_pformat_functions(lib):
    def f():
        pass

    assert lib.tree_pformat(f) == "<function test_pformat_functions.<locals>.f>"
    assert lib.tree_pformat(jax.custom_jvp(f)) == "<function test_pformat_functions.<locals>.f>"


@LIBS
def test_pformat_width_and_indent(lib):
    tree = {"alpha": jnp.zeros(3), "beta": "b"}
    assert "\n" not in lib.tree_pformat(tree, width=80)
    narrow = lib.tree_pformat(tree, width=10, indent=4)
    assert narrow.splitlines()[1].startswith("    'alpha':")


def test_pformat_is_our_repr():
    layer = Layer(jnp.ones((2, 3)))
    assert ptc.tree_pformat(layer) == repr(layer) == "Layer(w=f32[2,3], name='layer')"
    assert ptc.tree_pformat(functools.partial(len)) == repr(functools.partial(len))


def test_pprint(capsys):
    ptc.tree_pprint([jnp.ones(2, jnp.int32), None], width=10)
    assert capsys.readouterr().out == "[\n  i32[2],\n  None,\n]\n"
