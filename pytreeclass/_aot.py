"""Ahead-of-time compilation for ``filter_jit``: ``f.lower(*args).compile()(*args)``.

JAX's ``Lowered``/``Compiled`` take only the dynamic part of the arguments;
these wrappers take the same arguments as the function (arrays and statics),
as Equinox's do, split them the way the jit does, and check that the statics
and structure are those the function was lowered with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._static_key import SplitFirst, WithStatic

# (args, kwargs) -> (dynamic leaves, static key), exactly as a call splits them.
Splitter = Callable[[tuple, dict], tuple[list, Any]]


class Lowered:
    """What ``filter_jit(f).lower(*args, **kwargs)`` returns.

    ``as_text()``, ``cost_analysis()`` and the rest come from ``jax.stages.Lowered``;
    ``compile()`` gives a ``Compiled`` called with ``f``'s own arguments.
    """

    def __init__(self, lowered: Any, split: Splitter, key: Any, call: Any, name: str):
        self._lowered, self._split, self._key, self._call, self._name = (
            lowered,
            split,
            key,
            call,
            name,
        )

    def compile(self, *args: Any, **kwargs: Any) -> Compiled:
        compiled = self._lowered.compile(*args, **kwargs)
        return Compiled(compiled, self._split, self._key, self._call, self._name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lowered, name)


class Compiled:
    """A compiled ``filter_jit`` function, called with the arguments it was lowered with
    (same structure, shapes, dtypes and static values; new array values)."""

    def __init__(self, compiled: Any, split: Splitter, key: Any, call: Any, name: str):
        self._compiled, self._split, self._key, self._name = compiled, split, key, name
        inner = getattr(call, "entry", call)  # past a _QuietDonation
        self._split_first = inner if isinstance(inner, SplitFirst) else None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        dynamic, key = self._split(args, kwargs)
        if not _same_key(key, self._key):
            raise TypeError(
                f"filter_jit({self._name}).lower(...).compile() was called with arguments "
                f"whose structure or static (non-array) values differ from those it was "
                f"lowered with. Lower it again for these arguments, or call the "
                f"filter_jit function itself, which compiles as needed."
            )
        if self._split_first is None:
            out = self._compiled(dynamic)
        else:
            out = self._compiled(*self._split_first.parts(dynamic))
        return out.rebuild() if type(out) is WithStatic else out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._compiled, name)


def _same_key(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:
        return False
