"""Latency samples and their percentiles."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def percentile(samples: list[float], fraction: float) -> float:
    """The sample below which `fraction` of them fall (nearest rank)."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
    return ordered[rank]


def sample_ms(
    call: Callable[[int], Any], *, count: int, warmup: int = 5
) -> list[float]:
    """Milliseconds of `count` calls of call(i), after `warmup` unmeasured."""
    for index in range(warmup):
        call(index)
    samples = []
    for index in range(count):
        started = time.perf_counter()
        call(index)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 0.50), 2),
        "p95_ms": round(percentile(samples, 0.95), 2),
    }
