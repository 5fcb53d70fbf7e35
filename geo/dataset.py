"""Population by unit, the demo dataset, imported figures and their aggregation to every vintage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from geo.alloc import CalibrationError
from geo.calibration import DemoTables, calibration_report
from geo.demo import DEMO_SOURCE, generate_demo
from geo.demo.period_2026 import Period2026, period_2026
from geo.facts import read_facts, resolve_policy_targets, resolve_targets
from geo.indicators import COUNTS, INDICATORS, add_rates, aggregate, long_values
from geo.official_lists import OfficialList
from geo.period_layers import apply_official, period_layers, rows_2026, villages_2026
from geo.policy import Periods, Standards, read_policy_facts
from geo.population import PopulationGrid
from geo.village_figures import VillageFigures, apply_village_figures
from geo.zonal import AREA_WEIGHTED, POPULATION_WEIGHTED, interpolate_extensive, raster_sums

PROVINCE_CODE = "14"


@dataclass(frozen=True)
class IndicatorImport:
    """Imported commune figures: rows keyed by (unit_code, year) for vintage 2024, one source label."""

    source: str
    table: pd.DataFrame  # unit_code, year and any of the indicator columns


@dataclass
class DatasetResult:
    """New layers, and notes for the build report."""

    layers: dict[str, pd.DataFrame]
    notes: list[str] = field(default_factory=list)


ZONAL_SIMPLIFY_DEG = 0.0003  # about 30 m; the WorldPop cells are about 1 km


def _simplified(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy with boundaries simplified to ~30 m, shared edges kept shared (for zonal statistics only)."""
    geoms = frame.geometry.values
    if len(frame) > 1 and shapely.coverage_is_valid(geoms):
        simple = shapely.coverage_simplify(geoms, ZONAL_SIMPLIFY_DEG)
    else:
        simple = shapely.simplify(geoms, ZONAL_SIMPLIFY_DEG, preserve_topology=True)
    return frame.set_geometry(list(simple))


def add_population(layers: dict[str, pd.DataFrame], raster: Path) -> list[str]:
    """WorldPop 2020 sums per unit, and the 2009 census population carried to the 2024 and 2025 units."""
    simple = {}
    for name in ("province", "districts_2024", "communes_2009", "communes_2024", "units_2025"):
        frame = layers[name]
        assert isinstance(frame, gpd.GeoDataFrame)
        simple[name] = _simplified(frame)
        frame["population_worldpop_2020"] = raster_sums(raster, simple[name]).round(0)
    for name in ("communes_2024", "units_2025"):
        target = layers[name]
        target["population_2009_area_weighted"] = interpolate_extensive(
            simple["communes_2009"], simple[name], "population_2009"
        ).round(0)
        target["population_2009_pop_weighted"] = interpolate_extensive(
            simple["communes_2009"], simple[name], "population_2009", raster
        ).round(0)
    return [
        f"2009 census population carried to the 2024 and 2025 units by {AREA_WEIGHTED} and by "
        f"{POPULATION_WEIGHTED}; zonal sums on boundaries simplified to ~30 m (1 km raster cells)"
    ]


def official_imports(lists: Sequence[OfficialList], years: Sequence[int]) -> list[IndicatorImport]:
    """The 2021-2025 lists as imports on the pre-merger communes, for every year of the period: the listed
    region class, and the number of listed especially difficult villages of each commune the list names."""
    out = []
    for listed in lists:
        if listed.period != "2021-2025":
            continue
        parts: dict[str, pd.Series] = {}
        regions = listed.communes.dropna(subset=["region_class"])
        if len(regions):
            parts["region_class"] = regions.set_index("unit_code")["region_class"].astype("float64")
        if len(listed.villages):
            parts["n_especially_difficult_villages"] = listed.villages.groupby("unit_code").size().astype("float64")
        if not parts:
            continue
        wide = pd.DataFrame(parts).rename_axis("unit_code")
        rows = pd.concat([wide.assign(year=y) for y in years]).reset_index()
        out.append(IndicatorImport(f"official list {listed.document or '?'} ({listed.file})", rows))
    return out


def _overlay(base: pd.DataFrame, imports: Sequence[IndicatorImport]) -> pd.DataFrame:
    """Imported values replace demo values cell by cell; each cell keeps its own source label."""
    out = base.copy()
    for indicator in INDICATORS:
        out[f"src_{indicator}"] = DEMO_SOURCE
    key = out.set_index(["unit_code", "year"]).index
    for imp in imports:
        rows = imp.table.set_index(["unit_code", "year"])
        for indicator in INDICATORS:
            if indicator not in rows:
                continue
            values = rows[indicator].dropna()
            position = key.get_indexer(values.index)
            known = position >= 0
            out.loc[out.index[position[known]], indicator] = values.to_numpy()[known]
            out.loc[out.index[position[known]], f"src_{indicator}"] = imp.source
    listed = out["src_region_class"] != DEMO_SOURCE
    out.loc[listed, "region_reason"] = out.loc[listed, "src_region_class"]  # the list decides, not the rules
    src_cols = [f"src_{i}" for i in INDICATORS]
    out["synthetic"] = out[src_cols].apply(lambda r: any(s.startswith("demo:") for s in r), axis=1)
    out["sources"] = out[src_cols].apply(lambda r: "; ".join(sorted(set(r))), axis=1)
    return out


SERIES = ("households", "poor_households", "poor_rate", "near_poor_households", "near_poor_rate")


def series_breaks(years: list[int], standards: Standards) -> str:
    """The changes of poverty standard within a series, as text ("2021 QD59-2015 → 2022 ND07-2021"), or ""."""
    return "; ".join(
        f"{a} {standards.for_year(a).id} → {b} {standards.for_year(b).id}" for a, b in standards.breaks(years)
    )


def indicator_view(rows: pd.DataFrame, boundaries: gpd.GeoDataFrame, standards: Standards) -> gpd.GeoDataFrame:
    """One feature per unit: its name and geometry, the latest year's figures and each series by year.

    The change in poverty rate compares like with like: from the first year measured by the latest
    year's standard (`poor_rate_change_from`); `series_breaks` names the changes of standard in the series.
    """
    latest_year = int(rows["year"].max())
    latest = rows[rows["year"] == latest_year].drop(columns=["vintage", "year"]).set_index("unit_code")
    latest = latest.dropna(axis=1, how="all")  # e.g. region_class, which 2025 units do not have
    wide = rows.pivot(index="unit_code", columns="year", values=list(SERIES))
    wide.columns = [f"{pair[0]}_{pair[1]}" for pair in wide.columns]
    wide = wide.astype({c: "float64" if "rate" in c else "Int64" for c in wide.columns})
    years = sorted(int(y) for y in rows["year"].unique())
    start = standards.comparable_start(years, latest_year)
    change = (wide[f"poor_rate_{latest_year}"] - wide[f"poor_rate_{start}"]).round(2)
    table = latest.join(wide).assign(
        latest_year=latest_year,
        poor_rate_change=change,
        poor_rate_change_from=start,
        series_breaks=series_breaks(years, standards),
    )
    geo = boundaries[["code", "geometry"]].set_index("code")
    out = gpd.GeoDataFrame(table.join(geo, how="inner"), geometry="geometry", crs=boundaries.crs)
    return out.reset_index(names="unit_code")


def build_dataset(
    layers: dict[str, pd.DataFrame],
    facts: Sequence[Path],
    raster: Path,
    grid: PopulationGrid,
    imports: Sequence[IndicatorImport] = (),
    step: Callable[[str], None] = lambda _: None,
    *,
    policy_facts: Path,
    official_lists: Sequence[OfficialList] = (),
    village_figures: Sequence[VillageFigures] = (),
) -> DatasetResult:
    """Add population columns to the boundary layers and build the indicator, village and infrastructure layers."""
    step("population by unit (WorldPop, 2009 census)")
    notes = add_population(layers, raster)
    communes = layers["communes_2024"]
    assert isinstance(communes, gpd.GeoDataFrame)
    places = layers["villages"]
    assert isinstance(places, gpd.GeoDataFrame)

    step("generating the calibrated demo dataset")
    resolved = resolve_targets(read_facts(*facts)) | resolve_policy_targets(
        read_policy_facts(policy_facts), policy_facts
    )
    targets = {k: v for k, (_, _, v) in resolved.items()}
    demo = generate_demo(communes, places, grid, targets)
    notes += demo.notes
    parents = communes.set_index("code")[["unit_2025_code", "district_code"]]
    standards = Standards.load()

    step("the 2026-2030 period on the 75 units (demo)")
    units = layers["units_2025"]
    assert isinstance(units, gpd.GeoDataFrame)
    d25 = demo.communes[demo.communes["year"] == 2025]
    persons_2025 = d25.groupby(d25["unit_code"].map(parents["unit_2025_code"]))["persons"].sum()
    joined = demo.villages.join(parents, on="commune_2024_code")
    period = period_2026(units, joined, demo.village_years, persons_2025, targets, standards)
    notes += period.notes
    demo_period = period  # calibration compares the demo data alone with the published figures
    if village_figures:
        years, deprived, applied = apply_village_figures(
            period.village_years, period.deprivations, list(village_figures)
        )
        period = replace(period, village_years=years, deprivations=deprived)
        notes += applied
    listed = apply_official(period, official_lists, joined)
    imports = [*imports, *official_imports(official_lists, range(2021, 2026))]
    for lst in official_lists:
        notes.append(
            f"official list {lst.document or '(no document number)'} of {lst.date or '?'} ({lst.period}, {lst.file}): "
            f"{int(lst.communes['region_class'].notna().sum())} unit class(es), {len(lst.villages)} village(s)"
        )
    names = communes.set_index("code")["name"]
    base = demo.communes.assign(vintage="2024", unit_name=lambda f: f["unit_code"].map(names))
    demo_2024 = _overlay(base, ())
    table_2024 = add_rates(_overlay(base, imports))
    mapping = communes.set_index("code")

    def all_vintages(t2024: pd.DataFrame, p: Period2026) -> pd.DataFrame:
        units = layers["units_2025"].set_index("code")["full_name"]
        districts = layers["districts_2024"].set_index("code")["name"]
        agg_2025 = aggregate(t2024, mapping["unit_2025_code"], "2025").assign(
            unit_name=lambda f: f["unit_code"].map(units)
        )
        agg_district = aggregate(t2024, mapping["district_code"], "district").assign(
            unit_name=lambda f: f["unit_code"].map(districts)
        )
        agg_province = aggregate(t2024, pd.Series(PROVINCE_CODE, index=mapping.index), "province").assign(
            unit_name="Tỉnh Sơn La"
        )
        keep = [
            "vintage",
            "unit_code",
            "unit_name",
            "year",
            *COUNTS,
            "poor_rate",
            "near_poor_rate",
            "ethnic_minority_share",
            "poor_rate_ethnic_minority",
            "new_rural",
            "region_class",
            "region_reason",
            "synthetic",
            "sources",
        ]
        unit_2026, province_2026 = rows_2026(p, joined, agg_2025)
        out = pd.concat(
            [t2024[keep], agg_2025, unit_2026, agg_district, agg_province, province_2026], ignore_index=True
        )
        out["period"] = out["year"].map(lambda y: periods.for_year(int(y)).id)
        out["standard"] = out["year"].map(lambda y: standards.for_year(int(y)).id)
        typed = {"new_rural": "boolean", "region_class": "Int64", "synthetic": "boolean"}
        typed |= {c: "Int64" for c in out.columns if c in COUNTS or c.startswith("n_")}
        return out.astype(typed)

    periods = Periods.load()
    step("calibration report")
    calibration = calibration_report(
        resolved,
        DemoTables(
            all_vintages(add_rates(demo_2024), demo_period), demo.villages, communes, demo_period.classification
        ),
    )
    missed = calibration[calibration["status"] != "ok"]
    if not missed.empty:
        raise CalibrationError(
            "the demo dataset misses published figures: "
            + "; ".join(f"{r.target} published {r.published} reproduced {r.reproduced}" for r in missed.itertuples())
        )
    indicators = all_vintages(table_2024, listed)
    values = long_values(table_2024, {i: f"src_{i}" for i in INDICATORS})

    new_layers: dict[str, pd.DataFrame] = {
        "commune_indicators": indicators,
        "indicator_values": values,
        "calibration": calibration,
    }
    step("indicator views joined to geometry")
    for vintage, layer, view in (
        ("2024", "communes_2024", "indicators_communes_2024"),
        ("2025", "units_2025", "indicators_units_2025"),
        ("district", "districts_2024", "indicators_districts_2024"),
    ):
        boundaries = layers[layer]
        assert isinstance(boundaries, gpd.GeoDataFrame)
        new_layers[view] = indicator_view(indicators[indicators["vintage"] == vintage], boundaries, standards)

    step("villages and infrastructure")
    village_years = pd.concat([demo.village_years, period.village_years], ignore_index=True)
    new_layers["village_indicators"] = village_years.assign(
        standard=village_years["year"].map(lambda y: standards.for_year(int(y)).id)
    )
    for name, frame in {"demo_villages": villages_2026(demo.villages, listed, village_years), **demo.layers}.items():
        frame = frame.join(parents, on="commune_2024_code")
        new_layers[name] = frame

    step("2026-2030 classification and deprivations")
    new_layers.update(period_layers(listed, units, village_years, joined, periods, standards))
    n_imported = sum(len(i.table) for i in imports)
    if n_imported:
        notes.append(f"{n_imported} imported row(s) from {len(imports)} file(s) replace demo values")
    return DatasetResult(new_layers, notes)
