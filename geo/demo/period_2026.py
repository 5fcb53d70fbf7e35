"""Stage 7, the 2026-2030 period on the 75 units: 2026 village figures, the demo classification (66 of 75
units in region III, as Decision 60/QĐ-BDTTG publishes), especially difficult villages of 2026-2030,
and deprivation counts of every village and year under the poverty standard of that year.

It draws from its own generator (seed SEED + 2026) so that the 2021-2025 stages are unchanged by it.
Deprivation counts are consistent with the poor and near-poor counts by construction:
- poor households: Σ over indicators of poor households deprived ≥ k × poor (k = the standard's
  poor_min_deprivations, 3), each indicator at most the poor count. Such counts can always be dealt to
  households so that each poor household lacks at least k (deal each indicator's households round-robin);
- near-poor households: Σ ≤ (k − 1) × near-poor, so each can lack fewer than k;
- every count is at most the households of its group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.alloc import CalibrationError, allocate, solve, standardise
from geo.demo.params import SEED
from geo.policy import Standards
from geo.rules_2026 import (
    EM_REASONS,
    MOUNTAIN_REASONS,
    ethnic_minority_communes,
    mountainous_communes,
    region_classes,
)

YEAR_2026 = 2026
PERIOD = "2026-2030"
DEPRIVATION_YEARS = (2022, 2023, 2024, 2025, 2026)

# Assumptions of the demo (nothing is published for Sơn La's 2026 figures or its 2026-2030 village list).
POOR_RATE_DECLINE_2026_PP = 2.0  # 2026 provincial poverty = 2025 − 2.0 pp (2021-2024 pace was 3.59 pp/year)
NEAR_POOR_RATE_2026 = 8.1  # % of households (2025: 8.5%)
EM_PERSON_RATIO = 1.18  # ethnic-minority households are larger: persons per household relative to others
REGION_I_SHARE_OF_NON_III = 13 / 18  # the communes' own proposals (13 region I, 5 region II) set the split
# Especially difficult villages: Sơn La's 2021-2025 count scaled by the national change (12,368 of 13,222),
# shared between region classes as nationally (11,516 in region III, 679 in II, 104 in I).
NATIONAL_DBKK = {"2021-2025": 13222, "2026-2030": 12368, 3: 11516, 2: 679, 1: 104}

# Share of each group's households deprived in each indicator (before village modifiers): assumptions.
PREVALENCE: dict[str, tuple[float, float, float]] = {  # (poor, near-poor, others)
    "employment": (0.35, 0.12, 0.04),
    "dependants": (0.45, 0.20, 0.08),
    "nutrition": (0.30, 0.10, 0.03),
    "health_insurance": (0.10, 0.05, 0.06),
    "adult_education": (0.55, 0.25, 0.08),
    "school_attendance": (0.20, 0.05, 0.01),
    "housing_quality": (0.50, 0.20, 0.05),
    "housing_area": (0.35, 0.12, 0.04),
    "water_source": (0.45, 0.20, 0.06),
    "latrine": (0.70, 0.35, 0.12),
    "telecom": (0.30, 0.10, 0.02),
    "information_means": (0.55, 0.20, 0.05),
    "waste": (0.60, 0.30, 0.15),
    "internet": (0.50, 0.25, 0.10),
    "digital_services": (0.65, 0.35, 0.15),
}
# Which village feature raises each indicator (remoteness, no water, no grid, ethnic-minority share).
MODIFIERS: dict[str, tuple[float, float, float, float]] = {
    "employment": (0.15, 0.0, 0.0, 0.1),
    "dependants": (0.05, 0.0, 0.0, 0.1),
    "nutrition": (0.15, 0.1, 0.0, 0.2),
    "health_insurance": (0.05, 0.0, 0.0, 0.0),
    "adult_education": (0.2, 0.0, 0.0, 0.4),
    "school_attendance": (0.35, 0.0, 0.0, 0.2),
    "housing_quality": (0.2, 0.0, 0.1, 0.2),
    "housing_area": (0.1, 0.0, 0.0, 0.1),
    "water_source": (0.1, 0.8, 0.0, 0.1),
    "latrine": (0.15, 0.3, 0.0, 0.3),
    "telecom": (0.35, 0.0, 0.3, 0.1),
    "information_means": (0.25, 0.0, 0.5, 0.1),
    "waste": (0.3, 0.0, 0.0, 0.1),
    "internet": (0.35, 0.0, 0.3, 0.1),
    "digital_services": (0.3, 0.0, 0.2, 0.2),
}


@dataclass
class Period2026:
    """What stage 7 adds: 2026 village rows, the classification, village flags and deprivations."""

    village_years: pd.DataFrame  # 2026 rows, same columns as the 2021-2025 ones
    classification: pd.DataFrame  # one row per 2025 unit
    village_flags: pd.DataFrame  # village_id, especially_difficult_2026_2030
    deprivations: pd.DataFrame  # village_id, year, standard, indicator, households_deprived, poor_…, near_poor_…
    notes: list[str] = field(default_factory=list)


def period_2026(
    units: gpd.GeoDataFrame,
    villages: gpd.GeoDataFrame,
    village_years: pd.DataFrame,
    unit_persons: pd.Series,
    targets: dict[str, float],
    standards: Standards,
) -> Period2026:
    """Generate stage 7 for the 75 units from the 2021-2025 villages; `unit_persons` is 2025 persons by unit."""
    rng = np.random.default_rng(SEED + YEAR_2026)
    notes: list[str] = []
    villages = villages.sort_values("village_id").reset_index(drop=True)
    years_2026 = _village_2026(villages, village_years, rng, notes)
    all_years = pd.concat([village_years, years_2026], ignore_index=True)
    classification = _classification(units, villages, all_years, unit_persons, targets, notes)
    flags = _villages_2026_2030(villages, all_years, classification, targets, notes)
    classification = classification.merge(
        flags.merge(villages[["village_id", "unit_2025_code"]], on="village_id")
        .groupby("unit_2025_code")["especially_difficult_2026_2030"]
        .sum()
        .rename("n_especially_difficult_villages"),
        left_on="unit_code",
        right_index=True,
        how="left",
    )
    classification["n_especially_difficult_villages"] = (
        classification["n_especially_difficult_villages"].fillna(0).astype("int64")
    )
    deprivations = _deprivations(villages, all_years, standards, rng, notes)
    return Period2026(years_2026, classification, flags, deprivations, notes)


# ----------------------------------------------------------------------------------------------------
# 2026 village figures
# ----------------------------------------------------------------------------------------------------


def _village_2026(
    villages: pd.DataFrame, village_years: pd.DataFrame, rng: np.random.Generator, notes: list[str]
) -> pd.DataFrame:
    """2026 households, poor, near-poor and ethnic-minority households of every village."""
    y24 = village_years[village_years["year"] == 2024].set_index("village_id").reindex(villages["village_id"])
    y25 = village_years[village_years["year"] == 2025].set_index("village_id").reindex(villages["village_id"])
    h25 = y25["households"].to_numpy(dtype=float)
    growth = h25.sum() / y24["households"].to_numpy(dtype=float).sum()
    h26 = allocate(h25 * growth, round(h25.sum() * growth))
    rate25 = y25["poor_households"].to_numpy(dtype=float) / np.maximum(h25, 1)
    target_rate = rate25 @ h25 / h25.sum() - POOR_RATE_DECLINE_2026_PP / 100
    speed = np.clip(1 + 0.35 * standardise(rng.normal(0, 1, len(villages))), 0.4, 1.8)

    def poor_at(lam: float) -> float:
        return float((h26 * rate25 * np.exp(-lam * speed)).sum())

    lam = solve(lambda x: -poor_at(x), -target_rate * h26.sum(), 0.0, 10.0, "2026 poverty rate")
    poor = allocate(h26 * rate25 * np.exp(-lam * speed), round(target_rate * h26.sum()), upper=h26)
    near_total = round(NEAR_POOR_RATE_2026 / 100 * h26.sum())
    weight = h26 * np.sqrt(poor / np.maximum(h26, 1) + 0.02)
    near = allocate(weight * near_total / weight.sum(), near_total, upper=h26 - poor)
    em = np.minimum(np.round(h26 * villages["ethnic_minority_share"].to_numpy(dtype=float)), h26).astype(np.int64)
    notes.append(
        f"2026 (demo assumption, nothing published): poverty {POOR_RATE_DECLINE_2026_PP} pp below 2025 "
        f"({100 * target_rate:.2f}%), near-poor {NEAR_POOR_RATE_2026}%, households growing as in 2025"
    )
    return pd.DataFrame(
        {
            "village_id": villages["village_id"].to_numpy(),
            "year": YEAR_2026,
            "households": h26,
            "poor_households": poor,
            "near_poor_households": near,
            "ethnic_minority_households": em,
            "synthetic": True,
        }
    )


# ----------------------------------------------------------------------------------------------------
# Classification of the 75 units
# ----------------------------------------------------------------------------------------------------


def _unit_sums(villages: pd.DataFrame, years: pd.DataFrame, year: int) -> pd.DataFrame:
    rows = years[years["year"] == year].merge(villages[["village_id", "unit_2025_code"]], on="village_id")
    return rows.groupby("unit_2025_code")[["households", "poor_households", "ethnic_minority_households"]].sum()


def _classification(
    units: gpd.GeoDataFrame,
    villages: pd.DataFrame,
    years: pd.DataFrame,
    unit_persons: pd.Series,
    targets: dict[str, float],
    notes: list[str],
) -> pd.DataFrame:
    """One row per 2025 unit: demo region class (66 region III), statuses derived by Decree 272."""
    u = units.sort_values("code").reset_index(drop=True)
    codes = u["code"].to_numpy()
    if len(u) != int(targets["units_total"]):
        raise CalibrationError(f"{len(u)} units of 2025, {int(targets['units_total'])} published")
    s25 = _unit_sums(villages, years, 2025).reindex(codes)
    hh = s25["households"].to_numpy(dtype=float)
    em_hh_share = s25["ethnic_minority_households"].to_numpy(dtype=float) / hh
    persons = unit_persons.reindex(codes).to_numpy(dtype=float)
    em_person_share = em_hh_share * EM_PERSON_RATIO / (em_hh_share * EM_PERSON_RATIO + (1 - em_hh_share))
    em_persons = np.round(persons * em_person_share).astype(np.int64)
    em, em_reason = ethnic_minority_communes(em_persons, persons)
    # no elevation data is loaded: Sơn La is mountainous throughout, the demo flags every unit
    mountainous, mountain_reason = mountainous_communes(flag=np.ones(len(u)))
    derived, derived_reason = region_classes(em.astype(float), mountainous)

    n_iii = int(targets["region_iii_2026"])
    dbkk_2021 = villages.groupby("unit_2025_code")["especially_difficult"].mean().reindex(codes).to_numpy(dtype=float)
    rate25 = s25["poor_households"].to_numpy(dtype=float) / hh
    need = standardise(rate25) + standardise(dbkk_2021) + standardise(em_hh_share)
    need = np.where(u["unit_type"].to_numpy() == "Phường", need - 10, need)  # wards are the least in need
    order = np.argsort(-need, kind="stable")
    region = np.zeros(len(u), dtype=np.int64)
    region[order[:n_iii]] = 3
    rest = order[n_iii:]
    n_i = round(len(rest) * REGION_I_SHARE_OF_NON_III)
    region[rest[::-1][:n_i]] = 1
    region[region == 0] = 2
    notes.append(
        f"2026-2030 classification (demo): the {n_iii} units in most need by 2025 poverty, 2021-2025 especially "
        f"difficult villages and ethnic-minority share are region III (published: {n_iii} of {len(u)}); the "
        f"other {len(rest)} split {n_i} region I / {len(rest) - n_i} region II in the ratio of the communes' "
        "proposals (13 / 5), an assumption"
    )
    return pd.DataFrame(
        {
            "unit_code": codes,
            "unit_name": u["full_name"].to_numpy(),
            "unit_type": u["unit_type"].to_numpy(),
            "period": PERIOD,
            "region_class": region,
            "persons": persons.astype(np.int64),
            "ethnic_minority_persons": em_persons,
            "ethnic_minority_person_share": np.round(100 * em_person_share, 2),
            "ethnic_minority": em,
            "ethnic_minority_reason": [EM_REASONS[i] for i in em_reason],
            "mountainous": mountainous.astype(bool),
            "mountainous_reason": [MOUNTAIN_REASONS[i] for i in mountain_reason],
            "region_class_derived": pd.array([None if math.isnan(v) else int(v) for v in derived], dtype="Int64"),
            "derived_reason": derived_reason,
            "source": "demo",
            "document": None,
            "document_date": None,
            "villages_source": "demo",
        }
    )


def _villages_2026_2030(
    villages: pd.DataFrame,
    years: pd.DataFrame,
    classification: pd.DataFrame,
    targets: dict[str, float],
    notes: list[str],
) -> pd.DataFrame:
    """Especially difficult villages of 2026-2030: the national change applied to the 2021-2025 count."""
    total_2021 = int(targets["especially_difficult_villages"])
    total = round(total_2021 * NATIONAL_DBKK["2026-2030"] / NATIONAL_DBKK["2021-2025"])
    shares = {c: NATIONAL_DBKK[c] / (NATIONAL_DBKK[1] + NATIONAL_DBKK[2] + NATIONAL_DBKK[3]) for c in (1, 2, 3)}
    region_of = classification.set_index("unit_code")["region_class"]
    v_region = villages["unit_2025_code"].map(region_of).to_numpy()
    y26 = years[years["year"] == YEAR_2026].set_index("village_id").reindex(villages["village_id"])
    rate = y26["poor_households"].to_numpy(dtype=float) / np.maximum(y26["households"].to_numpy(dtype=float), 1)
    need = (
        standardise(rate)
        + 0.5 * (~villages["paved_road_to_centre"].astype(bool)).to_numpy()
        + 0.5 * (1 - villages["grid_power_share"].to_numpy(dtype=float))
        + 0.3 * villages["especially_difficult"].astype(bool).to_numpy()
    )
    quotas = allocate(np.array([shares[c] * total for c in (1, 2, 3)]), total)
    flag = np.zeros(len(villages), dtype=bool)
    for c, quota in zip((1, 2, 3), quotas, strict=True):
        pool = np.flatnonzero(v_region == c)
        quota = min(int(quota), len(pool))
        flag[pool[np.argsort(-need[pool], kind="stable")][:quota]] = True
    notes.append(
        f"2026-2030 especially difficult villages (demo): {int(flag.sum())}, Sơn La's 2021-2025 {total_2021} "
        "scaled by the national change (12,368 of 13,222), shared between region classes as nationally"
    )
    return pd.DataFrame(
        {
            "village_id": villages["village_id"].to_numpy(),
            "especially_difficult_2026_2030": flag,
            "especially_difficult_2026_2030_source": "demo",
        }
    )


# ----------------------------------------------------------------------------------------------------
# Deprivations
# ----------------------------------------------------------------------------------------------------


def _deprivations(
    villages: pd.DataFrame,
    years: pd.DataFrame,
    standards: Standards,
    rng: np.random.Generator,
    notes: list[str],
) -> pd.DataFrame:
    """Households deprived in each indicator of the year's standard, per village and year, by group."""
    n = len(villages)
    remote = standardise(np.log1p(villages["distance_to_centre_km"].to_numpy(dtype=float)))
    no_water = 1 - villages["clean_water_share"].to_numpy(dtype=float)
    no_grid = 1 - villages["grid_power_share"].to_numpy(dtype=float)
    em_share = villages["ethnic_minority_share"].to_numpy(dtype=float)
    noise = {ind: rng.normal(0, 0.15, n) for ind in PREVALENCE}
    frames = []
    for year in DEPRIVATION_YEARS:
        standard = standards.for_year(year)
        if not standard.indicators:
            continue
        k = standard.poor_min_deprivations
        y = years[years["year"] == year].set_index("village_id").reindex(villages["village_id"])
        hh = y["households"].to_numpy(dtype=np.int64)
        poor = y["poor_households"].to_numpy(dtype=np.int64)
        near = y["near_poor_households"].to_numpy(dtype=np.int64)
        others = hh - poor - near
        improve = 0.97 ** (year - DEPRIVATION_YEARS[0])
        ids = standard.indicator_ids
        p = np.zeros((n, len(ids), 3))
        for j, ind in enumerate(ids):
            if ind not in PREVALENCE:
                raise CalibrationError(f"standard {standard.id}: no demo prevalence for indicator {ind}")
            a, b, c, d = MODIFIERS[ind]
            factor = np.exp(a * remote + b * no_water + c * no_grid + d * (em_share - 0.5) + noise[ind])
            for g, base in enumerate(PREVALENCE[ind]):
                p[:, j, g] = np.clip(base * factor * (improve if g == 2 else 1.0), 0.0, 0.95)
        poor_dep = _counts(poor, p[:, :, 0], minimum=k)
        near_dep = _counts(near, p[:, :, 1], maximum=k - 1)
        other_dep = np.floor(others[:, None] * p[:, :, 2]).astype(np.int64)
        for j, ind in enumerate(ids):
            frames.append(
                pd.DataFrame(
                    {
                        "village_id": villages["village_id"].to_numpy(),
                        "year": year,
                        "standard": standard.id,
                        "indicator": ind,
                        "households_deprived": poor_dep[:, j] + near_dep[:, j] + other_dep[:, j],
                        "poor_households_deprived": poor_dep[:, j],
                        "near_poor_households_deprived": near_dep[:, j],
                    }
                )
            )
    notes.append(
        "deprivations (demo): shares of poor, near-poor and other households lacking each indicator are "
        "assumptions raised by remoteness, missing water or grid and ethnic-minority share; every poor "
        "household lacks at least 3 indicators and every near-poor one fewer than 3 (Decree 07/2021)"
    )
    out = pd.concat(frames, ignore_index=True)
    return out.assign(synthetic=True)


def _counts(group: np.ndarray, p: np.ndarray, minimum: int | None = None, maximum: int | None = None) -> np.ndarray:
    """Integer deprived households per village (rows) and indicator (columns), each ≤ the group size, with
    Σ over indicators ≥ minimum × group (raised on the most likely indicators) or ≤ maximum × group."""
    counts = np.minimum(np.floor(group[:, None] * p), group[:, None]).astype(np.int64)
    for i in range(len(group)):
        g = int(group[i])
        order = np.argsort(-p[i], kind="stable")
        if minimum is not None:
            short = minimum * g - int(counts[i].sum())
            for j in order:
                if short <= 0:
                    break
                add = min(short, g - int(counts[i, j]))
                counts[i, j] += add
                short -= add
        if maximum is not None:
            excess = int(counts[i].sum()) - maximum * g
            for j in order:
                if excess <= 0:
                    break
                cut = min(excess, int(counts[i, j]))
                counts[i, j] -= cut
                excess -= cut
    return counts
