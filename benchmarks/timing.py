"""Interleaved timing: every round times each candidate once, in turn.

The machine is shared and noisy, so absolute times drift; interleaving makes
the candidates share the drift, and ratios are taken within each round
before the median is reported. The garbage collector is off while a candidate
is timed, as ``timeit`` does: otherwise whichever candidate happens to trigger a
full collection pays for the garbage every candidate made (Equinox's dispatch
allocates the most), which moved ratios by up to 2x at 5,000 layers.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

import jax


def per_call_us(fn: Callable[[], object], number: int) -> float:
    """Mean µs per call; the last result is waited for, so queued work is counted."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            out = fn()
        jax.block_until_ready(out)
        return (time.perf_counter() - start) / number * 1e6
    finally:
        if enabled:
            gc.enable()


def calibrate(fn: Callable[[], object], target_s: float) -> int:
    """How many calls take about ``target_s`` seconds."""
    jax.block_until_ready(fn())
    number = 1
    while True:
        elapsed = per_call_us(fn, number) * number / 1e6
        if elapsed > target_s / 4 or number >= 1 << 16:
            return max(1, int(number * target_s / max(elapsed, 1e-9)))
        number *= 4


def compare(
    candidates: dict[str, Callable[[], object]], rounds: int, target_s: float
) -> dict[str, dict[str, float]]:
    """Median µs per call and median per-round ratio to the first candidate."""
    numbers = {name: calibrate(fn, target_s) for name, fn in candidates.items()}
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            samples[name].append(per_call_us(fn, numbers[name]))
    baseline = next(iter(candidates))
    return {
        name: {
            "us": statistics.median(times),
            "ratio": statistics.median(
                t / b for t, b in zip(times, samples[baseline], strict=True)
            ),
        }
        for name, times in samples.items()
    }
