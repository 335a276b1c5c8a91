"""Benchmark helpers: timing and a uniform report line (figures as ratios to in-run baselines)."""

from __future__ import annotations

import time
from collections.abc import Callable


def rate(count: int, work: Callable[[], object], *, repeat: int = 3) -> float:
    """Best-of-``repeat`` throughput of ``work`` in items per second."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return count / best


def report(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float,
    baseline_name: str,
    target: float | None = None,
) -> None:
    ratio = value / baseline
    verdict = (
        ""
        if target is None
        else f"  target {target:,.0f} {unit}: " + ("met" if value >= target else "NOT MET")
    )
    print(
        f"\nBENCH {name}: {value:,.0f} {unit}  = {ratio:.3f} x {baseline_name} "
        f"({baseline:,.0f} {unit}){verdict}"
    )
