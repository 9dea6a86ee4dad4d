"""pytreeclass: decorator-only pytree dataclasses and filtered transforms for JAX."""

from importlib.metadata import PackageNotFoundError, version

from ._dataclass import pytree_dataclass as pytree_dataclass
from ._dataclass import replace as replace
from ._field import field as field
from ._field import fields as fields
from ._filters import combine as combine
from ._filters import filter as filter  # noqa: A004 - Equinox's name
from ._filters import is_array as is_array
from ._filters import is_array_like as is_array_like
from ._filters import is_inexact_array as is_inexact_array
from ._filters import is_inexact_array_like as is_inexact_array_like
from ._filters import partition as partition
from ._grad import filter_grad as filter_grad
from ._grad import filter_value_and_grad as filter_value_and_grad
from ._interop import register_flax_serialization as register_flax_serialization
from ._jit import RetraceWarning as RetraceWarning
from ._jit import filter_jit as filter_jit
from ._registry import is_pytree_dataclass as is_pytree_dataclass
from ._tree import tree_at as tree_at
from ._tree import tree_equal as tree_equal
from ._vmap import filter_vmap as filter_vmap

try:
    __version__ = version("pytreeclass")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
