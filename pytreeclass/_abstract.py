"""``AbstractVar`` and ``AbstractClassVar``: attributes a concrete subclass must provide.

Equinox's semantics, without a metaclass: the decorator reads these
annotations over the whole MRO, never makes them fields (so they cannot break
field order), and an instance of a class that leaves one unprovided is refused
when it is constructed, naming what is missing. A subclass provides an
``AbstractVar[T]`` with a field, a property, a class attribute, or any
annotation that is not abstract; an ``AbstractClassVar[T]`` with a class
attribute (``ClassVar[T] = ...``).
"""

from __future__ import annotations

import inspect
import re
import typing
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, TypeAlias, TypeVar

_T = TypeVar("_T")

if TYPE_CHECKING:
    # As Equinox does: to a type checker an abstract attribute is its type.
    AbstractVar: TypeAlias = Annotated[_T, "AbstractVar"]
    from typing import ClassVar as AbstractClassVar
else:

    class AbstractVar(Generic[_T]):
        """Marks an abstract instance attribute of type ``T``.

        A concrete subclass provides it as a field, a property or a class
        attribute; constructing a class that does not raises ``TypeError``. It
        is never a field itself, so it does not change the ``__init__``
        parameters. Unlike Equinox's, it may also be written as a string
        annotation (``from __future__ import annotations``).

        Example:
            >>> import pytreeclass as ptc
            >>> @ptc.pytree_dataclass
            ... class AbstractLayer:
            ...     width: ptc.AbstractVar[int]
            >>> @ptc.pytree_dataclass
            ... class Layer(AbstractLayer):
            ...     width: int
            >>> Layer(3).width
            3
            >>> AbstractLayer()
            Traceback (most recent call last):
            TypeError: Can't instantiate abstract class AbstractLayer ... 'width'...
        """

    class AbstractClassVar(Generic[_T]):
        """Marks an abstract class attribute of type ``T``.

        A concrete subclass provides it as a class attribute
        (``name: ClassVar[T] = value``); constructing a class that does not
        raises ``TypeError``. Never a field.

        Example:
            >>> from typing import ClassVar
            >>> import pytreeclass as ptc
            >>> @ptc.pytree_dataclass
            ... class AbstractSolver:
            ...     order: ptc.AbstractClassVar[int]
            >>> @ptc.pytree_dataclass
            ... class Euler(AbstractSolver):
            ...     order: ClassVar[int] = 1
            >>> Euler().order
            1
        """


_STRING_FORM = re.compile(r"^\s*(?:[\w.]+\.)?(Abstract(?:Class)?Var)\s*(\[)?")


def _unsubscripted() -> TypeError:
    return TypeError(
        "AbstractVar and AbstractClassVar need the attribute's type: write "
        "AbstractVar[int], not AbstractVar."
    )


def _kind(annotation: Any) -> tuple[bool, bool]:
    """(is abstract, is a class attribute) for one annotation."""
    if isinstance(annotation, str):
        match = _STRING_FORM.match(annotation)
        if match and not match.group(2) and annotation.strip() == match.group(0).strip():
            raise _unsubscripted()
        if match and match.group(2):
            return True, match.group(1) == "AbstractClassVar"
        return False, bool(re.match(r"^\s*(?:[\w.]+\.)?ClassVar\b", annotation))
    if annotation is AbstractVar or annotation is AbstractClassVar:
        raise _unsubscripted()
    origin = typing.get_origin(annotation)
    if origin is AbstractVar or origin is AbstractClassVar:
        return True, origin is AbstractClassVar
    return False, origin is ClassVar or annotation is ClassVar


def own_abstract_names(cls: type) -> list[str]:
    """The annotations of ``cls`` itself that are abstract (never fields)."""
    return [n for n, a in inspect.get_annotations(cls).items() if _kind(a)[0]]


def unprovided(cls: type) -> tuple[frozenset[str], frozenset[str]]:
    """The abstract instance and class attributes that no class of the MRO provides.

    Walks the MRO from ``object`` down; raises ``TypeError`` where an abstract
    annotation also has a value in the same class.
    """
    instance_vars: set[str] = set()
    class_vars: set[str] = set()
    for klass in reversed(cls.__mro__):
        for name, annotation in inspect.get_annotations(klass).items():
            abstract, is_class = _kind(annotation)
            if abstract and name in klass.__dict__:
                raise TypeError(
                    f"{klass.__qualname__}.{name} is declared abstract but also given a "
                    f"value; drop the value, or annotate it with its type instead."
                )
            if abstract and is_class:
                instance_vars.discard(name)
                class_vars.add(name)
            elif abstract:
                if name not in class_vars:
                    instance_vars.add(name)
            else:
                class_vars.discard(name)
                if not is_class:
                    instance_vars.discard(name)
        for name in klass.__dict__:
            instance_vars.discard(name)
            class_vars.discard(name)
    return frozenset(instance_vars), frozenset(class_vars)


def abstract_refusal(cls: type) -> str | None:
    """The message that refuses an instance of ``cls``, or ``None`` if it is concrete."""
    instance_vars, class_vars = unprovided(cls)
    if not (instance_vars or class_vars):
        return None
    missing = ", ".join(repr(n) for n in sorted(instance_vars | class_vars))
    return (
        f"Can't instantiate abstract class {cls.__name__} with abstract attribute(s) "
        f"{missing}: a concrete subclass must provide them (AbstractVar: a field, a "
        f"property or a class attribute; AbstractClassVar: a ClassVar with a value)."
    )
