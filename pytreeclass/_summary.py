"""``tree_summary``: one row per leaf by key path, with totals, for any pytree."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax

from ._dtypes import is_inexact_dtype, summarize_array
from ._filters import is_array
from ._paths import places


@dataclasses.dataclass(frozen=True)
class SummaryRow:
    """One leaf (or static field) of a summarised tree."""

    path: str  # ``.layers[0].weight``
    type: str  # ``Array``, ``float``, ``PjitFunction``, ...
    shape: str  # ``f32[3,4]`` for arrays, else the value's short repr
    parameters: int  # elements of an inexact array (what an optimizer trains), else 0
    bytes: int  # an array's ``nbytes``, else 0
    role: str  # ``parameter``, ``array``, ``static leaf`` or ``static field``
    sharding: str  # the sharding's repr for an array on several devices, else ""


class TreeSummary(str):
    """The table as a ``str`` (``print`` it); ``.rows`` holds a ``SummaryRow`` per leaf."""

    rows: tuple[SummaryRow, ...]


def tree_summary(tree: Any) -> TreeSummary:
    """A table of every leaf of ``tree`` by key path, with totals.

    Columns: key path, type, shape and dtype (``f32[3,4]``), parameter count
    (elements of inexact arrays), bytes, role (``parameter``, ``array`` for
    integer arrays and keys, ``static leaf`` for what ``filter_jit`` holds static,
    ``static field`` for a pytree dataclass's treedef metadata), and the
    sharding when a leaf spans several devices. Works on any pytree; the
    result prints as the table and its ``.rows`` serve programs. A
    ``jax.ShapeDtypeStruct`` leaf (a ``filter_eval_shape`` model) counts as the
    array it describes: its parameters, and its bytes once made.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> @ptc.pytree_dataclass
        ... class Linear:
        ...     weight: jax.Array
        ...     bias: jax.Array
        ...     name: str = ptc.field(static=True, default="linear")
        >>> print(ptc.tree_summary(Linear(jnp.ones((3, 4)), jnp.zeros(4))))
        path     type   shape     parameters  bytes  role
        -------  -----  --------  ----------  -----  ------------
        .weight  Array  f32[3,4]          12   48 B  parameter
        .bias    Array  f32[4]             4   16 B  parameter
        .name    str    'linear'           0    0 B  static field
        -------  -----  --------  ----------  -----  ------------
        total: 16 parameters (64 B) in 2 arrays; 1 static value
        >>> [row.path for row in ptc.tree_summary([1.0, jnp.arange(2)]).rows]
        ['[0]', '[1]']
    """
    rows = tuple(
        _row(path, value, "static field" if kind == "static" else None)
        for path, kind, value in places(tree)
        if kind != "node"
    )
    summary = TreeSummary(_table(rows))
    summary.rows = rows
    return summary


def _row(path: tuple, leaf: Any, role: str | None) -> SummaryRow:
    key = jax.tree_util.keystr(path) or "(root)"
    abstract = isinstance(leaf, jax.ShapeDtypeStruct)  # from filter_eval_shape
    if role is None and (abstract or is_array(leaf)) and hasattr(leaf, "shape"):
        inexact = is_inexact_dtype(leaf.dtype)
        size = math.prod(leaf.shape)
        return SummaryRow(
            path=key,
            type=type(leaf).__name__.replace("ArrayImpl", "Array"),
            shape=summarize_array(leaf),
            parameters=size if inexact else 0,
            # What the array will take once made: a struct has no nbytes of its own.
            bytes=size * leaf.dtype.itemsize if abstract else int(getattr(leaf, "nbytes", 0)),
            role="parameter" if inexact else "array",
            sharding=_sharding(leaf),
        )
    text = repr(leaf)
    return SummaryRow(
        path=key,
        type=type(leaf).__name__,
        shape=text if len(text) <= 24 else text[:21] + "...",
        parameters=0,
        bytes=0,
        role=role or "static leaf",
        sharding="",
    )


def _sharding(leaf: Any) -> str:
    sharding = getattr(leaf, "sharding", None)  # None on a struct without one
    if sharding is None or len(getattr(sharding, "device_set", ())) <= 1:
        return ""
    spec = getattr(sharding, "spec", None)
    return f"{type(sharding).__name__}({spec})" if spec is not None else repr(sharding)


def _bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KB", "MB", "GB"):
        size /= 1024
        if size < 1024 or unit == "GB":
            break
    return f"{size:.1f} {unit}"


def _table(rows: tuple[SummaryRow, ...]) -> str:
    sharded = any(row.sharding for row in rows)
    header = ["path", "type", "shape", "parameters", "bytes", "role"] + (["sharding"] * sharded)
    body = [
        [r.path, r.type, r.shape, str(r.parameters), _bytes(r.bytes), r.role]
        + ([r.sharding] * sharded)
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    right = {3, 4}  # numbers align right

    def line(cells: list[str]) -> str:
        text = "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        )
        return text.rstrip()

    rule = "  ".join("-" * w for w in widths)
    arrays = [r for r in rows if r.role in ("parameter", "array")]
    statics = len(rows) - len(arrays)
    total = (
        f"total: {sum(r.parameters for r in rows):,} parameters "
        f"({_bytes(sum(r.bytes for r in rows))}) in {len(arrays)} "
        f"array{'s' * (len(arrays) != 1)}; {statics} static value{'s' * (statics != 1)}"
    )
    return "\n".join([line(header), rule, *map(line, body), rule, total])
