"""Train across two processes with JAX's distributed runtime, on one machine.

The multi-host recipe, run as two processes on 127.0.0.1 (CPU, gloo
collectives, two devices each, one global 4-device mesh): the model (arrays,
a string leaf and a static activation) is replicated with
``ptc.filter_shard``; each process builds its half of the batch and
``jax.make_array_from_process_local_data`` makes the global batch; one
``ptc.filter_jit`` + ``ptc.filter_value_and_grad`` + optax step trains it.
Then it checkpoints two ways: the replicated model with
``ptc.tree_serialise_leaves`` (reloaded onto the mesh, shardings kept), and a
model sharded across the processes with orbax (``tree_serialise_leaves``
refuses that one, naming the leaf). Exits non-zero if a check fails.

    python examples/multihost_train.py [--steps 20] [--out DIR]   # two processes
    python examples/multihost_train.py --single                   # one, 4 devices

With real hosts, run the worker (``--process-id``) once per host with the
coordinator's address instead of 127.0.0.1, and a checkpoint directory all
hosts can reach.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

DEVICES = 4  # the global mesh
PROCESS_TIMEOUT_S = 120  # each process; the launcher kills what is still running after it


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(num_processes: int, steps: int, out: pathlib.Path) -> list[dict[str, Any]]:
    """Start the workers (each with ``DEVICES // num_processes`` CPU devices) and
    return each one's report; raise if one fails or runs past its timeout."""
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f]
    flags.append(f"--xla_force_host_platform_device_count={DEVICES // num_processes}")
    env = {**os.environ, "XLA_FLAGS": " ".join(flags), "JAX_PLATFORMS": "cpu"}
    port = free_port()
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, "--process-id", str(i), "--num-processes",
             str(num_processes), "--port", str(port), "--steps", str(steps), "--out", str(out)],
            env=env,
        )
        for i in range(num_processes)
    ]  # fmt: skip
    try:
        codes = [worker.wait(timeout=PROCESS_TIMEOUT_S) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    if any(codes):
        raise RuntimeError(f"a worker failed: exit codes {codes}")
    return [json.loads((out / f"process{i}.json").read_text()) for i in range(num_processes)]


# --- what each process runs ------------------------------------------------------------


def worker(process_id: int, num_processes: int, port: int, steps: int, out: pathlib.Path) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    import orbax.checkpoint as ocp
    from jax.experimental import multihost_utils
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    import pytreeclass as ptc

    # The collectives CPU processes run with each other; gloo ships with jaxlib.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if num_processes > 1:
        # Loopback only: the coordinator listens on 127.0.0.1, not on every interface.
        jax.distributed.initialize(
            f"127.0.0.1:{port}",
            num_processes,
            process_id,
            initialization_timeout=60,
            coordinator_bind_address=f"127.0.0.1:{port}",
            shutdown_timeout_seconds=30,
        )
    mesh = Mesh(np.array(jax.devices()), ("data",))  # all processes' devices
    replicated, by_row = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))

    @ptc.pytree_dataclass
    class Dense:
        weight: jax.Array
        bias: jax.Array
        name: str  # a string leaf: jax.device_put would refuse the model
        activation: Callable = ptc.field(static=True, default=jnp.tanh)

        def __call__(self, x: jax.Array) -> jax.Array:
            return self.activation(x @ self.weight + self.bias)

    @ptc.pytree_dataclass
    class Model:
        hidden: Dense
        out: Dense

        def __call__(self, x: jax.Array) -> jax.Array:
            return self.out(self.hidden(x))

    def make_model(seed: int = 0) -> Model:
        k1, k2 = jax.random.split(jax.random.key(seed))
        hidden = Dense(jax.random.normal(k1, (3, 8)) / 2, jnp.zeros(8), "hidden")
        out = Dense(jax.random.normal(k2, (8, 1)) / 3, jnp.zeros(1), "out", activation=_linear)
        return Model(hidden, out)

    def loss_fn(model: Model, x: jax.Array, y: jax.Array) -> jax.Array:
        return jnp.mean((model(x) - y) ** 2)

    optimizer = optax.adam(1e-2)

    @ptc.filter_jit
    def step(model: Model, opt_state: Any, x: jax.Array, y: jax.Array) -> Any:
        loss, grads = ptc.filter_value_and_grad(loss_fn)(model, x, y)
        params = ptc.filter(model, ptc.is_inexact_array)
        updates, opt_state = optimizer.update(grads, opt_state, params)  # pyright: ignore[reportArgumentType]
        return ptc.apply_updates(model, updates), opt_state, loss

    # Every process builds the same model and the same optimizer state, then
    # places both on the mesh: from here every step's inputs have one sharding,
    # so the step traces once.
    model = ptc.filter_shard(make_model(), replicated)
    params = ptc.filter(model, ptc.is_inexact_array)
    opt_state = ptc.filter_shard(optimizer.init(params), replicated)
    # The global batch is 16 rows; each process holds and contributes its own rows.
    rng = np.random.default_rng(0)
    x_all = rng.normal(size=(16, 3)).astype(np.float32)
    y_all = np.sin(x_all.sum(axis=1, keepdims=True)).astype(np.float32)
    rows = slice(process_id * 16 // num_processes, (process_id + 1) * 16 // num_processes)
    x = jax.make_array_from_process_local_data(by_row, x_all[rows], x_all.shape)
    y = jax.make_array_from_process_local_data(by_row, y_all[rows], y_all.shape)
    losses = []
    for _ in range(steps):
        model, opt_state, loss = step(model, opt_state, x, y)
        losses.append(float(loss))  # replicated: every process holds the value

    # Checkpoint 1: the replicated model, as a leaves file; one process writes it.
    leaves_file = out / "model.eqx"
    if process_id == 0:
        ptc.tree_serialise_leaves(leaves_file, model)
    multihost_utils.sync_global_devices("leaves file written")
    # The template: shapes and dtypes (nothing allocated), and where each leaf goes.
    like = structs(ptc.filter_eval_shape(make_model), lambda _: replicated)
    reloaded = ptc.tree_deserialise_leaves(leaves_file, like)

    # Checkpoint 2: the hidden layer's weight split over both processes' devices.
    shardings = jax.tree_util.tree_map(lambda _: replicated, ptc.filter(model, ptc.is_array))
    by_column = NamedSharding(mesh, P(None, "data"))
    shardings = ptc.tree_at(lambda s: s.hidden.weight, shardings, by_column)
    sharded = ptc.filter_shard(model, shardings)
    try:
        ptc.tree_serialise_leaves(out / f"sharded{process_id}.eqx", sharded)
        save_error = None
    except ValueError as error:  # no process holds all of .hidden.weight
        save_error = str(error)
    # orbax takes array leaves only (static fields are fine: they are in the treedef),
    # so the string leaves stay out of the checkpoint and come back from the model.
    arrays, rest = ptc.partition(sharded, ptc.is_array)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(out / "orbax", arrays)
        checkpointer.wait_until_finished()
        template = structs(arrays, lambda a: a.sharding)
        restored = ptc.combine(checkpointer.restore(out / "orbax", template), rest)

    def arrays_of(tree: Any) -> list[Any]:
        return jax.tree_util.tree_leaves(ptc.filter(tree, ptc.is_array))

    def same_shards(a: Any, b: Any) -> bool:
        pairs = zip(a.addressable_shards, b.addressable_shards, strict=True)
        return all(np.array_equal(sa.data, sb.data) for sa, sb in pairs)

    report = {
        "process": jax.process_index(),
        "processes": jax.process_count(),
        "devices": jax.device_count(),
        "local_devices": jax.local_device_count(),
        "losses": losses,
        "traces": step.trace_count(),
        "reloaded_shardings_kept": all(a.sharding == replicated for a in arrays_of(reloaded)),
        "reloaded_equal": all(map(same_shards, arrays_of(reloaded), arrays_of(model))),
        "reloaded_names": [reloaded.hidden.name, reloaded.out.name],
        "save_error": save_error,
        "orbax_shardings_kept": all(
            a.sharding == b.sharding
            for a, b in zip(arrays_of(restored), arrays_of(sharded), strict=True)
        ),
        "orbax_equal": all(map(same_shards, arrays_of(restored), arrays_of(sharded))),
        "orbax_static": [restored.hidden.name, restored.out.activation is _linear],
    }
    (out / f"process{process_id}.json").write_text(json.dumps(report))


def _linear(x: Any) -> Any:
    return x


def structs(tree: Any, sharding_of: Callable[[Any], Any]) -> Any:
    """``tree`` with each array (or struct) leaf a ``ShapeDtypeStruct`` carrying
    ``sharding_of(leaf)``: a template that says where each loaded leaf goes."""
    import jax

    def struct(leaf: Any) -> Any:
        if not hasattr(leaf, "shape") or isinstance(leaf, str):
            return leaf
        return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding_of(leaf))

    return jax.tree_util.tree_map(struct, tree)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", type=pathlib.Path, default=None)
    parser.add_argument("--single", action="store_true", help="one process, 4 devices")
    parser.add_argument("--process-id", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--num-processes", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.process_id is not None:
        worker(args.process_id, args.num_processes, args.port, args.steps, args.out)
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or pathlib.Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        reports = launch(1 if args.single else 2, args.steps, out)
    for report in reports:
        print(json.dumps(report))
    losses = [r["losses"] for r in reports]
    ok = all(run == losses[0] for run in losses) and losses[0][-1] < losses[0][0]
    ok = ok and all(r["reloaded_shardings_kept"] and r["orbax_shardings_kept"] for r in reports)
    print("ok" if ok else "FAILED: see the reports above", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
