"""Every class Python lets you write (SPEC v3): bases, field-less classes, any
field name, Equinox-style ``__init__``, ``__check_init__``, ``AbstractVar``,
converters exactly once, generated code that tracebacks can show."""

from __future__ import annotations

import abc
import collections.abc
import dataclasses
import inspect
import textwrap
import traceback
import types
import typing
from typing import ClassVar, Generic, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pytreeclass as ptc

T = TypeVar("T")

TRANSFORMS = {
    "tree_map": lambda x: jax.tree_util.tree_map(lambda a: a, x),
    "jit": lambda x: jax.jit(lambda m: m)(x),
    "vmap": lambda x: jax.vmap(lambda m: m)(jax.tree_util.tree_map(lambda a: a[None], x)),
    "grad": lambda x: jax.grad(lambda m: jnp.sum(m.x))(x),
    "filter_jit": lambda x: ptc.filter_jit(lambda m: m)(x),
}


class Describes(typing.Protocol):
    def describe(self) -> str: ...


class SlotsMixin:
    __slots__ = ()


class CountingMeta(type):
    created: ClassVar[list[str]] = []

    def __new__(mcs, name, bases, namespace, **kwargs):
        CountingMeta.created.append(name)
        return super().__new__(mcs, name, bases, namespace, **kwargs)


def _abstract_base():
    class Base(abc.ABC):
        @abc.abstractmethod
        def describe(self) -> str: ...

    return Base


BASES = {
    "abc.ABC": lambda: (_abstract_base(),),
    "Generic[T]": lambda: (Generic[T],),
    "Protocol": lambda: (Describes,),
    "Hashable": lambda: (collections.abc.Hashable,),
    "Sequence": lambda: (collections.abc.Sequence,),
    "__slots__ = () mixin": lambda: (SlotsMixin,),
}


def _model_with(bases):
    namespace = {
        "__annotations__": {"x": jax.Array},
        "describe": lambda self: "model",
        "__len__": lambda self: 1,
        "__getitem__": lambda self, i: self.x,
        "__hash__": lambda self: 0,
    }
    return ptc.pytree_dataclass(
        types.new_class("Model", bases, {}, lambda ns: ns.update(namespace))
    )


# --- 1. bases -------------------------------------------------------------------------


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("base", BASES)
def test_a_class_with_any_base_survives_every_transform(base, transform):
    Model = _model_with(BASES[base]())
    model = Model(jnp.ones(2))
    out = TRANSFORMS[transform](model)
    assert type(out) is Model
    checkable = [b for b in Model.__mro__ if b not in (typing.Protocol, typing.Generic, Describes)]
    assert all(isinstance(out, b) for b in checkable)
    assert vars(out).keys() == vars(model).keys() == {"x"}


def test_a_generic_class_builds_subscripted_and_rebuilds():
    @ptc.pytree_dataclass
    class Box(Generic[T]):
        item: T

    box = Box[int](jnp.ones(1))
    assert type(jax.jit(lambda b: b)(box)) is Box
    assert Box.__parameters__ == (T,)


def test_an_abstract_decorated_class_still_refuses_instantiation():
    @ptc.pytree_dataclass
    class AbstractLayer(abc.ABC):
        @abc.abstractmethod
        def __call__(self, x): ...

    @ptc.pytree_dataclass
    class Identity(AbstractLayer):
        def __call__(self, x):
            return x

    with pytest.raises(TypeError, match="abstract"):
        AbstractLayer()
    assert isinstance(jax.jit(lambda m: m)(Identity()), AbstractLayer)


def test_a_custom_metaclass_creates_no_class_for_decoration_or_rebuilds():
    CountingMeta.created.clear()

    @ptc.pytree_dataclass
    class Model(metaclass=CountingMeta):
        x: jax.Array

    jax.jit(lambda m: m)(Model(jnp.ones(1)))
    jax.tree_util.tree_map(lambda a: a, Model(jnp.ones(1)))
    assert CountingMeta.created == ["Model"]
    assert type(Model) is CountingMeta


def test_the_class_keeps_its_own_init_subclass_hook():
    seen = []

    @ptc.pytree_dataclass
    class Registry:
        def __init_subclass__(cls, **kwargs):
            super().__init_subclass__(**kwargs)
            seen.append(cls.__name__)

    @ptc.pytree_dataclass
    class Child(Registry):
        x: int = 0

    assert seen == ["Child"] and "__init_subclass__" in Registry.__dict__
    assert "__init_subclass__" not in Child.__dict__


# --- 2. no fields ---------------------------------------------------------------------


def test_a_field_less_layer_and_its_subclass_work_under_transforms():
    @ptc.pytree_dataclass
    class ReLU:
        def __call__(self, x):
            return jax.nn.relu(x)

    @ptc.pytree_dataclass
    class LeakyReLU(ReLU):
        slope: float = ptc.field(static=True, default=0.1)

        def __call__(self, x):
            return jnp.where(x > 0, x, self.slope * x)

    x = jnp.array([-1.0, 2.0])
    np.testing.assert_allclose(ptc.filter_jit(lambda m, x: m(x))(ReLU(), x), [0.0, 2.0])
    np.testing.assert_allclose(jax.jit(lambda m, x: m(x))(LeakyReLU(), x), [-0.1, 2.0])
    assert jax.tree_util.tree_leaves(ReLU()) == []
    assert repr(ReLU()) == "ReLU()" and ReLU() == ReLU()


# --- 3. any field name ----------------------------------------------------------------

SHADOWING = ("type", "hash", "cls", "self", "object", "id", "_ptc_d", "_ptc_outermost", "kwargs")


def test_fields_may_shadow_builtins_and_the_generated_codes_names():
    namespace = {"__annotations__": dict.fromkeys(SHADOWING, typing.Any)}
    namespace["type"] = ptc.field(static=True)
    namespace["hash"] = ptc.field(converter=jnp.asarray)
    Model = ptc.pytree_dataclass(type("Model", (), namespace))
    values = dict(zip(SHADOWING, range(len(SHADOWING)), strict=True))
    model = Model(**values)
    assert {name: int(getattr(model, name)) for name in SHADOWING} == values
    assert isinstance(model.hash, jax.Array)
    assert list(inspect.signature(Model).parameters) == list(SHADOWING)
    assert type(jax.jit(lambda m: m)(model)) is Model


def test_shadowing_names_work_under_a_hand_written_init_too():
    @ptc.pytree_dataclass
    class Model:
        type: str = ptc.field(static=True)
        cls: jax.Array = ptc.field(converter=jnp.asarray)

        def __init__(self, type, cls):  # noqa: A002 - the point of the test
            self.type = type
            self.cls = cls

    model = Model("dense", [1.0])
    assert model.type == "dense" and isinstance(model.cls, jax.Array)


# --- 4. inherited __init__ ------------------------------------------------------------


def test_a_subclass_without_init_inherits_its_parents_custom_init():
    @ptc.pytree_dataclass
    class MLP:
        hidden: int = ptc.field(static=True)
        weight: jax.Array

        def __init__(self, hidden):
            self.hidden = hidden
            self.weight = jnp.ones(hidden)

    @ptc.pytree_dataclass
    class Reversed(MLP):
        def __call__(self, x):
            return (self.weight * x)[::-1]

    model = Reversed(hidden=3)
    assert model.weight.shape == (3,)
    assert inspect.signature(Reversed) == inspect.signature(MLP)
    assert type(jax.jit(lambda m: m)(model)) is Reversed


def test_init_true_asks_for_a_generated_init_over_an_inherited_one():
    @ptc.pytree_dataclass
    class Base:
        x: int

        def __init__(self):
            self.x = 0

    @ptc.pytree_dataclass(init=True)
    class Child(Base):
        y: int = 1

    assert Child(5, 6) == Child(x=5, y=6)


def test_a_subclass_of_a_generated_init_gets_a_generated_init():
    @ptc.pytree_dataclass
    class Base:
        x: int

    @ptc.pytree_dataclass
    class Child(Base):
        y: int

    assert list(inspect.signature(Child).parameters) == ["x", "y"]


# --- 5. assignment during construction --------------------------------------------------


@ptc.pytree_dataclass
class Linear:
    weight: jax.Array
    bias: jax.Array
    norm: jax.Array = ptc.field(init=False)

    def __init__(self, size):
        self.weight = jnp.ones((size, size))
        self.bias = jnp.zeros(size)

    def __post_init__(self):  # not called by a hand-written __init__: the call below is
        raise AssertionError("unreachable")

    def finish(self):
        self.norm = jnp.linalg.norm(self.weight)


def test_self_assignment_in_init_sets_fields_of_a_frozen_class():
    @ptc.pytree_dataclass
    class Layer:
        weight: jax.Array
        scale: jax.Array = ptc.field(init=False)

        def __init__(self, size):
            self.weight = jnp.ones(size)
            self.__post_init__()

        def __post_init__(self):
            self.scale = 2 * self.weight

    layer = Layer(3)
    np.testing.assert_allclose(layer.scale, [2.0, 2.0, 2.0])
    with pytest.raises(dataclasses.FrozenInstanceError, match=r"weight.*Layer is frozen.*replace"):
        layer.weight = jnp.zeros(3)
    assert type(jax.jit(lambda m: m)(layer)) is Layer


def test_self_assignment_in_post_init_of_a_generated_init():
    @ptc.pytree_dataclass
    class Standardize:
        std: jax.Array
        inv_std: jax.Array = ptc.field(init=False)

        def __post_init__(self):
            self.inv_std = 1 / self.std

    np.testing.assert_allclose(Standardize(jnp.asarray(4.0)).inv_std, 0.25)


def test_assigning_a_name_that_is_not_a_field_raises_naming_it():
    @ptc.pytree_dataclass
    class Sloppy:
        x: jax.Array

        def __init__(self, x):
            self.x = x
            self.norm = jnp.linalg.norm(x)

    with pytest.raises(
        dataclasses.FrozenInstanceError, match=r"Sloppy.*'norm'.*not a field.*field\(init=False\)"
    ):
        Sloppy(jnp.ones(2))


def test_assignment_through_super_init_chains():
    @ptc.pytree_dataclass
    class Base:
        x: jax.Array

        def __init__(self, x):
            self.x = x

    @ptc.pytree_dataclass
    class Child(Base):
        y: jax.Array

        def __init__(self, x, y):
            super().__init__(x)
            self.y = y

    child = Child(jnp.ones(1), jnp.zeros(1))
    assert vars(child).keys() == {"x", "y"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        child.y = 1


def test_a_failed_construction_leaves_nothing_under_construction():
    from pytreeclass._checks import UNDER_CONSTRUCTION

    @ptc.pytree_dataclass
    class Failing:
        x: int

        def __init__(self, x):
            self.x = x
            raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        Failing(1)
    assert not UNDER_CONSTRUCTION


# --- 6. __check_init__ and AbstractVar ------------------------------------------------


def test_check_init_runs_for_every_class_of_the_mro_once_and_never_on_rebuild():
    calls = []

    @ptc.pytree_dataclass
    class Base:
        x: jax.Array

        def __check_init__(self):
            calls.append("Base")
            if jnp.any(self.x < 0):
                raise ValueError("x must be >= 0")

    @ptc.pytree_dataclass
    class Child(Base):
        y: jax.Array = ptc.field(converter=jnp.asarray, default=1.0)

        def __check_init__(self):
            calls.append("Child")
            assert isinstance(self.y, jax.Array)  # converters ran before

    child = Child(jnp.ones(1))
    assert calls == ["Child", "Base"]
    for transform in TRANSFORMS.values():
        transform(child)
    ptc.tree_at(lambda c: c.x, child, -jnp.ones(1))
    assert calls == ["Child", "Base"]
    with pytest.raises(ValueError, match="x must be >= 0"):
        Child(-jnp.ones(1))
    with pytest.raises(ValueError, match="x must be >= 0"):
        ptc.replace(child, x=-jnp.ones(1))


def test_check_init_sees_a_frozen_instance():
    @ptc.pytree_dataclass
    class Model:
        x: int

        def __check_init__(self):
            self.x = 2

    with pytest.raises(dataclasses.FrozenInstanceError):
        Model(1)


def test_abstract_vars_are_not_fields_and_concrete_subclasses_provide_them():
    @ptc.pytree_dataclass
    class AbstractSolver:
        order: ptc.AbstractVar[int]
        name: ptc.AbstractClassVar[str]
        tol: float = 1e-3

    @ptc.pytree_dataclass
    class Euler(AbstractSolver):
        order: int = 1  # a field, after an inherited default: no field-order error
        name: ClassVar[str] = "euler"

    @ptc.pytree_dataclass
    class Heun(AbstractSolver):
        name: ClassVar[str] = "heun"

        @property
        def order(self):
            return 2

    assert [f.name for f in ptc.fields(AbstractSolver)] == ["tol"]
    assert [f.name for f in ptc.fields(Euler)] == ["tol", "order"]
    assert Euler().order == 1 and Heun().order == 2 and Heun.name == "heun"
    with pytest.raises(TypeError, match=r"abstract class AbstractSolver.*'name', 'order'"):
        AbstractSolver()


def test_an_unprovided_abstract_class_var_refuses_construction_naming_it():
    @ptc.pytree_dataclass
    class Base:
        name: ptc.AbstractClassVar[str]

    @ptc.pytree_dataclass
    class Forgot(Base):
        x: int = 0

    with pytest.raises(TypeError, match=r"abstract class Forgot.*'name'"):
        Forgot()


def test_an_abstract_var_with_a_value_is_refused_at_decoration():
    with pytest.raises(TypeError, match=r"Base.x is declared abstract but also given a value"):

        @ptc.pytree_dataclass
        class Base:
            x: ptc.AbstractVar[int] = 1


def test_abstract_vars_work_as_string_annotations():
    # This module has ``from __future__ import annotations``: every annotation is a string.
    @ptc.pytree_dataclass
    class Base:
        size: ptc.AbstractVar[int]

    @ptc.pytree_dataclass
    class Concrete(Base):
        size: int

    with pytest.raises(TypeError, match="'size'"):
        Base()
    assert Concrete(3).size == 3


def test_an_unsubscripted_abstract_var_says_what_to_write():
    with pytest.raises(TypeError, match=r"AbstractVar\[int\]"):

        @ptc.pytree_dataclass
        class Base:
            x: ptc.AbstractVar  # type: ignore[type-arg]


# --- 7. converters exactly once ---------------------------------------------------------


def _plus_one(value):
    return value + 1


def test_an_init_false_factory_field_converts_once():
    @ptc.pytree_dataclass
    class Model:
        x: int = ptc.field(init=False, default_factory=lambda: 10, converter=_plus_one)

    assert Model().x == 11


def test_a_super_init_chain_converts_once():
    @ptc.pytree_dataclass
    class Base:
        x: int = ptc.field(converter=_plus_one)

    @ptc.pytree_dataclass
    class Child(Base):
        def __init__(self, x):
            super().__init__(x)

    @ptc.pytree_dataclass
    class GrandChild(Child):
        y: int = ptc.field(converter=_plus_one, default=0)

        def __init__(self, x, y):
            super().__init__(x)
            self.y = y

    assert Child(1).x == 2
    assert (GrandChild(1, 1).x, GrandChild(1, 1).y) == (2, 2)
    assert Base(1).x == 2


def test_an_inherited_init_converts_once():
    @ptc.pytree_dataclass
    class Base:
        x: int = ptc.field(converter=_plus_one)

        def __init__(self, x):
            self.x = x

    @ptc.pytree_dataclass
    class Child(Base):
        pass

    assert Child(1).x == 2


# --- 8. generated code in tracebacks ----------------------------------------------------


def test_tracebacks_show_the_generated_inits_source():
    def refuse(value):
        raise ValueError("bad value")

    @ptc.pytree_dataclass
    class Model:
        x: int = ptc.field(converter=refuse)

    with pytest.raises(ValueError, match="bad value") as info:
        Model(1)
    frames = [f for f in traceback.extract_tb(info.tb) if "pytreeclass generated" in f.filename]
    assert len(frames) == 1
    assert "test_classes.test_tracebacks_show_the_generated_inits_source.<locals>.Model #" in (
        frames[0].filename
    )
    assert "(x)" in frames[0].line and "convert" in frames[0].line
    assert inspect.getsource(Model.__init__).startswith("    def __init__(self, x")


# --- found in review ----------------------------------------------------------------------


def test_a_subclass_of_a_decorated_plain_dataclass_gets_a_generated_init():
    @ptc.pytree_dataclass
    @dataclasses.dataclass(frozen=True)
    class A:
        x: int

    @ptc.pytree_dataclass
    class B(A):
        y: int = 0

    assert B(1, 2) == B(x=1, y=2)


def test_a_subclass_of_an_init_false_base_gets_a_generated_init():
    @ptc.pytree_dataclass(init=False)
    class Base:
        x: int = 0

    @ptc.pytree_dataclass
    class Sub(Base):
        y: int = 0

    assert vars(Sub(y=1)) == {"x": 0, "y": 1}


def test_a_protocol_before_the_base_with_an_init_does_not_hide_it():
    class HasInit:
        def __init__(self, v):
            self.x = v * 2

    @ptc.pytree_dataclass
    class H(Describes, HasInit):
        x: int

        def describe(self):
            return "h"

    assert H(3).x == 6


def test_a_concrete_subclass_with_its_own_new_of_an_abstract_base():
    @ptc.pytree_dataclass
    class Abstract:
        w: ptc.AbstractVar[int]

    @ptc.pytree_dataclass
    class Concrete(Abstract):
        w: int

        def __new__(cls, *args, **kwargs):
            return super().__new__(cls)

    assert Concrete(1).w == 1


def test_a_parents_own_new_still_runs_for_a_decorated_subclass():
    created = []

    @ptc.pytree_dataclass
    class Parent:
        x: int

        def __new__(cls, *args, **kwargs):
            created.append(cls.__name__)
            return super().__new__(cls)

    @ptc.pytree_dataclass
    class Child(Parent):
        pass

    Child(1)
    assert created == ["Child"]


def test_a_redeclared_field_converts_with_its_own_converter_once():
    @ptc.pytree_dataclass
    class Base:
        x: int = ptc.field(converter=int)

    @ptc.pytree_dataclass
    class Plain(Base):
        x: float = 0.0  # no converter any more

        def __init__(self, x):
            super().__init__(x)

    @ptc.pytree_dataclass
    class Scaled(Base):
        x: float = ptc.field(converter=lambda v: v * 10, default=0.0)

        def __init__(self, x):
            super().__init__(x)

    assert Plain(2.5).x == 2 and vars(Plain(2.5)).keys() == {"x"}
    assert Scaled(2.5).x == 20  # the base's int, then the subclass's own converter


def test_calling_a_base_init_on_a_built_instance_leaves_no_bookkeeping():
    @ptc.pytree_dataclass(frozen=False)
    class Base:
        x: int = ptc.field(converter=int)

    @ptc.pytree_dataclass(frozen=False)
    class Sub(Base):
        y: int = 0

        def __init__(self, x, y):
            super().__init__(x)
            self.y = y

    built = Sub(1.5, 2)
    Base.__init__(built, 5)
    assert vars(built) == {"x": 5, "y": 2}


def test_abc_caches_of_a_class_are_not_shared_with_its_rebuilder():
    @ptc.pytree_dataclass
    class Impl(_abstract_base()):
        x: int = 0

        def describe(self):
            return "impl"

    @ptc.pytree_dataclass
    class Sub(Impl):
        y: int = 0

    for klass in Impl.__subclasses__():
        issubclass(Sub, klass)
    assert isinstance(Sub(), Impl) and issubclass(Sub, Impl)


def test_an_init_wrapped_without_functools_wraps_is_still_outermost():
    def logged(init):
        def wrapper(*args, **kwargs):
            return init(*args, **kwargs)

        return wrapper

    checked = []

    @ptc.pytree_dataclass
    class G:
        x: int = ptc.field(converter=int)

        @logged
        def __init__(self, x):
            self.x = x

        def __check_init__(self):
            checked.append(self.x)

    assert G(2.5).x == 2 and checked == [2]


def test_a_reentrant_init_keeps_the_instance_assignable_until_it_returns():
    @ptc.pytree_dataclass
    class Twice:
        x: int
        y: int

        def __init__(self, x, again=True):
            self.x = x
            if again:
                self.__init__(x, again=False)
            self.y = 5

    assert vars(Twice(1)) == {"x": 1, "y": 5}


def test_classes_written_in_exec_code_keep_their_hand_written_methods():
    # Code run by exec or python -c has the file name "<string>", as dataclasses'
    # generated methods do: telling them apart must not rest on the file name.
    source = textwrap.dedent(
        """
        import dataclasses
        import jax.numpy as jnp
        import pytreeclass as ptc

        @ptc.pytree_dataclass
        class Dense:
            weight: object
            size: int = ptc.field(static=True)

            def __init__(self, size):
                self.size = size
                self.weight = jnp.ones(size)

        @ptc.pytree_dataclass
        class Residual(Dense):
            pass

        @ptc.pytree_dataclass
        @dataclasses.dataclass(frozen=True)
        class Always:
            x: int

            def __eq__(self, other):
                return True
        """
    )
    namespace: dict = {}
    exec(compile(source, "<string>", "exec"), namespace)
    assert namespace["Residual"](3).weight.shape == (3,)
    assert namespace["Always"](1) == namespace["Always"](2)
