"""Checkpointing: orbax-checkpoint with a template, and a dependency-free numpy path."""

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

import pytreeclass as ptc


@ptc.pytree_dataclass
class Net:
    w: jax.Array
    b: jax.Array
    name: str = ptc.field(static=True, default="net")
    depth: int = ptc.field(static=True, default=2)


def make_net():
    return Net(jnp.arange(6.0).reshape(2, 3), jnp.ones(3), name="trained", depth=4)


def test_orbax_standard_checkpointer_roundtrip(tmp_path):
    net = make_net()
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(tmp_path / "ckpt", net)
        checkpointer.wait_until_finished()
        template = Net(jnp.zeros((2, 3)), jnp.zeros(3), name="trained", depth=4)
        restored = checkpointer.restore(tmp_path / "ckpt", template)
    assert isinstance(restored, Net)
    np.testing.assert_array_equal(restored.w, net.w)
    np.testing.assert_array_equal(restored.b, net.b)
    assert (restored.name, restored.depth) == ("trained", 4)


def save_npz(path, tree):
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    np.savez(path, **{jax.tree_util.keystr(k): np.asarray(v) for k, v in flat})


def load_npz(path, template):
    with np.load(path) as data:
        flat, treedef = jax.tree_util.tree_flatten_with_path(template)
        return treedef.unflatten([jnp.asarray(data[jax.tree_util.keystr(k)]) for k, _ in flat])


def test_numpy_savez_roundtrip_by_key_path(tmp_path):
    net = make_net()
    save_npz(tmp_path / "net.npz", net)
    restored = load_npz(tmp_path / "net.npz", Net(jnp.zeros((2, 3)), jnp.zeros(3), "trained", 4))
    np.testing.assert_array_equal(restored.w, net.w)
    assert restored.name == "trained"
    with np.load(tmp_path / "net.npz") as data:
        assert sorted(data.files) == [".b", ".w"]
