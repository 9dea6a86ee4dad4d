"""``field`` and ``fields``: dataclass fields that know whether they are static.

A field is *static* when its metadata holds ``{"static": True}``, which is
JAX's own convention for ``jax.tree_util.register_dataclass``: a plain
``dataclasses.field(metadata={"static": True})`` is honoured exactly like
``pytreeclass.field(static=True)``, and so is flax.struct's
``{"pytree_node": False}``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ._registry import is_pytree_dataclass

# The metadata key under which ``field(converter=...)`` stores its converter.
_CONVERTER_KEY = "pytreeclass.converter"


def field(
    *,
    static: bool = False,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    init: bool = True,
    repr: bool = True,  # noqa: A002 - mirrors dataclasses.field
    hash: bool | None = None,  # noqa: A002 - mirrors dataclasses.field
    compare: bool = True,
    metadata: Mapping[Any, Any] | None = None,
    kw_only: Any = dataclasses.MISSING,
    converter: Callable[[Any], Any] | None = None,
) -> Any:
    """Declare a field of a pytree dataclass.

    Same arguments as ``dataclasses.field``, plus:

    - ``static=True`` makes the field metadata: it lives in the treedef, is
      hashed and compared by JAX, and is never traced. Its value must be
      hashable (checked when an instance is built).
    - ``converter`` is applied once per construction to the value the field
      gets: the argument or the default, before ``__post_init__`` runs under a
      generated ``__init__``; after ``__init__`` for ``init=False`` fields and
      under a hand-written ``__init__``. So also by ``pytreeclass.replace``.
      It is *not* applied when JAX rebuilds an instance from its leaves, where
      the leaves may be tracers or ``None``, nor by ``tree_at``.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> @ptc.pytree_dataclass
        ... class Scale:
        ...     factor: jnp.ndarray = ptc.field(converter=jnp.asarray, default=2.0)
        ...     name: str = ptc.field(static=True, default="scale")
        >>> Scale().factor
        Array(2., dtype=float32, weak_type=True)
    """
    merged: dict[Any, Any] = dict(metadata or {})
    if static:
        merged["static"] = True
    if converter is not None:
        if not callable(converter):
            raise TypeError(
                f"field(converter=...) must be callable, got {converter!r}; "
                "pass a function such as jnp.asarray."
            )
        merged[_CONVERTER_KEY] = converter
    return dataclasses.field(
        default=default,
        default_factory=default_factory,
        init=init,
        repr=repr,
        hash=hash,
        compare=compare,
        metadata=merged,
        kw_only=kw_only,
    )


def fields(cls_or_obj: Any) -> tuple[dataclasses.Field[Any], ...]:
    """The ``dataclasses.Field`` objects of a pytree dataclass, in order.

    Unlike ``dataclasses.fields``, it raises a ``TypeError`` that names the
    argument when it is not a pytree dataclass.

    Example:
        >>> import pytreeclass as ptc
        >>> @ptc.pytree_dataclass
        ... class Point:
        ...     x: float
        ...     y: float
        >>> [f.name for f in ptc.fields(Point)]
        ['x', 'y']
    """
    if not is_pytree_dataclass(cls_or_obj):
        raise TypeError(
            f"fields() expects a pytree dataclass or an instance of one, got "
            f"{cls_or_obj!r}; decorate the class with @pytreeclass.pytree_dataclass."
        )
    return dataclasses.fields(cls_or_obj)


def init_var_fields(cls: type) -> list[dataclasses.Field[Any]]:
    """The ``InitVar`` pseudo-fields of a dataclass, which ``dataclasses.fields`` leaves out."""
    # ``_FIELD_INITVAR`` is private, but has marked InitVars since Python 3.7.
    initvar = getattr(dataclasses, "_FIELD_INITVAR")  # noqa: B009
    table = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return [f for f in table.values() if f._field_type is initvar]


def is_static(f: dataclasses.Field[Any]) -> bool:
    """Whether a dataclass field is static (treedef metadata, never traced).

    Read the way the field's own library declares it: JAX's and Equinox's
    ``metadata={"static": True}``, or flax.struct's ``pytree_node=False``, so a
    decorated subclass of a ``flax.struct`` base keeps the base's static fields.
    """
    return bool(f.metadata.get("static", False)) or f.metadata.get("pytree_node") is False


def converter_of(f: dataclasses.Field[Any]) -> Callable[[Any], Any] | None:
    """The converter given to ``field(converter=...)``, or ``None``."""
    return f.metadata.get(_CONVERTER_KEY)
