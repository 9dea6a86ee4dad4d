"""pytreeclass: decorator-only pytree dataclasses and filtered transforms for JAX."""

from importlib.metadata import PackageNotFoundError, version

from ._dataclass import is_pytree_dataclass as is_pytree_dataclass
from ._dataclass import pytree_dataclass as pytree_dataclass
from ._dataclass import replace as replace
from ._field import field as field
from ._field import fields as fields
from ._interop import register_flax_serialization as register_flax_serialization

try:
    __version__ = version("pytreeclass")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
