"""Debugging helpers: count how often a function is traced, and fail past a limit.

``assert_max_traces`` reuses ``filter_jit``'s trace accounting (``TraceLog``),
so going over the limit names the argument paths that changed, the way
``filter_jit(...).explain_retrace()`` does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, overload

from ._dataclass import pytree_dataclass
from ._field import field
from ._paths import parameter_names
from ._trace_log import TraceLog
from ._wrapper import FunctionWrapper, transform_wrapper, wrap

__all__ = ["assert_max_traces", "get_num_traces"]

P = ParamSpec("P")
R = TypeVar("R")


@transform_wrapper
@pytree_dataclass
class _MaxTraces(FunctionWrapper):
    """``fun`` with a call counter. The counter is a static field compared by
    identity, so copies made by flattening (``jit``, ``tree_map``) share it."""

    max_traces: int | None = field(static=True)
    log: TraceLog = field(static=True)

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        self.log.record(args, kwargs)
        count = self.log.count
        if self.max_traces is not None and count > self.max_traces:
            name = getattr(self.fun, "__qualname__", type(self.fun).__qualname__)
            changed = self.log.explain()
            raise RuntimeError(
                f"{name} can only be traced {self.max_traces} times, but it has now been "
                f"traced {count} times. "
                + (f"What changed since the previous trace: {changed}." if changed else "")
                + " Keep those arguments' shapes, dtypes and static values fixed, or raise "
                "max_traces."
            )
        return self.fun(*args, **kwargs)


@overload
def assert_max_traces(fn: Callable[P, R], *, max_traces: int | None) -> Callable[P, R]: ...
@overload
def assert_max_traces(
    fn: None = None, *, max_traces: int | None
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...
def assert_max_traces(fn: Callable | None = None, *, max_traces: int | None) -> Any:
    """Wrap ``fn`` to raise ``RuntimeError`` once it is called more than ``max_traces`` times.

    Put it *inside* a ``jit`` (``jax.jit`` or ``filter_jit``): calls are then
    traces. Differs from ``filter_jit(max_traces=...)``, which warns: this
    raises, naming the argument paths that changed since the previous trace.
    Copies of the wrapper (it is a pytree) share one count, and ``fn`` may be
    any callable, a model included. As Equinox's ``debug.assert_max_traces``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> @jax.jit
        ... @ptc.debug.assert_max_traces(max_traces=1)
        ... def double(x):
        ...     return 2 * x
        >>> _ = double(jnp.ones(2)), double(jnp.zeros(2))
        >>> ptc.debug.get_num_traces(double)
        1
        >>> try:
        ...     double(jnp.ones(3))
        ... except RuntimeError as error:
        ...     print(str(error).splitlines()[0][:56])
        double can only be traced 1 times, but it has now been t
    """
    if max_traces is not None and (isinstance(max_traces, bool) or not isinstance(max_traces, int)):
        raise TypeError(
            f"assert_max_traces(max_traces=...) takes an int or None, got {max_traces!r}."
        )
    if fn is None:
        return functools.partial(assert_max_traces, max_traces=max_traces)
    if not callable(fn):
        raise TypeError(f"assert_max_traces expects a callable, got {fn!r}.")
    log = TraceLog(parameter_names(fn))
    return wrap(_MaxTraces, fn, "assert_max_traces", max_traces=max_traces, log=log)


def get_num_traces(fn: Callable) -> int:
    """How many times ``fn``, wrapped by ``assert_max_traces``, has been traced.

    Looks through wrappers that set ``__wrapped__`` (``filter_jit``,
    ``functools.wraps``). Differs from Equinox's: a ``filter_jit`` function
    with no ``assert_max_traces`` inside reports its own ``trace_count()``.
    Anything else raises ``ValueError``.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> f = ptc.filter_jit(lambda x: x + 1)
        >>> _ = f(jnp.ones(2))
        >>> ptc.debug.get_num_traces(f)
        1
    """
    node: Any = fn
    for _ in range(100):  # a __wrapped__ chain that loops must not hang
        if isinstance(node, _MaxTraces):
            return node.log.count
        inner = getattr(node, "__wrapped__", None)
        if inner is None or inner is node:
            break
        node = inner
    trace_count = getattr(fn, "trace_count", None)
    if callable(trace_count):
        count: Any = trace_count()
        return int(count)
    raise ValueError(
        f"get_num_traces: {fn!r} is not wrapped with ptc.debug.assert_max_traces (nor a "
        f"ptc.filter_jit function). Wrap it: jax.jit(ptc.debug.assert_max_traces(f, "
        f"max_traces=None))."
    )
