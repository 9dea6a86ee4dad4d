"""Hypothesis strategies that write whole pytree dataclass *definitions*.

In the spirit of attrs's ``tests/strategies.py``: the decorator is most likely
to break on the shape of a class, so these vary the shape, not only values:
how many fields; static or not; ``init=False`` fields computed in
``__post_init__``; ``kw_only``; defaults and factories; converters; a custom
``__init__``; ``__post_init__`` validation; decorated inheritance 1 to 3
levels deep; nesting of other generated classes; non-array leaves (str, int,
float, None, callables).

``class_and_instances()`` draws a ``Generated``: the class, a plan of what it
should do, and an instance built through the class's own ``__init__``.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

import pytreeclass as ptc

ARRAY_KINDS = ("f32", "i32", "bf16")
LEAF_KINDS = ("int", "float", "str", "none", "callable")
STATIC_KINDS = ("int", "float", "str", "none", "callable")
CALLABLES = (jnp.tanh, jax.nn.relu, abs)
DTYPES = {"f32": jnp.float32, "i32": jnp.int32, "bf16": jnp.bfloat16}
_names = itertools.count()


@dataclasses.dataclass
class FieldPlan:
    name: str
    kind: str  # an ARRAY_KINDS or LEAF_KINDS entry, or "nested"
    static: bool
    init: bool
    kw_only: bool
    default: str  # "none", "value" or "factory"
    converter: bool
    nested: ClassPlan | None = None


@dataclasses.dataclass
class ClassPlan:
    fields: list[FieldPlan]  # this class's own fields
    custom_init: bool
    validates: bool
    parent: ClassPlan | None = None
    cls: Any = None  # filled in by ``build``
    calls: list[str] = dataclasses.field(default_factory=list)  # inits and post-inits run

    def all_fields(self) -> list[FieldPlan]:
        inherited = self.parent.all_fields() if self.parent else []
        own = {f.name for f in self.fields}
        return [f for f in inherited if f.name not in own] + self.fields


@dataclasses.dataclass
class Generated:
    plan: ClassPlan
    obj: Any


# --- plans --------------------------------------------------------------------------


@st.composite
def field_plans(draw: st.DrawFn, depth: int) -> FieldPlan:
    static = draw(st.booleans())
    kinds = (
        STATIC_KINDS if static else ARRAY_KINDS + LEAF_KINDS + (("nested",) if depth < 2 else ())
    )
    kind = draw(st.sampled_from(kinds))
    nested = draw(class_plans(depth + 1)) if kind == "nested" else None
    return FieldPlan(
        name=f"f{next(_names)}",
        kind=kind,
        static=static,
        init=draw(st.booleans()) if kind != "nested" else True,
        kw_only=draw(st.booleans()),
        default=draw(st.sampled_from(["none", "value", "factory"])),
        converter=kind in ARRAY_KINDS and draw(st.booleans()),
        nested=nested,
    )


@st.composite
def class_plans(draw: st.DrawFn, depth: int = 0) -> ClassPlan:
    levels = draw(st.integers(1, 3)) if depth == 0 else 1
    plan = None
    for _ in range(levels):
        plan = ClassPlan(
            fields=draw(st.lists(field_plans(depth), min_size=0 if plan else 1, max_size=4)),
            custom_init=draw(st.booleans()),
            validates=draw(st.booleans()),
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
        annotations[f.name] = Any
        namespace[f.name] = _field(f)
    namespace["__annotations__"] = annotations
    namespace["__module__"] = __name__
    namespace["__post_init__"] = _post_init(plan)
    if plan.custom_init:
        namespace["__init__"] = _custom_init(plan)
    bases = (plan.parent.cls,) if plan.parent else ()
    plan.cls = ptc.pytree_dataclass(type(f"Generated{next(_names)}", bases, namespace))
    return plan.cls


def _field(f: FieldPlan) -> Any:
    options: dict[str, Any] = {"static": f.static, "init": f.init}
    if f.init:
        options["kw_only"] = f.kw_only
    if f.converter:
        options["converter"] = jnp.asarray
    if not f.init and f.default == "none":
        pass  # computed in __post_init__
    elif f.default == "value":
        if f.kind in ARRAY_KINDS or f.kind == "nested":
            options["default_factory"] = lambda f=f: default_value(f)
        else:
            options["default"] = default_value(f)
    elif f.default == "factory":
        options["default_factory"] = lambda f=f: default_value(f)
    return ptc.field(**options)


def default_value(f: FieldPlan) -> Any:
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


def _post_init(plan: ClassPlan) -> Any:
    def __post_init__(self: Any) -> None:
        plan.calls.append("__post_init__")
        for f in plan.all_fields():
            if not f.init and f.default == "none":
                object.__setattr__(self, f.name, default_value(f))  # a derived field
        checked = _validated_field(plan)
        if plan.validates and checked and getattr(self, checked.name) is None:
            raise ValueError(f"{checked.name} must not be None")

    return __post_init__


def _custom_init(plan: ClassPlan) -> Any:
    """A hand-written ``__init__`` that takes the fields by keyword."""

    def __init__(self: Any, **kwargs: Any) -> None:
        plan.calls.append("__init__")
        for f in plan.all_fields():
            value = kwargs.pop(f.name) if f.init and f.name in kwargs else default_value(f)
            object.__setattr__(self, f.name, jnp.asarray(value) if f.converter else value)
        if kwargs:
            raise TypeError(f"unexpected {sorted(kwargs)}")
        self.__post_init__()

    return __init__


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
    return {
        "int": st.integers(-(2**40), 2**40),
        "float": st.floats(allow_nan=True, allow_infinity=True),
        "str": st.text(max_size=4),
        "none": st.none(),
        "callable": st.sampled_from(CALLABLES),
    }[f.kind]


def instances_of(plan: ClassPlan) -> st.SearchStrategy[Any]:
    """Instances built by the class's own ``__init__``; defaulted fields sometimes omitted."""
    arguments = {}
    for f in plan.all_fields():
        if not f.init:
            continue
        given = value_strategy(f)
        arguments[f.name] = given if f.default == "none" else st.one_of(st.just(_OMIT), given)
    return st.fixed_dictionaries(arguments).map(
        lambda kwargs: plan.cls(**{k: v for k, v in kwargs.items() if v is not _OMIT})
    )


def instance_with_defaults(plan: ClassPlan) -> Any:
    kwargs = {f.name: default_value(f) for f in plan.all_fields() if f.init and f.default == "none"}
    return plan.cls(**kwargs)


_OMIT = object()


@st.composite
def class_and_instances(draw: st.DrawFn) -> Generated:
    plan = draw(class_plans())
    return Generated(plan, draw(instances_of(plan)))
