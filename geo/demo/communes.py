"""Stages 2, 3 and 5, the communes: households and persons, region III and new-rural status by design,
poverty in 2021 and its decline to 2025, near-poor and poor ethnic-minority households; and the commune
table whose region classes are derived by rule."""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.alloc import CalibrationError, allocate, sigmoid, solve, standardise
from geo.demo.params import NEAR_POOR_RATE_ASSUMED, YEARS, Counts
from geo.names import match_key
from geo.rules import REGION_REASONS, region_classes


@dataclass
class CommuneFigures:
    """The generated figures of every pre-merger commune, arrays in commune order, by year."""

    households: Counts
    persons: Counts
    dtts: Counts  # ethnic-minority households
    poor: Counts
    near_poor: Counts
    poor_dtts: Counts  # poor ethnic-minority households
    ntm: dict[int, np.ndarray]  # new-rural commune (bool)
    ntm_at_classification: np.ndarray  # new-rural when the 2021-2025 regions were classified (bool)
    region_iii: np.ndarray  # region III by design (bool)
    risk: float  # relative poverty risk of ethnic-minority households


def commune_figures(
    communes: gpd.GeoDataFrame, geo: pd.DataFrame, targets: dict[str, float], rng: np.random.Generator
) -> tuple[CommuneFigures, list[str]]:
    """Every commune figure of every year, calibrated to `targets`, and the notes on how."""
    notes: list[str] = []
    households, persons = _households_and_persons(geo, targets, notes)
    dtts, dtts_share = _ethnic_minority(geo, households, targets, rng)
    eligible = dtts_share >= 0.15
    chieng_noi = [
        i
        for i, name in enumerate(communes["name"])
        if match_key(name) == match_key("Chiềng Nơi") and communes["district_code"].iloc[i] == "125"
    ]
    region_iii = _pick_region_iii(
        geo,
        communes,
        eligible,
        int(targets["region_iii_communes"]),
        {"125": int(targets["region_iii_mai_son"]), "121": int(targets["region_iii_bac_yen"])},
        set(chieng_noi),
    )
    ntm = _new_rural(communes, geo, region_iii, targets)
    ntm_at_classification = ntm[2021] & ~region_iii
    recognised_2021 = int((ntm[2021] & region_iii).sum())
    if recognised_2021:
        notes.append(
            f"{recognised_2021} region III commune(s) reached the new-rural standard during 2021, after "
            "the 2021-2025 classification: the rule uses new-rural status at classification"
        )
    poor = {
        2021: _poverty_2021(
            geo, households[2021], dtts_share, region_iii, eligible, ntm_at_classification, chieng_noi, targets
        )
    }
    poor |= _poverty_decline(communes, geo, households, poor[2021], targets, rng, notes)
    near_poor = _near_poor(households, poor, targets, notes)
    poor_dtts, risk = _poor_ethnic_minority(households, dtts, poor, targets)
    figures = CommuneFigures(
        households, persons, dtts, poor, near_poor, poor_dtts, ntm, ntm_at_classification, region_iii, risk
    )
    return figures, notes


# ----------------------------------------------------------------------------------------------------
# 2. Households, persons, ethnic-minority households
# ----------------------------------------------------------------------------------------------------


def _totals_by_year(t: dict[str, float]) -> tuple[dict[int, int], dict[int, int], float]:
    p22, p24 = t["persons_2022"], t["persons_2024"]
    growth = math.sqrt(p24 / p22) - 1
    persons = {y: round(p22 * (1 + growth) ** (y - 2022)) for y in YEARS}
    persons[2022], persons[2024] = int(p22), int(p24)
    households = {y: round(t["households_2022"] * (1 + growth) ** (y - 2022)) for y in YEARS}
    households[2022] = int(t["households_2022"])
    return households, persons, growth


def _households_and_persons(geo: pd.DataFrame, targets: dict[str, float], notes: list[str]) -> tuple[Counts, Counts]:
    """Provincial totals of each year shared by WorldPop population (households by household size)."""
    urban = geo["urban"].to_numpy()
    dep = geo["deprivation"].to_numpy()
    households_total, persons_total, growth = _totals_by_year(targets)
    hh_size = np.where(urban, 3.8, 4.4 + 0.5 * sigmoid(dep))
    hh_weight = geo["pop_wp"].to_numpy() / hh_size
    households = {y: allocate(households_total[y] * hh_weight / hh_weight.sum(), households_total[y]) for y in YEARS}
    persons = {
        y: allocate(persons_total[y] * geo["pop_wp"].to_numpy() / geo["pop_wp"].sum(), persons_total[y]) for y in YEARS
    }
    notes.append(
        f"households and persons grow {100 * growth:.2f}% a year, the growth between the published "
        "2022 and 2024 persons (assumption outside those years)"
    )
    return households, persons


def _ethnic_minority(
    geo: pd.DataFrame, households: Counts, targets: dict[str, float], rng: np.random.Generator
) -> tuple[Counts, np.ndarray]:
    """Ethnic-minority households (high in remote communes, low in towns) and their share, calibrated to 2022."""
    urban = geo["urban"].to_numpy()
    dep = geo["deprivation"].to_numpy()
    h22 = households[2022]
    dtts_target = int(targets["ethnic_minority_households_2022"])
    base = np.where(urban, 1.2 + 0.9 * dep, 2.2 + 1.1 * dep) + rng.normal(0, 0.3, len(geo))
    shift = solve(lambda a: float((h22 * sigmoid(base + a)).sum()), dtts_target, -10, 10, "ethnic-minority share")
    dtts_share = sigmoid(base + shift)
    dtts = {y: np.minimum(np.round(households[y] * dtts_share).astype(np.int64), households[y]) for y in YEARS}
    dtts[2022] = allocate(h22 * dtts_share, dtts_target, upper=h22)
    return dtts, dtts_share


# ----------------------------------------------------------------------------------------------------
# 3. Status by design
# ----------------------------------------------------------------------------------------------------


def _pick_region_iii(
    geo: pd.DataFrame,
    communes: gpd.GeoDataFrame,
    eligible: np.ndarray,
    total: int,
    quotas: dict[str, int],
    forced: set[int],
) -> np.ndarray:
    """The region III set: district quotas first, then the most deprived of the rest, forced ones kept."""
    chosen = np.zeros(len(geo), dtype=bool)
    order = np.argsort(-geo["deprivation"].to_numpy(), kind="stable")
    districts = communes["district_code"].to_numpy()
    for district, quota in quotas.items():
        pool = [i for i in order if eligible[i] and districts[i] == district]
        must = [i for i in pool if i in forced]
        take = must + [i for i in pool if i not in forced][: max(quota - len(must), 0)]
        if len(take) != quota:
            raise CalibrationError(f"district {district}: {len(pool)} eligible communes for {quota} in region III")
        chosen[take] = True
    rest = total - int(chosen.sum())
    pool = [i for i in order if eligible[i] and districts[i] not in quotas and not chosen[i]]
    must = [i for i in pool if i in forced]
    chosen[must + [i for i in pool if i not in forced][: rest - len(must)]] = True
    if chosen.sum() != total:
        raise CalibrationError(f"only {int(chosen.sum())} communes can be region III, {total} published")
    return chosen


def _new_rural(
    communes: gpd.GeoDataFrame, geo: pd.DataFrame, region_iii: np.ndarray, targets: dict[str, float]
) -> dict[int, np.ndarray]:
    """New-rural communes of each year: the least deprived Xã, counts interpolated between end-2021 and 07/2025."""
    is_xa = (communes["unit_type"] == "Xã").to_numpy()
    ntm_order = [i for i in np.argsort(geo["deprivation"].to_numpy(), kind="stable") if is_xa[i]]
    ntm_2021_n, ntm_2025_n = int(targets["ntm_communes_2021"]), int(targets["ntm_communes_2025"])
    ntm_counts = {y: round(ntm_2021_n + (ntm_2025_n - ntm_2021_n) * (y - 2021) / 4) for y in YEARS}
    not_iii = [i for i in ntm_order if not region_iii[i]]
    late = [i for i in ntm_order if region_iii[i]]
    ntm_rank = not_iii + late  # communes that left region III by reaching the standard come last
    return {y: np.isin(np.arange(len(communes)), ntm_rank[: ntm_counts[y]]) for y in YEARS}


def _poverty_2021(
    geo: pd.DataFrame,
    h21: np.ndarray,
    dtts_share: np.ndarray,
    region_iii: np.ndarray,
    eligible: np.ndarray,
    ntm_at_classification: np.ndarray,
    chieng_noi: list[int],
    targets: dict[str, float],
) -> np.ndarray:
    """2021 commune poverty, in the bands the rules require of each status, to the published provincial rate."""
    urban = geo["urban"].to_numpy()
    dep = geo["deprivation"].to_numpy()
    n = len(geo)
    lo = np.where(region_iii, np.where(dtts_share >= 0.5, 0.16, 0.205), np.where(urban, 0.003, 0.01))
    hi = np.where(region_iii, 0.85, np.where(eligible & ~ntm_at_classification, 0.145, 0.14))
    hi = np.where(urban & ~region_iii, 0.08, hi)
    poor_target_2021 = round(targets["poor_rate_2021"] / 100 * h21.sum())
    pinned = {i: targets["poor_rate_chieng_noi"] / 100 for i in chieng_noi}
    free = np.array([i not in pinned for i in range(n)])
    pinned_poor = sum(h21[i] * r for i, r in pinned.items())

    def poor_at(alpha: float) -> float:
        rate = lo + (hi - lo) * sigmoid(alpha + 1.3 * dep)
        return float((h21 * rate)[free].sum() + pinned_poor)

    alpha = solve(poor_at, poor_target_2021, -15, 15, "2021 poverty rate")
    rate_2021 = lo + (hi - lo) * sigmoid(alpha + 1.3 * dep)
    for i, r in pinned.items():
        rate_2021[i] = r
    return allocate(
        h21 * rate_2021,
        poor_target_2021,
        lower=np.ceil(h21 * np.minimum(lo, rate_2021)),
        upper=np.floor(h21 * np.maximum(hi, rate_2021)),
    )


# ----------------------------------------------------------------------------------------------------
# 5. Years 2022-2025
# ----------------------------------------------------------------------------------------------------


def _poverty_decline(
    communes: gpd.GeoDataFrame,
    geo: pd.DataFrame,
    households: Counts,
    poor_2021: np.ndarray,
    targets: dict[str, float],
    rng: np.random.Generator,
    notes: list[str],
) -> Counts:
    """Poor households of 2022-2025: heterogeneous decline solved to the published provincial and district rates."""
    n = len(communes)
    district = communes["district_code"].to_numpy()
    speed = 1 + 0.35 * standardise(rng.normal(0, 1, n)) - 0.15 * standardise(geo["deprivation"].to_numpy())
    speed = np.clip(speed, 0.4, 1.8)
    year_targets = _year_targets(households, targets)
    if "poor_rate_2023" not in targets:
        notes.append("2023 provincial poverty is not published: the demo uses the mean of the 2022 and 2024 rates")
    district_targets = {
        2023: {"127": targets["poor_rate_sop_cop_2023"] / 100, "125": targets["poor_rate_mai_son_2023"] / 100},
        2024: {"127": targets["poor_rate_sop_cop_2024"] / 100},
    }
    base_rate = poor_2021 / households[2021]
    lam: dict[int, dict[str, float]] = {}
    poor: Counts = {}
    for y in YEARS[1:]:
        hy = households[y]
        groups = dict(district_targets.get(y, {}))
        lam[y] = _district_speeds(y, groups, district_targets, lam, district, hy, base_rate, speed)
        fixed = np.isin(district, list(lam[y]))
        fixed_poor = sum(float((hy * base_rate * np.exp(-lam[y][d] * speed))[district == d].sum()) for d in lam[y])
        target = year_targets[y]

        def rest_poor(x: float, fixed: np.ndarray = fixed, hy: np.ndarray = hy) -> float:
            return -float((hy * base_rate * np.exp(-x * speed))[~fixed].sum())

        lam_rest = solve(rest_poor, -(target - fixed_poor), 0.0, 10.0, f"{y} poverty rate")
        lam_c = np.full(n, lam_rest)
        for d, value in lam[y].items():
            lam_c[district == d] = value
        expected = hy * base_rate * np.exp(-lam_c * speed)
        poor[y] = _allocate_year(expected, hy, district, groups, target)
    return poor


def _year_targets(households: Counts, targets: dict[str, float]) -> dict[int, int]:
    """Provincial poor households of 2022-2025; 2023, where not given, at the mean of the 2022 and 2024 rates."""
    year_targets = {
        2022: int(targets["poor_2022"]),
        2024: round(targets["poor_rate_2024"] / 100 * households[2024].sum()),
        2025: round(targets["poor_rate_2025"] / 100 * households[2025].sum()),
    }
    rate_2023 = (
        targets["poor_rate_2023"] / 100
        if "poor_rate_2023" in targets
        else (year_targets[2022] / households[2022].sum() + year_targets[2024] / households[2024].sum()) / 2
    )
    year_targets[2023] = round(rate_2023 * households[2023].sum())
    return year_targets


def _district_speeds(
    y: int,
    groups: dict[str, float],
    district_targets: dict[int, dict[str, float]],
    lam: dict[int, dict[str, float]],
    district: np.ndarray,
    hy: np.ndarray,
    base_rate: np.ndarray,
    speed: np.ndarray,
) -> dict[str, float]:
    """Decline rates of the districts with a published rate this year, and of those pinned in another year."""
    out: dict[str, float] = {}
    for d, rate in groups.items():
        mask = district == d

        def dpoor(x: float, mask: np.ndarray = mask) -> float:
            return -float((hy * base_rate * np.exp(-x * speed))[mask].sum())

        out[d] = solve(dpoor, -rate * hy[mask].sum(), 0.0, 10.0, f"{y} district {d}")
    # districts pinned in another year follow their own path in this one
    for d in {d for yy in district_targets.values() for d in yy} - set(groups):
        pinned_years = sorted(yy for yy in lam if d in lam[yy] and yy != y)
        if pinned_years:
            last = pinned_years[-1]
            out[d] = lam[last][d] * (y - 2021) / (last - 2021)
    return out


def _allocate_year(
    expected: np.ndarray, hy: np.ndarray, district: np.ndarray, groups: dict[str, float], target: int
) -> np.ndarray:
    """Integer poor households: exact published district counts first, the provincial rest over the others."""
    n = len(expected)
    groups_exact = {d: round(r * hy[district == d].sum()) for d, r in groups.items()}
    out = np.zeros(n, dtype=np.int64)
    rest_mask = np.ones(n, dtype=bool)
    for d, count in groups_exact.items():
        mask = district == d
        out[mask] = allocate(expected[mask], count, upper=hy[mask])
        rest_mask &= ~mask
    out[rest_mask] = allocate(expected[rest_mask], target - int(out[~rest_mask].sum()), upper=hy[rest_mask])
    return out


def _near_poor(households: Counts, poor: Counts, targets: dict[str, float], notes: list[str]) -> Counts:
    """Near-poor households: the published 2022 count, assumed rates in other years, more where poverty is."""
    near_poor = {}
    for y in YEARS:
        total = (
            int(targets["near_poor_2022"])
            if y == 2022
            else round(NEAR_POOR_RATE_ASSUMED[y] / 100 * households[y].sum())
        )
        weight = households[y] * np.sqrt(poor[y] / households[y] + 0.02)
        near_poor[y] = allocate(weight * total / weight.sum(), total, upper=households[y] - poor[y])
    notes.append(
        "near-poor rates other than 2022 are assumptions: "
        + ", ".join(f"{y} {r}%" for y, r in NEAR_POOR_RATE_ASSUMED.items())
    )
    return near_poor


def _poor_ethnic_minority(
    households: Counts, dtts: Counts, poor: Counts, targets: dict[str, float]
) -> tuple[Counts, float]:
    """Poor ethnic-minority households, with the relative risk solved to the published 2022 rate."""

    def poor_dtts_for(y: int, risk: float) -> np.ndarray:
        share = dtts[y] / households[y]
        frac = share * risk / (share * risk + (1 - share))
        return np.minimum(np.round(poor[y] * frac), dtts[y]).astype(np.int64)

    target_dtts_poor = targets["poor_rate_ethnic_minority_2022"] / 100 * dtts[2022].sum()
    risk = solve(lambda r: float(poor_dtts_for(2022, r).sum()), target_dtts_poor, 1.0, 500.0, "ethnic-minority poverty")
    return {y: poor_dtts_for(y, risk) for y in YEARS}, risk


# ----------------------------------------------------------------------------------------------------
# The commune table, region classes by rule
# ----------------------------------------------------------------------------------------------------


def commune_table(
    communes: gpd.GeoDataFrame,
    figures: CommuneFigures,
    villages: gpd.GeoDataFrame,
    road_km: np.ndarray,
    road_unpaved: np.ndarray,
) -> pd.DataFrame:
    """One row per commune and year; region classes derived by rule must match the design."""
    f = figures
    n = len(communes)
    n_villages = villages.groupby("commune_2024_code").size()
    n_dbkk = villages[villages["especially_difficult"]].groupby("commune_2024_code").size()
    classes, reason_index = region_classes(
        f.dtts[2021] / f.households[2021],
        f.poor[2021] / f.households[2021],
        f.poor_dtts[2021] / np.maximum(f.poor[2021], 1),
        f.ntm_at_classification,
        road_km,
        road_unpaved,
    )
    rows = []
    for y in YEARS:
        for i in range(n):
            code = communes["code"].iloc[i]
            rows.append(
                {
                    "unit_code": code,
                    "year": y,
                    "households": int(f.households[y][i]),
                    "persons": int(f.persons[y][i]),
                    "poor_households": int(f.poor[y][i]),
                    "near_poor_households": int(f.near_poor[y][i]),
                    "ethnic_minority_households": int(f.dtts[y][i]),
                    "poor_ethnic_minority_households": int(f.poor_dtts[y][i]),
                    "new_rural": bool(f.ntm[y][i]),
                    "region_class": int(classes[i]) or None,
                    "region_reason": REGION_REASONS[int(reason_index[i])],
                    "n_villages": int(n_villages.get(code, 0)),
                    "n_especially_difficult_villages": int(n_dbkk.get(code, 0)),
                }
            )
    table = pd.DataFrame(rows)
    by_rule = table[table["year"] == 2021].set_index("unit_code")["region_class"]
    mismatch = [communes["code"].iloc[i] for i in range(n) if (by_rule.iloc[i] == 3) != f.region_iii[i]]
    if mismatch:
        raise CalibrationError(f"region III by rule differs from the design for {', '.join(mismatch)}")
    return table
