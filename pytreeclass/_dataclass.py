"""The ``pytree_dataclass`` decorator: a dataclass that is also a JAX pytree.

What the decorator adds to ``dataclasses.dataclass``, and why:

=====================  =====================================================
adds / forbids          why
=====================  =====================================================
pytree registration     through ``jax.tree_util.register_dataclass``, the C++
                        fast path; key paths are ``GetAttrKey(field_name)``.
static fields           ``field(static=True)`` or JAX's ``metadata={"static":
                        True}`` go into the treedef, never traced.
frozen by default       a pytree is a value; JAX transforms return new ones.
                        ``replace`` makes updated copies.
unflatten bypass        JAX rebuilds instances through ``__init__``; a hidden
                        sentinel lets the rebuild skip user validation,
                        ``__post_init__`` and converters (see _construct.py).
``init=False`` fields   are pytree children too, so values computed in
                        ``__post_init__`` survive ``jit``/``vmap``/``grad``.
checks at construction  unset fields and unhashable static values raise
                        there, naming the class and field, not inside a trace.
model ``__repr__``      arrays print as ``f32[3,4]``.
forbids ``slots``       slots need a new class object (identity lost) and the
                        fast unflatten stores into ``__dict__``.
forbids re-options      an existing dataclass keeps the options it was built
                        with; changing them would need a new class.
=====================  =====================================================
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast, dataclass_transform, overload

import jax

from ._abstract import abstract_refusal, own_abstract_names
from ._checks import frozen_setattr
from ._construct import make_init
from ._field import converter_of, field, init_var_fields, is_static
from ._interop import register_with_loaded_libraries
from ._rebuild import REBUILD_KEYWORD, RebuildMarker, install_rebuild_new
from ._registry import SPEC_ATTRIBUTE, ClassSpec, register_spec, spec_of
from ._repr import pytree_repr
from ._tree import tree_equal

T = TypeVar("T")


@overload
def pytree_dataclass(cls: type[T], /) -> type[T]: ...


@overload
def pytree_dataclass(
    cls: None = None,
    /,
    *,
    init: bool | None = None,
    repr: bool | None = None,
    eq: bool | None = None,
    order: bool | None = None,
    unsafe_hash: bool | None = None,
    frozen: bool | None = None,
    kw_only: bool | None = None,
    match_args: bool | None = None,
) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field, dataclasses.field))
def pytree_dataclass(
    cls: type[T] | None = None,
    /,
    *,
    init: bool | None = None,
    repr: bool | None = None,  # noqa: A002 - mirrors dataclasses.dataclass
    eq: bool | None = None,
    order: bool | None = None,
    unsafe_hash: bool | None = None,
    frozen: bool | None = None,
    kw_only: bool | None = None,
    match_args: bool | None = None,
) -> type[T] | Callable[[type[T]], type[T]]:
    """Make ``cls`` a dataclass and register it as a JAX pytree, in place.

    Differs from ``dataclasses.dataclass``: frozen by default; fields marked
    ``field(static=True)`` are treedef metadata and every other field is a
    pytree child; JAX's unflatten rebuilds instances without re-running
    ``__init__`` validation, ``__post_init__`` or converters; the ``repr``
    summarises arrays. ``slots`` is not supported. A class that is already a
    dataclass keeps its own options (pass none here). The class object keeps
    its identity: no metaclass, no base class.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> @ptc.pytree_dataclass
        ... class Linear:
        ...     weight: jax.Array
        ...     bias: jax.Array
        ...     name: str = ptc.field(static=True, default="linear")
        >>> layer = Linear(jnp.ones((3, 4)), jnp.zeros(4))
        >>> layer
        Linear(weight=f32[3,4], bias=f32[4], name='linear')
        >>> len(jax.tree_util.tree_leaves(layer))
        2
    """
    options = {
        "init": init,
        "repr": repr,
        "eq": eq,
        "order": order,
        "unsafe_hash": unsafe_hash,
        "frozen": frozen,
        "kw_only": kw_only,
        "match_args": match_args,
    }
    given = {name: value for name, value in options.items() if value is not None}

    def wrap(klass: type[T]) -> type[T]:
        return _make_pytree_dataclass(klass, given)

    return wrap if cls is None else wrap(cls)


def _make_pytree_dataclass(cls: type[T], given: dict[str, bool]) -> type[T]:
    if not isinstance(cls, type):
        raise TypeError(f"@pytree_dataclass decorates classes, got {cls!r}.")
    if SPEC_ATTRIBUTE in cls.__dict__:
        raise TypeError(f"{cls.__qualname__} is already a pytree dataclass; decorate it once.")
    if REBUILD_KEYWORD in getattr(cls, "__annotations__", {}):
        raise TypeError(f"{cls.__qualname__}: the field name {REBUILD_KEYWORD!r} is reserved.")
    if "__slots__" in cls.__dict__:
        raise TypeError(
            f"{cls.__qualname__} defines __slots__, which pytree dataclasses do not "
            f"support (instances store their fields in __dict__). Remove __slots__."
        )
    already_dataclass = "__dataclass_fields__" in cls.__dict__
    user_wrote = {name for name in ("__init__", "__repr__", "__eq__") if name in cls.__dict__}
    inherited_init = None if already_dataclass else _inherited_custom_init(cls, given)
    if already_dataclass:
        if given:
            raise TypeError(
                f"{cls.__qualname__} is already a dataclass, so its options are fixed; "
                f"pass {', '.join(f'{k}={v}' for k, v in given.items())} to "
                f"@dataclasses.dataclass instead, or use @pytree_dataclass alone."
            )
        wants_repr = False
        wants_eq = _has_generated_eq(cls)
    else:
        options = {"frozen": _default_frozen(cls), "repr": True, **given}
        if inherited_init is not None:
            options["init"] = False
        wants_repr = options.pop("repr") and "__repr__" not in user_wrote
        wants_eq = options.get("eq", True) and "__eq__" not in user_wrote
        _dataclass_without_abstract_fields(cls, options)

    params = getattr(cls, "__dataclass_params__")  # noqa: B009 - set by dataclasses
    init_is_generated = not already_dataclass and "__init__" not in user_wrote and params.init
    replaced = inherited_init or cls.__init__
    spec, early_converters = _class_spec(cls, init_is_generated, replaced)
    cls.__init__ = make_init(spec, replaced, early_converters)  # type: ignore[method-assign]
    if spec.frozen:
        setattr(cls, "__setattr__", frozen_setattr(spec))  # noqa: B010 - a method installed on the class
    if wants_repr:
        setattr(cls, "__repr__", pytree_repr)  # noqa: B010 - a method installed on the class
    if wants_eq:
        setattr(cls, "__eq__", _tree_eq)  # noqa: B010 - a method installed on the class
    install_rebuild_new(cls, abstract_refusal(cls))
    register_spec(cls, spec)
    _register(spec)
    register_with_loaded_libraries(cls)
    return cls


def _dataclass_without_abstract_fields(cls: type, options: dict[str, Any]) -> None:
    """``dataclasses.dataclass(cls)``, with ``AbstractVar`` annotations hidden from it
    (they are never fields); the class keeps them for ``unprovided``."""
    abstract = own_abstract_names(cls)
    annotations = cls.__dict__.get("__annotations__")  # noqa: RUF063 - the dict, to restore it
    if abstract and annotations is not None:
        type.__setattr__(
            cls, "__annotations__", {k: v for k, v in annotations.items() if k not in abstract}
        )
    try:
        dataclasses.dataclass(cls, repr=False, **options)
    except (TypeError, ValueError) as error:
        raise type(error)(f"@pytree_dataclass on {cls.__qualname__}: {error}") from None
    finally:
        if abstract and annotations is not None:
            type.__setattr__(cls, "__annotations__", annotations)


def _inherited_custom_init(cls: type, given: dict[str, bool]) -> Callable[..., None] | None:
    """Equinox's rule: a class that writes no ``__init__`` keeps the nearest one up
    its MRO that a user wrote (returned), not one that ``dataclasses`` generated,
    ``object``'s or ``typing.Protocol``'s placeholder (then ``None``: generate one)."""
    if "__init__" in cls.__dict__ or given.get("init") is not None:
        return None
    for klass in cls.__mro__[1:]:
        spec = klass.__dict__.get(SPEC_ATTRIBUTE)
        init = spec.user_init if spec is not None else klass.__dict__.get("__init__")
        if init is None or getattr(init, "__module__", None) == "typing":
            continue  # Protocol's placeholder, which would look for the next one
        if spec is not None and spec.init_is_generated:
            return None
        return None if init is object.__init__ or _is_generated(init) else vars(klass)["__init__"]
    return None


def _class_spec(
    cls: type, init_is_generated: bool, replaced: Callable[..., None]
) -> tuple[ClassSpec, dict[str, Callable]]:
    all_fields = dataclasses.fields(cls)
    converters = {f.name: c for f in all_fields if (c := converter_of(f)) is not None}
    # Under a generated ``__init__``, init fields convert their arguments, before
    # ``__post_init__``; every other converter runs after ``__init__``.
    early = {n: c for n, c in converters.items() if init_is_generated and _field(cls, n).init}
    field_names = tuple(f.name for f in all_fields)
    spec = ClassSpec(
        cls=cls,
        field_names=field_names,
        field_names_set=frozenset(field_names),
        data_names=tuple(f.name for f in all_fields if not is_static(f)),
        static_names=tuple(f.name for f in all_fields if is_static(f)),
        init_field_names=tuple(f.name for f in all_fields if f.init),
        late_converters={n: c for n, c in converters.items() if n not in early},
        cache_names=frozenset(
            value.attrname or name
            for klass in cls.__mro__
            for name, value in vars(klass).items()
            if isinstance(value, functools.cached_property)
        ),
        init_is_generated=init_is_generated,
        user_init=replaced,
        early_converters=frozenset(early),
        frozen=bool(cls.__dataclass_params__.frozen),  # type: ignore[attr-defined]
        check_inits=tuple(
            klass.__dict__["__check_init__"]
            for klass in cls.__mro__
            if "__check_init__" in klass.__dict__
        ),
    )
    return spec, early


def _field(cls: type, name: str) -> dataclasses.Field[Any]:
    return cls.__dataclass_fields__[name]  # type: ignore[attr-defined]


def _has_generated_eq(cls: type) -> bool:
    """Whether an existing dataclass's ``__eq__`` was generated by ``dataclasses``."""
    return _is_generated(cls.__dict__.get("__eq__"))


def _is_generated(method: Any) -> bool:
    """Whether a dataclass method was made by ``dataclasses``: it compiles each inside
    a factory called ``__create_fn__`` (Python 3.11 to 3.13), which a user's own code
    (even one run by ``exec`` or ``python -c``, whose file is ``<string>`` too) is not."""
    code = getattr(method, "__code__", None)
    return getattr(code, "co_qualname", "").startswith("__create_fn__.<locals>.")


def _tree_eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return tree_equal(self, other)


def _default_frozen(cls: type) -> bool:
    """Frozen, unless the nearest dataclass base is not (dataclasses forbid mixing)."""
    for base in cls.__mro__[1:]:
        if "__dataclass_params__" in base.__dict__:
            return bool(base.__dataclass_params__.frozen)  # type: ignore[attr-defined]
    return True


def _register(spec: ClassSpec) -> None:
    """Register with JAX's C++ dataclass node, plus the hidden rebuild field.

    ``register_dataclass`` insists that the registered names are exactly the
    ``init=True`` fields. Ours also include ``init=False`` fields (so values
    computed in ``__post_init__`` are children) and the hidden marker, so
    the check is shown an equivalent field table for the duration of the call.
    """
    cls = spec.cls
    real_table = cls.__dict__["__dataclass_fields__"]
    shown_table = {name: _as_init_field(f, name) for name, f in real_table.items()}
    shown_table[REBUILD_KEYWORD] = _as_init_field(_TEMPLATE_FIELD, REBUILD_KEYWORD)
    cls.__dataclass_fields__ = shown_table  # type: ignore[attr-defined]
    try:
        jax.tree_util.register_dataclass(
            cls, list(spec.data_names), [*spec.static_names, REBUILD_KEYWORD]
        )
    finally:
        cls.__dataclass_fields__ = real_table  # type: ignore[attr-defined]
    assert isinstance(cls.__dict__[REBUILD_KEYWORD], RebuildMarker)


@dataclasses.dataclass
class _Template:
    field: Any = None


_TEMPLATE_FIELD = dataclasses.fields(_Template)[0]


def _as_init_field(f: dataclasses.Field[Any], name: str) -> dataclasses.Field[Any]:
    shown = copy.copy(f)
    shown.name = name
    shown.init = True
    return shown


def replace(obj: T, /, **changes: Any) -> T:
    """A new instance like ``obj`` with some fields changed, built by the class's ``__init__``.

    Same semantics as ``dataclasses.replace``: converters, ``__post_init__``
    validation and derived ``init=False`` fields run again, and
    ``functools.cached_property`` caches start empty. Differs in its errors:
    an unknown name, an ``init=False`` field, or a class whose ``__init__``
    does not take its fields raise a ``TypeError`` that points to
    ``pytreeclass.tree_at``, the validation-free update (which also works
    inside ``jit``).

    Example:
        >>> import pytreeclass as ptc
        >>> @ptc.pytree_dataclass
        ... class Step:
        ...     count: int
        ...     def __post_init__(self):
        ...         if self.count < 0:
        ...             raise ValueError("count must be >= 0")
        >>> ptc.replace(Step(1), count=2)
        Step(count=2)
    """
    spec = spec_of(obj, "replace()")
    cls = spec.cls.__qualname__
    init_vars = {f.name for f in init_var_fields(spec.cls)}
    unknown = sorted(set(changes) - set(spec.field_names) - init_vars)
    if unknown:
        raise TypeError(
            f"replace(): {cls} has no field(s) {', '.join(map(repr, unknown))}; "
            f"its fields are {', '.join(spec.field_names)}."
        )
    derived = [name for name in changes if name in spec.field_names_set]
    derived = [name for name in derived if name not in spec.init_field_names]
    if derived:
        raise TypeError(
            f"replace(): {cls}.{derived[0]} is an init=False field, which __init__ "
            f"computes, so replace() cannot set it. To set it without running "
            f"__init__, use pytreeclass.tree_at(lambda obj: obj.{derived[0]}, obj, value)."
        )
    if not spec.init_is_generated:
        _check_init_takes_fields(spec, obj, changes)
    return cast(T, dataclasses.replace(cast(Any, obj), **changes))


def _check_init_takes_fields(spec: ClassSpec, obj: Any, changes: dict[str, Any]) -> None:
    arguments = {**dict.fromkeys(spec.init_field_names), **changes}
    try:
        inspect.signature(spec.user_init).bind(obj, **arguments)
    except TypeError as error:
        raise TypeError(
            f"replace(): {spec.cls.__qualname__} has a custom __init__ that does not take "
            f"its fields as keyword arguments ({error}), so replace() cannot rebuild it. "
            f"Use pytreeclass.tree_at(lambda obj: obj.<field>, obj, value), which "
            f"updates fields without running __init__."
        ) from None
