"""Exact integer allocation and monotone root finding, the two tools of the calibrated generator."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from geo.errors import GeoError


class CalibrationError(GeoError):
    """A calibration target cannot be met by the generator."""


def allocate(
    expected: np.ndarray,
    total: int,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> np.ndarray:
    """Integers close to `expected` that sum exactly to `total`, within [lower, upper] (largest remainder)."""
    x = np.asarray(expected, dtype="float64")
    lo = np.zeros(len(x), dtype=np.int64) if lower is None else np.asarray(lower, dtype=np.int64)
    hi = np.full(len(x), max(int(total), 0)) if upper is None else np.asarray(upper, dtype=np.int64)
    if lo.sum() > total or hi.sum() < total or np.any(lo > hi):
        raise CalibrationError(f"cannot allocate {total} within bounds summing to {lo.sum()}..{hi.sum()}")
    out = np.clip(np.floor(x), lo, hi).astype(np.int64)
    frac = x - np.floor(x)
    remaining = int(total - out.sum())
    while remaining != 0:
        if remaining > 0:
            room = np.flatnonzero(out < hi)
            pick = room[np.argsort(-frac[room], kind="stable")][:remaining]
            out[pick] += 1
        else:
            room = np.flatnonzero(out > lo)
            pick = room[np.argsort(frac[room], kind="stable")][:-remaining]
            out[pick] -= 1
        remaining = int(total - out.sum())
        frac = np.zeros_like(frac)  # later passes spread evenly
    return out


def solve(f: Callable[[float], float], target: float, lo: float, hi: float, what: str, tol: float = 1e-9) -> float:
    """The x in [lo, hi] where the increasing function f reaches target (bisection)."""
    f_lo, f_hi = f(lo), f(hi)
    if not f_lo <= target <= f_hi:
        raise CalibrationError(f"{what}: target {target:.6g} outside the reachable range {f_lo:.6g}..{f_hi:.6g}")
    for _ in range(200):
        mid = (lo + hi) / 2
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo < tol:
            break
    return (lo + hi) / 2


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype="float64")))


def standardise(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance (a constant array becomes zeros)."""
    x = np.asarray(x, dtype="float64")
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)
