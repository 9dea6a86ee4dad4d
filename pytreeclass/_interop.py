"""Hooks into other libraries, installed only when the user already loaded them.

``import pytreeclass`` never imports flax: when ``flax.serialization`` is in
``sys.modules`` at decoration time the class is registered with it at once;
otherwise ``register_flax_serialization()`` does it later.
"""

from __future__ import annotations

import sys
from typing import Any

from ._rebuild import copy_with
from ._registry import SPEC_ATTRIBUTE, decorated_classes, is_pytree_dataclass


def register_with_loaded_libraries(cls: type) -> None:
    """Called by the decorator for every new pytree dataclass."""
    if "flax.serialization" in sys.modules:
        _register_flax(cls)


def register_flax_serialization(cls: type | None = None) -> None:
    """Register pytree dataclasses with ``flax.serialization``.

    Only needed when flax was imported *after* a class was decorated (classes
    decorated after ``import flax`` are registered automatically). With no
    argument, registers every pytree dataclass defined so far. State dicts hold
    the data fields only, as with ``flax.struct``; static fields come from the
    target given to ``from_state_dict``/``from_bytes``.

    Example:
        >>> import flax.serialization
        >>> import pytreeclass as ptc
        >>> ptc.register_flax_serialization()
    """
    if cls is not None and not is_pytree_dataclass(cls):
        raise TypeError(f"register_flax_serialization() expects a pytree dataclass, got {cls!r}.")
    for klass in [cls] if cls is not None else decorated_classes():
        _register_flax(klass)


def _register_flax(cls: type) -> None:
    from flax import serialization

    data_fields = cls.__dict__[SPEC_ATTRIBUTE].data_names

    def to_state_dict(obj: Any) -> dict[str, Any]:
        return {name: serialization.to_state_dict(getattr(obj, name)) for name in data_fields}

    def from_state_dict(target: Any, state: dict[str, Any]) -> Any:
        state = dict(state)
        updates = {}
        for name in data_fields:
            if name not in state:
                raise ValueError(
                    f"Missing field {name!r} in the state dict while restoring "
                    f"{cls.__qualname__} at path {serialization.current_path()!r}; "
                    f"the state dict must come from the same model structure."
                )
            updates[name] = serialization.from_state_dict(
                getattr(target, name), state.pop(name), name=name
            )
        if state:
            raise ValueError(
                f"Unknown field(s) {', '.join(map(repr, state))} in the state dict while "
                f"restoring {cls.__qualname__} at path {serialization.current_path()!r}."
            )
        return copy_with(target, updates)  # restoring a state runs no __init__

    serialization.register_serialization_state(cls, to_state_dict, from_state_dict, override=True)
