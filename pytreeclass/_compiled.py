"""The shared ``jax.jit``s of one underlying function, and the rule that finds them.

``filter_jit`` wrappers of one function (and of ``filter_grad(f)`` and other
leafless wrappers of it) share one ``_Compiled`` per options: one ``jax.jit``
per static key, so rebuilding a wrapper does not retrace. It holds no
diagnostics (they belong to each wrapper, ``_jit.py``) and keeps no function
alive (weak references).
"""

from __future__ import annotations

import threading
import types
import warnings
import weakref
from collections.abc import Callable
from typing import Any, Literal, cast

import jax

from ._filters import is_pytree_node
from ._placement import Placement
from ._static_key import SplitFirst, kept_span, rebuild_arguments, split_output
from ._wrapper import Layers, bound_pytree, rebuild_layers

Donate = Literal["none", "all", "all-except-first", "warn", "warn-except-first"]


def owner_and_self(fun: Callable) -> tuple[Callable, tuple]:
    """Split ``fun`` into the underlying function and the pytree it is bound to, if any.

    A bound method of a pytree, or a pytree with ``__call__``, has its arrays
    traced: the pytree becomes the first argument of the underlying function,
    which is shared by every instance (one cache for models of one structure).
    """
    split = bound_pytree(fun)
    if split is not None:
        return split[0], (split[1],)
    if not isinstance(fun, types.FunctionType | type) and is_pytree_node(fun):
        return type(fun).__call__, (fun,)
    return fun, ()


# The compile caches shared between wrappers, keyed weakly by their function. Only
# callables whose type compares by identity are shared: equal-but-distinct ones
# (bound methods of ordinary objects) would otherwise share an entry that points at
# whichever of them came first, and dangles once it is collected.
_SHARED: weakref.WeakKeyDictionary[Callable, dict[Any, _Compiled]] = weakref.WeakKeyDictionary()
# Static keys kept per function: a program that meets more distinct ones
# retraces on most calls anyway (each new key traces).
_MAX_ENTRIES = 1024
# Option sets kept per function (each its own ``_Compiled``).
_MAX_OPTIONS = 64
# All-array arguments of at most this many leaves take ``_Compiled.direct``.
DIRECT_LEAVES = 4
# Every live one, shared or not, for ``clear_caches``.
_LIVE: weakref.WeakSet[_Compiled] = weakref.WeakSet()


class _Compiled:
    """The ``jax.jit``s of one underlying function with one set of options: one
    per static key, each called on the dynamic (array) leaves alone.

    A static key is the treedef of the call's ``(args, kwargs)`` when every leaf
    is an array, else the treedef with the non-array leaves and their types
    (``_static_key.py``). Calling a ``jax.jit`` of the leaves already flattened,
    found in a dict by its key, saves JAX a second flatten of the whole tree (it
    flattens a list) and its static-argument path: measured in
    ``docs/benchmarks.md``. The ``_MAX_ENTRIES`` most recently made are kept.

    Shared by every wrapper of the function, so it holds no diagnostics: it
    counts traces (``traces[0]``), and each wrapper, seeing the count move
    during its own call, records that call's arguments in its own log
    (``_make_wrapper``): concrete arrays, whose sharding and weak type show.
    """

    def __init__(
        self,
        owner: Callable,
        donate: Donate,
        jit_kwargs,
        *,
        shared: bool,
        kept_index: int,
        layers: Layers = (),
    ):
        _LIVE.add(self)
        self.name = profile_name(owner)
        self.traces = [0]
        #: static key -> ``entry(dynamic)``: a ``jax.jit`` (or its donating form).
        self.entries: dict[Any, Any] = {}
        #: The key of the call being made, set by the wrapper before each entry
        #: call: a trace rebuilds the arguments from the statics of *this* call
        #: (a retrace for a new shape, or every call under ``jax.disable_jit()``),
        #: not from those of the first call with an equal key.
        self.current: list[Any] = [None]
        self._lock = threading.Lock()
        self._donate, self._kept_index = donate, kept_index
        # A shared entry must not keep ``owner`` alive; an unshared one is owned
        # by its wrapper, which holds ``owner`` anyway.
        owner_ref = cast(Callable[[], Any], weakref.ref(owner) if shared else lambda: owner)

        self._jit_kwargs = jit_kwargs = dict(jit_kwargs)
        place = Placement(self.name, jit_kwargs.pop("in_shardings", None), "in_shardings")
        place_out = Placement(self.name, jit_kwargs.pop("out_shardings", None), "out_shardings")

        def call_owner(args: tuple, kwargs: dict) -> Any:
            if place.shardings is not None:
                args = place.arguments(args)
            target = owner_ref()
            if layers:  # ``owner`` is the function inside a leafless wrapper
                target = rebuild_layers(target, layers)
            out = target(*args, **kwargs)
            self._record_trace(args, kwargs)  # only a trace that did not raise counts
            return split_output(place_out.tree(out) if place_out.shardings is not None else out)

        self._call_owner = call_owner
        # A few leaves: JAX flattens them again faster than the dict lookup of
        # their treedef costs (about 0.5 µs of a one-array call), so arguments of
        # at most ``DIRECT_LEAVES`` leaves, all arrays, go to a plain ``jax.jit``
        # of the function. Not with donation (its argnums vary with the structure).
        self.direct: Any = None
        if donate == "none":

            def direct(*args: Any, **kwargs: Any) -> Any:
                return call_owner(args, kwargs)

            direct.__name__ = direct.__qualname__ = self.name
            self.direct = jax.jit(direct, **jit_kwargs)

    def entry(self, key: Any) -> Any:
        """``entries[key]``, made now if absent."""
        entry = self.entries.get(key)
        return entry if entry is not None else self.new_entry(key)

    def new_entry(self, key: Any) -> Any:
        """``entries[key]`` after a miss (the wrapper's own lookup): made now, once."""
        with self._lock:  # the slow path only: two first calls of one key make one
            entry = self.entries.get(key)
            if entry is None:
                if len(self.entries) >= _MAX_ENTRIES:
                    del self.entries[next(iter(self.entries))]  # the oldest made
                entry = self.entries[key] = self._make_entry(key)
            return entry

    def _make_entry(self, key: Any) -> Any:
        call_owner, donate, jit_kwargs = self._call_owner, self._donate, self._jit_kwargs
        current = self.current

        def traced(dynamic: list) -> Any:
            # This call's statics when they are this entry's (another thread may
            # have set its own key since), else the equal ones of the first call.
            now = current[0]
            return call_owner(*rebuild_arguments(dynamic, now if now == key else key))

        traced.__name__ = traced.__qualname__ = self.name
        entry: Any
        if donate == "none":
            entry = jax.jit(traced, **jit_kwargs)
        elif donate.endswith("except-first"):
            start, stop = kept_span(key, self._kept_index)

            def traced_split(kept: list, donated: list) -> Any:
                return traced([*donated[:start], *kept, *donated[start:]])

            traced_split.__name__ = traced_split.__qualname__ = self.name
            entry = SplitFirst(jax.jit(traced_split, donate_argnums=1, **jit_kwargs), start, stop)
        else:
            entry = jax.jit(traced, donate_argnums=0, **jit_kwargs)
        if not donate.startswith(("none", "warn")):
            entry = _QuietDonation(entry)
        return entry

    def _record_trace(self, args: tuple, kwargs: dict) -> None:
        # Under ``jax.disable_jit()`` the function runs eagerly: not a trace.
        if not _jit_disabled():
            self.traces[0] += 1


class _QuietDonation:
    """An entry without JAX's "Some donated buffers were not usable" warning, as
    Equinox's ``donate="all"`` (``"warn"`` keeps it). The filter costs about a
    microsecond per call, paid only with donation."""

    __slots__ = ("entry",)

    def __init__(self, entry: Any):
        self.entry = entry

    def __call__(self, dynamic: list) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Some donated buffers were not usable")
            return self.entry(dynamic)

    def lower(self, dynamic: list) -> Any:
        return self.entry.lower(dynamic)


def compiled_for(
    owner: Callable, donate: Donate, jit_kwargs, kept_index: int, layers: Layers = ()
) -> _Compiled:
    """The shared ``_Compiled`` of ``owner`` (wrapped in ``layers``) and these options."""

    def make(shared: bool) -> _Compiled:
        return _Compiled(
            owner, donate, jit_kwargs, shared=shared, kept_index=kept_index, layers=layers
        )

    if type(owner).__eq__ is not object.__eq__:
        return make(shared=False)
    try:
        options = (donate, kept_index, tuple(sorted(jit_kwargs.items())), layers)
        hash(options)
        per_owner = _SHARED.setdefault(owner, {})
    except TypeError:  # unhashable options or owner that cannot be weakly referenced
        return make(shared=False)
    if options not in per_owner:
        if len(per_owner) >= _MAX_OPTIONS:  # options compared by identity (a lambda
            del per_owner[next(iter(per_owner))]  # in_axes) make one per rebuild
        per_owner[options] = make(shared=True)
    return per_owner[options]


def profile_name(owner: Callable) -> str:
    """``MLP.__call__`` or ``loss``: what profilers and ``jax.jit`` show."""
    name = getattr(owner, "__qualname__", None) or getattr(owner, "__name__", None)
    return (name or type(owner).__name__).rsplit("<locals>.", 1)[-1]


def clear_caches() -> None:
    """Empty every cache pytreeclass holds; the next call of each function retraces.

    Clears the compiled executables of every ``filter_jit`` function (the
    ``jax.jit`` of each static key), ``filter_eval_shape``'s, and the memos of
    which leaf types are arrays, of the retrace log's array descriptions and of
    ``nondifferentiable_backward``'s rules.
    Wrappers of one function still share one cache afterwards, and trace
    counts keep counting. Unlike ``jax.clear_caches`` it leaves JAX's caches of
    other functions alone: call both to free everything. As Equinox's
    ``clear_caches``.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> f = ptc.filter_jit(lambda x: x + 1)
        >>> _ = f(jnp.ones(2))
        >>> ptc.clear_caches()
        >>> _ = f(jnp.ones(2))
        >>> f.trace_count()
        2
    """
    from . import _ad, _nondifferentiable, _static_key, _trace_log  # here: _ad imports us

    for compiled in list(_LIVE):
        compiled.entries.clear()
        direct: Any = compiled.direct  # the stubs lack clear_cache
        if direct is not None:
            direct.clear_cache()
    for evaluations in list(_ad.EVAL_SHAPE_CACHES.values()):
        evaluations.clear()
    _nondifferentiable._reverse_identity.cache_clear()
    _trace_log._array_text.cache_clear()
    _static_key._IS_ARRAY_TYPE.forget_all()


def _jit_disabled() -> bool:
    """Whether ``jax.disable_jit()`` is in effect (the config stubs lack the name)."""
    config: Any = jax.config
    return bool(config.jax_disable_jit)
