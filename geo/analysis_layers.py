"""Priority and investment-plan layers from the warehouse layers: access, criteria tables, index, plan.

The criteria tables are built once (they depend on the data, not on the profile), so that ranking
again with another profile only reruns `geo.priority.priority` on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.access import SERVICES, unit_access, village_access
from geo.errors import InputDataError
from geo.plan import Candidates, Costs, PlanInputs, PlanResult, network_candidates, plan_layers
from geo.policy import Periods, Standards
from geo.priority import Profile, priority, trend

PROVINCE_VINTAGE = "province"


def _need(layers: dict[str, pd.DataFrame], name: str) -> pd.DataFrame:
    if name not in layers:
        raise InputDataError("warehouse", f"layer {name!r} is missing; rebuild with `atlas build`")
    return layers[name]


def access_table(layers: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Minutes, road km and straight km from every village to the nearest health station, school, market."""
    villages = _need(layers, "demo_villages")
    assert isinstance(villages, gpd.GeoDataFrame)
    facilities = {}
    for kind in SERVICES:
        frame = _need(layers, kind)
        assert isinstance(frame, gpd.GeoDataFrame)
        facilities[kind] = frame
    roads = _need(layers, "roads")
    assert isinstance(roads, gpd.GeoDataFrame)
    return village_access(villages, roads, facilities).table


@dataclass
class Criteria:
    """The criteria tables the index is computed on, and what the trend view needs."""

    units: gpd.GeoDataFrame  # one row per 2025 unit, geometry of the unit
    villages: gpd.GeoDataFrame  # one row per village, point geometry
    province_rates: dict[int, float]
    years: tuple[int, ...]  # the years of the poverty series (poor_rate_<year> columns of units and villages)
    synthetic: bool = True
    notes: list[str] = field(default_factory=list)


def criteria_tables(layers: dict[str, pd.DataFrame], access: pd.DataFrame | None = None) -> Criteria:
    """Every criterion a profile can name, per 2025 unit and per village."""
    access = access_table(layers) if access is None else access
    villages = _need(layers, "demo_villages")
    assert isinstance(villages, gpd.GeoDataFrame)
    indicators = _need(layers, "indicators_units_2025")
    assert isinstance(indicators, gpd.GeoDataFrame)

    v = villages.merge(access, on="village_id", how="left")
    hh = v["households_2025"].astype(float)
    latest = int(indicators["latest_year"].iloc[0])
    years = tuple(sorted(int(c.rsplit("_", 1)[1]) for c in indicators.columns if re.fullmatch(r"poor_rate_\d{4}", c)))
    village_intensity, unit_deprivation = _deprivation_criteria(layers, latest)
    v_table = gpd.GeoDataFrame(
        {
            "village_id": v["village_id"],
            "name": v["name"],
            "commune_2024_code": v["commune_2024_code"],
            "unit_2025_code": v["unit_2025_code"],
            "district_code": v["district_code"],
            "households_2025": v["households_2025"],
            "poor_households_2025": v["poor_households_2025"],
            **{c: v[c] for c in v.columns if re.fullmatch(r"poor_rate_\d{4}", c)},
            "households_latest": v.get(f"households_{latest}", v["households_2025"]),
            "poor_households_latest": v.get(f"poor_households_{latest}", v["poor_households_2025"]),
            "especially_difficult": v["especially_difficult"].astype(float),
            "especially_difficult_2026_2030": v["especially_difficult_2026_2030"].astype(float)
            if "especially_difficult_2026_2030" in v
            else np.nan,
            "deprivation_intensity": v["village_id"].map(village_intensity),
            "ethnic_minority_share": (100 * v["ethnic_minority_share"].astype(float)).round(2),
            "no_paved_road": (~v["paved_road_to_centre"].astype(bool)).astype(float),
            "grid_gap": (100 * (1 - v["grid_power_share"].astype(float))).round(2),
            **{c: v[c] for c in access.columns if c != "village_id"},
        },
        geometry=v.geometry.values,
        crs=villages.crs,
    )

    v_units = (
        pd.DataFrame(
            {
                "unit_2025_code": v["unit_2025_code"],
                "no_paved": (~v["paved_road_to_centre"].astype(bool)).astype(float),
                "hh": hh,
                "hh_no_grid": hh * (1 - v["grid_power_share"].astype(float)),
            }
        )
        .groupby("unit_2025_code")
        .agg(
            villages=("no_paved", "size"),
            no_paved=("no_paved", "sum"),
            hh=("hh", "sum"),
            hh_no_grid=("hh_no_grid", "sum"),
        )
    )
    per_unit = unit_access(v.assign(households=hh), access, "unit_2025_code").set_index("unit_2025_code")
    u = indicators.set_index("unit_code")
    n_villages = u["n_villages"].astype(float)
    u_table = pd.DataFrame(
        {
            "unit_code": u.index,
            "unit_name": u["unit_name"],
            "households": u["households"],
            "poor_households": u["poor_households"].astype(float),
            "near_poor_households": u["near_poor_households"],
            "poor_rate": u["poor_rate"],
            "near_poor_rate": u["near_poor_rate"],
            "ethnic_minority_share": u["ethnic_minority_share"],
            "region_iii_household_share": u["region_iii_household_share"],
            "n_villages": u["n_villages"],
            "n_especially_difficult_villages": u["n_especially_difficult_villages"],
            "share_especially_difficult_villages": (
                100 * u["n_especially_difficult_villages"].astype(float) / n_villages.where(n_villages > 0)
            ).round(2),
            "share_villages_without_paved_road": (100 * v_units["no_paved"] / v_units["villages"]).round(2),
            "share_households_without_grid": (100 * v_units["hh_no_grid"] / v_units["hh"]).round(2),
            **{f"poor_rate_{y}": u[f"poor_rate_{y}"] for y in years},
            "poor_households_2025": u["poor_households_2025"].astype(float),
            "near_poor_rate_2025": u["near_poor_rate_2025"],
            **_earlier_period(layers, u.index),
        },
        index=u.index,
    ).join(per_unit)
    u_table = u_table.join(unit_deprivation)
    u_table = gpd.GeoDataFrame(
        u_table.reset_index(drop=True),
        geometry=indicators.set_index("unit_code").geometry.reindex(u.index).values,
        crs=indicators.crs,
    )

    rates: dict[int, float] = {}
    ci = layers.get("commune_indicators")
    if ci is not None:
        prov = ci[ci["vintage"] == PROVINCE_VINTAGE]
        rates = {int(y): float(r) for y, r in zip(prov["year"], prov["poor_rate"], strict=True)}
    synthetic = bool(indicators["synthetic"].astype(bool).any() or villages["synthetic"].astype(bool).any())
    return Criteria(u_table, v_table, rates, years, synthetic)


def _deprivation_criteria(layers: dict[str, pd.DataFrame], year: int) -> tuple[pd.Series, pd.DataFrame]:
    """Deprivation intensity (indicators lacked per household) of villages and units in `year`, and each
    unit's share of households lacking each indicator (pct_*); empty where no deprivation layer exists."""
    villages = layers["demo_villages"]
    wide = layers.get("deprivations_units_2025")
    if wide is None or "deprivation_intensity" not in villages:
        return pd.Series(dtype="float64"), pd.DataFrame()
    village_intensity = villages.set_index("village_id")["deprivation_intensity"].astype(float)
    units = wide[wide["year"] == year].set_index("unit_code")
    counts = [c for c in units.columns if c.startswith("d_")]
    intensity = (units[counts].astype("float64").sum(axis=1) / units["households"].astype(float)).round(3)
    shares = units[[c for c in units.columns if c.startswith("pct_")]].astype("float64")
    return village_intensity, shares.assign(deprivation_intensity=intensity)


def _earlier_period(layers: dict[str, pd.DataFrame], codes: pd.Index) -> dict[str, pd.Series]:
    """The 2021-2025 period's region III and especially-difficult-village shares of each 2025 unit (in 2025)."""
    ci = layers.get("commune_indicators")
    if ci is None:
        return {}
    rows = ci[(ci["vintage"] == "2025") & (ci["year"] == 2025)].set_index("unit_code").reindex(codes)
    villages = rows["n_villages"].astype(float)
    return {
        "region_iii_household_share_2021_2025": rows["region_iii_household_share"].astype(float),
        "share_especially_difficult_villages_2021_2025": (
            100 * rows["n_especially_difficult_villages"].astype(float) / villages.where(villages > 0)
        ).round(2),
    }


@dataclass
class PriorityLayers:
    """The two priority layers and the reports that go with them."""

    units: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    filled: dict[str, dict[str, int]]
    profile: Profile

    def summary(self) -> dict[str, Any]:
        """Counts a report or a process response shows."""
        u = self.units
        return {
            "profile": self.profile.profile,
            "version": self.profile.version,
            "period": self.profile.period,
            "trend": f"{int(self.units['trend_from'].iloc[0])}→{int(self.units['trend_to'].iloc[0])}"
            if len(self.units)
            else None,
            "units": len(u),
            "villages": len(self.villages),
            "units_by_tier": u["tier_label"].value_counts().to_dict(),
            "units_stable": int((u["tier_share_mc"] >= 0.8).sum()) if u["tier_share_mc"].notna().any() else None,
            "units_depending_on_weights": int((u["tier_share_mc"] < 0.8).sum())
            if u["tier_share_mc"].notna().any()
            else None,
            "units_falling_behind": int(u["falling_behind"].sum()),
            "missing_values_filled": self.filled,
        }


def trend_years(years: tuple[int, ...], period: str) -> tuple[int, int]:
    """First and last year of the poverty trend for a profile's period: the period's last year with figures,
    and the earliest year measured by the same poverty standard (a trend never crosses a change of standard)."""
    last_year = Periods.load().get(period).last_year
    latest = max(y for y in years if y <= last_year)
    return Standards.load().comparable_start(years, latest), latest


def priority_layers(criteria: Criteria, profile: Profile, draws: int = 500) -> PriorityLayers:
    """Score, rank and tier 2025 units and villages by the profile; trend and sensitivity beside the score."""
    u, v = criteria.units, criteria.villages
    units = priority(u, "unit_code", profile.units, profile, draws=draws)
    villages = priority(v, "village_id", profile.villages, profile, draws=draws)
    start, latest = trend_years(criteria.years, profile.period)
    first, last = criteria.province_rates.get(start, np.nan), criteria.province_rates.get(latest, np.nan)
    unit_trend = trend(u, "unit_code", f"poor_rate_{start}", f"poor_rate_{latest}", first, last)
    village_trend = trend(v, "village_id", f"poor_rate_{start}", f"poor_rate_{latest}", first, last)
    stamp = {
        "profile": profile.profile,
        "profile_version": profile.version,
        "period": profile.period,
        "trend_from": start,
        "trend_to": latest,
        "synthetic": criteria.synthetic,
    }
    unit_out = u.merge(units.table, on="unit_code").merge(unit_trend, on="unit_code").assign(**stamp)
    village_out = v.merge(villages.table, on="village_id").merge(village_trend, on="village_id").assign(**stamp)
    # rank of each village within its 2025 unit, the list a commune planner works down
    village_out["rank_in_unit"] = (
        village_out.groupby("unit_2025_code")["score"].rank(ascending=False, method="first").astype(int)
    )
    return PriorityLayers(
        gpd.GeoDataFrame(unit_out.sort_values("rank").reset_index(drop=True), geometry="geometry", crs=u.crs),
        gpd.GeoDataFrame(village_out.sort_values("rank").reset_index(drop=True), geometry="geometry", crs=v.crs),
        {"units": units.filled, "villages": villages.filled},
        profile,
    )


def plan_inputs(layers: dict[str, pd.DataFrame]) -> PlanInputs:
    """What the candidate generator needs, from the warehouse layers."""
    communes = _need(layers, "indicators_communes_2024")
    c24 = _need(layers, "communes_2024")
    region = communes.set_index("unit_code")
    table = pd.DataFrame(
        {
            "code": region.index,
            "name": region["unit_name"].to_numpy(),
            "region_iii": (region["region_class"] == 3).fillna(False).to_numpy(dtype=bool),
            "persons_per_household": (region["persons"].astype(float) / region["households"].astype(float)).to_numpy(),
        }
    )
    table["unit_2025_code"] = table["code"].map(c24.set_index("code")["unit_2025_code"])
    current = layers.get("classification_2026_2030")
    if current is not None:  # the current period: region III is a class of the 2025 unit
        classes = current.set_index("unit_code")["region_class"]
        table["region_iii"] = (table["unit_2025_code"].map(classes) == 3).to_numpy(dtype=bool)
    frames = {}
    for name in ("demo_villages", "roads", "health_stations", "schools"):
        frame = _need(layers, name)
        assert isinstance(frame, gpd.GeoDataFrame)
        frames[name] = frame
    return PlanInputs(frames["demo_villages"], frames["roads"], frames["health_stations"], frames["schools"], table)


def candidates(layers: dict[str, pd.DataFrame], costs: Costs) -> Candidates:
    """Network candidates for the warehouse layers."""
    return network_candidates(plan_inputs(layers), costs)


def unit_names(layers: dict[str, pd.DataFrame]) -> dict[str, str]:
    """2025 unit code → full name."""
    units = _need(layers, "units_2025")
    return dict(zip(units["code"].astype(str), units["full_name"].astype(str), strict=True))


def plan_tables(result: PlanResult, synthetic: bool, costs: Costs) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The plan's point layer (every chosen project) and line layer (chosen road upgrades), stamped."""
    points, lines = plan_layers(result)
    stamp = {"budget_vnd": result.totals["budget_vnd"], "costs_version": costs.version, "synthetic": synthetic}
    return points.assign(**stamp), lines.assign(**stamp)
