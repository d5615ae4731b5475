"""Timing and memory helpers shared by the benchmarks (stdlib only: the Evidently
environment imports it too)."""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, list[float], Any]:
    """(median seconds, every run's seconds, the last result)."""
    times: list[float] = []
    result = None
    for _ in range(runs):
        result = None
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times, result


def traced_peak(fn: Callable[[], Any]) -> float:
    """Peak of Python allocations (numpy's included) during one call, MiB."""
    gc.collect()
    tracemalloc.start()
    result = fn()
    _, top = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    return top / 2**20


def status_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process from /proc/self/status, MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")
