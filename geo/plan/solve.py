"""The budget MILP (pulp with HiGHS, or CBC), the attribution of cost and households to each chosen project."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import pandas as pd
from pydantic import BaseModel, Field

from geo.plan.model import Candidates, PlanError, Project, project_row


class PlanOptions(BaseModel):
    """Budget and constraints of a plan."""

    budget: float = Field(gt=0, description="VND")
    min_region_iii_share: float | None = Field(default=None, ge=0, le=1)
    max_projects_per_unit: int | None = Field(default=None, ge=1)
    solver: Literal["highs", "cbc"] = "highs"
    time_limit: float = Field(default=120, gt=0)
    next_best: int = Field(default=10, ge=0)


PROJECT_FIELDS = (
    "project_id",
    "kind",
    "kind_label",
    "name_vi",
    "name_en",
    "commune_2024_code",
    "unit_2025_code",
    "region_iii",
    "length_km",
    "road_ids",
    "source",
    "unit_2025_name",
)
CHOSEN_COLUMNS = (
    *PROJECT_FIELDS,
    "cost_vnd",
    "standalone_cost_vnd",
    "households_served",
    "poor_households_served",
    "people_reached",
    "cumulative_cost_vnd",
    "cumulative_households_served",
    "cumulative_poor_households_served",
)
NEXT_COLUMNS = (
    *PROJECT_FIELDS,
    "added_cost_vnd",
    "added_households_served",
    "added_poor_households_served",
    "added_people_reached",
    "households_per_billion_vnd",
    "poor_households_per_billion_vnd",
)


@dataclass
class PlanResult:
    """The chosen projects, the totals and the next best unfunded projects."""

    chosen: pd.DataFrame
    totals: dict[str, Any]
    next_best: pd.DataFrame
    projects: dict[str, Project]


TIE_BREAK = 1e-7  # poor households per billion đồng and per project: breaks ties towards cheap, small plans


def _solver(name: str, time_limit: float) -> Any:
    import pulp

    if name == "highs" and pulp.HiGHS(msg=False).available():
        return pulp.HiGHS(msg=False, timeLimit=time_limit, gapRel=1e-9)
    return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, gapRel=1e-9)


def optimise(cand: Candidates, options: PlanOptions, exclude: Sequence[str] = ()) -> tuple[list[str], str, str]:
    """Project ids of the best portfolio, the solver status and the solver name.

    The objective is the households served (a need is worth the households lacking what its kind addresses,
    where the deprivations are known, else its poor households), less TIE_BREAK households per billion đồng spent and
    per project: among portfolios serving the same households the cheapest and smallest wins, and no
    portfolio gives up more than TIE_BREAK x (total candidate cost in billions + projects) households,
    under 0.001 in the demo, to save money. (A second, exact cost-minimising solve took 20 s at tight
    budgets for no difference a planner can see.)"""
    import pulp

    m = cand.compile()
    costs = m["cost"] / 1e9  # billions of VND keep the coefficients well scaled
    prob = pulp.LpProblem("investment_plan", pulp.LpMaximize)
    z = [prob.add_variable(f"z{i}", cat="Binary") for i in range(len(m["comp_ids"]))]
    x = [prob.add_variable(f"x{i}", cat="Binary") for i in range(len(m["proj_ids"]))]
    met = [
        prob.add_variable(f"m{i}", lowBound=0, upBound=0 if m["impossible"][i] else 1) for i in range(len(cand.needs))
    ]
    served = pulp.lpSum(float(w) * v for w, v in zip(m["weight"], met, strict=True) if w > 0)
    _link_projects(prob, m, x, z)
    _link_needs(prob, m, met, z)
    spend = pulp.lpSum(float(c) * zj for c, zj in zip(costs, z, strict=True))
    prob += served - TIE_BREAK * (spend + pulp.lpSum(x))
    prob += spend <= options.budget / 1e9, "budget"
    if options.min_region_iii_share:
        region = pulp.lpSum(float(c) * zj for c, zj, r in zip(costs, z, m["region_iii"], strict=True) if r)
        prob += region >= options.min_region_iii_share * spend, "region_iii_share"
    if options.max_projects_per_unit:
        _limit_per_unit(prob, cand, x, options.max_projects_per_unit)
    for pid in exclude:
        prob += x[m["proj_index"][pid]] == 0
    solver = _solver(options.solver, options.time_limit)
    status = pulp.LpStatus[prob.solve(solver)]
    if status not in ("Optimal",):
        if status == "Infeasible":
            raise PlanError("no portfolio meets the constraints (check the budget and the region III share)")
        if pulp.value(served) is None:
            raise PlanError(f"the solver stopped without a portfolio (status {status})")
    chosen = [pid for pid, var in zip(m["proj_ids"], x, strict=True) if (var.value() or 0) > 0.5]
    return chosen, status, type(solver).__name__


def _link_projects(prob: Any, m: dict[str, Any], x: list[Any], z: list[Any]) -> None:
    """A project builds each of its components; a component is built only by a chosen project."""
    import pulp

    p_csr, p_csc = m["P"].tocsr(), m["P"].tocsc()
    for i in range(len(x)):
        for j in p_csr.indices[p_csr.indptr[i] : p_csr.indptr[i + 1]]:
            prob += x[i] <= z[j]
    for j in range(len(z)):
        owners = p_csc.indices[p_csc.indptr[j] : p_csc.indptr[j + 1]]
        prob += z[j] <= pulp.lpSum(x[i] for i in owners)


def _link_needs(prob: Any, m: dict[str, Any], met: list[Any], z: list[Any]) -> None:
    """A need is met only when each of its clauses has one of its components built."""
    import pulp

    c_csr, n_csr = m["C"].tocsr(), m["N"].tocsr()
    clause_sum = [
        pulp.lpSum(z[j] for j in c_csr.indices[c_csr.indptr[k] : c_csr.indptr[k + 1]])
        for k in range(len(m["clause_ids"]))
    ]
    for i in range(len(met)):
        for k in n_csr.indices[n_csr.indptr[i] : n_csr.indptr[i + 1]]:
            prob += met[i] <= clause_sum[k]


def _limit_per_unit(prob: Any, cand: Candidates, x: list[Any], limit: int) -> None:
    """At most `limit` projects in each 2025 unit."""
    import pulp

    by_unit: dict[str, list[int]] = {}
    for i, pid in enumerate(cand.compile()["proj_ids"]):
        by_unit.setdefault(cand.projects[pid].unit_2025_code, []).append(i)
    for unit, members in by_unit.items():
        prob += pulp.lpSum(x[i] for i in members) <= limit, f"unit_{unit}"


def plan(cand: Candidates, options: PlanOptions, unit_names: dict[str, str] | None = None) -> PlanResult:
    """Solve, attribute cost and households to each chosen project, and list the next best unfunded ones."""
    started = time.perf_counter()
    chosen, status, solver = optimise(cand, options)
    seconds = time.perf_counter() - started
    rows = _attribution(cand, chosen, unit_names)
    totals = _totals(cand, chosen, options) | {"solver": solver, "status": status, "seconds": round(seconds, 2)}
    chosen_table = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(CHOSEN_COLUMNS))
    return PlanResult(chosen_table, totals, next_best(cand, chosen, options.next_best, unit_names), cand.projects)


def _attribution(cand: Candidates, chosen: list[str], unit_names: dict[str, str] | None) -> list[dict[str, Any]]:
    """Rows of the chosen projects in order of stand-alone value for money, each with what it adds to those before."""
    alone = {pid: cand.evaluate([pid]) for pid in chosen}
    order = sorted(chosen, key=lambda p: (-alone[p].households_served / max(alone[p].cost, 1.0), p))
    rows = []
    before = cand.evaluate([])
    done: list[str] = []
    for pid in order:
        after = cand.evaluate([*done, pid])
        p = cand.projects[pid]
        rows.append(
            project_row(p, cand.components)
            | {
                "unit_2025_name": (unit_names or {}).get(p.unit_2025_code, ""),
                "cost_vnd": round(after.cost - before.cost),
                "standalone_cost_vnd": round(alone[pid].cost),
                "households_served": round(after.households_served - before.households_served, 1),
                "poor_households_served": round(after.poor_households_served - before.poor_households_served, 1),
                "people_reached": round(after.people_reached - before.people_reached),
                "cumulative_cost_vnd": round(after.cost),
                "cumulative_households_served": round(after.households_served, 1),
                "cumulative_poor_households_served": round(after.poor_households_served, 1),
            }
        )
        done.append(pid)
        before = after
    return rows


def _totals(cand: Candidates, chosen: list[str], options: PlanOptions) -> dict[str, Any]:
    """What the portfolio costs and serves, beside what funding every candidate would."""
    total = cand.evaluate(chosen)
    region_cost = sum(
        cand.components[c].cost
        for c, b in zip(cand.compile()["comp_ids"], cand.built(chosen), strict=True)
        if b and cand.components[c].region_iii
    )
    everything = cand.evaluate(list(cand.projects))
    return {
        "budget_vnd": options.budget,
        "cost_vnd": round(total.cost),
        "projects": len(chosen),
        "households_served": round(total.households_served, 1),
        "poor_households_served": round(total.poor_households_served, 1),
        "poor_households_reached": round(total.poor_households_reached),
        "people_reached": round(total.people_reached),
        "needs_met": total.needs_met,
        "needs_total": len(cand.needs),
        "region_iii_cost_share": round(region_cost / total.cost, 4) if total.cost else 0.0,
        "households_served_if_all_funded": round(everything.households_served, 1),
        "poor_households_served_if_all_funded": round(everything.poor_households_served, 1),
        "cost_to_fund_all_vnd": round(everything.cost),
        "candidates": len(cand.projects),
        "min_region_iii_share": options.min_region_iii_share,
        "max_projects_per_unit": options.max_projects_per_unit,
    }


def next_best(
    cand: Candidates,
    chosen: Sequence[str],
    n: int,
    unit_names: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The unfunded projects that would add the most households served per đồng on top of the chosen ones."""
    base = cand.evaluate(chosen)
    taken = set(chosen)
    rows = []
    for pid, p in cand.projects.items():
        if pid in taken:
            continue
        ev = cand.evaluate([*chosen, pid])
        gain = ev.households_served - base.households_served
        poor_gain = ev.poor_households_served - base.poor_households_served
        extra = ev.cost - base.cost
        if gain <= 0:
            continue
        rows.append(
            project_row(p, cand.components)
            | {
                "unit_2025_name": (unit_names or {}).get(p.unit_2025_code, ""),
                "added_cost_vnd": round(extra),
                "added_households_served": round(gain, 1),
                "added_poor_households_served": round(poor_gain, 1),
                "added_people_reached": round(ev.people_reached - base.people_reached),
                "households_per_billion_vnd": round(gain / max(extra / 1e9, 1e-9), 2),
                "poor_households_per_billion_vnd": round(poor_gain / max(extra / 1e9, 1e-9), 2),
            }
        )
    out = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(NEXT_COLUMNS))
    if out.empty:
        return out
    out = out.sort_values(
        ["households_per_billion_vnd", "added_households_served", "project_id"],
        ascending=[False, False, True],
    )
    return out.head(n).reset_index(drop=True)


def plan_layers(result: PlanResult) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The chosen projects as points (every kind) and the chosen road upgrades as lines."""
    chosen = result.chosen
    points = gpd.GeoDataFrame(
        chosen.copy(),
        geometry=[result.projects[p].point for p in chosen["project_id"]] if len(chosen) else [],
        crs="EPSG:4326",
    )
    roads = chosen[chosen["project_id"].map(lambda p: result.projects[p].line is not None)] if len(chosen) else chosen
    lines = gpd.GeoDataFrame(
        roads.copy(),
        geometry=[result.projects[p].line for p in roads["project_id"]] if len(roads) else [],
        crs="EPSG:4326",
    )
    return points, lines
