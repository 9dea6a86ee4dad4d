"""Hypothesis strategies that write whole pytree dataclass *definitions*.

In the spirit of attrs's ``tests/strategies.py``: the decorator is most likely
to break on the shape of a class, so these vary the shape, not only values:

- fields: how many (none too: stateless layers and their subclasses); static
  or not; jaxtyping-annotated arrays (``Float[Array, "a b"]``, ``Key[Array, ""]``,
  ``Int[np.ndarray, "*batch a"]``, ...: a family, an array type, a shape spec);
  ``init=False`` fields computed in ``__post_init__``; ``kw_only``;
  defaults and factories; converters (which count their calls); names drawn
  to include builtins and the generated code's own locals (``type``,
  ``hash``, ``cls``, ``self``, ``_ptc_d``, ...); non-array leaves (str, int,
  float, None, callables); nesting of other generated classes;
- bases: ``abc.ABC`` (a decorated, field-less abstract base with an abstract
  method and an ``AbstractVar``), ``typing.Generic[T]`` (built subscripted,
  ``cls[int](...)``, half the time), ``typing.Protocol``,
  ``collections.abc.Hashable`` and ``Sequence``, a ``__slots__ = ()`` mixin,
  a custom metaclass that counts the classes it creates;
- ``__init__``: generated; hand-written storing with ``object.__setattr__``;
  hand-written assigning ``self.x = ...``; calling ``super().__init__``;
  inherited from a parent's hand-written one; ``__post_init__`` validation and
  assignment; ``__check_init__``; decorated inheritance 1 to 3 levels deep.

``class_and_instances()`` draws a ``Generated``: the class, a plan of what it
should do, and an instance built through the class's own ``__init__``.
``EVENTS`` records every ``__init__``, ``__post_init__``, ``__check_init__`` and
converter call, so tests can say what ran and how often.
"""

from __future__ import annotations

import abc
import collections.abc
import dataclasses
import functools
import itertools
import types
import typing
from typing import Any

import jax
import jax.numpy as jnp
import jaxtyping
import numpy as np
from hypothesis import strategies as st

import pytreeclass as ptc

ARRAY_KINDS = ("f32", "i32", "bf16")
LEAF_KINDS = ("int", "float", "str", "none", "callable", "jaxtyping")
STATIC_KINDS = ("int", "float", "str", "none", "callable")
CALLABLES = (jnp.tanh, jax.nn.relu, abs)
DTYPES = {"f32": jnp.float32, "i32": jnp.int32, "bf16": jnp.bfloat16}
#: jaxtyping annotations: a dtype family, the dtype the fuzzer's own values have, and
#: shape specs with every kind of dimension; the fuzzer's values give each name the
#: size in JT_SIZES (so all fields agree), ``instances()`` draws its own. An
#: ``init=False`` field's value comes from the class, which ``instances()`` cannot
#: draw, so it takes dims whose sizes no other field can contradict (JT_FIXED_DIMS);
#: found by the thorough profile (``a`` of 2 in ``__post_init__``, 1 drawn elsewhere).
JT_FAMILIES = {
    "Float": jnp.bfloat16, "Int": jnp.int32, "Bool": jnp.bool_, "Key": "key", "Shaped": jnp.float32,
}  # fmt: skip
JT_DIMS = ("", "a", "a b", "*batch a", "#a b", "_ 2", "... a", "a a+1", "*#batch", "rows=2")
JT_FIXED_DIMS = ("", "_ 2", "...", "rows=2")
JT_SIZES = {"a": (2,), "b": (3,), "*batch": (2,), "#a": (2,), "_": (4,), "...": (), "a+1": (3,)}
JT_SIZES |= {"*#batch": (1,), "2": (2,), "rows=2": (2,)}
#: Field names that collide with builtins or with the generated code's own names.
SHADOWING_NAMES = (
    "type", "hash", "cls", "self", "object", "id", "setattr", "kwargs", "_ptc_d",
    "_ptc_outermost", "_ptc_key", "_ptc_converted", "_ptc_done", "_ptc_type", "_ptc_cls",
    "_ptc_registry", "_ptc_init", "_ptc_hash", "_ptc_check", "_ptc_setattr",
)  # fmt: skip
BASES = ("none", "abc", "generic", "protocol", "hashable", "sequence", "slots", "metaclass")
INITS = ("generated", "custom", "assigning", "super", "inherited")
CUSTOM_INITS = ("custom", "assigning", "super")
_names = itertools.count()
T = typing.TypeVar("T")

#: (what ran, the class that defines it, the instance's class) for every call
#: of a generated class's ``__init__``, ``__post_init__`` and ``__check_init__``;
#: ("convert", field plan id, "") for every converter call.
EVENTS: list[tuple[str, Any, str]] = []
PLANS: dict[type, ClassPlan] = {}


# The generated classes' methods reach the module's state through these functions,
# which pickle by name: cloudpickle sends those methods by value, with every global
# they name, and PLANS and EVENTS grow with the run.
def record(event: tuple[str, Any, str]) -> None:
    EVENTS.append(event)


def plan_of(cls: type) -> ClassPlan:
    return PLANS[cls]


# --- bases --------------------------------------------------------------------------


@functools.cache
def abstract_module() -> type:
    """A decorated, field-less abstract base, as Equinox programs write them (made
    on first use, so that a decorator that cannot make it fails one test, not all)."""

    @ptc.pytree_dataclass
    class AbstractModule(abc.ABC):
        kind: ptc.AbstractVar[str]

        @abc.abstractmethod
        def describe(self) -> str: ...

    return AbstractModule


@typing.runtime_checkable
class Describes(typing.Protocol):
    def describe(self) -> str: ...


class SlotsMixin:
    __slots__ = ()

    def describe(self) -> str:
        return "slots"


class CountingMeta(type):
    """A metaclass that counts the classes it creates (rebuilds must create none)."""

    created = 0

    def __new__(mcs, name, bases, namespace, **kwargs):
        CountingMeta.created += 1
        return super().__new__(mcs, name, bases, namespace, **kwargs)


def _sequence_methods() -> dict[str, Any]:
    def __len__(self: Any) -> int:
        return len(ptc.fields(self))

    def __getitem__(self: Any, i: int) -> Any:
        return getattr(self, ptc.fields(self)[i].name)

    return {"__len__": __len__, "__getitem__": __getitem__}


# --- plans --------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class FieldPlan:
    name: str
    kind: str  # an ARRAY_KINDS or LEAF_KINDS entry, or "nested"
    static: bool
    init: bool
    kw_only: bool
    default: str  # "none", "value" or "factory"
    converter: bool
    nested: ClassPlan | None = None
    annotation: Any = None  # the jaxtyping annotation of a "jaxtyping" field
    dims: str = ""


@dataclasses.dataclass(eq=False)
class ClassPlan:
    fields: list[FieldPlan]  # this class's own fields
    init: str  # an INITS entry, as drawn
    validates: bool
    post_init_assigns: bool  # ``self.x = ...`` in __post_init__, else object.__setattr__
    check_init: bool
    base: str  # a BASES entry (the root class's; subclasses inherit it)
    parent: ClassPlan | None = None
    cls: Any = None  # filled in by ``build``

    def all_fields(self) -> list[FieldPlan]:
        inherited = self.parent.all_fields() if self.parent else []
        own = {f.name for f in self.fields}
        return [f for f in inherited if f.name not in own] + self.fields

    def effective_init(self) -> str:
        """What construction runs: "generated" or the hand-written style in force."""
        if self.init == "inherited":
            parent = self.parent.effective_init() if self.parent else "generated"
            return parent if parent in CUSTOM_INITS else "generated"
        if self.init == "super" and self.parent is None:
            return "assigning"
        return self.init

    def chain(self) -> list[ClassPlan]:
        return [self, *(self.parent.chain() if self.parent else [])]


@st.composite
def field_plans(draw: st.DrawFn, depth: int, taken: set[str]) -> FieldPlan:
    static = draw(st.booleans())
    kinds = (
        STATIC_KINDS if static else ARRAY_KINDS + LEAF_KINDS + (("nested",) if depth < 2 else ())
    )
    kind = draw(st.sampled_from(kinds))
    nested = draw(class_plans(depth + 1)) if kind == "nested" else None
    family = dims = array_type = None
    if kind == "jaxtyping":
        family = draw(st.sampled_from(sorted(JT_FAMILIES)))
        on_numpy = family != "Key" and draw(st.booleans())
        dims = draw(st.sampled_from(JT_DIMS))
        array_type = np.ndarray if on_numpy else jax.Array
    name = draw(st.sampled_from((*SHADOWING_NAMES, "fresh")))
    if name == "fresh" or name in taken:
        name = f"f{next(_names)}"
    taken.add(name)
    init = draw(st.booleans()) if kind != "nested" else True
    annotation = None
    if kind == "jaxtyping":
        if not init:  # mapped, not drawn again: the draws (and the corpus) stay as they were
            dims = JT_FIXED_DIMS[JT_DIMS.index(dims) % len(JT_FIXED_DIMS)]
        annotation = getattr(jaxtyping, family)[array_type, dims]
    return FieldPlan(
        name=name,
        kind=kind,
        static=static,
        init=init,
        kw_only=draw(st.booleans()),
        default=draw(st.sampled_from(["none", "value", "factory"])),
        converter=kind in ARRAY_KINDS and draw(st.booleans()),
        nested=nested,
        annotation=annotation,
        dims=dims or "",
    )


@st.composite
def class_plans(draw: st.DrawFn, depth: int = 0) -> ClassPlan:
    levels = draw(st.integers(1, 3)) if depth == 0 else 1
    base = draw(st.sampled_from(BASES))
    plan, taken = None, set()
    for _ in range(levels):
        plan = ClassPlan(
            fields=draw(st.lists(field_plans(depth, taken), max_size=4)),
            init=draw(st.sampled_from(INITS)),
            validates=draw(st.booleans()),
            post_init_assigns=draw(st.booleans()),
            check_init=draw(st.booleans()),
            base=base,
            parent=plan,
        )
        _order_fields(plan)
        build(plan)
    assert plan is not None
    return plan


def _order_fields(plan: ClassPlan) -> None:
    """Dataclasses forbid a positional field without default after one with: make
    such fields keyword-only (that is what a user would do)."""
    seen_default = False
    for f in plan.all_fields():
        if not f.init or f.kw_only:
            continue
        if f.default != "none":
            seen_default = True
        elif seen_default:
            f.kw_only = True


# --- classes ------------------------------------------------------------------------


def build(plan: ClassPlan) -> type:
    """Define the class a plan describes, decorated with ``pytree_dataclass``."""
    annotations, namespace = {}, {}
    for f in plan.fields:
        annotations[f.name] = annotation_of(f)
        namespace[f.name] = _field(f)
    namespace["__annotations__"] = annotations
    namespace["__module__"] = __name__
    namespace["__post_init__"] = _post_init(plan)
    if plan.init in CUSTOM_INITS:
        namespace["__init__"] = _custom_init(plan)
    if plan.check_init:
        namespace["__check_init__"] = _check_init(plan)
    bases = _bases(plan, namespace)
    keywords = {"metaclass": CountingMeta} if plan.base == "metaclass" and not plan.parent else {}
    decorate = ptc.pytree_dataclass
    if plan.init == "generated" and plan.parent and plan.parent.effective_init() != "generated":
        decorate = ptc.pytree_dataclass(init=True)  # ask for a generated one over a custom one
    name = f"Generated{next(_names)}"
    plan.cls = decorate(types.new_class(name, bases, keywords, lambda ns: ns.update(namespace)))
    PLANS[plan.cls] = plan
    return plan.cls


def _bases(plan: ClassPlan, namespace: dict[str, Any]) -> tuple[Any, ...]:
    if plan.parent:
        return (plan.parent.cls,)
    if plan.base in ("abc", "protocol"):
        namespace["describe"] = lambda self: plan.base
        namespace["kind"] = "generated"  # provides AbstractModule.kind
    if plan.base == "abc":
        return (abstract_module(),)
    bases = {
        "none": (),
        "generic": (typing.Generic[T],),
        "protocol": (Describes,),
        "hashable": (collections.abc.Hashable,),
        "sequence": (collections.abc.Sequence,),
        "slots": (SlotsMixin,),
        "metaclass": (),
    }[plan.base]
    if plan.base == "sequence":
        namespace.update(_sequence_methods())
    return bases


def annotation_of(f: FieldPlan) -> Any:
    """What a user would write, so that ``instances()`` can draw every field."""
    if f.kind == "nested":
        assert f.nested is not None
        return f.nested.cls
    if f.kind == "jaxtyping":
        return f.annotation
    simple = {"int": int, "float": float, "str": str, "none": None}
    return jax.Array if f.kind in ARRAY_KINDS else simple.get(f.kind, collections.abc.Callable)


def jt_array(f: FieldPlan, values: list[int]) -> Any:
    """An array that satisfies the field's jaxtyping annotation, sizes from JT_SIZES."""
    shape = sum((JT_SIZES[d] for d in f.dims.split()), ())
    dtype = JT_FAMILIES[str(f.annotation.dtype.__name__)]
    flat = np.resize(np.asarray(values, np.int32), int(np.prod(shape)))
    if dtype == "key":
        return jax.random.wrap_key_data(
            jnp.asarray(np.stack([flat, flat], -1), jnp.uint32).reshape(*shape, 2)
        )
    array = flat.reshape(shape).astype(dtype)
    return array if f.annotation.array_type is np.ndarray else jnp.asarray(array)


def _field(f: FieldPlan) -> Any:
    options: dict[str, Any] = {"static": f.static, "init": f.init}
    if f.init:
        options["kw_only"] = f.kw_only
    if f.converter:
        options["converter"] = _counting_converter(f)
    if not f.init and f.default == "none":
        pass  # computed in __post_init__
    elif f.default == "value":
        if f.kind in (*ARRAY_KINDS, "nested", "jaxtyping"):
            options["default_factory"] = lambda f=f: default_value(f)
        else:
            options["default"] = default_value(f)
    elif f.default == "factory":
        options["default_factory"] = lambda f=f: default_value(f)
    return ptc.field(**options)


def _counting_converter(f: FieldPlan) -> Any:
    def convert(value: Any) -> jax.Array:
        record(("convert", id(f), ""))
        return jnp.asarray(value)

    return convert


def default_value(f: FieldPlan) -> Any:
    if f.kind == "jaxtyping":
        return jt_array(f, [1])
    if f.kind in ARRAY_KINDS:
        return jnp.ones(2, DTYPES[f.kind])
    if f.kind == "nested":
        assert f.nested is not None
        return instance_with_defaults(f.nested)
    return {"int": 7, "float": 0.5, "str": "default", "none": None, "callable": jnp.tanh}[f.kind]


def _validated_field(plan: ClassPlan) -> FieldPlan | None:
    """The field that validation requires not to be None (not one with a converter,
    which would reject None first)."""
    fields = plan.all_fields()
    return next((f for f in fields if f.init and f.kind != "none" and not f.converter), None)


def _store(obj: Any, name: str, value: Any, *, assign: bool) -> None:
    if assign:
        setattr(obj, name, value)  # ``self.x = value``, as Equinox programs write it
    else:
        object.__setattr__(obj, name, value)


def _post_init(plan: ClassPlan) -> Any:
    def __post_init__(self: Any) -> None:
        actual = plan_of(type(self))
        record(("__post_init__", plan.cls, type(self).__name__))
        for f in actual.all_fields():
            if not f.init and f.default == "none":  # a derived field
                _store(self, f.name, default_value(f), assign=actual.post_init_assigns)
        checked = _validated_field(actual)
        if actual.validates and checked and getattr(self, checked.name) is None:
            raise ValueError(f"{checked.name} must not be None")

    return __post_init__


def _custom_init(plan: ClassPlan) -> Any:
    """A hand-written ``__init__`` that takes the fields by keyword.

    It sets the fields of the instance's own class, so a subclass that inherits
    it works; "super" sets this class's own fields and hands the rest to the
    parent's ``__init__``.
    """
    style = plan.effective_init()

    def __init__(self: Any, /, **kwargs: Any) -> None:
        record(("__init__", plan.cls, type(self).__name__))
        actual = plan_of(type(self))
        if style == "super" and plan.parent.effective_init() in CUSTOM_INITS:
            super(plan.cls, self).__init__(**kwargs)
            return
        fields = actual.all_fields()
        if style == "super":
            inherited = {f.name for f in plan.parent.all_fields()}
            fields = [f for f in fields if f.name not in inherited]
        for f in fields:
            value = kwargs.pop(f.name) if f.init and f.name in kwargs else default_value(f)
            _store(self, f.name, value, assign=style != "custom")
        if style == "super":
            super(plan.cls, self).__init__(**kwargs)
            return
        if kwargs:
            raise TypeError(f"unexpected {sorted(kwargs)}")
        self.__post_init__()

    return __init__


def _check_init(plan: ClassPlan) -> Any:
    def __check_init__(self: Any) -> None:
        record(("__check_init__", plan.cls, type(self).__name__))
        for f in plan_of(type(self)).all_fields():
            if f.converter and not isinstance(getattr(self, f.name), jax.Array):
                raise AssertionError(f"__check_init__ saw {f.name} before its converter")

    return __check_init__


# --- instances ----------------------------------------------------------------------


def value_strategy(f: FieldPlan) -> st.SearchStrategy[Any]:
    if f.kind in ARRAY_KINDS:
        values = st.lists(st.integers(-3, 3), min_size=2, max_size=2)
        arrays = values.map(lambda v, f=f: jnp.asarray(v, DTYPES[f.kind]))
        # A converter takes what jnp.asarray takes: a numpy array too.
        return arrays.map(np.asarray) if f.converter else arrays
    if f.kind == "nested":
        assert f.nested is not None
        return instances_of(f.nested)
    if f.kind == "jaxtyping":
        values = st.lists(st.integers(-3, 3), min_size=1, max_size=4)
        return values.map(lambda v, f=f: jt_array(f, v))
    return {
        "int": st.integers(-(2**40), 2**40),
        "float": st.floats(allow_nan=True, allow_infinity=True),
        "str": st.text(max_size=4),
        "none": st.none(),
        "callable": st.sampled_from(CALLABLES),
    }[f.kind]


def instances_of(plan: ClassPlan) -> st.SearchStrategy[Any]:
    """Instances built by the class's own ``__init__``; defaulted fields sometimes
    omitted; a generic class sometimes built subscripted (``cls[int](...)``)."""
    arguments = {}
    for f in plan.all_fields():
        if not f.init:
            continue
        given = value_strategy(f)
        arguments[f.name] = given if f.default == "none" else st.one_of(st.just(_OMIT), given)
    # A subclass takes no parameter; typing's alias takes no keyword ``self``.
    generic = plan.base == "generic" and plan.parent is None
    generic = generic and "self" not in arguments
    subscripted = st.booleans() if generic else st.just(False)

    def construct(kwargs: dict[str, Any], subscript: bool) -> Any:
        cls = plan.cls[int] if subscript else plan.cls
        return cls(**{k: v for k, v in kwargs.items() if v is not _OMIT})

    return st.builds(construct, st.fixed_dictionaries(arguments), subscripted)


def instance_with_defaults(plan: ClassPlan) -> Any:
    kwargs = {f.name: default_value(f) for f in plan.all_fields() if f.init and f.default == "none"}
    return plan.cls(**kwargs)


def expected_events(plan: ClassPlan) -> dict[tuple[str, Any], int]:
    """How often each ``__check_init__`` and converter runs in one construction."""
    expected: dict[tuple[str, Any], int] = {}
    for klass in plan.chain():
        if klass.check_init:
            expected["__check_init__", klass.cls] = 1
    for f in plan.all_fields():
        if f.converter:
            expected["convert", id(f)] = 1
    return expected


_OMIT = object()


@st.composite
def class_and_instances(draw: st.DrawFn) -> Generated:
    plan = draw(class_plans())
    return Generated(plan, draw(instances_of(plan)))


@dataclasses.dataclass
class Generated:
    plan: ClassPlan
    obj: Any
