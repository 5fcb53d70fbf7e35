"""The calibration report: each published figure beside the value the demo dataset reproduces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from geo.alloc import CalibrationError
from geo.facts import Fact, Target

RATE_TOLERANCE_PP = 0.1


@dataclass(frozen=True)
class DemoTables:
    """The tables a reproduced figure is read from."""

    indicators: pd.DataFrame  # commune_indicators, every vintage
    villages: gpd.GeoDataFrame  # demo_villages
    communes: pd.DataFrame  # communes_2024 attributes (code, name, district_code)
    classification: pd.DataFrame | None = None  # classification_2026_2030 (unit_code, unit_type, region_class)


def _row(t: DemoTables, vintage: str, code: str, year: int) -> pd.Series:
    hit = t.indicators[
        (t.indicators["vintage"] == vintage) & (t.indicators["unit_code"] == code) & (t.indicators["year"] == year)
    ]
    if len(hit) != 1:
        raise CalibrationError(f"no {vintage} row for {code} in {year}")
    return hit.iloc[0]


def _communes(t: DemoTables, year: int, district: str | None = None) -> pd.DataFrame:
    rows = t.indicators[(t.indicators["vintage"] == "2024") & (t.indicators["year"] == year)]
    if district is not None:
        codes = set(t.communes.loc[t.communes["district_code"] == district, "code"])
        rows = rows[rows["unit_code"].isin(codes)]
    return rows


def _villages(t: DemoTables, district: str | None = None) -> gpd.GeoDataFrame:
    if district is None:
        return t.villages
    codes = set(t.communes.loc[t.communes["district_code"] == district, "code"])
    return t.villages[t.villages["commune_2024_code"].isin(codes)]


def _code_of(t: DemoTables, name: str, district: str) -> str:
    hit = t.communes[(t.communes["name"] == name) & (t.communes["district_code"] == district)]
    return str(hit["code"].iloc[0])


# How each target is read back from the generated tables.
REPRODUCE: dict[str, Callable[[DemoTables], float]] = {
    "households_2022": lambda t: _row(t, "province", "14", 2022)["households"],
    "persons_2022": lambda t: _row(t, "province", "14", 2022)["persons"],
    "persons_2024": lambda t: _row(t, "province", "14", 2024)["persons"],
    "poor_2022": lambda t: _row(t, "province", "14", 2022)["poor_households"],
    "near_poor_2022": lambda t: _row(t, "province", "14", 2022)["near_poor_households"],
    "ethnic_minority_households_2022": lambda t: _row(t, "province", "14", 2022)["ethnic_minority_households"],
    "poor_rate_ethnic_minority_2022": lambda t: _row(t, "province", "14", 2022)["poor_rate_ethnic_minority"],
    "poor_rate_2021": lambda t: _row(t, "province", "14", 2021)["poor_rate"],
    "poor_rate_2022": lambda t: _row(t, "province", "14", 2022)["poor_rate"],
    "near_poor_rate_2022": lambda t: _row(t, "province", "14", 2022)["near_poor_rate"],
    "poor_rate_2023": lambda t: _row(t, "province", "14", 2023)["poor_rate"],
    "poor_rate_2024": lambda t: _row(t, "province", "14", 2024)["poor_rate"],
    "poor_rate_2025": lambda t: _row(t, "province", "14", 2025)["poor_rate"],
    "poor_rate_sop_cop_2023": lambda t: _row(t, "district", "127", 2023)["poor_rate"],
    "poor_rate_sop_cop_2024": lambda t: _row(t, "district", "127", 2024)["poor_rate"],
    "poor_rate_mai_son_2023": lambda t: _row(t, "district", "125", 2023)["poor_rate"],
    "poor_rate_chieng_noi": lambda t: _row(t, "2024", _code_of(t, "Xã Chiềng Nơi", "125"), 2021)["poor_rate"],
    "region_iii_communes": lambda t: (_communes(t, 2021)["region_class"] == 3).sum(),
    "region_iii_mai_son": lambda t: (_communes(t, 2021, "125")["region_class"] == 3).sum(),
    "region_iii_bac_yen": lambda t: (_communes(t, 2021, "121")["region_class"] == 3).sum(),
    "villages_total": lambda t: len(t.villages),
    "especially_difficult_villages": lambda t: int(t.villages["especially_difficult"].sum()),
    "especially_difficult_villages_mai_son": lambda t: int(_villages(t, "125")["especially_difficult"].sum()),
    "paved_road_share": lambda t: 100 * float(t.villages["paved_road_to_centre"].mean()),
    "ntm_communes_2021": lambda t: int(_communes(t, 2021)["new_rural"].sum()),
    "ntm_communes_2025": lambda t: int(_communes(t, 2025)["new_rural"].sum()),
    "units_total": lambda t: len(_classification(t)),
    "wards_2025": lambda t: int((_classification(t)["unit_type"] == "Phường").sum()),
    "region_iii_2026": lambda t: int((_classification(t)["region_class"] == 3).sum()),
}


def _classification(t: DemoTables) -> pd.DataFrame:
    if t.classification is None:
        raise CalibrationError("no 2026-2030 classification to read the target from")
    return t.classification


def calibration_report(resolved: dict[str, tuple[Target, Fact, float]], tables: DemoTables) -> pd.DataFrame:
    """One row per target: published and reproduced values, difference, tolerance and status."""
    rows = []
    for key, (target, fact, published) in resolved.items():
        reproduced = float(REPRODUCE[key](tables))
        diff = reproduced - published
        ok = abs(diff) <= RATE_TOLERANCE_PP + 1e-9 if target.kind == "rate" else round(reproduced) == round(published)
        rows.append(
            {
                "target": key,
                "indicator": target.indicator,
                "scope": target.scope,
                "when": target.when,
                "unit": "%" if target.kind == "rate" else fact.unit,
                "published": published,
                "reproduced": round(reproduced, 2),
                "difference": round(diff, 2),
                "tolerance": f"±{RATE_TOLERANCE_PP} pp" if target.kind == "rate" else "exact",
                "status": "ok" if ok else "MISSED",
                "source": fact.source,
                "note": target.description or fact.note,
            }
        )
    return pd.DataFrame(rows)
