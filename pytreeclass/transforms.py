"""Filtered JAX transforms: whole objects in, arrays traced, the rest static."""

from ._filters import combine as combine
from ._filters import filter as filter  # noqa: A004 - Equinox's name
from ._filters import is_array as is_array
from ._filters import is_array_like as is_array_like
from ._filters import is_inexact_array as is_inexact_array
from ._filters import is_inexact_array_like as is_inexact_array_like
from ._filters import partition as partition
from ._grad import filter_grad as filter_grad
from ._grad import filter_value_and_grad as filter_value_and_grad
from ._jit import RetraceWarning as RetraceWarning
from ._jit import filter_jit as filter_jit
from ._vmap import filter_vmap as filter_vmap
