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
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

import jax

from ._construct import (
    UNFLATTEN,
    UNFLATTEN_KEYWORD,
    ClassSpec,
    check_static_hashable,
    guard_subclass_inits,
    make_dispatching_init,
    unguarded_init,
)
from ._field import converter_of, field, is_static
from ._interop import register_with_loaded_libraries
from ._repr import pytree_repr

__all__ = ["pytree_dataclass", "is_pytree_dataclass", "replace"]

_SPEC_ATTRIBUTE = "__pytreeclass_spec__"
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
    if _SPEC_ATTRIBUTE in cls.__dict__:
        raise TypeError(f"{cls.__qualname__} is already a pytree dataclass; decorate it once.")
    if "__slots__" in cls.__dict__:
        raise TypeError(
            f"{cls.__qualname__} defines __slots__, which pytree dataclasses do not "
            f"support (instances store their fields in __dict__). Remove __slots__."
        )
    already_dataclass = "__dataclass_fields__" in cls.__dict__
    user_wrote_init = "__init__" in cls.__dict__
    user_wrote_repr = "__repr__" in cls.__dict__
    if already_dataclass:
        if given:
            raise TypeError(
                f"{cls.__qualname__} is already a dataclass, so its options are fixed; "
                f"pass {', '.join(f'{k}={v}' for k, v in given.items())} to "
                f"@dataclasses.dataclass instead, or use @pytree_dataclass alone."
            )
        wants_repr = False
    else:
        options = {"frozen": _default_frozen(cls), "repr": True, **given}
        wants_repr = options.pop("repr") and not user_wrote_repr
        try:
            dataclasses.dataclass(cls, repr=False, **options)
        except (TypeError, ValueError) as error:
            raise type(error)(f"@pytree_dataclass on {cls.__qualname__}: {error}") from None

    spec = ClassSpec.of(
        cls,
        original_init=unguarded_init(cls.__init__),
        init_is_generated=not (already_dataclass or user_wrote_init)
        and cls.__dataclass_params__.init,  # type: ignore[attr-defined]
    )
    cls.__init__ = make_dispatching_init(spec)  # type: ignore[method-assign]
    if wants_repr:
        cls.__repr__ = pytree_repr  # type: ignore[method-assign,assignment]
    setattr(cls, _SPEC_ATTRIBUTE, spec)
    guard_subclass_inits(cls)
    _register(cls)
    register_with_loaded_libraries(cls)
    return cls


def _default_frozen(cls: type) -> bool:
    """Frozen, unless the nearest dataclass base is not (dataclasses forbid mixing)."""
    for base in cls.__mro__[1:]:
        if "__dataclass_params__" in base.__dict__:
            return bool(base.__dataclass_params__.frozen)  # type: ignore[attr-defined]
    return True


def _register(cls: type) -> None:
    """Register with JAX's C++ dataclass node, plus the hidden unflatten field.

    ``register_dataclass`` insists that the registered names are exactly the
    ``init=True`` fields. Ours also include ``init=False`` fields (so values
    computed in ``__post_init__`` are children) and the hidden sentinel, so
    the check is shown an equivalent field table for the duration of the call.
    """
    all_fields = dataclasses.fields(cls)
    data_fields = [f.name for f in all_fields if not is_static(f)]
    meta_fields = [f.name for f in all_fields if is_static(f)] + [UNFLATTEN_KEYWORD]
    setattr(cls, UNFLATTEN_KEYWORD, UNFLATTEN)
    real_table = cls.__dict__["__dataclass_fields__"]
    shown_table = {name: _as_init_field(f, name) for name, f in real_table.items()}
    shown_table[UNFLATTEN_KEYWORD] = _as_init_field(_TEMPLATE_FIELD, UNFLATTEN_KEYWORD)
    cls.__dataclass_fields__ = shown_table  # type: ignore[attr-defined]
    try:
        jax.tree_util.register_dataclass(cls, data_fields, meta_fields)
    finally:
        cls.__dataclass_fields__ = real_table  # type: ignore[attr-defined]


@dataclasses.dataclass
class _Template:
    field: Any = None


_TEMPLATE_FIELD = dataclasses.fields(_Template)[0]


def _as_init_field(f: dataclasses.Field[Any], name: str) -> dataclasses.Field[Any]:
    shown = copy.copy(f)
    shown.name = name
    shown.init = True
    return shown


def is_pytree_dataclass(cls_or_obj: Any) -> bool:
    """Whether ``cls_or_obj`` is a class decorated with ``pytree_dataclass``
    (or an instance of one).

    Unlike ``dataclasses.is_dataclass``, an undecorated subclass of a
    decorated class is *not* a pytree dataclass.

    Example:
        >>> import pytreeclass as ptc
        >>> @ptc.pytree_dataclass
        ... class A:
        ...     x: float
        >>> ptc.is_pytree_dataclass(A), ptc.is_pytree_dataclass(A(1.0)), ptc.is_pytree_dataclass(1)
        (True, True, False)
    """
    cls = cls_or_obj if isinstance(cls_or_obj, type) else type(cls_or_obj)
    return _SPEC_ATTRIBUTE in cls.__dict__


def spec_of(obj: Any, caller: str) -> ClassSpec:
    """The ``ClassSpec`` of a pytree dataclass instance, or a clear ``TypeError``."""
    if isinstance(obj, type) or not is_pytree_dataclass(obj):
        raise TypeError(
            f"{caller} expects an instance of a pytree dataclass, got {obj!r}; "
            f"decorate its class with @pytreeclass.pytree_dataclass."
        )
    return type(obj).__dict__[_SPEC_ATTRIBUTE]


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of ``obj`` with some fields changed; works on frozen classes.

    Differs from ``dataclasses.replace``: it does not call ``__init__`` (so it
    works with a custom ``__init__``, inside ``jit``, and on ``init=False``
    fields), but it does apply the changed fields' converters and check that
    new static values are hashable. Unknown names raise a ``TypeError``.

    Example:
        >>> import pytreeclass as ptc
        >>> @ptc.pytree_dataclass
        ... class Step:
        ...     count: int
        >>> ptc.replace(Step(1), count=2)
        Step(count=2)
    """
    spec = spec_of(obj, "replace()")
    unknown = sorted(set(changes) - set(spec.field_names))
    if unknown:
        raise TypeError(
            f"replace(): {spec.cls.__qualname__} has no field(s) {', '.join(map(repr, unknown))}; "
            f"its fields are {', '.join(spec.field_names)}."
        )
    by_name = {f.name: f for f in dataclasses.fields(spec.cls)}
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    for name, value in changes.items():
        convert = converter_of(by_name[name])
        new.__dict__[name] = value if convert is None else convert(value)
    check_static_hashable(spec, new, tuple(n for n in changes if n in spec.static_names))
    return new
