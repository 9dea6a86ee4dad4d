"""``is_array``, ``is_inexact_array``, ``partition`` and ``combine``.

Same semantics as Equinox's functions of the same names, so code and habits
carry over: a *filter spec* is a prefix pytree of the tree whose leaves are
``bool`` or a callable ``leaf -> bool``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.core import Tracer

from ._dtypes import is_inexact_dtype

#: What the filtered transforms trace: JAX arrays and tracers, numpy arrays
#: and numpy scalars. Python numbers are *not* arrays here, on purpose.
#: ``Tracer`` is listed because tracers are ``jax.Array`` instances
#: only through ``isinstance``, not ``issubclass``, and ``_jit`` memoises by type.
ARRAY_TYPES = (jax.Array, Tracer, np.ndarray, np.generic)


def is_array(element: Any) -> bool:
    """``True`` for ``jax.Array`` (tracers included), ``np.ndarray`` and numpy scalars.

    Python ``int``/``float``/``bool`` are *not* arrays, so the filtered
    transforms treat them as static.

    Example:
        >>> import jax.numpy as jnp, numpy as np
        >>> import pytreeclass as ptc
        >>> ptc.is_array(jnp.ones(2)), ptc.is_array(np.float32(1)), ptc.is_array(1.0)
        (True, True, False)
    """
    return isinstance(element, ARRAY_TYPES) or _is_typed_scalar(element)


_PLAIN_NUMBERS = frozenset({int, float, complex, bool})


def _is_typed_scalar(x: Any) -> bool:
    """JAX's typed Python scalars (``TypedFloat`` and kin, a ``float`` with a
    ``dtype``), which JAX hands to custom-derivative rules for a Python number
    argument: values with a dtype, so arrays here (as in Equinox)."""
    return (
        isinstance(x, int | float | complex)
        and type(x) not in _PLAIN_NUMBERS
        and hasattr(x, "dtype")
    )


def is_inexact_array(element: Any) -> bool:
    """``True`` for arrays of floating or complex dtype: what gets differentiated.

    Asks JAX's dtype lattice, so ``bfloat16``, ``float16`` and the ``float8``
    family count (numpy's ``issubdtype`` says no for them); typed PRNG key
    arrays are arrays but never inexact.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> ptc.is_inexact_array(jnp.ones(2)), ptc.is_inexact_array(jnp.arange(2))
        (True, False)
    """
    return is_array(element) and is_inexact_dtype(element.dtype)


# What ``jnp.asarray`` takes as a value, as in Equinox.
_ARRAY_LIKE_TYPES = (*ARRAY_TYPES, float, complex, bool, int)


def is_array_like(element: Any) -> bool:
    """``True`` for arrays, Python ``bool``/``int``/``float``/``complex``, and objects
    with ``__jax_array__``: what ``jnp.asarray`` takes (Equinox's semantics).

    Example:
        >>> import pytreeclass as ptc
        >>> ptc.is_array_like(1.0), ptc.is_array_like("a")
        (True, False)
    """
    return isinstance(element, _ARRAY_LIKE_TYPES) or hasattr(element, "__jax_array__")


def is_inexact_array_like(element: Any) -> bool:
    """``True`` for inexact arrays (``bfloat16`` and ``float8`` included) and Python
    ``float``/``complex`` (Equinox's semantics, with JAX's dtype lattice).

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> ptc.is_inexact_array_like(1.0), ptc.is_inexact_array_like(jnp.arange(2))
        (True, False)
    """
    if hasattr(element, "__jax_array__"):
        element = element.__jax_array__()
    if is_array(element):
        return is_inexact_dtype(element.dtype)
    return isinstance(element, float | complex)


def is_pytree_node(x: Any) -> bool:
    """Whether JAX flattens ``x`` (rather than treating it as one leaf).

    Unlike ``treedef_is_leaf``, true for nodes without children, such as a
    pytree dataclass whose fields are all static.
    """
    treedef: Any = jax.tree_util.tree_structure(x)  # the stubs lack num_nodes
    return not (treedef.num_nodes == 1 and treedef.num_leaves == 1)


def _filter_tree(filter_spec: Any, tree: Any, is_leaf: Callable[[Any], bool] | None) -> Any:
    """A tree of bools with the structure of ``tree``, from a prefix ``filter_spec``."""

    def expand(spec: Any, subtree: Any) -> Any:
        if isinstance(spec, Tracer):
            raise ValueError(
                "filter_spec leaves cannot be traced arrays; use Python bools or callables."
            )
        if isinstance(spec, bool):
            return jax.tree_util.tree_map(lambda _: spec, subtree, is_leaf=is_leaf)
        if callable(spec):
            return jax.tree_util.tree_map(spec, subtree, is_leaf=is_leaf)
        raise TypeError(
            f"filter_spec leaves must be bools or callables leaf -> bool, got {spec!r}."
        )

    return jax.tree_util.tree_map(expand, filter_spec, tree, is_leaf=is_leaf)


def partition(
    pytree: Any,
    filter_spec: Any,
    replace: Any = None,
    is_leaf: Callable[[Any], bool] | None = None,
) -> tuple[Any, Any]:
    """Split ``pytree`` in two trees of its structure: leaves kept and leaves left.

    Leaves where ``filter_spec`` is true go to the first tree, the others to
    the second; the missing places hold ``replace``. ``combine`` undoes it.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> arrays, rest = ptc.partition([jnp.ones(2), "relu", 3], ptc.is_array)
        >>> rest
        [None, 'relu', 3]
    """
    mask = _filter_tree(filter_spec, pytree, is_leaf)
    kept = jax.tree_util.tree_map(lambda m, x: x if m else replace, mask, pytree)
    left = jax.tree_util.tree_map(lambda m, x: replace if m else x, mask, pytree)
    return kept, left


def filter(  # noqa: A001 - Equinox's name
    pytree: Any,
    filter_spec: Any,
    inverse: bool = False,
    replace: Any = None,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """``pytree`` with the leaves where ``filter_spec`` is false (true, if ``inverse``)
    replaced by ``replace``: Equinox's ``filter``, on any pytree.

    Example:
        >>> import jax.numpy as jnp
        >>> import pytreeclass as ptc
        >>> ptc.filter([jnp.ones(1), "relu", 3], ptc.is_array)
        [Array([1.], dtype=float32), None, None]
    """
    kept, left = partition(pytree, filter_spec, replace=replace, is_leaf=is_leaf)
    return left if inverse else kept


def _is_none(x: Any) -> bool:
    return x is None


def _first_not_none(*leaves: Any) -> Any:
    return next((leaf for leaf in leaves if leaf is not None), None)


def combine(*pytrees: Any, is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """Merge trees of one structure, taking at each place the first non-``None`` leaf.

    Example:
        >>> import pytreeclass as ptc
        >>> ptc.combine([1, None], [None, "b"])
        [1, 'b']
    """
    if not pytrees:
        raise TypeError("combine() needs at least one pytree.")
    if is_leaf is None:
        leaf_test = _is_none
    else:

        def leaf_test(x: Any) -> bool:
            return x is None or is_leaf(x)

    return jax.tree_util.tree_map(_first_not_none, *pytrees, is_leaf=leaf_test)
