"""flax: struct dataclasses nested both ways; flax.serialization without user calls."""

import subprocess
import sys
import textwrap

import flax.serialization
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pytreeclass as ptc


@flax.struct.dataclass
class FlaxParams:
    kernel: jax.Array
    tag: str = flax.struct.field(pytree_node=False, default="flax")


@ptc.pytree_dataclass
class Model:
    params: FlaxParams
    bias: jax.Array
    name: str = ptc.field(static=True, default="model")


@flax.struct.dataclass
class FlaxOuter:
    inner: Model
    step: jax.Array


def make_model():
    return Model(FlaxParams(jnp.ones((2, 2))), jnp.zeros(2))


def test_nested_both_ways_under_jit():
    outer = FlaxOuter(make_model(), jnp.zeros((), jnp.int32))
    out = jax.jit(lambda o: o.replace(step=o.step + 1))(outer)
    assert int(out.step) == 1
    assert out.inner.params.tag == "flax"
    assert out.inner.name == "model"
    assert len(jax.tree_util.tree_leaves(outer)) == 3


def test_state_dict_holds_data_fields_only():
    state = flax.serialization.to_state_dict(make_model())
    assert set(state) == {"params", "bias"}
    assert set(state["params"]) == {"kernel"}


def test_from_state_dict_takes_static_fields_from_the_target():
    target = Model(FlaxParams(jnp.zeros((2, 2))), jnp.zeros(2), name="target")
    state = flax.serialization.to_state_dict(make_model())
    restored = flax.serialization.from_state_dict(target, state)
    np.testing.assert_allclose(restored.params.kernel, np.ones((2, 2)))
    assert restored.name == "target"


def test_bytes_roundtrip():
    data = flax.serialization.to_bytes(make_model())
    target = Model(FlaxParams(jnp.zeros((2, 2))), jnp.ones(2))
    restored = flax.serialization.from_bytes(target, data)
    np.testing.assert_allclose(restored.params.kernel, np.ones((2, 2)))
    np.testing.assert_allclose(restored.bias, np.zeros(2))


def test_missing_and_unknown_state_keys_are_clear_errors():
    state = flax.serialization.to_state_dict(make_model())
    with pytest.raises(ValueError, match=r"Missing field 'bias'.*Model"):
        flax.serialization.from_state_dict(make_model(), {"params": state["params"]})
    with pytest.raises(ValueError, match=r"Unknown field\(s\) 'extra'.*Model"):
        flax.serialization.from_state_dict(make_model(), {**state, "extra": 1})


def test_class_decorated_before_flax_import_needs_one_call():
    code = textwrap.dedent(
        """
        import sys
        import jax.numpy as jnp
        import pytreeclass as ptc

        @ptc.pytree_dataclass
        class Early:
            w: object
            name: str = ptc.field(static=True, default="e")

        assert "flax" not in sys.modules
        import flax.serialization
        ptc.register_flax_serialization()
        print(sorted(flax.serialization.to_state_dict(Early(jnp.ones(1)))))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['w']"


def test_register_flax_serialization_rejects_other_classes():
    with pytest.raises(TypeError, match="expects a pytree dataclass"):
        ptc.register_flax_serialization(dict)
