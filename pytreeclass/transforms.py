"""Filtered JAX transforms: whole objects in, arrays traced, the rest static.

The public home of every transform and filter: each is also re-exported as
``pytreeclass.<name>``, and says it lives here (``__module__``), so docs,
``help()`` and pickles name one place.
"""

from ._ad import filter_checkpoint as filter_checkpoint
from ._ad import filter_closure_convert as filter_closure_convert
from ._ad import filter_eval_shape as filter_eval_shape
from ._ad import filter_hessian as filter_hessian
from ._ad import filter_jacfwd as filter_jacfwd
from ._ad import filter_jacrev as filter_jacrev
from ._ad import filter_jvp as filter_jvp
from ._ad import filter_vjp as filter_vjp
from ._callback import filter_pure_callback as filter_pure_callback
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
from ._make_jaxpr import filter_make_jaxpr as filter_make_jaxpr
from ._sharding import filter_shard as filter_shard
from ._tree_tools import if_array as if_array
from ._vmap import filter_vmap as filter_vmap


def _be_their_home() -> None:
    for name, value in list(globals().items()):
        if not name.startswith("_") and callable(value):
            value.__module__ = __name__


_be_their_home()
del _be_their_home
