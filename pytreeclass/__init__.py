"""pytreeclass: decorator-only pytree dataclasses and filtered transforms for JAX."""

from importlib.metadata import PackageNotFoundError, version

from ._dataclass import is_pytree_dataclass, pytree_dataclass, replace
from ._field import field, fields
from ._interop import register_flax_serialization
from .transforms import (
    RetraceWarning,
    combine,
    filter_grad,
    filter_jit,
    filter_value_and_grad,
    filter_vmap,
    is_array,
    is_inexact_array,
    partition,
)

try:
    __version__ = version("pytreeclass")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "RetraceWarning",
    "combine",
    "field",
    "fields",
    "filter_grad",
    "filter_jit",
    "filter_value_and_grad",
    "filter_vmap",
    "is_array",
    "is_inexact_array",
    "is_pytree_dataclass",
    "partition",
    "pytree_dataclass",
    "register_flax_serialization",
    "replace",
]
