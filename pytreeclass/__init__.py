"""pytreeclass: decorator-only pytree dataclasses and filtered transforms for JAX.

Three parts, each a set of modules (``__init__`` only re-exports them):

- **the class**: ``pytree_dataclass``, ``field``, ``fields``, ``replace``,
  ``AbstractVar`` (``_dataclass``, ``_field``, ``_construct``, ``_rebuild``,
  ``_abstract``, ``_registry``, ``_repr``, ``_interop``);
- **the transforms**, whose public home is ``pytreeclass.transforms``:
  ``filter_jit``, ``filter_grad``, ``filter_vmap``, the rest of Equinox's
  filtered family and the filters (``_jit``, ``_compiled``, ``_grad``, ``_vmap``,
  ``_ad``, ``_custom_ad``, ``_filters``, ``_sharding``, ``_callback``, ...);
- **the tree tools**: ``tree_at``, ``tree_equal``, ``tree_summary``,
  serialisation, ``error_if``, ``apply_updates``, ``pytreeclass.debug`` and, for
  tests, ``pytreeclass.testing``.
"""

from . import debug as debug
from ._abstract import AbstractClassVar as AbstractClassVar
from ._abstract import AbstractVar as AbstractVar
from ._ad import filter_checkpoint as filter_checkpoint
from ._ad import filter_closure_convert as filter_closure_convert
from ._ad import filter_eval_shape as filter_eval_shape
from ._ad import filter_hessian as filter_hessian
from ._ad import filter_jacfwd as filter_jacfwd
from ._ad import filter_jacrev as filter_jacrev
from ._ad import filter_jvp as filter_jvp
from ._ad import filter_vjp as filter_vjp
from ._callback import filter_pure_callback as filter_pure_callback
from ._compiled import clear_caches as clear_caches
from ._custom_ad import filter_custom_jvp as filter_custom_jvp
from ._custom_ad import filter_custom_vjp as filter_custom_vjp
from ._dataclass import pytree_dataclass as pytree_dataclass
from ._dataclass import replace as replace
from ._errors import branched_error_if as branched_error_if
from ._errors import error_if as error_if
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
from ._make_jaxpr import filter_make_jaxpr as filter_make_jaxpr
from ._nondifferentiable import nondifferentiable as nondifferentiable
from ._nondifferentiable import nondifferentiable_backward as nondifferentiable_backward
from ._partial import Partial as Partial
from ._registry import is_pytree_dataclass as is_pytree_dataclass
from ._repr import tree_pformat as tree_pformat
from ._repr import tree_pprint as tree_pprint
from ._serialisation import default_deserialise_filter_spec as default_deserialise_filter_spec
from ._serialisation import default_serialise_filter_spec as default_serialise_filter_spec
from ._serialisation import tree_deserialise_leaves as tree_deserialise_leaves
from ._serialisation import tree_serialise_leaves as tree_serialise_leaves
from ._sharding import filter_shard as filter_shard
from ._summary import SummaryRow as SummaryRow
from ._summary import TreeSummary as TreeSummary
from ._summary import tree_summary as tree_summary
from ._tree import tree_at as tree_at
from ._tree import tree_equal as tree_equal
from ._tree_tools import if_array as if_array
from ._tree_tools import tree_check as tree_check
from ._tree_tools import tree_flatten_one_level as tree_flatten_one_level
from ._update import apply_updates as apply_updates
from ._vmap import filter_vmap as filter_vmap


def _installed_version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("pytreeclass")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a bare source tree
        return "0.0.0"


__version__ = _installed_version()
del _installed_version
