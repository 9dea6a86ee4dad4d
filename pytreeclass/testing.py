"""Property-based testing of pytree classes: hypothesis strategies and round-trip checks.

Needs hypothesis (``pip install hypothesis``); ``import pytreeclass``
itself never imports it. jaxtyping annotations (``Float[Array, "out inp"]``)
are understood when the class uses them; jaxtyping is never imported here.

- ``instances(cls)``: valid instances drawn from the field annotations;
  ``ArraySizes`` bounds their arrays.
- ``register_strategies(*classes)``: ``st.from_type(cls)`` uses ``instances``.
- ``assert_roundtrip(obj)``: the checks every pytree should pass, from
  flatten/unflatten to rebuilds with placeholder leaves and transforms.
- ``assert_trees_equal(expected, actual)``: equality with the path of the
  first difference.

Example:
    >>> import pytreeclass as ptc
    >>> from hypothesis import given
    >>> from jaxtyping import Array, Float
    >>> from pytreeclass.testing import assert_roundtrip, instances
    >>> @ptc.pytree_dataclass
    ... class Layer:
    ...     weight: Float[Array, "out inp"]
    ...     bias: Float[Array, " out"]
    ...     name: str = ptc.field(static=True, default="layer")
    >>> @given(instances(Layer))
    ... def test_layer_roundtrips(layer):
    ...     assert_roundtrip(layer)
    >>> test_layer_roundtrips()
"""

# Only the API lives in this namespace (no np, st, Any ...): the implementation
# is in private modules, re-exported here, the one public home of these names.
from ._roundtrip import assert_roundtrip as assert_roundtrip
from ._roundtrip import assert_trees_equal as assert_trees_equal
from ._strategies import ArraySizes as ArraySizes
from ._strategies import instances as instances
from ._strategies import register_strategies as register_strategies

__all__ = [
    "ArraySizes",
    "assert_roundtrip",
    "assert_trees_equal",
    "instances",
    "register_strategies",
]
