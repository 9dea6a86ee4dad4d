"""The rebuild contract: JAX rebuilds instances without any ``__init__``.

Also the contract tests that catch a JAX change in how ``register_dataclass``
rebuilds (see ``pytreeclass/_rebuild.py``).
"""

import copy
import dataclasses
import functools
import inspect
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pytreeclass as ptc

TRANSFORMS = {
    "tree_map": lambda f, x: jax.tree_util.tree_map(lambda a: a, x),
    "jit": lambda f, x: jax.jit(f)(x),
    "vmap": lambda f, x: jax.vmap(f)(x),
    "grad": lambda f, x: jax.grad(lambda m: jnp.sum(f(m).x))(x),
    "filter_jit": lambda f, x: ptc.filter_jit(f)(x),
}


def counting(init):
    """A user decorator that wraps ``__init__``, as jaxtyping and beartype do."""

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        wrapper.calls += 1
        init(self, *args, **kwargs)

    wrapper.calls = 0
    return wrapper


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_a_wrapped_init_runs_only_for_the_users_own_construction(transform):
    @ptc.pytree_dataclass
    class Point:
        x: jax.Array

    Point.__init__ = counting(Point.__init__)
    point = Point(jnp.ones(3))
    TRANSFORMS[transform](lambda p: p, point)
    assert Point.__init__.calls == 1


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_a_class_with_its_own_new_survives_every_transform(transform):
    created = []

    @ptc.pytree_dataclass
    class Interned:
        x: jax.Array

        def __new__(cls, *args, **kwargs):
            created.append(cls)
            return super().__new__(cls)

    point = Interned(jnp.ones(3))
    out = TRANSFORMS[transform](lambda p: p, point)
    assert type(out) is Interned
    assert created == [Interned]  # the rebuild did not run the user's __new__


def test_rebuilt_instance_differs_from_the_original_only_in_its_leaves():
    @ptc.pytree_dataclass
    class Model:
        w: jax.Array
        name: str = ptc.field(static=True, default="m")
        scale: jax.Array = ptc.field(init=False)

        def __post_init__(self):
            object.__setattr__(self, "scale", 2 * self.w)

    model = Model(jnp.ones(2))
    rebuilt = jax.tree_util.tree_map(lambda x: x + 1, model)
    assert type(rebuilt) is Model
    assert vars(rebuilt).keys() == vars(model).keys() == {"w", "name", "scale"}
    assert rebuilt.name == "m"
    np.testing.assert_allclose(rebuilt.scale, 3.0)  # a leaf, not recomputed


def test_the_hidden_name_is_out_of_sight():
    @ptc.pytree_dataclass
    class Point:
        x: jax.Array
        y: jax.Array

    assert [f.name for f in dataclasses.fields(Point)] == ["x", "y"]
    assert [f.name for f in ptc.fields(Point)] == ["x", "y"]
    assert list(inspect.signature(Point.__init__).parameters) == ["self", "x", "y"]
    assert list(inspect.signature(Point).parameters) == ["x", "y"]
    assert Point.__match_args__ == ("x", "y")
    assert "_pytreeclass" not in repr(Point(1, 2))


def test_the_treedef_shows_a_marker_that_explains_itself():
    @ptc.pytree_dataclass
    class Point:
        x: jax.Array

    text = str(jax.tree_util.tree_structure(Point(jnp.ones(1))))
    assert "rebuild without __init__" in text
    assert "<pytreeclass>" not in text


def test_the_rebuilder_runs_no_init_subclass_hook():
    seen = []

    class Registry:
        def __init_subclass__(cls, **kwargs):
            super().__init_subclass__(**kwargs)
            seen.append(cls.__name__)

    @ptc.pytree_dataclass
    class Child(Registry):
        x: jax.Array

    @ptc.pytree_dataclass
    class GrandChild(Child):
        y: jax.Array = 0.0

    jax.jit(lambda c: c)(GrandChild(jnp.ones(1)))
    assert seen == ["Child", "GrandChild"]


def test_decorated_subclass_rebuilds_as_itself_with_parent_fields_first():
    post_inits = []

    @ptc.pytree_dataclass
    class Base:
        x: jax.Array

        def __post_init__(self):
            post_inits.append(type(self))

    @ptc.pytree_dataclass
    class Child(Base):
        y: jax.Array

    child = jax.jit(lambda c: c)(Child(jnp.ones(1), jnp.zeros(1)))
    assert type(child) is Child
    assert post_inits == [Child]
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(child)[0]]
    assert paths == [".x", ".y"]


# Pickling needs a class at module level.
@ptc.pytree_dataclass
class Pickled:
    x: jax.Array
    tag: str = ptc.field(static=True, default="t")


def test_pickle_and_copy_of_rebuilt_instances():
    rebuilt = jax.jit(lambda p: p)(Pickled(jnp.arange(3.0)))
    for clone in (pickle.loads(pickle.dumps(rebuilt)), copy.copy(rebuilt), copy.deepcopy(rebuilt)):
        assert type(clone) is Pickled and clone == rebuilt


# --- non-field attributes -------------------------------------------------------------


def test_an_attribute_that_is_not_a_field_raises_at_construction():
    @ptc.pytree_dataclass
    class Sloppy:
        x: jax.Array

        def __post_init__(self):
            object.__setattr__(self, "norm", jnp.linalg.norm(self.x))

    with pytest.raises(AttributeError, match=r"Sloppy.*'norm'.*not a field.*field\(init=False\)"):
        Sloppy(jnp.ones(2))


def test_cached_property_is_allowed_and_not_carried_into_rebuilds():
    calls = []

    @ptc.pytree_dataclass
    class Circle:
        r: jax.Array

        @functools.cached_property
        def area(self):
            calls.append(1)
            return jnp.pi * self.r**2

        def __post_init__(self):
            self.area  # noqa: B018 - warm the cache during construction

    circle = Circle(jnp.asarray(1.0))
    doubled = jax.tree_util.tree_map(lambda r: 2 * r, circle)
    assert "area" not in vars(doubled)
    np.testing.assert_allclose(doubled.area, 4 * jnp.pi, rtol=1e-6)
    assert len(calls) == 2


# --- replace ----------------------------------------------------------------------------


@ptc.pytree_dataclass
class Standardize:
    """The README's example."""

    mean: jax.Array = ptc.field(converter=jnp.asarray)
    std: jax.Array = ptc.field(converter=jnp.asarray)
    inv_std: jax.Array = ptc.field(init=False)

    def __post_init__(self):
        if jnp.any(self.std <= 0):
            raise ValueError("std must be positive")
        object.__setattr__(self, "inv_std", 1 / self.std)

    @functools.cached_property
    def variance(self):
        return self.std**2


def test_replace_recomputes_derived_fields():
    new = ptc.replace(Standardize([0.0], [1.0]), std=[4.0])
    np.testing.assert_allclose(new.inv_std, [0.25])


def test_replace_revalidates():
    with pytest.raises(ValueError, match="std must be positive"):
        ptc.replace(Standardize([0.0], [1.0]), std=[-1.0])


def test_replace_starts_with_empty_caches():
    norm = Standardize([0.0], [1.0])
    np.testing.assert_allclose(norm.variance, [1.0])
    new = ptc.replace(norm, std=[3.0])
    assert "variance" not in vars(new)
    np.testing.assert_allclose(new.variance, [9.0])


def test_replace_on_a_class_whose_init_does_not_take_its_fields_points_to_tree_at():
    @ptc.pytree_dataclass
    class Square:
        weight: jax.Array

        def __init__(self, size):
            object.__setattr__(self, "weight", jnp.ones((size, size)))

    with pytest.raises(TypeError, match=r"Square has a custom __init__.*tree_at"):
        ptc.replace(Square(2), weight=jnp.zeros((2, 2)))
    new = ptc.tree_at(lambda s: s.weight, Square(2), jnp.zeros((2, 2)))
    assert new.weight.sum() == 0


def test_replace_takes_init_vars_like_dataclasses_replace():
    @ptc.pytree_dataclass
    class Scaled:
        x: jax.Array = ptc.field(init=False)
        base: dataclasses.InitVar[float] = 1.0

        def __post_init__(self, base):
            object.__setattr__(self, "x", jnp.asarray(2 * base))

    assert float(ptc.replace(Scaled(), base=3.0).x) == 6.0


# --- equality -------------------------------------------------------------------------


def test_equality_compares_trees_and_gives_a_python_bool():
    a = Standardize([0.0, 1.0], [1.0, 2.0])
    assert (a == Standardize([0.0, 1.0], [1.0, 2.0])) is True
    assert (a == Standardize([0.0, 1.0], [1.0, 3.0])) is False
    assert (a == Standardize([0.0], [1.0])) is False  # other shapes
    assert (a != Standardize([0.0, 1.0], [1.0, 3.0])) is True
    assert a != "not a model"


def test_equality_under_jit_is_traced():
    a = Standardize([0.0, 1.0], [1.0, 2.0])
    assert bool(jax.jit(lambda x, y: x == y)(a, a))
    assert not bool(jax.jit(lambda x, y: x == y)(a, ptc.replace(a, std=[1.0, 3.0])))


# --- repr -----------------------------------------------------------------------------


def test_repr_of_an_undecorated_subclass_instance_does_not_recurse():
    @ptc.pytree_dataclass
    class Base:
        x: int

    class Undecorated(Base):
        pass

    obj = object.__new__(Undecorated)
    obj.__dict__["x"] = 1
    assert repr(obj) == "Undecorated(x=1)"


def test_undecorated_subclass_raises_at_construction_naming_itself():
    @ptc.pytree_dataclass
    class Base:
        x: int

    class Undecorated(Base):
        pass

    with pytest.raises(TypeError, match=r"Undecorated subclasses the pytree dataclass .*Base"):
        Undecorated(1)


# --- construction ----------------------------------------------------------------------


def test_construction_with_converters_does_not_bind_signatures(monkeypatch):
    def no_binding(*args, **kwargs):
        raise AssertionError("inspect.Signature.bind on the construction path")

    monkeypatch.setattr(inspect.Signature, "bind", no_binding)
    norm = Standardize(mean=[0.0], std=[2.0])
    assert isinstance(norm.mean, jax.Array)


def test_converted_parameters_keep_their_place_and_defaults():
    @ptc.pytree_dataclass
    class Mixed:
        a: jax.Array = ptc.field(converter=jnp.asarray)
        b: jax.Array = ptc.field(converter=jnp.asarray, default=2.0)
        c: tuple = ptc.field(converter=tuple, default_factory=list, kw_only=True)

    assert str(inspect.signature(Mixed)) == "(a: Any, b: Any = 2.0, *, c=<factory>) -> None"
    m = Mixed(1.0)
    assert isinstance(m.b, jax.Array) and m.c == ()
    assert Mixed(1.0, c=[1]).c == (1,)


def test_two_classes_with_the_same_fields_have_different_treedefs():
    # JAX 0.10 compares dataclass nodes by fields and metadata only; the per-class
    # marker keeps them apart, so no jit cache mixes them up (a fuzzer finding).
    def make(name):
        return ptc.pytree_dataclass(type(name, (), {"__annotations__": {"x": jax.Array}}))

    A, B = make("A"), make("B")
    assert jax.tree_util.tree_structure(A(1)) != jax.tree_util.tree_structure(B(1))
    assert not ptc.tree_equal(A(jnp.ones(1)), B(jnp.ones(1)))


def test_replace_on_a_custom_init_that_takes_the_fields_by_name():
    # A fuzzer finding: naming a field in replace() used to break the signature check.
    @ptc.pytree_dataclass
    class Keyword:
        x: jax.Array
        y: int = 0

        def __init__(self, **kwargs):
            object.__setattr__(self, "x", kwargs["x"])
            object.__setattr__(self, "y", kwargs.get("y", 0))

    assert ptc.replace(Keyword(x=jnp.ones(1)), y=3).y == 3
