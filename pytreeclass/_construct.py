"""What runs when a pytree dataclass instance is made: by the user, or by JAX.

JAX's ``register_dataclass`` rebuilds an instance on unflatten by calling
``cls(**fields)``, i.e. through ``__init__``. Under ``jit``, ``grad`` and
``vmap`` the values met there are tracers, ``None`` or sentinel objects, so
user validation, ``__post_init__`` and converters must not run again.

The class's ``__init__`` is therefore replaced by a small dispatcher:

- a call from the user runs the class's own ``__init__`` (dataclass-generated
  or user-written), applies converters, then checks that every field was set
  and that static values are hashable;
- a call from JAX's unflatten carries one extra keyword, a sentinel that the
  decorator registers as a hidden metadata field; it only stores the fields,
  with one ``dict.update``, cheaper than the generated ``__init__``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable
from typing import Any

from ._field import converter_of, is_static

__all__ = [
    "UNFLATTEN_KEYWORD",
    "UNFLATTEN",
    "ClassSpec",
    "make_dispatching_init",
    "guard_subclass_inits",
]

#: Name of the hidden metadata field through which unflatten identifies itself.
UNFLATTEN_KEYWORD = "_pytreeclass_unflatten_"


class _Unflatten:
    """The sentinel that JAX passes back to ``__init__`` on unflatten."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<pytreeclass>"

    def __reduce__(self) -> str:
        return "UNFLATTEN"


UNFLATTEN = _Unflatten()


@dataclasses.dataclass(frozen=True, eq=False)
class ClassSpec:
    """What the dispatcher needs to know about one decorated class."""

    cls: type
    original_init: Callable[..., None]
    init_is_generated: bool
    field_names: tuple[str, ...]
    static_names: tuple[str, ...]
    converters: dict[str, Callable[[Any], Any]]
    init_converters: dict[str, tuple[Callable[[Any], Any], Any]]

    @classmethod
    def of(cls, klass: type, original_init: Callable[..., None], init_is_generated: bool):
        all_fields = dataclasses.fields(klass)
        converters = {f.name: c for f in all_fields if (c := converter_of(f)) is not None}
        # Converters of init fields run on the arguments, before a generated
        # ``__init__`` (and so before ``__post_init__``) sees them.
        init_converters = {}
        if init_is_generated:
            for f in all_fields:
                if f.init and f.name in converters:
                    init_converters[f.name] = (converters.pop(f.name), f.default)
        return cls(
            cls=klass,
            original_init=original_init,
            init_is_generated=init_is_generated,
            field_names=tuple(f.name for f in all_fields),
            static_names=tuple(f.name for f in all_fields if is_static(f)),
            converters=converters,
            init_converters=init_converters,
        )

    @functools.cached_property
    def init_signature(self) -> inspect.Signature:
        return inspect.signature(self.original_init)


def make_dispatching_init(spec: ClassSpec) -> Callable[..., None]:
    """The ``__init__`` installed on a decorated class (see module docstring)."""

    def __init__(self, /, *args, _pytreeclass_unflatten_=None, **kwargs):
        if _pytreeclass_unflatten_ is None:
            _construct(spec, self, args, kwargs)
        else:
            self.__dict__.update(kwargs)

    functools.update_wrapper(__init__, spec.original_init)
    return __init__


def _construct(spec: ClassSpec, obj: Any, args: tuple, kwargs: dict) -> None:
    cls = type(obj)
    if cls is not spec.cls:
        _require_decorated(spec.cls, cls)
        # ``super().__init__(...)`` from a decorated subclass: the subclass's
        # own dispatcher converts and checks once, for all fields.
        spec.original_init(obj, *args, **kwargs)
        return
    if spec.init_converters:
        args, kwargs = _converted_arguments(spec, args, kwargs)
    spec.original_init(obj, *args, **kwargs)
    for name, convert in spec.converters.items():
        if name in obj.__dict__:
            obj.__dict__[name] = convert(obj.__dict__[name])
    check_fields_set(spec, obj)
    check_static_hashable(spec, obj, spec.static_names)


def _require_decorated(base: type, cls: type) -> None:
    from ._dataclass import is_pytree_dataclass

    if not is_pytree_dataclass(cls):
        raise TypeError(
            f"{cls.__qualname__} subclasses the pytree dataclass "
            f"{base.__qualname__} but is not decorated itself, so JAX would "
            f"treat its instances as opaque leaves. Add @pytreeclass.pytree_dataclass "
            f"above `class {cls.__name__}`."
        )


_GUARD_MARK = "__pytreeclass_guard__"


def guard_subclass_inits(cls: type) -> None:
    """Make an undecorated subclass's own ``__init__`` raise instead of building a leaf.

    A subclass that inherits ``__init__`` meets the dispatcher's check; one that
    defines its own (and need not call ``super().__init__``) gets it wrapped here.
    The decorator unwraps it again (``unguarded_init``) when the subclass is decorated.
    """
    user_hook = cls.__dict__.get("__init_subclass__")

    def __init_subclass__(subclass: type, /, **kwargs: Any) -> None:
        if user_hook is not None:
            user_hook.__func__(subclass, **kwargs)
        else:
            super(cls, subclass).__init_subclass__(**kwargs)  # type: ignore[arg-type,misc]
        own_init = subclass.__dict__.get("__init__")
        if own_init is not None and not getattr(own_init, _GUARD_MARK, False):
            subclass.__init__ = _guarded(cls, own_init)  # type: ignore[misc]

    cls.__init_subclass__ = classmethod(__init_subclass__)  # type: ignore[assignment]


def _guarded(base: type, init: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(init)
    def __init__(self: Any, /, *args: Any, **kwargs: Any) -> None:
        _require_decorated(base, type(self))
        init(self, *args, **kwargs)

    setattr(__init__, _GUARD_MARK, True)
    return __init__


def unguarded_init(init: Callable[..., None]) -> Callable[..., None]:
    """The user's ``__init__`` behind a subclass guard, if any."""
    return init.__wrapped__ if getattr(init, _GUARD_MARK, False) else init  # type: ignore[attr-defined]


def _converted_arguments(spec: ClassSpec, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    try:
        bound = spec.init_signature.bind(None, *args, **kwargs)
    except TypeError as error:
        raise TypeError(f"{spec.cls.__qualname__}(): {error}") from None
    for name, (convert, default) in spec.init_converters.items():
        if name in bound.arguments:
            bound.arguments[name] = convert(bound.arguments[name])
        elif default is not dataclasses.MISSING:
            bound.arguments[name] = convert(default)
    return bound.args[1:], bound.kwargs


def check_fields_set(spec: ClassSpec, obj: Any) -> None:
    """Raise if ``__init__``/``__post_init__`` left a field unset."""
    missing = [name for name in spec.field_names if not hasattr(obj, name)]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise ValueError(
            f"{spec.cls.__qualname__}.__init__ did not set the field(s) {names}. "
            f"Assign every field in __init__ or __post_init__ (with "
            f"object.__setattr__ on a frozen class), or give it a default."
        )


def check_static_hashable(spec: ClassSpec, obj: Any, names: tuple[str, ...]) -> None:
    """Raise a ``TypeError`` naming the field if a static value is unhashable."""
    for name in names:
        value = getattr(obj, name)
        try:
            hash(value)
        except TypeError:
            raise TypeError(
                f"{spec.cls.__qualname__}.{name} is a static field, so its value must "
                f"be hashable (JAX keys compiled code on it), but got an unhashable "
                f"{type(value).__name__}. Use a hashable value (a tuple instead of a "
                f"list, a frozenset instead of a set), or, for arrays, make the field "
                f"non-static by dropping static=True."
            ) from None
