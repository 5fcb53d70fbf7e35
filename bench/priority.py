"""Benchmark the priority index and the investment plan on a built warehouse.

Target (issue 6): recomputing the index for all 2025 units and all villages with a new profile, with its
sensitivity report (±20% per weight and 500 Monte-Carlo draws), in under 200 ms.

Run: `.venv/bin/python bench/priority.py [--warehouse data/warehouse.gpkg] [--repeat 30]`; prints Markdown.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from geo.plan import Costs, PlanOptions
from geo.priority import Profile
from geo.settings import DataSettings
from layers.analysis import Analysis, read_inputs
from layers.store import Warehouse


def _p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def main() -> None:
    """Time criteria, ranking with fresh profiles, candidate generation and the MILP at three budgets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warehouse", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    settings = DataSettings()
    warehouse = args.warehouse or settings.warehouse
    analysis = Analysis(read_inputs(Warehouse.open(warehouse).build()))
    start = time.perf_counter()
    criteria = analysis.criteria
    criteria_s = time.perf_counter() - start
    base = Profile.load(settings.profile)
    rng = np.random.default_rng(1)
    rank_ms = []
    for _ in range(args.repeat):
        raw = base.model_dump()
        for scope in ("units", "villages"):
            for criterion in raw[scope]:
                criterion["weight"] = float(rng.uniform(0.02, 0.3))
        profile = Profile.from_dict(raw)  # a new profile every time: nothing cached between runs
        start = time.perf_counter()
        ranked = analysis.rank(profile, draws=500)
        rank_ms.append(1000 * (time.perf_counter() - start))
    assert len(ranked.units) == len(criteria.units) and len(ranked.villages) == len(criteria.villages)
    costs = Costs.load(settings.costs)
    start = time.perf_counter()
    cand = analysis.candidates(costs)
    candidates_s = time.perf_counter() - start
    print(f"{len(criteria.units)} units, {len(criteria.villages)} villages, {len(cand.projects)} candidate projects\n")
    print("| step | median | p95 | runs |\n|---|---|---|---|")
    print(f"| travel times and criteria tables (once per build) | {criteria_s:.2f} s | | 1 |")
    print(
        f"| **rank units + villages with a new profile** (incl. sensitivity, 500 draws) | "
        f"**{statistics.median(rank_ms):.0f} ms** | {_p95(rank_ms):.0f} ms | {len(rank_ms)} |"
    )
    print(f"| candidate projects from the network (once per costs) | {candidates_s:.2f} s | | 1 |")
    for budget in (10e9, 50e9, 200e9):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            result = analysis.plan(costs, PlanOptions(budget=budget))
            times.append(time.perf_counter() - start)
        t = result.totals
        print(
            f"| plan, budget {budget / 1e9:g} billion VND ({t['projects']} projects, "
            f"{t['poor_households_served']:,.0f} poor households served) | {statistics.median(times):.2f} s | | 3 |"
        )


if __name__ == "__main__":
    main()
