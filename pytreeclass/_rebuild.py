"""Rebuilding an instance from its leaves without running any ``__init__``.

JAX's C++ dataclass node (``jax.tree_util.register_dataclass``) unflattens by
calling ``cls(**fields)`` (jax issue 25486), that is through ``__new__`` *and*
``__init__``: the class's own, plus whatever wraps it (jaxtyping's
``@jaxtyped``, beartype, a user decorator). Under ``jit``, ``grad`` and
``vmap`` the values met there are tracers, ``None`` or sentinels, so none of
that may run.

How the rebuild avoids it, while flatten stays on the C++ node:

- the decorator registers one hidden metadata field, ``REBUILD_KEYWORD``,
  whose value (a per-class ``RebuildMarker``) is a class attribute; so JAX passes it back
  as a keyword on every unflatten, and never otherwise;
- the decorator installs ``__new__``. Given the marker, it returns a blank
  instance of a private subclass (the *rebuilder*); ``type.__call__`` then
  runs the rebuilder's ``__init__``, which stores the fields and sets
  ``__class__`` back to the user's class. A call without the marker goes to
  the class's own ``__new__`` (or ``object.__new__``) and ``__init__``
  untouched.

The rebuilder is a direct subclass of the user's class made once, at
decoration, without running any of the user's metaclass or
``__init_subclass__`` code (see ``_rebuilder``).

All of this can go when JAX rebuilds dataclass nodes with ``__new__`` plus
``setattr`` (the open jax PR 34317): then register the fields alone and
delete this module. ``tests/test_rebuild.py`` pins the behaviour relied on.
"""

from __future__ import annotations

import abc
import inspect
from typing import Any

import jax

from ._registry import SPEC_ATTRIBUTE, mark_decorated, undecorated_subclass_error

REBUILD_KEYWORD = "_pytreeclass_rebuild_"


class RebuildMarker:
    """The hidden metadata value through which JAX's unflatten identifies itself.

    One per class, compared by identity. It shows in every treedef of a pytree
    dataclass, so its repr says what it is. Being per class, it also keeps
    treedefs of two classes with the same fields apart: JAX 0.10 compares
    dataclass nodes by their fields and metadata only, so ``A(x)`` and ``B(x)``
    had equal treedefs, and a jit cache could hand back an instance of the
    wrong class (found by tests/test_class_fuzz.py).
    """

    __slots__ = ("cls",)

    def __init__(self, cls: type):
        self.cls = cls

    def __repr__(self) -> str:
        return "<pytreeclass: rebuild without __init__>"

    def __reduce__(self) -> tuple[Any, tuple]:
        spec = self.cls.__dict__[SPEC_ATTRIBUTE]
        return _unpickled_marker, (self.cls, spec.data_names, spec.static_names)


def _unpickled_marker(cls: type, data_names: tuple, static_names: tuple) -> RebuildMarker:
    """The marker of ``cls`` when a treedef or the class itself is unpickled.

    In the process that decorated ``cls`` (or already unpickled it), its own
    marker. Otherwise ``cls`` is a class pickled by value (cloudpickle, for a
    class of ``__main__`` or a notebook) being restored in a new process: its
    ``__dict__`` is still being filled in, so register it with JAX here, under
    the fields it had, and give it a marker; the restored ``__dict__`` then
    holds this very marker (pickle's memo).
    """
    marker = cls.__dict__.get(REBUILD_KEYWORD)
    if isinstance(marker, RebuildMarker):
        return marker
    marker = RebuildMarker(cls)
    # ``register_dataclass`` takes a class that is not (yet) a dataclass when the
    # fields are named, which is the documented form.
    jax.tree_util.register_dataclass(cls, list(data_names), [*static_names, REBUILD_KEYWORD])
    mark_decorated(cls)
    return marker


def install_rebuild_new(cls: type, refusal: str | None = None) -> None:
    """Give ``cls`` the ``__new__`` described in the module docstring.

    ``refusal``: the message with which an abstract class (``AbstractVar``s
    left unprovided) refuses construction.
    """
    setattr(cls, REBUILD_KEYWORD, RebuildMarker(cls))
    rebuilder = _rebuilder(cls)
    user_new = _user_new(cls)
    new_object = object.__new__

    def __new__(klass: type, /, *args: Any, _pytreeclass_rebuild_: Any = None, **kwargs: Any):
        if _pytreeclass_rebuild_ is not None:
            return new_object(rebuilder)
        if klass is not cls and SPEC_ATTRIBUTE not in klass.__dict__:
            raise undecorated_subclass_error(cls, klass)
        if refusal is not None and klass is cls:
            raise TypeError(refusal)
        if user_new is None:
            return new_object(klass)
        return user_new(klass, *args, **kwargs)

    __new__.__qualname__ = f"{cls.__qualname__}.__new__"
    # ``inspect.signature(cls)`` reads an own ``__new__`` before ``__init__``:
    # show it the signature the class had before this ``__new__`` existed.
    __new__.__signature__ = _with_class_parameter(inspect.signature(cls))  # type: ignore[attr-defined]
    # A decorated subclass's ``__new__`` passes over this one to the user's.
    setattr(__new__, "_pytreeclass_user_new_", user_new)  # noqa: B010 - a function attribute
    cls.__new__ = __new__  # type: ignore[method-assign]


def _with_class_parameter(signature: inspect.Signature) -> inspect.Signature:
    name = "cls"
    while name in signature.parameters:  # a field may be called ``cls``
        name = f"_{name}"
    first = inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY)
    return signature.replace(parameters=[first, *signature.parameters.values()])


def _user_new(cls: type) -> Any:
    """The first ``__new__`` up the MRO that is not ours, or ``None`` for ``object``'s."""
    for klass in cls.__mro__:
        new = klass.__dict__.get("__new__")
        if new is None:
            continue
        new = getattr(new, "__func__", new)  # a staticmethod wrapping a plain function
        if hasattr(new, "_pytreeclass_user_new_"):
            return new._pytreeclass_user_new_
        return None if new is object.__new__ else new
    return None


def _rebuilder(cls: type) -> type:
    """A direct subclass of ``cls`` whose ``__init__`` adopts the fields and sets
    ``__class__`` back to ``cls``.

    Why this cannot hit a layout error: the rebuilder declares no ``__slots__``
    and neither does ``cls`` (the decorator refuses them), so every slot the
    rebuilder could add (``__dict__``, ``__weakref__``) ``cls`` has already
    added wherever CPython allows it. The two layouts are identical whatever the
    bases (``ABC``, ``Generic``, ``Protocol``, ``collections.abc`` mixins,
    ``__slots__ = ()`` mixins, builtins), which is all ``__class__`` assignment
    requires; no ``__bases__`` is ever assigned.

    Why no user code runs for it: ``type.__new__`` (``ABCMeta.__new__`` for an
    ABC) is called directly with ``cls``'s metaclass, so no metaclass
    ``__new__``/``__init__`` of the user's runs, and the
    ``__init_subclass__`` that ``type.__new__`` calls is shadowed on ``cls`` for
    the duration of the call (``tests/test_classes.py`` pins both).
    """
    # ``object.__setattr__``: past a frozen or user ``__setattr__``. Adopting the
    # fresh ``**fields`` dict as ``__dict__`` is cheaper than updating the empty
    # one (measured with the alternatives in benchmarks/: see the CHANGELOG).
    set_attribute = object.__setattr__

    def __init__(self: Any, /, _pytreeclass_rebuild_: Any, **fields: Any) -> None:
        set_attribute(self, "__dict__", fields)
        set_attribute(self, "__class__", cls)

    namespace = {
        "__init__": __init__,
        "__module__": cls.__module__,
        "__qualname__": f"{cls.__qualname__}.<rebuilder>",
    }
    own_hook = cls.__dict__.get("__init_subclass__", _ABSENT)
    type.__setattr__(cls, "__init_subclass__", classmethod(_no_hook))
    try:
        # An ABC's subclass needs its own ABC registry and caches, or
        # ``issubclass`` checks against it would write into ``cls``'s: so
        # ``ABCMeta.__new__`` (the standard library's, never a user's override).
        make = abc.ABCMeta.__new__ if isinstance(cls, abc.ABCMeta) else type.__new__
        return make(type(cls), cls.__name__, (cls,), namespace)
    finally:
        if own_hook is _ABSENT:
            type.__delattr__(cls, "__init_subclass__")
        else:
            type.__setattr__(cls, "__init_subclass__", own_hook)


_ABSENT = object()


def _no_hook(cls: type, /, **kwargs: Any) -> None:
    """Stands in for ``cls.__init_subclass__`` while the rebuilder is created."""


def copy_with(obj: Any, changes: dict[str, Any]) -> Any:
    """A copy of a pytree dataclass instance with some fields changed, built as
    a rebuild is: no ``__new__``, ``__init__``, converter or check runs."""
    spec = obj.__class__.__dict__[SPEC_ATTRIBUTE]
    new = object.__new__(type(obj))
    new.__dict__.update({name: obj.__dict__[name] for name in spec.field_names}, **changes)
    return new
