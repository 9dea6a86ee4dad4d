"""``filter_jit``: ``jax.jit`` for whole objects, arrays traced and the rest static.

How a call runs (the hot path is ``wrapper`` in ``_make_wrapper``):

1. arguments are bound to the signature, so ``f(x, y)``, ``f(x, y=y)`` and
   ``f(x=x, y=y)`` become the same tuple (skipped when the call is already
   all-positional and complete);
2. ``(args, kwargs)`` is flattened once, in C++ (the only full flatten: JAX
   is handed the leaves);
3. the static key: the treedef alone if every leaf is an array (then
   filter_jit means exactly ``jax.jit``); otherwise the treedef, every
   non-array leaf and the leaves' types (so ``1``, ``1.0`` and ``True`` are
   different keys);
4. the key finds, in a dict, the ``jax.jit`` made for it, which is called on
   the array leaves alone; except that all-array arguments of a few leaves go to
   a plain ``jax.jit`` of the function (for them JAX's own flatten is cheaper
   than the lookup).

The ``jax.jit``s of one underlying function and options are shared by every
wrapper of it (``_compiled.py``), so rebuilding ``filter_jit(f)`` does not retrace. Non-array
outputs travel back inside the output treedef (a ``Static``), which JAX
keeps per trace, so they stay right even when one key has several traces.
"""

from __future__ import annotations

import functools
import inspect
import sys
import warnings
from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar, overload

import jax

from ._aot import Lowered
from ._compiled import DIRECT_LEAVES, Donate, compiled_for, owner_and_self, profile_name
from ._filters import is_pytree_node
from ._paths import argument_label, parameter_names
from ._static_key import (
    KNOWN_ARRAY_TYPES,
    WithStatic,
    abstract_key,
    is_array_type,
    static_key,
    static_key_by_type,
)
from ._trace_log import TraceLog
from ._wrapper import BindsLikeAFunction, wrapper_layers

P = ParamSpec("P")
R = TypeVar("R", covariant=True)
_DONATE_MODES = ("none", "all", "all-except-first", "warn", "warn-except-first")


class RetraceWarning(UserWarning):
    """Issued when a ``filter_jit`` function traces more than ``max_traces`` times.

    Turn it into an error with ``warnings.simplefilter("error", RetraceWarning)``.
    """


class _Diagnostics:
    """One wrapper's trace log and ``max_traces``, named after the user's function."""

    def __init__(self, fun: Callable, owner: Callable, max_traces: int | None):
        self.log = TraceLog(parameter_names(owner))
        self.max_traces = max_traces
        # ``filter_jit(filter_grad(loss))`` is about ``loss``, not the wrapper class.
        named = inspect.unwrap(fun) if hasattr(fun, "__wrapped__") else owner
        self.name = profile_name(named)

    def account(self, args: tuple, kwargs: dict) -> None:
        """Record the trace that this wrapper's call with ``args`` just made."""
        self.log.record(args, kwargs)
        if self.max_traces is not None and self.log.count > self.max_traces:
            # stacklevel 3: this method, the wrapper, then the caller's line.
            warnings.warn(
                f"filter_jit({self.name}) has traced {self.log.count} times "
                f"(max_traces={self.max_traces}). {self.log.explain()}",
                RetraceWarning,
                stacklevel=3,
            )


def _binding_signature(fun: Callable) -> inspect.Signature:
    """The signature calls are bound to: ``fun``'s own, so that a ``functools.wraps``
    wrapper with parameters of its own is called with its own defaults, never with
    those of the function it wraps; through ``__wrapped__`` only when ``fun`` takes
    just ``*args, **kwargs`` (a decorator that forwards everything)."""
    own = inspect.signature(fun, follow_wrapped=False)
    forwards = all(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in own.parameters.values())
    return inspect.signature(fun) if forwards and own.parameters else own


# Calls passed on as they are: no signature to bind them to.
_AS_CALLED = (0, sys.maxsize, lambda args, kwargs: (args, kwargs))


def _binder(fun: Callable) -> tuple[int, int, Callable[[tuple, dict], tuple[tuple, dict]]]:
    """(lo, hi, bind): an all-positional call with ``lo <= len(args) <= hi``
    arguments is already normal (binding would not change it)."""
    try:
        signature = _binding_signature(fun)
    except (TypeError, ValueError):
        return _AS_CALLED
    kinds = [p.kind for p in signature.parameters.values()]
    n_positional = sum(kind <= inspect.Parameter.POSITIONAL_OR_KEYWORD for kind in kinds)
    takes_varargs = inspect.Parameter.VAR_POSITIONAL in kinds
    lo, hi = n_positional, sys.maxsize if takes_varargs else n_positional
    if inspect.Parameter.KEYWORD_ONLY in kinds:
        # Always bind: keyword-only defaults must be filled in (``f(x)`` and
        # ``f(x, k=<default>)`` share a trace), and required ones checked.
        lo, hi = 1, 0
    name = getattr(fun, "__qualname__", "function")

    def bind(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{name}(): {error}") from None
        bound.apply_defaults()
        return bound.args, bound.kwargs

    return lo, hi, bind


def _unhashable_leaf_error(name: str, args: tuple, kwargs: dict, log: TraceLog) -> TypeError | None:
    for path, leaf in jax.tree_util.tree_flatten_with_path((args, kwargs))[0]:
        if is_array_type(type(leaf)):
            continue
        try:
            hash(leaf)
        except TypeError:
            label = argument_label(log.parameter_names, path)
            return TypeError(
                f"filter_jit({name}): the argument {label} is a "
                f"{type(leaf).__name__}, which is not hashable. Non-array leaves are "
                f"static (part of the compile-cache key) and must be hashable. Pass it "
                f"as a jax/numpy array to trace it, make it hashable (a tuple, a "
                f"frozenset), or close over it instead of passing it."
            )
    return None


# --- the public decorator -----------------------------------------------------------


class JitFunction(Protocol[P, R]):
    """What ``filter_jit`` returns, for type checkers: ``fun``'s parameters and result,
    plus the retrace diagnostics and ahead-of-time lowering."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...
    def lower(self, *args: P.args, **kwargs: P.kwargs) -> Lowered: ...
    def trace_count(self) -> int: ...
    def explain_retrace(self) -> str | None: ...

    # As a method decorator the wrapper binds like a function; ``self`` is then
    # consumed, which ParamSpec cannot express, so the bound form is untyped.
    def __get__(self, instance: Any, owner: Any = None) -> Any: ...


@overload
def filter_jit(
    fun: Callable[P, R],
    *,
    donate: Donate = "none",
    max_traces: int | None = None,
    **jit_kwargs: Any,
) -> JitFunction[P, R]: ...


@overload
def filter_jit(
    fun: None = None,
    *,
    donate: Donate = "none",
    max_traces: int | None = None,
    **jit_kwargs: Any,
) -> Callable[[Callable[P, R]], JitFunction[P, R]]: ...


def filter_jit(
    fun: Callable | None = None,
    *,
    donate: Donate = "none",
    max_traces: int | None = None,
    **jit_kwargs: Any,
) -> Any:
    """Compile ``fun`` with ``jax.jit``, tracing array leaves and keeping the rest static.

    Differs from ``jax.jit``: every argument (and ``fun`` itself when it is a
    pytree or a method bound to one) is flattened; only ``jax.Array``,
    ``np.ndarray`` and numpy-scalar leaves are traced. Python numbers,
    strings, callables and other objects are static: hashed, compared (by
    type and value, so ``1``, ``1.0`` and ``True`` differ) and part of the
    cache key. No ``static_argnums``. Outputs may hold non-array leaves.

    Args:
        fun: the function; or omit it to use ``@filter_jit(...)``.
        donate: ``"none"``; ``"all"`` (every array argument); ``"all-except-first"``
            (all but the first call argument's: with a bound method or a model
            as ``fun``, the instance is donated and the first argument after it
            kept, as in Equinox); ``"warn"`` / ``"warn-except-first"``, the same
            but keeping JAX's warning about donated buffers it could not use.
        max_traces: warn with ``RetraceWarning`` when traced more often.
        **jit_kwargs: passed to ``jax.jit`` (e.g. ``out_shardings``).

    The wrapper has ``trace_count()``, ``explain_retrace()`` (which argument
    path changed, e.g. ``model.step: 3 -> 4``) and ``lower(*args, **kwargs)``.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> @ptc.filter_jit
        ... def scale(x, factor, name):
        ...     return x * factor, name
        >>> scale(jnp.ones(2), 3.0, "triple")
        (Array([3., 3.], dtype=float32), 'triple')
        >>> _ = scale(jnp.ones(2), 4.0, "quadruple")
        >>> scale.trace_count()
        2
        >>> print(scale.explain_retrace())
        factor: 3.0 -> 4.0; name: 'triple' -> 'quadruple'
    """
    if fun is None:
        return functools.partial(filter_jit, donate=donate, max_traces=max_traces, **jit_kwargs)
    if not callable(fun):
        raise TypeError(f"filter_jit expects a callable, got {fun!r}.")
    if donate not in _DONATE_MODES:
        raise ValueError(f"filter_jit(donate={donate!r}): use one of {', '.join(_DONATE_MODES)}.")
    for reserved in ("static_argnums", "static_argnames", "donate_argnums", "donate_argnames"):
        if reserved in jit_kwargs:
            raise TypeError(
                f"filter_jit does not take {reserved}=: non-array leaves are static "
                f"automatically; use donate='all' or 'all-except-first' for donation."
            )
    return _make_wrapper(fun, donate, max_traces, jit_kwargs)


def _make_wrapper(fun: Callable, donate: Donate, max_traces, jit_kwargs) -> Callable:
    owner: Callable
    unwrapped = wrapper_layers(fun)
    if unwrapped is not None:  # ``filter_jit(filter_grad(loss))``: keyed by ``loss``
        (owner, layers), bound_self = unwrapped, ()
    else:
        (owner, bound_self), layers = owner_and_self(fun), ()
    compiled = compiled_for(owner, donate, jit_kwargs, len(bound_self), layers)
    diagnostics = _Diagnostics(fun, owner, max_traces)
    # A wrapper is called as it is, never bound to ``loss``'s signature: its own
    # treatment of positional and keyword arguments (``filter_vmap``'s in_axes)
    # must stay what the caller wrote.
    lo, hi, bind = _AS_CALLED if layers else _binder(owner)
    log, traces, account = diagnostics.log, compiled.traces, diagnostics.account
    entries, new_entry, current = compiled.entries, compiled.new_entry, compiled.current
    direct: Any = compiled.direct
    direct_leaves = DIRECT_LEAVES if direct is not None else -1
    flatten, all_arrays = jax.tree_util.tree_flatten, KNOWN_ARRAY_TYPES.issuperset

    def call_with_statics(args: tuple, kwargs: dict, leaves: list, treedef: Any) -> Any:
        dynamic, key = static_key_by_type(leaves, treedef)  # learns new array types
        if key is treedef and len(leaves) <= direct_leaves:
            return direct(*args, **kwargs)  # pyright: ignore[reportOptionalCall]
        current[0] = key
        return (entries.get(key) or new_entry(key))(dynamic)

    # The hot path: keep it flat, every call here costs on each cached call.
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if bound_self:
            args = bound_self + args
        if kwargs or not lo <= len(args) <= hi:
            args, kwargs = bind(args, kwargs)
        leaves, treedef = flatten((args, kwargs))
        seen = traces[0]
        try:
            if not all_arrays(map(type, leaves)):
                out = call_with_statics(args, kwargs, leaves, treedef)
            elif len(leaves) <= direct_leaves:
                out = direct(*args, **kwargs)  # pyright: ignore[reportOptionalCall]
            else:
                current[0] = treedef
                out = (entries.get(treedef) or new_entry(treedef))(leaves)
        except (TypeError, ValueError):
            error = _unhashable_leaf_error(diagnostics.name, args, kwargs, log)
            if error is not None:
                raise error from None
            raise
        if traces[0] != seen:
            account(args, kwargs)
        return out.rebuild() if type(out) is WithStatic else out

    def split(args: tuple, kwargs: dict, keyer: Callable = static_key) -> tuple[list, Any]:
        if bound_self:
            args = bound_self + args
        args, kwargs = bind(args, kwargs)
        return keyer(*flatten((args, kwargs)))

    def lower(*args: Any, **kwargs: Any) -> Lowered:
        dynamic, key = split(args, kwargs, abstract_key)
        current[0] = key
        entry = compiled.entry(key)
        return Lowered(entry.lower(dynamic), split, key, entry, compiled.name)

    jitted = _JitWrapper(wrapper)
    # (A pytree ``fun``'s ``__dict__`` holds its fields: not wrapper attributes.)
    updated = () if is_pytree_node(fun) else functools.WRAPPER_UPDATES
    functools.update_wrapper(jitted, fun, updated=updated)
    jitted.lower = lower
    jitted.trace_count = lambda: log.count
    jitted.explain_retrace = log.explain
    jitted._filter_jit_call = (fun, donate, max_traces, jit_kwargs)
    return jitted


class _JitWrapper(BindsLikeAFunction, functools.partial):  # ours first: 3.13 has partial.__get__
    """What ``filter_jit`` returns: the hot-path closure, called through C.

    A ``functools.partial`` with nothing bound calls its function directly (about
    35 ns more than a plain function), and, unlike a closure, it can say how to
    pickle itself: as the ``filter_jit`` call that made it, so that ``pickle`` and
    cloudpickle (Ray, Dask, joblib, spawn pools) carry the function and options,
    never the compile caches, which the receiving process builds afresh.
    """

    lower: Callable[..., Lowered]
    trace_count: Callable[[], int]
    explain_retrace: Callable[[], str | None]
    _filter_jit_call: tuple[Callable, Donate, Any, dict[str, Any]]
    __wrapped__: Callable

    def __reduce__(self) -> tuple[Any, tuple]:
        return _filter_jit_again, self._filter_jit_call

    def __repr__(self) -> str:
        return f"<filter_jit of {self.__wrapped__!r}>"


def _filter_jit_again(fun: Callable, donate: Donate, max_traces: Any, jit_kwargs: dict) -> Any:
    """Unpickles a ``filter_jit`` wrapper: ``filter_jit`` again, with fresh caches."""
    return filter_jit(fun, donate=donate, max_traces=max_traces, **jit_kwargs)
