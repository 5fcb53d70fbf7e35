"""Layers of the 2026-2030 period: the 2026 rows of the indicator tables, the classification of the 75
units, and the deprivation tables (long by unit and village, wide by unit and year for choropleths)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.demo import DEMO_SOURCE
from geo.demo.period_2026 import PERIOD, YEAR_2026, Period2026
from geo.indicators import add_rates
from geo.official_lists import OfficialList
from geo.policy import Needs, Periods, Standards

PROVINCE_CODE = "14"
SUM_COLUMNS = ["households", "poor_households", "near_poor_households", "ethnic_minority_households"]
REGION_LABELS = {1: "I / khu vực I", 2: "II / khu vực II", 3: "III / khu vực III"}


def apply_official(period: Period2026, lists: Sequence[OfficialList], villages: pd.DataFrame) -> Period2026:
    """The period with its official lists applied, oldest first: a listed unit's class, and a listed unit's
    especially difficult villages (the list's count; the atlas's villages it names flagged, its others not),
    replace the demo's, with source "official" and the list's document and date."""
    cls = period.classification.copy()
    flags = period.village_flags.copy()
    unit_of = villages.set_index("village_id")["unit_2025_code"]
    for listed in (x for x in lists if x.period == PERIOD):
        regions = listed.communes.dropna(subset=["region_class"]).set_index("unit_code")["region_class"]
        hit = cls["unit_code"].isin(regions.index)
        cls.loc[hit, "region_class"] = cls.loc[hit, "unit_code"].map(regions).astype("int64")
        cls.loc[hit, "source"] = "official"
        cls.loc[hit, "document"] = listed.document
        cls.loc[hit, "document_date"] = listed.date
        if listed.villages.empty:
            continue
        units = set(listed.villages["unit_code"])
        in_units = flags["village_id"].map(unit_of).isin(units)
        named = set(listed.villages["village_id"].dropna())
        flags.loc[in_units, "especially_difficult_2026_2030"] = flags.loc[in_units, "village_id"].isin(named)
        flags.loc[in_units, "especially_difficult_2026_2030_source"] = "official"
        counts = listed.villages.groupby("unit_code").size()
        covered = cls["unit_code"].isin(units)
        cls.loc[covered, "n_especially_difficult_villages"] = cls.loc[covered, "unit_code"].map(counts)
        cls.loc[covered, "villages_source"] = "official"
    return replace(period, classification=cls, village_flags=flags)


def rows_2026(period: Period2026, villages: pd.DataFrame, agg_2025: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """2026 rows of commune_indicators for the 2025 units and the province, from the 2026 village figures."""
    v = period.village_years.merge(villages[["village_id", "unit_2025_code"]], on="village_id")
    sums = v.groupby("unit_2025_code")[SUM_COLUMNS].sum()
    if "source" not in v:
        v = v.assign(source=DEMO_SOURCE)
    v = v.assign(source=v["source"].replace({"demo": DEMO_SOURCE}))
    synthetic = v.groupby("unit_2025_code")["synthetic"].any().reindex(sums.index)
    sources = v.groupby("unit_2025_code")["source"].agg(lambda s: "; ".join(sorted(set(s)))).reindex(sums.index)
    last = agg_2025[agg_2025["year"] == 2025].set_index("unit_code").reindex(sums.index)
    cls = period.classification.set_index("unit_code").reindex(sums.index)
    region = cls["region_class"].to_numpy()
    poor_em = np.minimum(
        np.round(sums["poor_households"] * last["poor_ethnic_minority_households"] / last["poor_households"].clip(1)),
        sums["ethnic_minority_households"],
    )
    units = pd.DataFrame(
        {
            "vintage": "2025",
            "unit_code": sums.index,
            "unit_name": last["unit_name"].to_numpy(),
            "year": YEAR_2026,
            **{c: sums[c].to_numpy() for c in SUM_COLUMNS},
            "persons": np.round(last["persons"] * sums["households"] / last["households"]).to_numpy(),
            "poor_ethnic_minority_households": poor_em.to_numpy(),
            "n_villages": villages.groupby("unit_2025_code").size().reindex(sums.index).to_numpy(),
            "n_especially_difficult_villages": cls["n_especially_difficult_villages"].to_numpy(),
            "region_class": region,
            "region_reason": "2026-2030: QĐ 60/QĐ-BDTTG (29/01/2026), demo classification",
            "n_region_iii_communes": (region == 3).astype(int),
            "n_region_ii_communes": (region == 2).astype(int),
            "n_region_i_communes": (region == 1).astype(int),
            "n_communes_2024": last["n_communes_2024"].to_numpy(),
            "region_iii_household_share": np.where(region == 3, 100.0, 0.0),
            "synthetic": synthetic.to_numpy(dtype=bool),
            "sources": sources.to_numpy(),
        }
    ).reset_index(drop=True)
    counted = [c for c in units.columns if c.startswith("n_") or c in SUM_COLUMNS]
    counted += ["persons", "poor_ethnic_minority_households"]
    province = units[counted].sum().to_frame().T
    in_iii = units.loc[units["region_class"] == 3, "households"].sum()
    province = province.assign(
        vintage="province",
        unit_code=PROVINCE_CODE,
        unit_name="Tỉnh Sơn La",
        year=YEAR_2026,
        region_iii_household_share=round(100 * in_iii / units["households"].sum(), 2),
        synthetic=bool(units["synthetic"].any()),
        sources="; ".join(sorted({s for text in units["sources"] for s in str(text).split("; ")})),
    )
    return add_rates(units), add_rates(province)


def villages_2026(villages: gpd.GeoDataFrame, period: Period2026, village_years: pd.DataFrame) -> gpd.GeoDataFrame:
    """The demo villages with their 2022 and 2026 figures, the 2026-2030 especially difficult flag and their
    2026 deprivation intensity (indicators lacked per household)."""
    out = villages.merge(period.village_flags, on="village_id", how="left")
    latest = period.deprivations[period.deprivations["year"] == YEAR_2026]
    lacked = latest.groupby("village_id")["households_deprived"].sum()
    # per kind of project: households lacking what it addresses (the most-lacked of its indicators, a lower
    # bound of those lacking any), and the poor among them; the plan values a project by these
    needs = Needs.load()
    for kind, spec in needs.kinds.items():
        rows = latest[latest["indicator"].isin(spec.indicators)]
        for column, source in (("deprived", "households_deprived"), ("poor_deprived", "poor_households_deprived")):
            most = rows.groupby("village_id")[source].max()
            out[f"{column}_{kind}"] = out["village_id"].map(most).fillna(0).astype("int64")
    for year in (2022, YEAR_2026):
        y = village_years[village_years["year"] == year].set_index("village_id")
        hh = out["village_id"].map(y["households"])
        poor = out["village_id"].map(y["poor_households"])
        if year == YEAR_2026:
            out[f"households_{year}"] = hh.astype("int64")
            out[f"poor_households_{year}"] = poor.astype("int64")
        out[f"poor_rate_{year}"] = (100 * poor / hh.where(hh > 0)).round(2)
    hh = out[f"households_{YEAR_2026}"].astype(float)
    out["deprivation_intensity"] = (out["village_id"].map(lacked) / hh.where(hh > 0)).round(3)
    return gpd.GeoDataFrame(out, geometry="geometry", crs=villages.crs)


def classification_layer(period: Period2026, units: gpd.GeoDataFrame, periods: Periods) -> gpd.GeoDataFrame:
    """classification_2026_2030: one feature per 2025 unit, the list's class beside the derived one."""
    ref = periods.get(PERIOD).region_list
    c = period.classification.copy()
    c["region_label"] = c["region_class"].map(REGION_LABELS)
    demo = c["source"] == "demo"
    c.loc[demo, "document"] = f"{ref.document} (demo)"
    c.loc[demo, "document_date"] = ref.date
    derived = c["region_class_derived"]
    # where both exist the derived class stands beside the listed one, with the criterion that differs
    c["difference"] = np.where(
        derived.notna() & (derived.fillna(-1) != c["region_class"]),
        c["derived_reason"],
        None,
    )
    c["synthetic"] = demo | (c["villages_source"] == "demo")
    geometry = units.set_index("code").geometry.reindex(c["unit_code"]).to_numpy()
    return gpd.GeoDataFrame(c, geometry=geometry, crs=units.crs)


def deprivation_tables(
    period: Period2026,
    units: gpd.GeoDataFrame,
    village_years: pd.DataFrame,
    villages: pd.DataFrame,
    standards: Standards,
    needs: Needs,
) -> dict[str, pd.DataFrame]:
    """village_deprivations (long), deprivations (long, units and province) and deprivations_units_2025 (wide)."""
    d = period.deprivations
    counts = ["households_deprived", "poor_households_deprived", "near_poor_households_deprived"]
    v = d.merge(villages[["village_id", "unit_2025_code"]], on="village_id")
    by_unit = v.groupby(["unit_2025_code", "year", "standard", "indicator"], sort=False)[counts].sum().reset_index()
    by_unit = by_unit.rename(columns={"unit_2025_code": "unit_code"}).assign(vintage="2025")
    province = by_unit.groupby(["year", "standard", "indicator"], sort=False)[counts].sum().reset_index()
    province = province.assign(unit_code=PROVINCE_CODE, vintage="province")
    vy = village_years.merge(villages[["village_id", "unit_2025_code"]], on="village_id")
    totals = vy.groupby(["unit_2025_code", "year"])[["households", "poor_households", "near_poor_households"]].sum()
    totals.index.names = ["unit_code", "year"]
    prov_totals = totals.groupby("year").sum()
    long = pd.concat([by_unit, province], ignore_index=True)
    key = pd.MultiIndex.from_frame(long[["unit_code", "year"]])
    both = pd.concat(
        [
            totals,
            prov_totals.assign(unit_code=PROVINCE_CODE)
            .set_index("unit_code", append=True)
            .reorder_levels(["unit_code", "year"]),
        ]
    )
    for col in ("households", "poor_households", "near_poor_households"):
        long[col] = both[col].reindex(key).to_numpy()
    long["deprived_share"] = (100 * long["households_deprived"] / long["households"]).round(2)
    long["need_kind"] = long["indicator"].map(lambda i: needs.kind_of(i) or "")
    long["synthetic"] = True
    order = ["vintage", "unit_code", "year", "standard", "indicator", "need_kind", *counts]
    long = long[[*order, "households", "poor_households", "near_poor_households", "deprived_share", "synthetic"]]

    wide = _wide(long[long["vintage"] == "2025"], units, standards, needs)
    return {
        "village_deprivations": d[["village_id", "year", "standard", "indicator", *counts, "synthetic"]],
        "deprivations": long.sort_values(["vintage", "unit_code", "year"], kind="stable").reset_index(drop=True),
        "deprivations_units_2025": wide,
    }


def _wide(long: pd.DataFrame, units: gpd.GeoDataFrame, standards: Standards, needs: Needs) -> gpd.GeoDataFrame:
    """One feature per unit and year: households deprived and the share deprived, a column per indicator."""
    indicators = list(dict.fromkeys(i for s in standards.standards for i in s.indicator_ids))
    count = long.pivot(index=["unit_code", "year"], columns="indicator", values="households_deprived")
    share = long.pivot(index=["unit_code", "year"], columns="indicator", values="deprived_share")
    count = count.reindex(columns=indicators).astype("Int64").add_prefix("d_")
    share = share.reindex(columns=indicators).astype("float64").add_prefix("pct_")
    base = long.groupby(["unit_code", "year"]).agg(
        standard=("standard", "first"),
        households=("households", "first"),
        poor_households=("poor_households", "first"),
        near_poor_households=("near_poor_households", "first"),
    )
    # the need that stands out: the kind whose most-lacked indicator is furthest above the province's share
    province = long.groupby(["year", "indicator"])[["households_deprived", "households"]].sum()
    province_share = (100 * province["households_deprived"] / province["households"]).rename("province_share")
    addressed = long[long["need_kind"] != ""].join(province_share, on=["year", "indicator"])
    addressed = addressed.assign(
        excess=addressed["deprived_share"] / addressed["province_share"].where(lambda x: x > 0)
    )
    kinds = addressed.groupby(["unit_code", "year", "need_kind"])["excess"].max()
    top = kinds.groupby(level=[0, 1]).idxmax().map(lambda k: k[2])
    top_indicator = share.idxmax(axis=1).str.removeprefix("pct_")
    out = base.join(count).join(share).assign(top_need=top, top_indicator=top_indicator).reset_index()
    out["top_need_label"] = out["top_need"].map(lambda k: f"{needs.kinds[k].vi} / {needs.kinds[k].en}")
    out["poor_rate"] = (100 * out["poor_households"] / out["households"]).round(2)
    names = units.set_index("code")
    out.insert(0, "row_id", out["unit_code"] + "-" + out["year"].astype(str))
    out.insert(2, "unit_name", out["unit_code"].map(names["full_name"]))
    out["synthetic"] = True
    geometry = names.geometry.reindex(out["unit_code"]).to_numpy()
    return gpd.GeoDataFrame(out, geometry=geometry, crs=units.crs)


def period_layers(
    period: Period2026,
    units: gpd.GeoDataFrame,
    village_years: pd.DataFrame,
    villages: pd.DataFrame,
    periods: Periods,
    standards: Standards,
) -> dict[str, pd.DataFrame]:
    """Every layer stage 7 adds to the warehouse."""
    needs = Needs.load(standards=standards)
    return {
        "classification_2026_2030": classification_layer(period, units, periods),
        **deprivation_tables(period, units, village_years, villages, standards, needs),
    }
