"""The base of the transform wrappers: a pytree dataclass holding the wrapped function.

Where the function goes decides ``filter_jit``'s path. A plain function is
*static* (treedef metadata): a wrapper of an all-array model is then all
arrays, and ``filter_jit`` calls ``jax.jit`` on it directly. A function that is
itself a pytree (a model with ``__call__``) must be a *child*, so its arrays
are traced: ``wrap`` picks the subclass with ``fun`` as a data field.

One cache-identity rule follows: a method bound to a pytree is split into its
plain function (static, shared by every instance) and the instance (a child,
traced), so ``filter_jit(filter_grad(model.loss))`` traces once per model
structure and its cache never holds a model.
"""

from __future__ import annotations

import dataclasses
import sys
import types
from collections.abc import Callable
from typing import Any, TypeVar, cast

import jax

from ._dataclass import pytree_dataclass
from ._field import field
from ._filters import is_pytree_node

W = TypeVar("W", bound="FunctionWrapper")


@pytree_dataclass
class FunctionWrapper:
    """A callable pytree around ``fun``; binds like a function when it is a class attribute."""

    fun: Callable = field(static=True)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        # As a method decorator (``@filter_grad def __call__(self, x)``): ``self``
        # becomes the first argument, and a child of the bound pytree.
        if instance is None:
            return self
        return wrap(BoundMethod, self, "a method", instance=instance)

    def __getattr__(self, name: str) -> Any:
        # ``__name__``, ``__qualname__``, ``__module__``, ``__wrapped__``: the wrapped
        # function's, as functools.wraps would give (fields cannot: they are the tree).
        if name in _FORWARDED:
            return self.fun if name == "__wrapped__" else getattr(self.fun, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


_FORWARDED = frozenset({"__name__", "__qualname__", "__wrapped__"})
_DOC = property(lambda self: getattr(self.fun, "__doc__", None))


class _ModuleOfFun(str):
    """A wrapper class's ``__module__``: the class's module name, which is what
    ``cls.__module__`` (and so ``pickle``) reads, since ``type`` returns it as it is;
    read on an instance, a descriptor giving the wrapped function's module, as
    ``functools.wraps`` would (``__module__`` is in the class dict, so the
    ``__getattr__`` above is never asked for it)."""

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return getattr(instance.fun, "__module__", str(self))

    def __reduce__(self) -> tuple[Any, tuple]:
        return str, (str(self),)  # pickle writes a class's module name as a plain str


def transform_wrapper(cls: type[W]) -> type[W]:
    """Finish a wrapper class: a ``__doc__`` that reads its function's, and its
    variant for pytree functions (``fun`` a data field), made now and published in
    the class's module, so that ``pickle`` finds it by name in any process."""
    _read_doc_of_fun(cls)
    namespace = {"__annotations__": {"fun": Callable}, "fun": field(), "__module__": cls.__module__}
    variant = type(f"{cls.__name__}OfPytree", (cls,), namespace)
    _WITH_PYTREE_FUN[cls] = _read_doc_of_fun(pytree_dataclass(variant))
    setattr(sys.modules[cls.__module__], variant.__name__, variant)
    return cls


def _read_doc_of_fun(cls: type[W]) -> type[W]:
    # The class's own ``__doc__``, which ``dataclasses`` fills in, would shadow
    # ``__getattr__``: a property in its place reads the function's; the same
    # for ``__module__`` (see ``_ModuleOfFun``).
    setattr(cls, "__doc__", _DOC)  # noqa: B010 - a property in place of the docstring
    cls.__module__ = _ModuleOfFun(cls.__module__)
    return cls


_WITH_PYTREE_FUN: dict[type, type] = {}
transform_wrapper(FunctionWrapper)


@transform_wrapper
@pytree_dataclass
class BoundMethod(FunctionWrapper):
    """``fun`` bound to ``instance``, with ``instance`` a child of the tree (so traced)."""

    instance: Any

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        return self.fun(self.instance, *args, **kwargs)


def bound_pytree(fun: Any) -> tuple[Callable, Any] | None:
    """``(function, instance)`` when ``fun`` is a method bound to a pytree, else ``None``.

    The one cache-identity rule (this module's docstring): ``filter_jit`` and every
    ``FunctionWrapper`` split a bound method here, never anywhere else.
    """
    if isinstance(fun, types.MethodType) and is_pytree_node(fun.__self__):
        return fun.__func__, fun.__self__
    return None


def split_bound_method(fun: Any) -> Any:
    """``fun``, or a ``BoundMethod`` pytree when it is a method bound to a pytree."""
    split = bound_pytree(fun)
    if split is None:
        return fun
    return wrap(BoundMethod, split[0], "a method", instance=split[1])


class BindsLikeAFunction:
    """For the transform objects that are not pytrees (``filter_jit``'s, the custom
    derivative rules): as a class attribute they bind like the function they
    replace, so ``self`` becomes the first argument."""

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        return self if instance is None else types.MethodType(cast(Callable, self), instance)


def wrap(cls: type[W], fun: Any, kind: str, **options: Any) -> W:
    """``cls(fun, **options)``, ``fun`` static unless it is a pytree (or unhashable)."""
    if not callable(fun):
        raise TypeError(f"{kind} expects a callable, got {fun!r}.")
    fun = split_bound_method(fun)
    is_pytree = is_pytree_node(fun)
    try:
        hash(fun)
    except TypeError:
        is_pytree = True  # an unhashable callable cannot be treedef metadata
    return (_WITH_PYTREE_FUN[cls] if is_pytree else cls)(fun=fun, **options)


# (wrapper class, its options other than ``fun``), outermost first.
Layers = tuple[tuple[type, tuple[tuple[str, Any], ...]], ...]


def wrapper_layers(fun: Any) -> tuple[types.FunctionType, Layers] | None:
    """``(function, layers)`` when ``fun`` is a wrapper with no leaves around a plain
    function (``filter_grad(loss)``, ``filter_vmap(filter_grad(loss))``), else ``None``.

    ``filter_jit`` then keys its cache by ``function`` (weakly) and ``layers`` (the
    wrappers' classes and options other than ``fun``), and rebuilds the wrapper
    from them when it traces: so the cache keeps neither the function nor
    anything of a call alive once the user drops the function (unless an option
    itself holds it), while rebuilt wrappers of one function share it when their
    options compare equal (a lambda ``in_axes`` compares by identity: then each
    rebuild has its own, ``_compiled._MAX_OPTIONS`` at most).
    """
    if not isinstance(fun, FunctionWrapper) or jax.tree_util.tree_leaves(fun):
        return None
    layers = []
    while isinstance(fun, FunctionWrapper):
        if isinstance(fun, BoundMethod):  # its signature is not its function's
            return None
        options = tuple(
            (f.name, fun.__dict__[f.name]) for f in dataclasses.fields(fun) if f.name != "fun"
        )
        layers.append((type(fun), options))
        fun = fun.fun
    if not isinstance(fun, types.FunctionType):
        return None
    return fun, tuple(layers)


def rebuild_layers(fun: Callable, layers: Layers) -> Callable:
    """The wrapper that ``wrapper_layers`` took apart, around ``fun``: rebuilt as an
    unflatten rebuilds (no ``__init__`` runs again)."""
    for cls, options in reversed(layers):
        wrapper: Any = object.__new__(cls)
        object.__setattr__(wrapper, "__dict__", {"fun": fun, **dict(options)})
        fun = wrapper
    return fun
