"""Build every boundary layer of the warehouse from the fetched sources."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from geo.crosswalk import build_crosswalk
from geo.errors import InputDataError
from geo.harmonise import (
    COVERAGE_GAP_DEG,
    METRIC_CRS,
    clean_coverage,
    km2,
    match_sources,
    polygonal,
    quality_table,
    reconstruct_communes_2024,
)
from geo.lineage import Lineage
from geo.names import match_key
from geo.population import PopulationGrid
from geo.readers import (
    read_admin_list,
    read_communes_2009,
    read_crosswalk,
    read_districts,
    read_places,
    read_resolution,
    read_units_2025,
)
from geo.villages import assign_villages

PROVINCE_CODE = "14"


@dataclass(frozen=True)
class BoundaryInputs:
    """Paths of the files the boundary layers are built from."""

    units_2025: Path
    communes_2009: Path
    districts_2024: Path
    units_2025_03: Path
    crosswalk: Path
    resolution: Path
    places: Path
    population: Path
    lineage: Path


@dataclass
class BoundaryResult:
    """The layers, keyed by warehouse layer name, and what the build noticed."""

    layers: dict[str, pd.DataFrame]
    notes: list[str] = field(default_factory=list)


def _metric_area(gdf: gpd.GeoDataFrame) -> pd.Series:
    return (gdf.to_crs(METRIC_CRS).area / 1e6).round(3)


def build_boundaries(inputs: BoundaryInputs, step: Callable[[str], None] = lambda _: None) -> BoundaryResult:
    """Read, check and harmonise the sources into the boundary layers of the warehouse."""
    notes: list[str] = []
    step("reading sources")
    units = read_units_2025(inputs.units_2025)
    c09 = read_communes_2009(inputs.communes_2009)
    districts = read_districts(inputs.districts_2024)
    admin = read_admin_list(inputs.units_2025_03)
    raw_crosswalk = read_crosswalk(inputs.crosswalk)
    clauses = read_resolution(inputs.resolution)
    places = read_places(inputs.places)
    grid = PopulationGrid.read(inputs.population)
    lineage = Lineage.load(inputs.lineage)

    step("cleaning the 2025 coverage")
    before = units.geometry.values
    units["geometry"] = clean_coverage(before, gap_width=COVERAGE_GAP_DEG)
    moved = sum(km2(polygonal(shapely.symmetric_difference(a, b))) for a, b in zip(before, units.geometry, strict=True))
    notes.append(f"2025 units: overlaps and gaps narrower than ~10 m cleaned ({moved * 1e6:,.0f} m² reassigned)")

    step("checking the crosswalk against Resolution 1681")
    crosswalk = build_crosswalk(raw_crosswalk, admin, units, clauses, lineage, inputs.crosswalk, inputs.units_2025_03)

    admin_districts = admin.drop_duplicates("district_code").set_index("district_code")
    unknown = sorted(set(districts["code"]) ^ set(admin_districts.index))
    if unknown:
        raise InputDataError(
            inputs.districts_2024, f"district codes {', '.join(unknown)} differ from those of {inputs.units_2025_03}"
        )

    step("rebuilding the 200 pre-merger communes")
    district_codes = {match_key(str(n)): str(c) for c, n in admin_districts["district_name"].items()}
    district_codes.update({match_key(n): c for c, n in zip(districts["code"], districts["name"], strict=True)})
    sources = match_sources(c09, crosswalk, lineage, district_codes, inputs.communes_2009, inputs.lineage)
    communes_2024, reports = reconstruct_communes_2024(units, c09, crosswalk, sources, grid)
    quality = quality_table(reports)

    step("placing villages")
    villages, dropped = assign_villages(places, communes_2024)
    if len(dropped):
        notes.append(
            f"{len(dropped)} place(s) more than 2 km outside the province left out: "
            + ", ".join(f"{n} ({d:.0f} m)" for n, d in zip(dropped["name"], dropped["distance_m"], strict=True))
        )
    on_boundary = int((villages["assignment"] != "inside").sum())
    if on_boundary:
        notes.append(f"{on_boundary} village(s) on a commune boundary or just outside, assigned by rule")

    step("assembling layers")
    used_by: dict[int, list[str]] = {}
    for code, idx in sources.items():
        for i in idx:
            used_by.setdefault(i, []).append(code)
    c09 = c09.reset_index(drop=True)
    communes_2009 = gpd.GeoDataFrame(
        {
            "census_id": c09["census_id"],
            "name": c09["name"],
            "district_name": c09["district_name"],
            "district_code": [district_codes[match_key(n)] for n in c09["district_name"]],
            "population_2009": c09["population_2009"],
            "communes_2024": [", ".join(sorted(used_by.get(i, []))) for i in range(len(c09))],
        },
        geometry=c09.geometry.values,
        crs=c09.crs,
    )
    communes_2009["area_km2"] = _metric_area(communes_2009)

    per_unit = crosswalk.groupby("new_code")
    units["n_communes_2024"] = units["code"].map(per_unit.size()).astype(int)
    units["former_district_codes"] = units["code"].map(
        per_unit["district_code"].apply(lambda s: ", ".join(sorted(set(s))))
    )
    units["former_districts"] = units["code"].map(per_unit["district_name"].apply(lambda s: ", ".join(sorted(set(s)))))
    units["area_km2"] = _metric_area(units)

    dist = districts.merge(
        admin_districts[["district_name", "district_type"]], left_on="code", right_index=True, how="left"
    )
    districts_2024 = gpd.GeoDataFrame(
        {
            "code": dist["code"],
            "name": dist["district_name"],
            "unit_type": dist["district_type"],
            "name_gis": dist["name"],
            "n_communes_2024": dist["code"].map(crosswalk.groupby("district_code").size()).astype(int),
        },
        geometry=dist.geometry.values,
        crs=dist.crs,
    ).sort_values("code", ignore_index=True)
    districts_2024["area_km2"] = _metric_area(districts_2024)

    province_geom = polygonal(shapely.coverage_union_all(units.geometry.values))
    province = gpd.GeoDataFrame(
        {
            "code": [PROVINCE_CODE],
            "name": ["Sơn La"],
            "full_name": ["Tỉnh Sơn La"],
            "name_en": ["Son La Province"],
            "n_units_2025": [len(units)],
            "n_communes_2024": [len(communes_2024)],
            "n_districts_2024": [len(districts_2024)],
        },
        geometry=[province_geom],
        crs="EPSG:4326",
    )
    province["area_km2"] = _metric_area(province)

    layers: dict[str, pd.DataFrame] = {
        "province": province,
        "districts_2024": districts_2024,
        "communes_2009": communes_2009,
        "communes_2024": communes_2024,
        "units_2025": units.sort_values("code", ignore_index=True),
        "crosswalk_2025": crosswalk,
        "villages": villages,
        "boundary_quality": quality,
    }
    return BoundaryResult(layers, notes)
