"""Which classes are pytree dataclasses, and what the library knows about each.

The bottom of the package's import graph: every other module may import it,
it imports none of them, so no function-local import is needed to break a
cycle.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable
from typing import Any

SPEC_ATTRIBUTE = "__pytreeclass_spec__"

_DECORATED: weakref.WeakSet[type] = weakref.WeakSet()


@dataclasses.dataclass(frozen=True, eq=False)
class ClassSpec:
    """What construction, ``replace`` and the checks need to know about one class."""

    cls: type
    field_names: tuple[str, ...]
    field_names_set: frozenset[str]
    #: The role of each field, decided here once and read by every module:
    #: pytree children (``data_names``) or treedef metadata (``static_names``).
    data_names: tuple[str, ...]
    static_names: tuple[str, ...]
    init_field_names: tuple[str, ...]
    #: Converters applied after ``__init__``: all of them under a user-written
    #: ``__init__``, only the ``init=False`` ones under a generated one.
    late_converters: dict[str, Callable[[Any], Any]]
    #: Names that may appear in ``__dict__`` besides the fields
    #: (``functools.cached_property`` caches).
    cache_names: frozenset[str]
    init_is_generated: bool
    user_init: Callable[..., None]
    #: Fields whose converter the generated ``__init__`` applies to its argument.
    early_converters: frozenset[str]
    frozen: bool
    #: The ``__check_init__`` functions of the MRO, most derived first.
    check_inits: tuple[Callable[[Any], None], ...]


def register_spec(cls: type, spec: ClassSpec) -> None:
    setattr(cls, SPEC_ATTRIBUTE, spec)
    mark_decorated(cls)


def mark_decorated(cls: type) -> None:
    """Count ``cls`` among the pytree dataclasses of this process."""
    _DECORATED.add(cls)


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
    return SPEC_ATTRIBUTE in cls.__dict__


def spec_of(obj: Any, caller: str) -> ClassSpec:
    """The ``ClassSpec`` of a pytree dataclass instance, or a ``TypeError`` naming ``caller``."""
    if isinstance(obj, type) or not is_pytree_dataclass(obj):
        raise TypeError(
            f"{caller} expects an instance of a pytree dataclass, got {obj!r}; "
            f"decorate its class with @pytreeclass.pytree_dataclass."
        )
    return type(obj).__dict__[SPEC_ATTRIBUTE]


def decorated_classes() -> list[type]:
    """Every user pytree dataclass still alive, for registrations made after the fact
    (pytreeclass's own transform wrappers are left out)."""
    return [cls for cls in _DECORATED if not cls.__module__.startswith("pytreeclass.")]


def undecorated_subclass_error(base: type, cls: type) -> TypeError:
    return TypeError(
        f"{cls.__qualname__} subclasses the pytree dataclass {base.__qualname__} but "
        f"is not decorated itself, so JAX would treat its instances as opaque leaves. "
        f"Add @pytreeclass.pytree_dataclass above `class {cls.__name__}`."
    )
