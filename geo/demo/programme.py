"""A demo register of national target programme projects (synthetic, seeded), so the programme views can be seen.

It reproduces the published programme figures it is given exactly, and nothing else is claimed for it:
- houses built for poor households 2021-2025 (seed article: 3,058), workers connected to jobs (9,300) and poor
  and near-poor people trained (13,000), spread over the 2025 units by their 2021 poor households;
- Programme 1719's disbursement to the end of June 2025 (3,434 bn VND, about 70% of plan) and the sustainable
  poverty reduction programme's to the end of 2025 (758 bn VND), by scaling each programme's quarterly payments;
- for 2026, the merged programme approves projects of the atlas's investment plan and other
  `investment_candidates` of the top priority tiers (each with its candidate key), and a few projects that are in
  no plan.
Budgets per project, approval dates and the disbursement curve (slow in the first quarters, as the province's
reviews report) are assumptions of the demo.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from geo.demo.params import DEMO_SOURCE
from geo.programme import Quarter, candidate_key

HISTORY = tuple(Quarter(y, q) for y in range(2021, 2026) for q in range(1, 5))
AS_OF = Quarter(2026, 3)  # the demo register's last quarter: payments and completions up to its end
QUARTERS = (*HISTORY, *(Quarter(2026, q) for q in range(1, AS_OF.quarter + 1)))
HOUSES_2026 = 600  # houses supported under the merged programme in 2026 (assumption)
PAYMENT_SHARES = (0.05, 0.15, 0.25, 0.25, 0.15, 0.10, 0.05)  # of a budget, in the quarters after approval
HOUSE_COST = 50_000_000  # VND per house (assumption)
TRAINING_COST = 6_000_000  # VND per person trained (assumption)
JOB_COST = 2_000_000  # VND per worker connected (assumption)
INFRA_KINDS = {  # component: (output unit, output per project (low, high), budget per project bn VND (low, high))
    "roads": ("km", (1.0, 8.0), (3.0, 15.0)),
    "water": ("households", (40, 250), (1.0, 5.0)),
    "electricity": ("households", (30, 200), (2.0, 8.0)),
    "schools": ("classrooms", (2, 8), (2.0, 6.0)),
    "health_stations": ("works", (1, 1), (3.0, 7.0)),
}
APPROVED_2026 = 40  # candidates approved in 2026 …
PLANNED_2026 = 25  # … of which from the atlas's investment plan, where it has that many
CANDIDATE_COMPONENT = {
    "road": "roads", "crossing": "bridges", "school": "schools", "health_station": "health_stations",
    "grid": "electricity", "water_sanitation": "water", "housing_support": "housing_support",
    "connectivity": "electricity",
}  # fmt: skip


def _split(total: int, weights: np.ndarray) -> np.ndarray:
    """Whole numbers summing exactly to total, in proportion to weights (largest remainders)."""
    share = total * weights / weights.sum()
    out = np.floor(share).astype(int)
    out[np.argsort(-(share - out))[: total - out.sum()]] += 1
    return out


def _quarter_date(q: Quarter, day: int = 15) -> str:
    return f"{q.year}-{3 * q.quarter - 1:02d}-{day:02d}"


def programme_register(
    units: pd.DataFrame, candidates: pd.DataFrame, targets: Mapping[str, float], rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(register, disbursements, notes). `units`: unit_2025_code, poor_households_2021, tier, lon, lat;
    `candidates`: kind, unit_2025_code, lon, lat, cost_vnd and planned (in the build's investment plan)."""
    units = units.sort_values("unit_2025_code").reset_index(drop=True)
    weights = units["poor_households_2021"].to_numpy(dtype=float) + 1.0
    rows: list[dict[str, object]] = []

    def add(**row: object) -> None:
        rows.append({"project_id": f"DEMO-{len(rows) + 1:05d}", "source": DEMO_SOURCE, "synthetic": True, **row})

    def packages(component: str, programme: str, total: int, unit_of: str, cost: float, share: float) -> None:
        per_unit = _split(total, weights)
        for code, count in zip(units["unit_2025_code"], per_unit, strict=True):
            per_year = _split(int(count), np.array([1.0, 1.2, 1.3, 1.2, 1.0]))
            for year, n in zip(range(2021, 2026), per_year, strict=True):
                if n == 0:
                    continue
                q = Quarter(year, int(rng.integers(1, 3)))
                done = HISTORY[min(HISTORY.index(q) + 3, len(HISTORY) - 1)]
                add(programme=programme, component=component, unit_2025_code=code, status="completed",
                    name=f"{component} {year}", budget_central=round(n * cost * share), budget_provincial=round(
                        n * cost * (1 - share)), budget_other=0.0, approved_date=_quarter_date(q),
                    completed_date=_quarter_date(done, 25), output_value=float(n), output_unit=unit_of,
                    beneficiary_households=float(n), beneficiary_poor=float(n) if component == "housing_support"
                    else None, beneficiary_near_poor=None, lon=None, lat=None, candidate_key=None)  # fmt: skip

    packages("housing_support", "1719", int(targets["houses_built_for_poor"]), "houses", HOUSE_COST, 0.9)
    packages("job_connection", "GNBV", int(targets["workers_job_connection"]), "people", JOB_COST, 0.8)
    packages("vocational_training", "GNBV", int(targets["poor_near_poor_vocational_training"]), "people",
             TRAINING_COST, 0.8)  # fmt: skip
    # Programme 1719's infrastructure, 2021-2025: about 100 works a year, more where more households are poor
    for year in range(2021, 2026):
        for code in rng.choice(units["unit_2025_code"], size=100, p=weights / weights.sum()):
            component = str(rng.choice(list(INFRA_KINDS)))
            unit_of, (lo, hi), (blo, bhi) = INFRA_KINDS[component]
            q = Quarter(year, int(rng.integers(1, 5)))
            late = HISTORY.index(q) + int(rng.integers(4, 8))
            done = QUARTERS[late] if late < len(QUARTERS) else None
            centre = units.loc[units["unit_2025_code"] == code, ["lon", "lat"]].iloc[0]
            budget = float(rng.uniform(blo, bhi)) * 1e9
            add(programme="1719", component=component, unit_2025_code=str(code), name=f"{component} {year}",
                status="completed" if done else "under_construction", budget_central=round(budget * 0.85),
                budget_provincial=round(budget * 0.15), budget_other=0.0, approved_date=_quarter_date(q),
                completed_date=_quarter_date(done, 25) if done else None,
                output_value=float(round(float(rng.uniform(lo, hi)), 1)) if done else None,
                output_unit=unit_of if done else None, beneficiary_households=None, beneficiary_poor=None,
                beneficiary_near_poor=None, lon=float(centre["lon"] + rng.normal(0, 0.02)),
                lat=float(centre["lat"] + rng.normal(0, 0.02)), candidate_key=None)  # fmt: skip
    # the sustainable poverty reduction programme's livelihood packages, 2021-2025, one per unit and year
    for year in range(2021, 2026):
        for code in units["unit_2025_code"]:
            q = Quarter(year, int(rng.integers(1, 4)))
            done = HISTORY[min(HISTORY.index(q) + 4, len(HISTORY) - 1)]
            add(programme="GNBV", component="livelihoods", unit_2025_code=str(code), name=f"livelihoods {year}",
                status="completed", budget_central=1.0, budget_provincial=0.0, budget_other=0.0,
                approved_date=_quarter_date(q), completed_date=_quarter_date(done, 25),
                output_value=float(rng.integers(20, 120)), output_unit="households", beneficiary_households=None,
                beneficiary_poor=None, beneficiary_near_poor=None, lon=None, lat=None, candidate_key=None)  # fmt: skip
    register = pd.DataFrame(rows)
    _size_budgets(register, targets, weights=units.set_index("unit_2025_code")["poor_households_2021"])
    planned = _year_2026(units, candidates, rng, add)
    _packages_2026(units, weights, rng, add)
    register = pd.concat([register, pd.DataFrame(rows[len(register) :])], ignore_index=True)
    payments = _payments(register, targets)
    notes = [
        f"{int(targets['houses_built_for_poor'])} houses, {int(targets['workers_job_connection'])} workers connected "
        f"to jobs, {int(targets['poor_near_poor_vocational_training'])} people trained (seed article), in "
        f"{len(register)} demo projects",
        f"2026: {planned[0]} projects of the investment plan and {planned[1]} other candidates approved under the "
        "merged programme, 8 projects in no plan",
    ]
    return register, payments, notes


# the published disbursements the demo's payments are scaled to: (programme, up to the quarter, target key)
PAID_TARGETS = (
    ("1719", Quarter(2025, 2), "disbursed_1719_to_2025q2"),
    ("GNBV", Quarter(2025, 4), "disbursed_gnbv_to_2025q4"),
)
PLAN_RATE_1719 = 0.70  # disbursed by the end of June 2025 over approved (published: "about 70% of plan")
PLAN_RATE_GNBV = 0.80  # disbursed by the end of 2025 over approved (assumption: the published figure is disbursed only)


def _size_budgets(register: pd.DataFrame, targets: Mapping[str, float], weights: pd.Series) -> None:
    """Scale Programme 1719's infrastructure budgets and size the livelihood packages so that each programme's
    approved total is its disbursed target over its rate (in place)."""
    approved_by = register["approved_date"].astype(str)
    budget = register[["budget_central", "budget_provincial", "budget_other"]].sum(axis=1)
    infra = (register["programme"] == "1719") & register["component"].isin(INFRA_KINDS)
    before_july = approved_by <= "2025-06-30"
    fixed = budget[(register["programme"] == "1719") & ~infra & before_july].sum()
    wanted = targets["disbursed_1719_to_2025q2"] / PLAN_RATE_1719 - fixed
    factor = wanted / budget[infra & before_july].sum()
    for column in ("budget_central", "budget_provincial"):
        register.loc[infra, column] = (register.loc[infra, column] * factor).round()
    live = register["component"] == "livelihoods"
    other = budget[(register["programme"] == "GNBV") & ~live].sum()
    pot = targets["disbursed_gnbv_to_2025q4"] / PLAN_RATE_GNBV - other
    share = register.loc[live, "unit_2025_code"].map(weights).astype(float) + 1.0
    register.loc[live, "budget_central"] = (pot * share / share.sum()).round()


def _year_2026(
    units: pd.DataFrame, candidates: pd.DataFrame, rng: np.random.Generator, add: Callable[..., None]
) -> tuple[int, int]:
    """Approve, in 2026, projects of the atlas's plan (`planned`) and other candidates of the top-tier units, each
    with its key, and a few projects that are in no plan."""
    top = set(units.loc[units["tier"] >= 2, "unit_2025_code"])
    kinds = candidates["kind"].isin(CANDIDATE_COMPONENT)
    planned = candidates["planned"] if "planned" in candidates else pd.Series(False, index=candidates.index)
    seed = int(rng.integers(0, 2**31))
    first = candidates[kinds & planned]
    first = first.sample(n=min(PLANNED_2026, len(first)), random_state=seed)
    pool = candidates[kinds & ~planned & candidates["unit_2025_code"].isin(top)]
    chosen = pd.concat([first, pool.sample(n=min(APPROVED_2026 - len(first), len(pool)), random_state=seed)])
    for rec in chosen.to_dict("records"):
        q = Quarter(2026, int(rng.integers(1, 3)))
        key = candidate_key(str(rec["kind"]), str(rec["unit_2025_code"]), rec["lon"], rec["lat"])
        add(programme="MTQG-2026", component=CANDIDATE_COMPONENT[str(rec["kind"])],
            unit_2025_code=str(rec["unit_2025_code"]), name=f"{rec['kind']} 2026", status="approved",
            budget_central=round(float(rec["cost_vnd"]) * 0.9), budget_provincial=round(float(rec["cost_vnd"]) * 0.1),
            budget_other=0.0, approved_date=_quarter_date(q), completed_date=None, output_value=None,
            output_unit=None, beneficiary_households=None, beneficiary_poor=None, beneficiary_near_poor=None,
            lon=float(rec["lon"]), lat=float(rec["lat"]), candidate_key=key)  # fmt: skip
    others = units.sample(n=8, random_state=int(rng.integers(0, 2**31)))
    for rec in others.to_dict("records"):
        add(programme="MTQG-2026", component="roads", unit_2025_code=str(rec["unit_2025_code"]),
            name="roads 2026 (in no plan)", status="approved", budget_central=4.0e9, budget_provincial=1.0e9,
            budget_other=0.0, approved_date=_quarter_date(Quarter(2026, 1)), completed_date=None,
            output_value=None, output_unit=None, beneficiary_households=None, beneficiary_poor=None,
            beneficiary_near_poor=None, lon=float(rec["lon"]), lat=float(rec["lat"]), candidate_key=None)  # fmt: skip
    return len(first), len(chosen) - len(first)


def _packages_2026(
    units: pd.DataFrame, weights: np.ndarray, rng: np.random.Generator, add: Callable[..., None]
) -> None:
    """The merged programme's 2026 support packages: housing support and one livelihood package per unit, approved
    in the first quarter and completed by the third."""
    for code, n in zip(units["unit_2025_code"], _split(HOUSES_2026, weights), strict=True):
        if n:
            add(programme="MTQG-2026", component="housing_support", unit_2025_code=str(code), name="housing 2026",
                status="completed", budget_central=round(n * HOUSE_COST * 0.9),
                budget_provincial=round(n * HOUSE_COST * 0.1), budget_other=0.0,
                approved_date=_quarter_date(Quarter(2026, 1)), completed_date=_quarter_date(AS_OF, 25),
                output_value=float(n), output_unit="houses", beneficiary_households=float(n),
                beneficiary_poor=float(n), beneficiary_near_poor=None, lon=None, lat=None,
                candidate_key=None)  # fmt: skip
    for code, weight in zip(units["unit_2025_code"], weights / weights.max(), strict=True):
        add(programme="MTQG-2026", component="livelihoods", unit_2025_code=str(code), name="livelihoods 2026",
            status="completed", budget_central=round(float(rng.uniform(0.2, 0.6) + weight) * 1e9),
            budget_provincial=0.0, budget_other=0.0, approved_date=_quarter_date(Quarter(2026, 1)),
            completed_date=_quarter_date(Quarter(2026, 2), 25), output_value=float(rng.integers(20, 120)),
            output_unit="households", beneficiary_households=None, beneficiary_poor=None, beneficiary_near_poor=None,
            lon=None, lat=None, candidate_key=None)  # fmt: skip


def _payments(register: pd.DataFrame, targets: Mapping[str, float]) -> pd.DataFrame:
    """Quarterly payments after approval (the demo's curve), each programme's history scaled to its target."""
    quarters = list(QUARTERS)
    records: list[dict[str, object]] = []
    for rec in register.to_dict("records"):
        start = Quarter.of(dt.date.fromisoformat(str(rec["approved_date"])))
        budget = float(rec["budget_central"]) + float(rec["budget_provincial"]) + float(rec["budget_other"])
        first = quarters.index(start)
        for k, share in enumerate(PAYMENT_SHARES):
            if first + k < len(quarters):
                records.append({"project_id": rec["project_id"], "period": str(quarters[first + k]),
                                "amount": budget * share, "programme": rec["programme"]})  # fmt: skip
    pay = pd.DataFrame(records)
    paid_by: dict[str, pd.Series] = {}  # target key: the payments it counts
    for programme, until, key in PAID_TARGETS:
        theirs = pay["programme"] == programme
        mine = theirs & pay["period"].map(lambda p, u=until: Quarter.parse(p) <= u)
        factor = targets[key] / pay.loc[mine, "amount"].sum()
        if factor > 1:
            raise ValueError(f"{programme}: the demo's budgets cannot pay out {targets[key]:,.0f} VND by {until}")
        pay.loc[theirs, "amount"] *= factor  # one programme-wide pace: slower than planned, as reported
        paid_by[key] = mine
    pay["amount"] = pay["amount"].round()
    # rounding: the first payment of each programme absorbs the difference, so the target holds to the đồng
    for key, mine in paid_by.items():
        pay.loc[pay.index[mine][0], "amount"] += targets[key] - pay.loc[mine, "amount"].sum()
    return pay.drop(columns="programme").reset_index(drop=True)
