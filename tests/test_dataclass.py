"""The decorator: registration, static fields, construction, inheritance."""

import dataclasses
import inspect
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.tree_util import GetAttrKey

import pytreeclass as ptc


@ptc.pytree_dataclass
class Linear:
    weight: jax.Array
    bias: jax.Array
    activation: Callable = ptc.field(static=True, default=jax.nn.relu)


def make_linear():
    return Linear(jnp.ones((3, 4)), jnp.zeros(4))


# --- registration ---------------------------------------------------------


def test_decorated_class_keeps_identity_name_and_plain_metaclass():
    class Plain:
        x: int

    decorated = ptc.pytree_dataclass(Plain)
    assert decorated is Plain
    assert decorated.__name__ == "Plain"
    assert type(decorated) is type
    assert dataclasses.is_dataclass(decorated)


def test_data_fields_are_leaves_and_static_fields_live_in_treedef():
    layer = make_linear()
    leaves, treedef = jax.tree_util.tree_flatten(layer)
    assert len(leaves) == 2
    assert leaves[0] is layer.weight and leaves[1] is layer.bias
    other = Linear(jnp.ones((3, 4)), jnp.zeros(4), activation=jnp.tanh)
    assert jax.tree_util.tree_structure(other) != treedef


def test_key_paths_are_getattr_keys_in_field_order():
    paths = [path for path, _ in jax.tree_util.tree_flatten_with_path(make_linear())[0]]
    assert paths == [(GetAttrKey("weight"),), (GetAttrKey("bias"),)]


def test_jax_static_metadata_convention_is_honoured():
    @ptc.pytree_dataclass
    class Tagged:
        x: jax.Array
        tag: str = dataclasses.field(default="a", metadata={"static": True})

    leaves, treedef = jax.tree_util.tree_flatten(Tagged(jnp.ones(2)))
    assert len(leaves) == 1
    assert jax.tree_util.tree_unflatten(treedef, leaves).tag == "a"


def test_unflatten_roundtrip_gives_equal_fields():
    layer = make_linear()
    leaves, treedef = jax.tree_util.tree_flatten(layer)
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert type(rebuilt) is Linear
    assert rebuilt.weight is layer.weight and rebuilt.activation is jax.nn.relu


def test_existing_dataclass_can_be_decorated():
    @dataclasses.dataclass
    class Existing:
        x: jax.Array
        name: str = dataclasses.field(default="e", metadata={"static": True})

    decorated = ptc.pytree_dataclass(Existing)
    assert decorated is Existing
    obj = Existing(jnp.ones(2))
    obj.x = jnp.zeros(2)  # an existing dataclass keeps its own (mutable) options
    assert jax.tree_util.tree_leaves(obj)[0].sum() == 0


def test_existing_dataclass_rejects_new_options():
    @dataclasses.dataclass
    class Existing:
        x: int

    with pytest.raises(TypeError, match=r"Existing is already a dataclass.*frozen=True"):
        ptc.pytree_dataclass(frozen=True)(Existing)


def test_decorating_twice_is_an_error():
    with pytest.raises(TypeError, match="Linear is already a pytree dataclass"):
        ptc.pytree_dataclass(Linear)


def test_slots_are_rejected_with_the_class_name():
    class Slotted:
        __slots__ = ("x",)

    with pytest.raises(TypeError, match="Slotted defines __slots__"):
        ptc.pytree_dataclass(Slotted)


def test_decorating_a_non_class_is_an_error():
    with pytest.raises(TypeError, match="decorates classes"):
        ptc.pytree_dataclass(lambda: None)


# --- options ----------------------------------------------------------------


def test_frozen_by_default():
    layer = make_linear()
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.weight = jnp.zeros((3, 4))


def test_frozen_false_allows_assignment():
    @ptc.pytree_dataclass(frozen=False)
    class Mutable:
        x: int

    m = Mutable(1)
    m.x = 2
    assert m.x == 2


def test_kw_only_and_order_pass_through():
    @ptc.pytree_dataclass(kw_only=True, order=True)
    class Ordered:
        x: int

    with pytest.raises(TypeError):
        Ordered(1)
    assert Ordered(x=1) < Ordered(x=2)


def test_signature_is_the_user_facing_one():
    assert list(inspect.signature(Linear).parameters) == ["weight", "bias", "activation"]


# --- construction: __init__, __post_init__, init=False, converters -----------


POST_INIT_CALLS = []


@ptc.pytree_dataclass
class Validated:
    x: jax.Array = ptc.field(converter=jnp.asarray)
    doubled: jax.Array = ptc.field(init=False)

    def __post_init__(self):
        if jnp.ndim(self.x) != 1:
            raise ValueError("x must be a vector")
        POST_INIT_CALLS.append(self)
        object.__setattr__(self, "doubled", 2 * self.x)


def test_converter_runs_before_post_init_validation():
    v = Validated([1.0, 2.0])
    assert isinstance(v.x, jax.Array)
    np.testing.assert_allclose(v.doubled, [2.0, 4.0])


def test_post_init_validation_still_rejects_bad_input():
    with pytest.raises(ValueError, match="x must be a vector"):
        Validated(1.0)


def test_unflatten_does_not_rerun_post_init_or_converters():
    v = Validated([1.0, 2.0])
    leaves, treedef = jax.tree_util.tree_flatten(v)
    calls_before = len(POST_INIT_CALLS)
    rebuilt = jax.tree_util.tree_unflatten(treedef, [None] * len(leaves))
    assert rebuilt.x is None and rebuilt.doubled is None
    assert len(POST_INIT_CALLS) == calls_before


def test_init_false_field_is_a_child_and_survives_transforms():
    v = Validated([1.0, 2.0])
    out = jax.jit(lambda v: v)(v)
    np.testing.assert_allclose(out.doubled, [2.0, 4.0])
    batched = jax.vmap(lambda v: v)(Validated(jnp.ones(3)))
    assert batched.doubled.shape == (3,)
    grads = jax.grad(lambda v: jnp.sum(v.x * v.doubled))(v)
    np.testing.assert_allclose(grads.x, v.doubled)


def test_user_init_is_kept_and_bypassed_on_unflatten():
    @ptc.pytree_dataclass
    class Affine:
        w: jax.Array
        scale: float = ptc.field(static=True)

        def __init__(self, size: int, scale: float = 1.0):
            if size <= 0:
                raise ValueError("size must be positive")
            self.__dict__.update(w=jnp.ones(size), scale=scale)

    a = Affine(3, scale=2.0)
    out = jax.jit(lambda a: a)(a)
    assert out.scale == 2.0 and out.w.shape == (3,)
    with pytest.raises(ValueError, match="positive"):
        Affine(0)


def test_converter_with_user_init_applies_after_init():
    @ptc.pytree_dataclass
    class Holder:
        x: jax.Array = ptc.field(converter=jnp.asarray)

        def __init__(self, x):
            object.__setattr__(self, "x", x)

    assert isinstance(Holder([1.0]).x, jax.Array)


def test_converter_applies_to_defaults_and_factories():
    @ptc.pytree_dataclass
    class Defaults:
        a: jax.Array = ptc.field(converter=jnp.asarray, default=1.0)
        b: jax.Array = ptc.field(converter=jnp.asarray, default_factory=lambda: [1.0, 2.0])

    d = Defaults()
    assert isinstance(d.a, jax.Array) and isinstance(d.b, jax.Array)


def test_converter_must_be_callable():
    with pytest.raises(TypeError, match="converter"):
        ptc.field(converter=3)


def test_missing_constructor_argument_names_the_class():
    with pytest.raises(TypeError, match="Validated"):
        Validated()


def test_unset_field_is_reported_at_construction():
    @ptc.pytree_dataclass
    class Forgetful:
        x: int
        y: int = ptc.field(init=False)

    with pytest.raises(ValueError, match=r"Forgetful.__init__ did not set the field\(s\) 'y'"):
        Forgetful(1)


# --- static hashability ---------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [[1, 2], {"a": 1}, np.ones(2), jnp.ones(2)],
    ids=["list", "dict", "numpy", "jax"],
)
def test_unhashable_static_value_raises_at_construction(value):
    @ptc.pytree_dataclass
    class Config:
        x: jax.Array
        setting: object = ptc.field(static=True, default=None)

    with pytest.raises(TypeError, match=r"Config\.setting is a static field.*hashable"):
        Config(jnp.ones(1), setting=value)


# --- inheritance -------------------------------------------------------------------


def test_decorated_subclass_has_parent_fields_first():
    @ptc.pytree_dataclass
    class Named(Linear):
        name: str = ptc.field(static=True, default="layer")
        scale: jax.Array = dataclasses.field(default_factory=lambda: jnp.ones(()))

    n = Named(jnp.ones((3, 4)), jnp.zeros(4))
    paths = [p[0].name for p, _ in jax.tree_util.tree_flatten_with_path(n)[0]]
    assert paths == ["weight", "bias", "scale"]
    assert ptc.is_pytree_dataclass(Named)
    assert jax.jit(lambda n: n)(n).name == "layer"


def test_undecorated_subclass_is_an_error_naming_the_class():
    class Sneaky(Linear):
        pass

    assert not ptc.is_pytree_dataclass(Sneaky)
    with pytest.raises(TypeError, match=r"Sneaky subclasses the pytree dataclass Linear.*Add @"):
        Sneaky(jnp.ones((3, 4)), jnp.zeros(4))


def test_super_init_from_decorated_subclass_checks_once():
    @ptc.pytree_dataclass
    class Base:
        x: jax.Array = ptc.field(converter=jnp.asarray)

        def __init__(self, x):
            object.__setattr__(self, "x", x)

    @ptc.pytree_dataclass
    class Child(Base):
        y: int = ptc.field(static=True)

        def __init__(self, x, y):
            super().__init__(x)
            object.__setattr__(self, "y", y)

    c = Child([1.0], 2)
    assert isinstance(c.x, jax.Array) and c.y == 2
    assert jax.jit(lambda c: c)(c).y == 2


# --- fields / is_pytree_dataclass / replace ------------------------------------------


def test_fields_lists_user_fields_only():
    assert [f.name for f in ptc.fields(Linear)] == ["weight", "bias", "activation"]
    assert [f.name for f in ptc.fields(make_linear())] == ["weight", "bias", "activation"]


def test_fields_of_non_pytree_dataclass_is_an_error():
    with pytest.raises(TypeError, match=r"fields\(\) expects a pytree dataclass"):
        ptc.fields(int)


def test_is_pytree_dataclass():
    assert ptc.is_pytree_dataclass(Linear) and ptc.is_pytree_dataclass(make_linear())
    assert not ptc.is_pytree_dataclass(dataclasses.make_dataclass("D", ["x"]))
    assert not ptc.is_pytree_dataclass(3)


def test_replace_updates_frozen_instances_and_leaves_original():
    layer = make_linear()
    new = ptc.replace(layer, bias=jnp.ones(4))
    assert new.bias.sum() == 4 and layer.bias.sum() == 0
    assert new.weight is layer.weight


def test_replace_reruns_converters_and_recomputes_init_false_fields():
    v = Validated([1.0, 2.0])
    new = ptc.replace(v, x=[3.0, 4.0])
    assert isinstance(new.x, jax.Array)
    np.testing.assert_allclose(new.doubled, [6.0, 8.0])


def test_replace_of_an_init_false_field_points_to_tree_at():
    with pytest.raises(TypeError, match=r"Validated\.doubled is an init=False field.*tree_at"):
        ptc.replace(Validated([1.0]), doubled=jnp.zeros(1))


def test_replace_works_inside_jit():
    @jax.jit
    def bump(layer):
        return ptc.replace(layer, bias=layer.bias + 1)

    assert bump(make_linear()).bias.sum() == 4


def test_replace_unknown_field_is_an_error_listing_fields():
    with pytest.raises(TypeError, match=r"Linear has no field\(s\) 'biass'.*weight, bias"):
        ptc.replace(make_linear(), biass=1)


def test_replace_unhashable_static_is_an_error():
    with pytest.raises(TypeError, match=r"Linear\.activation is a static field"):
        ptc.replace(make_linear(), activation=[1])


def test_replace_on_non_pytree_is_an_error():
    with pytest.raises(TypeError, match=r"replace\(\) expects an instance of a pytree dataclass"):
        ptc.replace(3, x=1)


# --- repr ---------------------------------------------------------------------------


def test_repr_summarises_arrays():
    assert repr(make_linear()) == "Linear(weight=f32[3,4], bias=f32[4], activation=<function relu>)"


def test_repr_of_nested_model_is_laid_out_per_line():
    @ptc.pytree_dataclass
    class MLP:
        layers: tuple
        name: str = ptc.field(static=True, default="mlp")

    text = repr(MLP(tuple(make_linear() for _ in range(3))))
    assert text.startswith("MLP(\n  layers=(\n    Linear(weight=f32[3,4]")
    assert text.endswith("  name='mlp',\n)")


def test_repr_respects_field_repr_false_and_user_repr():
    @ptc.pytree_dataclass
    class Hidden:
        x: int
        secret: int = ptc.field(repr=False, default=0)

    @ptc.pytree_dataclass
    class Custom:
        x: int

        def __repr__(self):
            return "custom"

    assert repr(Hidden(1)) == "Hidden(x=1)"
    assert repr(Custom(1)) == "custom"


def test_repr_under_jit_shows_tracer_summaries():
    seen = []
    jax.jit(lambda layer: seen.append(repr(layer)))(make_linear())
    assert seen == ["Linear(weight=f32[3,4], bias=f32[4], activation=<function relu>)"]


def test_undecorated_subclass_with_its_own_init_is_an_error():
    class OwnInit(Linear):
        def __init__(self, size):
            object.__setattr__(self, "weight", jnp.ones((size, size)))

    with pytest.raises(TypeError, match=r"OwnInit subclasses the pytree dataclass Linear"):
        OwnInit(2)


def test_decorated_subclass_with_its_own_init_works():
    @ptc.pytree_dataclass
    class Square(Linear):
        def __init__(self, size):
            self.__dict__.update(weight=jnp.ones((size, size)), bias=jnp.zeros(size))
            self.__dict__["activation"] = jnp.tanh

    s = Square(2)
    assert str(inspect.signature(Square.__init__)) == "(self, size)"
    assert str(inspect.signature(Square)) == "(size)"
    assert jax.jit(lambda s: s)(s).activation is jnp.tanh


def test_user_init_subclass_hook_still_runs():
    seen = []

    @ptc.pytree_dataclass
    class Registry:
        x: int

        def __init_subclass__(cls, tag="", **kwargs):
            super().__init_subclass__(**kwargs)
            seen.append((cls.__name__, tag))

    @ptc.pytree_dataclass
    class Child(Registry, tag="child"):
        pass

    assert seen == [("Child", "child")]
    assert Child(1).x == 1


def test_subclass_of_a_mutable_base_defaults_to_mutable():
    @ptc.pytree_dataclass(frozen=False)
    class Base:
        x: int

    @ptc.pytree_dataclass
    class Child(Base):
        y: int = 0

    c = Child(1)
    c.y = 2
    assert jax.tree_util.tree_leaves(c) == [1, 2]


def test_dataclass_errors_name_the_class():
    @ptc.pytree_dataclass(frozen=False)
    class Loose:
        x: int

    with pytest.raises(TypeError, match=r"@pytree_dataclass on .*Tight: cannot inherit frozen"):

        @ptc.pytree_dataclass(frozen=True)
        class Tight(Loose):
            pass


def test_pickle_and_deepcopy_roundtrip_without_rerunning_init():
    import copy
    import pickle

    v = Validated([1.0, 2.0])
    calls_before = len(POST_INIT_CALLS)
    for clone in (pickle.loads(pickle.dumps(v)), copy.deepcopy(v)):
        assert type(clone) is Validated
        np.testing.assert_allclose(clone.doubled, v.doubled)
    assert len(POST_INIT_CALLS) == calls_before
    treedef = jax.tree_util.tree_structure(v)  # holds the hidden unflatten sentinel
    assert pickle.loads(pickle.dumps(treedef)) == treedef


def test_the_generated_init_checks_statics_without_reading_the_instance_dict():
    # Reading ``self.__dict__`` materialises it, which costs every later flatten of
    # the instance about 15 ns per node (docs/benchmarks.md): the static-hash check
    # reads the values the generated __init__ just stored, from its locals.
    @ptc.pytree_dataclass
    class Layer:
        weight: jax.Array
        activation: Callable = ptc.field(static=True, default=jnp.tanh)

    assert "__dict__" not in inspect.getsource(Layer.__init__)
    with pytest.raises(TypeError, match="activation"):
        Layer(jnp.ones(2), activation=[1])  # the check still runs
