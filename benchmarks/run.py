"""Run every benchmark in one process and report medians and ratios.

    python -m benchmarks [--quick] [--out DIR]

Writes ``results.md``, ``results.json`` and ``scaling.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp

import pytreeclass as ptc

from .models import ASSIGNMENT, CONSTRUCTION, FLAVOURS, WIDTH, layers, mixed, mlp
from .timing import compare


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    device = jax.devices()[0]
    return {
        "backend": jax.default_backend(),
        "device": getattr(device, "device_kind", str(device)),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "jax": jax.__version__,
        "equinox": eqx.__version__,
        "pytreeclass": ptc.__version__,
        "python": platform.python_version(),
    }


def bench_flatten(layers: list[int], rounds: int, target_s: float) -> list[dict]:
    rows = []
    for n in layers:
        models = {name: mlp(name, n) for name in FLAVOURS}
        flat = {name: jax.tree_util.tree_flatten(m) for name, m in models.items()}
        order = ["register_dataclass", "pytreeclass", "equinox", "flax.struct"]
        flatten = compare(
            {k: functools.partial(jax.tree_util.tree_flatten, models[k]) for k in order},
            rounds,
            target_s,
        )
        unflatten = compare(
            {k: functools.partial(flat[k][1].unflatten, flat[k][0]) for k in order},
            rounds,
            target_s,
        )
        rows.append({"case": f"flatten MLP-{n}", **flatten})
        rows.append({"case": f"unflatten MLP-{n}", **unflatten})
    return rows


def bench_construction(rounds: int, target_s: float) -> list[dict]:
    """Building a three-field instance from user code (baseline: a frozen dataclass)."""
    rows = []
    for case, classes in CONSTRUCTION.items():
        fns = {name: functools.partial(cls, 1, 2) for name, cls in classes.items()}
        rows.append({"case": f"construct, {case}", **compare(fns, rounds, target_s)})
    return rows


def bench_assignment(rounds: int, target_s: float) -> list[dict]:
    """A hand-written ``__init__`` of a frozen class: ``self.x = ...`` against
    ``object.__setattr__`` (baseline: a frozen dataclass with ``object.__setattr__``)."""
    fns = {name: functools.partial(cls, 1, 2) for name, cls in ASSIGNMENT.items()}
    return [{"case": "construct, 3 fields assigned in __init__", **compare(fns, rounds, target_s)}]


def bench_eval_shape(rounds: int, target_s: float) -> list[dict]:
    """Abstract evaluation of a 128-layer model's forward (baseline: jax.eval_shape)."""
    model, x = mlp("pytreeclass", 128), jnp.ones(WIDTH)
    fns = {
        "jax.eval_shape": functools.partial(jax.eval_shape, forward, model, x),
        "ptc.filter_eval_shape": functools.partial(ptc.filter_eval_shape, forward, model, x),
        "eqx.filter_eval_shape": functools.partial(eqx.filter_eval_shape, forward, model, x),
    }
    return [{"case": "eval_shape MLP-128 forward", **compare(fns, rounds, target_s)}]


def bench_error_if(rounds: int, target_s: float) -> list[dict]:
    """A cached filter_jit call with one error_if against the same function without it
    (baseline: the same library's filter_jit, no check), ptc and eqx side by side."""

    def unchecked(x):
        return jnp.sin(x) * 2

    def checked_with(lib):
        def checked(x):
            return jnp.sin(lib.error_if(x, x <= 0, "x must be positive")) * 2

        return checked

    # Eight floats: a larger array lets XLA's CPU threading (not the check) set the time.
    x = jnp.ones(8)
    rows = []
    for name, lib in (("ptc", ptc), ("eqx", eqx)):
        plain, checked = lib.filter_jit(unchecked), lib.filter_jit(checked_with(lib))
        fns = {
            "without error_if": lambda f=plain: f(x).block_until_ready(),
            "with one error_if": lambda f=checked: f(x).block_until_ready(),
        }
        case = f"{name}.filter_jit, sin(x) * 2 on 8 floats"
        rows.append({"case": case, **compare(fns, rounds, target_s)})
    return rows


def loss(model, x):
    return jnp.sum(model(x) ** 2)


def forward(model, x):
    return model(x)


def identity(x):
    return x


def dispatch_cases() -> dict[str, tuple[dict, tuple]]:
    """Case -> ({candidate: callable}, args); the same pytree for every candidate."""
    model, x = mlp("pytreeclass", 16), jnp.ones(WIDTH)
    xs = jnp.ones((32, WIDTH))
    return {
        "MLP-1 forward": (
            {
                "jax.jit": jax.jit(forward),
                "ptc.filter_jit": ptc.filter_jit(forward),
                "eqx.filter_jit": eqx.filter_jit(forward),
            },
            (mlp("pytreeclass", 1), x),
        ),
        "identity, 1 array": (
            {
                "jax.jit": jax.jit(identity),
                "ptc.filter_jit": ptc.filter_jit(identity),
                "eqx.filter_jit": eqx.filter_jit(identity),
            },
            (x,),
        ),
        "MLP-16 forward": (
            {
                "jax.jit": jax.jit(forward),
                "ptc.filter_jit": ptc.filter_jit(forward),
                "eqx.filter_jit": eqx.filter_jit(forward),
            },
            (model, x),
        ),
        "jit(grad(loss)) MLP-16": (
            {
                "jax.jit": jax.jit(jax.grad(loss)),
                "ptc.filter_jit": ptc.filter_jit(ptc.filter_grad(loss)),
                "eqx.filter_jit": eqx.filter_jit(eqx.filter_grad(loss)),
            },
            (model, x),
        ),
        "jit(vmap(forward)) MLP-16": (
            {
                "jax.jit": jax.jit(jax.vmap(forward, in_axes=(None, 0))),
                "ptc.filter_jit": ptc.filter_jit(ptc.filter_vmap(forward, in_axes=(None, 0))),
                "eqx.filter_jit": eqx.filter_jit(eqx.filter_vmap(forward, in_axes=(None, 0))),
            },
            (model, xs),
        ),
    }


def bench_dispatch(rounds: int, target_s: float) -> list[dict]:
    rows = []
    for case, (candidates, args) in dispatch_cases().items():
        fns = {name: functools.partial(f, *args) for name, f in candidates.items()}
        rows.append({"case": case, **compare(fns, rounds, target_s)})
    return rows


def bench_mixed(rounds: int, target_s: float) -> list[dict]:
    """A model that jax.jit cannot take (a float, a string and a lambda as data),
    against ``jax.jit`` of the same computation on its array part alone."""
    x = jnp.ones(WIDTH)
    model = mixed("pytreeclass")
    arrays, rest = ptc.partition(model, ptc.is_array)
    on_arrays = jax.jit(lambda arrays, x: forward_mixed(ptc.combine(arrays, rest), x))
    fns = {
        "jax.jit, array part": functools.partial(on_arrays, arrays, x),
        "ptc.filter_jit": functools.partial(ptc.filter_jit(forward_mixed), model, x),
        "eqx.filter_jit": functools.partial(eqx.filter_jit(forward_mixed), mixed("equinox"), x),
    }
    return [{"case": "MLP-16 + float, str, lambda", **compare(fns, rounds, target_s)}]


def forward_mixed(model, x):
    return model.act(model.mlp(x)) * model.lr


def first_leaf(tree, x):
    return tree[0].w[0] + x


def bench_scaling(sizes: list[int], rounds: int, target_s: float) -> list[dict]:
    """Cached calls on a tuple of N two-array layers (a static activation each),
    reading one leaf: what dispatch costs as a model grows."""
    rows = []
    x = jnp.ones(())
    for n in sizes:
        tree = layers(n)
        candidates = {
            "jax.jit": jax.jit(first_leaf),
            "ptc.filter_jit": ptc.filter_jit(first_leaf),
            "eqx.filter_jit": eqx.filter_jit(first_leaf),
        }
        fns = {name: functools.partial(f, tree, x) for name, f in candidates.items()}
        case = f"{n} layers ({2 * n} arrays)"
        rows.append({"case": case, "leaves": 2 * n, **compare(fns, rounds, target_s)})
    return rows


def bench_first_call(n_layers: int, rounds: int) -> list[dict]:
    """Trace and compile: every call wraps a new function, so nothing is cached."""
    tree, x = layers(n_layers), jnp.ones(())

    def first_call(transform: Callable) -> Callable[[], object]:
        def call() -> object:
            def fresh(tree, x):
                return tree[0].w[0] + x

            return transform(fresh)(tree, x)

        return call

    transforms = {
        "jax.jit": jax.jit,
        "ptc.filter_jit": ptc.filter_jit,
        "eqx.filter_jit": eqx.filter_jit,
    }
    fns = {name: first_call(transform) for name, transform in transforms.items()}
    # target_s=0: one call per round (each is tens of milliseconds).
    return [{"case": f"first call, {n_layers} layers", **compare(fns, rounds, 0)}]


def markdown(title: str, rows: list[dict]) -> str:
    """One table: µs per candidate, ratios to the first, and (when the first is
    ``jax.jit``) each filtered jit's overhead over it, which is what a wrapper adds."""
    names = [k for k in rows[0] if k not in ("case", "leaves")]
    baseline = names[0]
    overhead = baseline == "jax.jit"
    head = "| case | " + " | ".join(f"{n} (µs)" for n in names)
    head += " | " + " | ".join(f"{n} / {baseline}" for n in names[1:])
    if overhead:
        head += " | " + " | ".join(f"{n} overhead (µs)" for n in names[1:])
    columns = 2 * len(names) + (len(names) - 1 if overhead else 0)
    lines = [f"#### {title}", "", head + " |", "|" + "---|" * columns]
    for row in rows:
        cells = [f"{row[n]['us']:.1f}" for n in names]
        cells += [f"{row[n]['ratio']:.2f}x" for n in names[1:]]
        if overhead:
            cells += [f"{row[n]['us'] - row[baseline]['us']:.1f}" for n in names[1:]]
        lines.append(f"| {row['case']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path, info: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ratio) = plt.subplots(1, 2, figsize=(11, 4))
    sizes = [row["leaves"] for row in rows]
    for name in ("jax.jit", "ptc.filter_jit", "eqx.filter_jit"):
        ax.loglog(sizes, [row[name]["us"] for row in rows], marker="o", label=name)
        ratio.semilogx(sizes, [row[name]["ratio"] for row in rows], marker="o", label=name)
    ax.set_xlabel("array leaves in the argument")
    ax.set_ylabel("cached call, µs (median)")
    ratio.set_xlabel("array leaves in the argument")
    ratio.set_ylabel("per-call cost / jax.jit's (median of rounds)")
    fig.suptitle(f"Dispatch cost vs. model size ({info['backend']}, JAX {info['jax']})")
    for axis in (ax, ratio):
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="pytreeclass benchmarks")
    parser.add_argument("--quick", action="store_true", help="fewer rounds: under a minute")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    rounds, target_s = (5, 0.02) if args.quick else (15, 0.1)
    start = time.perf_counter()
    info = machine()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    sections = {
        "Flatten / unflatten (baseline: register_dataclass)": bench_flatten(
            [1, 16, 128], rounds, target_s
        ),
        "Construction from user code (baseline: frozen dataclass)": bench_construction(
            rounds, target_s
        ),
        "Assignment in __init__ (baseline: frozen dataclass, object.__setattr__)": (
            bench_assignment(rounds, target_s)
        ),
        "Cached-call dispatch (baseline: jax.jit)": bench_dispatch(rounds, target_s),
        "Abstract evaluation (baseline: jax.eval_shape)": bench_eval_shape(rounds, target_s),
        "Mixed model, which jax.jit cannot take (baseline: jax.jit on its array part)": bench_mixed(
            rounds, target_s
        ),
        "One error_if, condition false (baseline: the same filter_jit without it)": (
            bench_error_if(rounds, target_s)
        ),
        "Scaling: a tuple of N layers, one leaf read": bench_scaling(
            [1, 16, 128, 1000, 5000], rounds, target_s
        ),
        "Trace and compile (baseline: jax.jit)": bench_first_call(1000, rounds),
    }
    report = "".join(markdown(title, rows) + "\n" for title, rows in sections.items())
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(
        "Machine: " + ", ".join(f"{k}={v}" for k, v in info.items()) + "\n\n" + report
    )
    (args.out / "results.json").write_text(json.dumps({"machine": info, **sections}, indent=1))
    plot(sections["Scaling: a tuple of N layers, one leaf read"], args.out / "scaling.png", info)
    print(
        f"wrote {args.out}/results.md, results.json, scaling.png "
        f"in {time.perf_counter() - start:.0f} s"
    )
    return 0
