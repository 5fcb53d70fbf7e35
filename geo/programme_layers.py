"""The programme layers of a build: the register (imported, or the calibrated demo), its sites, disbursements, the
per-unit and province summaries of every quarter, and the plan's projects with what became of them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.demo.params import SEED
from geo.demo.programme import programme_register
from geo.facts import Fact, Target
from geo.programme import (
    COMPONENTS,
    PROGRAMMES,
    STATUS_LABELS,
    Quarter,
    candidate_key,
    check_register,
    equity,
    unit_quarters,
)

PROVINCE_CODE = "14"
PROVINCE_NAME = "Tỉnh Sơn La"
# programme periods: id, first quarter, the year whose poor households spending is counted against
PERIODS: tuple[tuple[str, Quarter, int], ...] = (
    ("2021-2025", Quarter(2021, 1), 2021),
    ("2026-2030", Quarter(2026, 1), 2026),
)
PLAN_MATCH_LABELS = {
    "plan": "trong danh mục đầu tư / in the investment plan",
    "candidate": "dự án ứng viên, ngoài danh mục / a candidate, not in the plan",
    "none": "không có trong kế hoạch nào / in no plan",
    "earlier": "phê duyệt trước 2026, trước kế hoạch của atlas / approved before 2026, before the atlas's plans",
    "package": "gói hỗ trợ theo xã, không phải dự án đầu tư / a support package, not an investment project",
}
REGISTER_COLUMNS = (
    "project_id", "name", "programme", "programme_label", "component", "component_label", "unit_2025_code",
    "unit_name", "commune_2024_code", "village_name", "lon", "lat", "budget_central", "budget_provincial",
    "budget_other", "budget_total", "status", "status_label", "proposed_date", "approved_date", "completed_date",
    "cancelled_date", "disbursed_vnd", "disbursement_rate", "last_disbursed_period", "output_value", "output_unit",
    "beneficiary_households", "beneficiary_poor", "beneficiary_near_poor", "candidate_key", "plan_match",
    "plan_match_label", "source", "synthetic",
)  # fmt: skip
PLANS_FROM = "2026-01-01"
SUPPORT_PACKAGES = (
    "housing_support",
    "livelihoods",
    "vocational_training",
    "job_connection",
)  # the atlas proposes projects for the 2026-2030 period


@dataclass
class Register:
    """A checked register and its disbursements, with where they come from."""

    projects: pd.DataFrame
    disbursements: pd.DataFrame
    source: str
    synthetic: bool


@dataclass
class ProgrammeTables:
    """What the programme step adds to a build."""

    layers: dict[str, pd.DataFrame]
    notes: list[str] = field(default_factory=list)
    calibration: pd.DataFrame | None = None


def period_of(quarter: Quarter) -> tuple[str, Quarter, int]:
    """The programme period a quarter belongs to: (id, first quarter, base year of its poor households)."""
    current = PERIODS[0]
    for period in PERIODS:
        if quarter >= period[1]:
            current = period
    return current


def quarters_between(first: Quarter, last: Quarter) -> list[Quarter]:
    """Every quarter from first to last, both included."""
    out = [first]
    while out[-1] < last:
        out.append(out[-1].next())
    return out


def _points(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    return frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()


def candidate_keys(candidates: gpd.GeoDataFrame) -> pd.Series:
    """The stable key of every investment candidate (kind, unit, location to ~100 m), by the frame's index."""
    lon, lat = _points(candidates)
    return pd.Series(
        [
            candidate_key(str(k), str(u), float(x), float(y))
            for k, u, x, y in zip(candidates["kind"], candidates["unit_2025_code"], lon, lat, strict=True)
        ],
        index=candidates.index,
    )


def demo_register(layers: dict[str, pd.DataFrame], targets: dict[str, float]) -> tuple[Register, list[str]]:
    """The seeded demo register, calibrated to the published programme figures."""
    units = layers["units_2025"]
    assert isinstance(units, gpd.GeoDataFrame)
    centres = units.set_index("code").geometry.representative_point()
    poor = layers["indicators_units_2025"].set_index("unit_code")["poor_households_2021"]
    tiers = layers["priority_units_2025"].set_index("unit_code")["tier"]
    frame = pd.DataFrame(
        {
            "unit_2025_code": centres.index.astype(str),
            "poor_households_2021": poor.reindex(centres.index).fillna(0).to_numpy(dtype=float),
            "tier": tiers.reindex(centres.index).fillna(0).astype(int).to_numpy(),
            "lon": centres.x.to_numpy(),
            "lat": centres.y.to_numpy(),
        }
    )
    candidates = layers["investment_candidates"]
    assert isinstance(candidates, gpd.GeoDataFrame)
    lon, lat = _points(candidates)
    planned = set(layers["investment_plan"]["project_id"])
    cand = pd.DataFrame(
        {
            "kind": candidates["kind"].astype(str),
            "unit_2025_code": candidates["unit_2025_code"].astype(str),
            "lon": lon,
            "lat": lat,
            "cost_vnd": candidates["cost_vnd"].astype(float),
            "planned": candidates["project_id"].isin(planned),
        }
    )
    projects, payments, notes = programme_register(frame, cand, targets, np.random.default_rng(SEED + 18))
    return Register(projects, payments, "demo", True), notes


def programme_layers(
    layers: dict[str, pd.DataFrame],
    resolved: dict[str, tuple[Target, Fact, float]],
    imported: Register | None = None,
) -> ProgrammeTables:
    """The programme layers from the build's layers: the imported register, or the demo one calibrated to the
    resolved programme targets (whose calibration rows come back with it)."""
    units = layers["units_2025"]
    assert isinstance(units, gpd.GeoDataFrame)
    names = dict(zip(units["code"].astype(str), units["full_name"].astype(str), strict=True))
    crosswalk = dict(zip(layers["crosswalk_2025"]["old_code"], layers["crosswalk_2025"]["new_code"], strict=True))
    notes: list[str] = []
    if imported is None:
        raw, notes = demo_register(layers, {k: v for k, (_, _, v) in resolved.items()})
    else:
        raw = imported
    projects, paid = check_register(raw.projects, raw.disbursements, names, crosswalk, file=raw.source)
    candidates = layers["investment_candidates"]
    assert isinstance(candidates, gpd.GeoDataFrame)
    keys = candidate_keys(candidates)
    plan_ids = set(layers["investment_plan"]["project_id"])
    plan_keys = set(keys[candidates["project_id"].isin(plan_ids)])
    projects = _project_table(projects, paid, names, set(keys), plan_keys, raw.synthetic)
    summary = _summaries(projects, paid, layers, names, raw.synthetic)
    latest = summary["period"].max()
    current = summary[(summary["period"] == latest) & (summary["scope"] == "unit")]
    shapes = units.set_index("code").geometry
    units_layer = gpd.GeoDataFrame(
        current.reset_index(drop=True), geometry=list(shapes.loc[current["unit_code"]]), crs=units.crs
    )
    sites = projects[projects["lon"].notna()]
    sites_layer = gpd.GeoDataFrame(
        sites.reset_index(drop=True), geometry=gpd.points_from_xy(sites["lon"], sites["lat"]), crs="EPSG:4326"
    )
    plan = layers["investment_plan"]
    by_key = projects.dropna(subset=["candidate_key"]).drop_duplicates("candidate_key", keep="last")
    by_key = by_key.set_index("candidate_key")
    plan_keys_by_id = keys.groupby(candidates["project_id"]).first()
    plan_key = plan["project_id"].map(plan_keys_by_id)
    layers["investment_plan"] = plan.assign(
        candidate_key=plan_key,
        programme_project_id=plan_key.map(by_key["project_id"]),
        programme_status=plan_key.map(by_key["status"]),
    )
    layers["investment_candidates"] = candidates.assign(candidate_key=keys)
    disbursements = paid.merge(projects[["project_id", "unit_2025_code", "programme"]], on="project_id")
    disbursements = disbursements.rename(columns={"amount": "amount_vnd"}).assign(
        source=raw.source, synthetic=raw.synthetic
    )
    out = {
        "programme_projects": projects,
        "programme_sites": sites_layer,
        "programme_disbursements": disbursements[
            ["project_id", "period", "amount_vnd", "unit_2025_code", "programme", "source", "synthetic"]
        ],
        "programme_unit_quarters": summary,
        "programme_units_2025": units_layer,
    }
    done = projects["status"] == "completed"
    in_plan = layers["investment_plan"]["programme_status"].notna().sum()
    unplanned = int((projects["plan_match"] == "none").sum())
    notes.append(
        f"programme register ({raw.source}): {len(projects):,} projects, {int(done.sum()):,} completed, "
        f"{paid['amount'].sum() / 1e9:,.0f} bn VND disbursed to {latest}; {in_plan} of {len(plan)} projects of the "
        f"investment plan approved, {unplanned} approved since 2026 in no plan"
    )
    calibration = _calibration(resolved, projects, paid) if imported is None else None
    return ProgrammeTables(out, notes, calibration)


def _project_table(
    projects: pd.DataFrame,
    paid: pd.DataFrame,
    names: dict[str, str],
    candidate_keys: set[str],
    plan_keys: set[str],
    synthetic: bool,
) -> pd.DataFrame:
    """The register as a layer: labels, dates as text, totals disbursed and how each project relates to the plan."""
    out = projects.copy()
    for column in ("lon", "lat", "candidate_key", "commune_2024_code", "village_name", "name", "source"):
        if column not in out:
            out[column] = None
    out["unit_name"] = out["unit_2025_code"].map(names)
    out["programme_label"] = out["programme"].map(lambda p: " / ".join(PROGRAMMES[p]))
    out["component_label"] = out["component"].map(lambda c: f"{COMPONENTS[c][0]} / {COMPONENTS[c][1]}")
    out["status_label"] = out["status"].map(STATUS_LABELS)
    for column in ("proposed_date", "approved_date", "completed_date", "cancelled_date"):
        out[column] = out[column].map(lambda d: d.isoformat() if d is not None else None)
    total = paid.groupby("project_id")["amount"].sum()
    out["disbursed_vnd"] = out["project_id"].map(total).fillna(0.0)
    budget = out["budget_total"].where(out["budget_total"] > 0)
    out["disbursement_rate"] = (100 * out["disbursed_vnd"] / budget).round(1)
    out["last_disbursed_period"] = out["project_id"].map(paid.groupby("project_id")["period"].max())
    key = out["candidate_key"]
    earlier = out["approved_date"].fillna("9999") < PLANS_FROM
    package = key.isna() & out["component"].isin(SUPPORT_PACKAGES)
    out["plan_match"] = np.select(
        [key.isin(plan_keys), key.isin(candidate_keys), earlier, package],
        ["plan", "candidate", "earlier", "package"],
        "none",
    )
    out["plan_match_label"] = out["plan_match"].map(PLAN_MATCH_LABELS)
    out["lon"] = pd.to_numeric(out["lon"], errors="coerce")
    out["lat"] = pd.to_numeric(out["lat"], errors="coerce")
    if "synthetic" not in out or not synthetic:
        out["synthetic"] = synthetic
    out["source"] = out["source"].fillna("")
    for column in ("project_id", "unit_2025_code", "commune_2024_code", "candidate_key", "name"):
        out[column] = out[column].map(lambda v: None if v is None or v != v or v == "" else str(v))
    return out[[*REGISTER_COLUMNS, *(c for c in out.columns if c not in REGISTER_COLUMNS)]].reset_index(drop=True)


def _day(text: object) -> dt.date | None:
    return dt.date.fromisoformat(text) if isinstance(text, str) and text else None


def _summaries(
    projects: pd.DataFrame, paid: pd.DataFrame, layers: dict[str, pd.DataFrame], names: dict[str, str], synthetic: bool
) -> pd.DataFrame:
    """Per unit and the province, every quarter from the first approval to the last payment, each cumulative from
    the start of its programme period; the equity check beside it."""
    register = projects.assign(
        approved_date=projects["approved_date"].map(_day), completed_date=projects["completed_date"].map(_day)
    )
    indicators = layers["indicators_units_2025"].set_index("unit_code")
    tiers = layers["priority_units_2025"].set_index("unit_code")["tier"].astype(int).to_dict()
    regions = layers["classification_2026_2030"].set_index("unit_code")["region_class"].astype(int).to_dict()
    # a register of proposed projects only is summarised at the start of the current period, all zeros
    firsts = [Quarter.of(d) for d in register["approved_date"] if d is not None] or [PERIODS[-1][1]]
    lasts = [Quarter.parse(p) for p in paid["period"]]
    rows = []
    for quarter in quarters_between(min(firsts), max([*lasts, *firsts])):
        period, since, base = period_of(quarter)
        column = f"poor_households_{base}"
        poor = indicators[column].astype(float).to_dict() if column in indicators else {}
        table = unit_quarters(register, paid, poor, quarter, since=since)
        table = equity(table, tiers, regions)
        rows.append(_with_province(table).assign(programme_period=period, since=str(since), poor_households_year=base))
    out = pd.concat(rows, ignore_index=True).rename(columns={"unit_2025_code": "unit_code"})
    out["unit_name"] = out["unit_code"].map(names).fillna(PROVINCE_NAME)
    out["row_id"] = out["unit_code"] + ":" + out["period"]
    out["synthetic"] = synthetic
    out["tier"] = out["tier"].astype("Int64")
    out["region_class"] = out["region_class"].astype("Int64")
    first = ["row_id", "unit_code", "unit_name", "scope", "period", "programme_period", "since"]
    return out[[*first, *(c for c in out.columns if c not in first)]]


def _with_province(table: pd.DataFrame) -> pd.DataFrame:
    """The unit rows and one province row: sums, with its rate and spending per poor household recomputed."""
    sums = table.select_dtypes("number").drop(columns=["tier", "region_class"], errors="ignore").sum()
    province = {**sums.to_dict(), "unit_2025_code": PROVINCE_CODE, "period": table["period"].iloc[0]}
    approved = province["approved_vnd"]
    province["disbursement_rate"] = round(100 * province["disbursed_vnd"] / approved, 1) if approved else np.nan
    poor = province["poor_households"]
    province["disbursed_per_poor_household"] = round(province["disbursed_vnd"] / poor) if poor else np.nan
    province["least_funded_top_tier"] = False
    units = table.assign(scope="unit")
    return pd.concat([units, pd.DataFrame([province]).assign(scope="province")], ignore_index=True)


def _calibration(
    resolved: dict[str, tuple[Target, Fact, float]], projects: pd.DataFrame, paid: pd.DataFrame
) -> pd.DataFrame:
    """Calibration rows of the demo register: each published programme figure beside what the register gives."""
    done = projects[(projects["status"] == "completed") & (projects["completed_date"] <= "2025-12-31")]  # 2021-2025
    outputs = done.groupby(["component", "output_unit"])["output_value"].sum()
    programme = paid.merge(projects[["project_id", "programme"]], on="project_id")
    until = programme["period"].map(Quarter.parse)
    reproduce = {
        "houses_built_for_poor": outputs.get(("housing_support", "houses"), 0.0),
        "workers_job_connection": outputs.get(("job_connection", "people"), 0.0),
        "poor_near_poor_vocational_training": outputs.get(("vocational_training", "people"), 0.0),
        "disbursed_1719_to_2025q2": programme.loc[
            (programme["programme"] == "1719") & (until <= Quarter(2025, 2)), "amount"
        ].sum(),
        "disbursed_gnbv_to_2025q4": programme.loc[
            (programme["programme"] == "GNBV") & (until <= Quarter(2025, 4)), "amount"
        ].sum(),
    }
    rows = []
    for key, (target, fact, published) in resolved.items():
        reproduced = float(reproduce[key])
        rows.append(
            {
                "target": key,
                "indicator": target.indicator,
                "scope": target.scope,
                "when": target.when,
                "unit": fact.unit,
                "published": published,
                "reproduced": round(reproduced, 2),
                "difference": round(reproduced - published, 2),
                "tolerance": "exact",
                "status": "ok" if round(reproduced) == round(published) else "MISSED",
                "source": fact.source,
                "note": target.description or fact.note,
            }
        )
    return pd.DataFrame(rows)
