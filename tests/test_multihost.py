"""Two processes on 127.0.0.1 train one model: examples/multihost_train.py, checked.

The example starts its processes itself (a free loopback port, CPU with gloo
collectives, two devices each, a 4-device global mesh) and each writes a JSON
report; the one-process reference runs on 4 local devices. Both runs are
bounded by timeouts (the example's, per process, and this file's).
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLE = pathlib.Path(__file__).parents[1] / "examples" / "multihost_train.py"
TIMEOUT_S = 150  # per run; each takes a few seconds on 2 cores
STEPS = 20


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Per run ("two" processes, the "one"-process reference): each process's report."""
    runs = {"two": [], "one": ["--single"]}
    out = {name: tmp_path_factory.mktemp(name) for name in runs}
    # The example sets XLA_FLAGS per process; conftest's 8 devices must not leak in.
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    started = {
        name: subprocess.Popen(
            [sys.executable, str(EXAMPLE), "--steps", str(STEPS), "--out", str(out[name]), *flags],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, flags in runs.items()
    }
    logs = {}
    try:
        for name, process in started.items():
            logs[name] = process.communicate(timeout=TIMEOUT_S)[0]
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    for name, process in started.items():
        assert process.returncode == 0, f"{name}-process run failed:\n{logs[name][-4000:]}"
    return {
        name: [json.loads(path.read_text()) for path in sorted(out[name].glob("process*.json"))]
        for name in runs
    }


def test_two_processes_share_one_four_device_mesh(reports):
    two = reports["two"]
    assert [(r["process"], r["processes"], r["devices"], r["local_devices"]) for r in two] == [
        (0, 2, 4, 2),
        (1, 2, 4, 2),
    ]
    assert [(r["processes"], r["devices"]) for r in reports["one"]] == [(1, 4)]


def test_losses_are_equal_on_both_processes_and_to_one_process(reports):
    first, second = (r["losses"] for r in reports["two"])
    (single,) = (r["losses"] for r in reports["one"])
    assert len(first) == STEPS and first == second
    assert first[-1] < 0.5 * first[0]  # it trains
    assert max(abs(a - b) for a, b in zip(first, single, strict=True)) <= 1e-6


def test_one_trace_per_process_once_the_optimizer_state_is_on_the_mesh(reports):
    assert [r["traces"] for r in reports["two"] + reports["one"]] == [1, 1, 1]


def test_the_reloaded_model_keeps_likes_named_sharding(reports):
    for report in reports["two"]:
        assert report["reloaded_shardings_kept"] and report["reloaded_equal"]
        assert report["reloaded_names"] == ["hidden", "out"]


def test_a_process_sharded_save_names_the_path_and_points_to_orbax(reports):
    for report in reports["two"]:
        error = report["save_error"]
        assert error is not None and "at .hidden.weight is sharded across processes" in error
        assert "orbax" in error
        assert report["orbax_shardings_kept"] and report["orbax_equal"]
        assert report["orbax_static"] == ["hidden", True]
    assert reports["one"][0]["save_error"] is None  # one process holds every shard
