"""Filtered JAX transforms: whole objects in, arrays traced, the rest static."""

from ._ad import filter_checkpoint as filter_checkpoint
from ._ad import filter_closure_convert as filter_closure_convert
from ._ad import filter_eval_shape as filter_eval_shape
from ._ad import filter_hessian as filter_hessian
from ._ad import filter_jacfwd as filter_jacfwd
from ._ad import filter_jacrev as filter_jacrev
from ._ad import filter_jvp as filter_jvp
from ._ad import filter_vjp as filter_vjp
from ._custom_ad import filter_custom_jvp as filter_custom_jvp
from ._custom_ad import filter_custom_vjp as filter_custom_vjp
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
