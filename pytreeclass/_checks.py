"""What construction checks, and the frozen ``__setattr__`` that lets it assign.

The generated ``__init__`` (``_construct.py``) calls these only when a fast
inlined test has already failed, so they may be slow and thorough: each error
names the class and the field and says what to do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ._registry import ClassSpec

#: The ``id`` of each frozen instance whose ``__init__`` is running (each stays
#: alive while it is here: the constructing frame holds it); ``frozen_setattr``
#: lets ``self.x = value`` through for these.
UNDER_CONSTRUCTION: set[int] = set()


def check_fields_set(spec: ClassSpec, obj: Any) -> None:
    """Raise, naming the field, if ``obj.__dict__`` misses a field or holds a non-field."""
    cls = spec.cls.__qualname__
    missing = [name for name in spec.field_names if name not in obj.__dict__]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        raise ValueError(
            f"{cls}.__init__ did not set the field(s) {names}. Assign every field in "
            f"__init__ or __post_init__ (`self.{missing[0]} = ...`), or give it a default."
        )
    extra = [n for n in obj.__dict__ if n not in spec.field_names_set and n not in spec.cache_names]
    if extra:
        name = extra[0]
        raise AttributeError(
            f"{cls}.__init__ set the attribute {name!r}, which is not a field, so JAX "
            f"would drop it at the first rebuild (under jit, grad, vmap or tree_map). "
            f"Declare it as a field: `{name}: ... = pytreeclass.field(init=False)`, and "
            f"set it in __post_init__."
        )


def check_static_hashable(spec: ClassSpec, obj: Any) -> None:
    """Raise a ``TypeError`` naming the field if a static value is unhashable."""
    for name in spec.static_names:
        value = obj.__dict__[name]
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


def frozen_setattr(spec: ClassSpec) -> Callable[[Any, str, Any], None]:
    """The ``__setattr__`` of a frozen pytree dataclass, in place of ``dataclasses``'s.

    Equinox's semantics: while the instance is under construction (its
    ``__init__``/``__post_init__`` running), ``self.x = value`` sets field
    ``x``; afterwards, and for any name that is not a field, it raises
    ``dataclasses.FrozenInstanceError`` naming the attribute and the fix.
    """
    fields, store = spec.field_names_set, object.__setattr__
    under_construction = UNDER_CONSTRUCTION
    cls = spec.cls.__qualname__

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if id(self) in under_construction:
            if name in fields:
                store(self, name, value)
                return
            raise dataclasses.FrozenInstanceError(
                f"{cls}.__init__ assigned {name!r}, which is not a field, so JAX would "
                f"drop it at the first rebuild (under jit, grad, vmap or tree_map). "
                f"Declare it as a field: `{name}: ... = pytreeclass.field(init=False)`."
            )
        raise dataclasses.FrozenInstanceError(
            f"cannot assign to field {name!r}: {cls} is frozen once constructed. Make an "
            f"updated copy with pytreeclass.replace(obj, {name}=...) or pytreeclass.tree_at."
        )

    __setattr__.__qualname__ = f"{spec.cls.__qualname__}.__setattr__"
    return __setattr__
