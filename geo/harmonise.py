"""Rebuild the 200 pre-merger communes inside their 2025 parents from the 2009 census polygons.

Method (docs/boundaries.md):
1. Each pre-merger unit gets its 2009 source polygons: the 2009 commune of the same name in its district,
   or the communes its lineage rule lists.
2. In each 2025 parent, a unit that is the parent's only predecessor takes the parent polygon (exact).
3. Otherwise each unit's seed is the union of its sources clipped to the parent; area claimed by two seeds
   is taken from both; the parent's remaining area (gaps and contested area) goes to the nearest seed,
   measured to seed boundaries (Voronoi allocation). These units are `derived`.
4. Units with no 2009 source share what is left of the parent, cut into parts of equal WorldPop
   population along the main axis of its population; these units are `approximate`.
5. The result is cleaned as one polygon coverage, and each parent is checked to be tiled exactly.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

from geo.errors import HarmonisationError
from geo.frames import rows
from geo.lineage import Lineage
from geo.names import full_key, match_key
from geo.population import PopulationGrid

METRIC_CRS = "EPSG:3405"  # VN-2000 / UTM zone 48N, for areas in km²
SAMPLE_SPACING_DEG = 0.0005  # about 50 m between points sampled on seed boundaries
MIN_PART_DEG2 = 1e-12  # polygon parts smaller than this (about 0.01 m²) are numerical debris
COVERAGE_GAP_DEG = 1e-4  # gaps narrower than about 10 m between 2025 units are closed


def polygonal(geom: BaseGeometry | None) -> MultiPolygon:
    """The polygonal part of a geometry as a MultiPolygon, without debris below MIN_PART_DEG2."""
    if geom is None or geom.is_empty:
        return MultiPolygon()
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area > MIN_PART_DEG2]
    nested = [
        q
        for p in shapely.get_parts(geom)
        if p.geom_type in ("MultiPolygon", "GeometryCollection")
        for q in shapely.get_parts(p)
        if q.geom_type == "Polygon" and q.area > MIN_PART_DEG2
    ]
    return MultiPolygon(parts + nested)


def clean_coverage(geoms: np.ndarray | list[BaseGeometry], gap_width: float = 0.0) -> list[MultiPolygon]:
    """Make polygons a valid coverage (no overlaps, shared edges identical), closing gaps below gap_width."""
    cleaned = shapely.coverage_clean(np.asarray(geoms, dtype=object), gap_width=gap_width)
    return [polygonal(shapely.make_valid(g)) for g in cleaned]


def km2(geom: BaseGeometry) -> float:
    """Area of a EPSG:4326 geometry in km², measured in EPSG:3405."""
    if geom is None or geom.is_empty:
        return 0.0
    return float(gpd.GeoSeries([geom], crs="EPSG:4326").to_crs(METRIC_CRS).area.iloc[0]) / 1e6


def match_sources(
    communes_2009: gpd.GeoDataFrame,
    crosswalk: pd.DataFrame,
    lineage: Lineage,
    district_codes: dict[str, str],
    path_2009: Path,
    lineage_path: Path,
) -> dict[str, list[int]]:
    """Map each pre-merger code to the positions of its 2009 source communes; every 2009 commune is used."""
    c09 = communes_2009.reset_index(drop=True)
    c09_district = []
    for name in c09["district_name"]:
        code = district_codes.get(match_key(name))
        if code is None:
            raise HarmonisationError(f"{path_2009}: district {name!r} matches no district of 2024")
        c09_district.append(code)
    by_full: dict[tuple[str, str], list[int]] = defaultdict(list)
    by_bare: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, (d, n) in enumerate(zip(c09_district, c09["name"], strict=True)):
        by_full[(d, full_key(n))].append(i)
        by_bare[(d, match_key(n))].append(i)

    def find(district: str, name: str, who: str) -> list[int]:
        """Same type and name first ("Thị trấn Hát Lót" vs "Xã Hát Lót"), then the name alone."""
        hits = by_full.get((district, full_key(name))) or by_bare.get((district, match_key(name)), [])
        if len(hits) > 1:
            raise HarmonisationError(f"{path_2009}: {len(hits)} communes named {name!r} in district {district} ({who})")
        return hits

    sources: dict[str, list[int]] = {}
    claimed: set[int] = set()
    for rec in rows(crosswalk):
        rule = lineage.predecessors(rec.old_code)
        if rule is None:
            continue
        found: list[int] = []
        for name in rule.from_2009:
            hit = find(rec.district_code, name, f"lineage of {rec.old_code}")
            if not hit:
                raise HarmonisationError(
                    f"{lineage_path}: unit {rec.old_code} {rec.old_name} lists 2009 commune {name!r}, "
                    f"which {path_2009} does not have in district {rec.district_code}"
                )
            found += hit
        sources[rec.old_code] = found
        claimed.update(found)
    unmatched = []
    for rec in rows(crosswalk):
        if rec.old_code in sources:
            continue
        spellings = [rec.old_name, *filter(None, str(rec.old_name_variants).split("; "))]
        hits = sorted({i for s in spellings for i in find(rec.district_code, s, rec.old_code)} - claimed)
        if len(hits) != 1:
            unmatched.append(f"{rec.old_code} {rec.old_name} ({len(hits)} candidates)")
            continue
        sources[rec.old_code] = hits
        claimed.update(hits)
    if unmatched:
        raise HarmonisationError(
            f"{len(unmatched)} pre-merger unit(s) match no single 2009 commune of {path_2009}: "
            + ", ".join(unmatched)
            + f". Add a [[names]] or [[lineage]] entry to {lineage_path}."
        )
    for gone in lineage.unassigned_2009:
        hit = find(gone.district_code, gone.name, "unassigned_2009")
        if not hit:
            raise HarmonisationError(
                f"{lineage_path}: unassigned 2009 commune {gone.name!r} is not in {path_2009} "
                f"(district {gone.district_code})"
            )
        claimed.update(hit)
    unused = [f"{c09['name'][i]} ({c09['district_name'][i]})" for i in range(len(c09)) if i not in claimed]
    if unused:
        raise HarmonisationError(
            f"{len(unused)} 2009 commune(s) of {path_2009} feed no pre-merger unit: {', '.join(unused)}. "
            f"Add a [[lineage]] entry to {lineage_path}."
        )
    return sources


def _scale(lat: float) -> float:
    return math.cos(math.radians(lat))


def allocate_gaps(parent: BaseGeometry, seeds: dict[str, BaseGeometry]) -> dict[str, MultiPolygon]:
    """Give every part of the parent not covered by a seed to the seed whose boundary is nearest."""
    seeds = {k: polygonal(v) for k, v in seeds.items()}
    gaps = polygonal(parent.difference(shapely.union_all(list(seeds.values()))))
    if gaps.is_empty:
        return seeds
    sx = _scale(parent.centroid.y)
    coords, owners = [], []
    for code, seed in seeds.items():
        pts = shapely.get_coordinates(shapely.segmentize(seed.boundary, SAMPLE_SPACING_DEG))
        coords.append(pts)
        owners += [code] * len(pts)
    xy = np.vstack(coords)
    xy_scaled = np.round(xy * [sx, 1.0], 10)
    _, first = np.unique(xy_scaled, axis=0, return_index=True)
    first = np.sort(first)
    xy_scaled, owner_arr = xy_scaled[first], np.asarray(owners, dtype=object)[first]
    minx, miny, maxx, maxy = parent.bounds
    frame = box(minx * sx - 1, miny - 1, maxx * sx + 1, maxy + 1)
    cells = shapely.get_parts(shapely.voronoi_polygons(MultiPoint(xy_scaled), extend_to=frame, ordered=True))
    cells = shapely.transform(cells, lambda c: c / [sx, 1.0])
    out: dict[str, MultiPolygon] = {}
    for code, seed in seeds.items():
        mine = shapely.coverage_union_all(cells[owner_arr == code])
        out[code] = polygonal(shapely.union(seed, gaps.intersection(mine)))
    return out


def split_by_population(region: BaseGeometry, k: int, grid: PopulationGrid) -> list[MultiPolygon]:
    """Cut a region into k parts of equal population by recursive cuts across its population's main axis."""
    region = polygonal(region)
    if k <= 1:
        return [region]
    xy, weight = grid.inside(region)
    if len(xy) < 2 or weight.sum() <= 0:
        minx, miny, maxx, maxy = region.bounds
        gx, gy = np.meshgrid(np.linspace(minx, maxx, 40), np.linspace(miny, maxy, 40))
        inside = shapely.contains_xy(region, gx.ravel(), gy.ravel())
        xy, weight = np.column_stack([gx.ravel(), gy.ravel()])[inside], np.ones(int(inside.sum()))
    if len(xy) < 2:
        raise HarmonisationError("cannot split a region too small to sample")
    sx = _scale(region.centroid.y)
    pts = xy * [sx, 1.0]
    mean = np.average(pts, axis=0, weights=weight)
    cov = np.cov((pts - mean).T, aweights=weight)
    direction = np.linalg.eigh(cov)[1][:, -1]
    if direction[0] < 0 or (direction[0] == 0 and direction[1] < 0):
        direction = -direction  # deterministic: the axis points east (or north)
    proj = (pts - mean) @ direction
    order = np.argsort(proj, kind="stable")
    k_low = k // 2
    share = np.cumsum(weight[order]) / weight.sum()
    i = int(np.searchsorted(share, k_low / k))
    i = min(max(i, 0), len(order) - 2)
    cut = (proj[order[i]] + proj[order[i + 1]]) / 2.0
    centre = mean + cut * direction
    normal = np.array([-direction[1], direction[0]])
    big = 50.0
    corners = [
        centre + big * normal,
        centre + big * normal - big * direction,
        centre - big * normal - big * direction,
        centre - big * normal,
    ]
    low_side = shapely.transform(Polygon(corners), lambda c: c / [sx, 1.0])
    low = polygonal(region.intersection(low_side))
    high = polygonal(region.difference(low_side))
    return split_by_population(low, k_low, grid) + split_by_population(high, k - k_low, grid)


@dataclass
class ParentReport:
    """Diagnostics of one 2025 unit's reconstruction."""

    code: str
    name: str
    n_communes_2024: int
    quality: dict[str, int] = field(default_factory=dict)
    area_km2: float = 0.0
    area_sources_km2: float | None = None
    iou_sources: float | None = None
    gap_km2: float = 0.0
    overlap_km2: float = 0.0
    spill_km2: float = 0.0
    tiling_error_m2: float = 0.0


def _order_parts(parts: list[MultiPolygon], grid: PopulationGrid) -> list[MultiPolygon]:
    """Parts ordered: the one holding the most populated cell first, then by population, largest first."""
    stats = []
    for part in parts:
        _, w = grid.inside(part)
        stats.append((float(w.max()) if len(w) else 0.0, float(w.sum())))
    head = max(range(len(parts)), key=lambda i: stats[i][0])
    rest = sorted((i for i in range(len(parts)) if i != head), key=lambda i: -stats[i][1])
    return [parts[head]] + [parts[i] for i in rest]


def reconstruct_communes_2024(
    units: gpd.GeoDataFrame,
    communes_2009: gpd.GeoDataFrame,
    crosswalk: pd.DataFrame,
    sources: dict[str, list[int]],
    grid: PopulationGrid,
) -> tuple[gpd.GeoDataFrame, list[ParentReport]]:
    """Pre-merger units tiling their 2025 parents, each with geometry_quality and method, plus reports."""
    c09 = communes_2009.reset_index(drop=True)
    c09_geom = c09.geometry.values
    records: list[dict[str, object]] = []
    reports: list[ParentReport] = []
    for parent in rows(units):
        pgeom = parent.geometry
        children = crosswalk[crosswalk["new_code"] == parent.code].sort_values("old_code")
        codes = children["old_code"].tolist()
        report = ParentReport(parent.code, parent.full_name, len(codes), area_km2=km2(pgeom))
        src_union = shapely.union_all([c09_geom[i] for c in codes for i in sources.get(c, [])])
        if not src_union.is_empty:
            report.area_sources_km2 = km2(src_union)
            inter = km2(src_union.intersection(pgeom))
            report.iou_sources = inter / km2(src_union.union(pgeom))
            report.spill_km2 = report.area_sources_km2 - inter
        geoms: dict[str, BaseGeometry] = {}
        quality: dict[str, str] = {}
        method: dict[str, str] = {}
        if len(codes) == 1:
            code = codes[0]
            geoms[code] = polygonal(pgeom)
            quality[code] = "exact"
            method[code] = f"Sole predecessor of 2025 unit {parent.code}: its polygon is the 2025 polygon."
        else:
            raw = {
                c: polygonal(shapely.union_all([c09_geom[i] for i in sources[c]]).intersection(pgeom))
                for c in codes
                if sources.get(c)
            }
            empty = [c for c, g in raw.items() if g.is_empty]
            if empty:
                raise HarmonisationError(
                    f"2009 sources of {', '.join(empty)} do not reach their 2025 unit {parent.code}"
                )
            contested = shapely.union_all(
                [raw[a].intersection(raw[b]) for i, a in enumerate(raw) for b in list(raw)[i + 1 :]]
            )
            report.overlap_km2 = km2(polygonal(contested))
            seeds = {c: polygonal(g.difference(contested)) for c, g in raw.items()}
            covered = shapely.union_all(list(seeds.values()))
            report.gap_km2 = km2(polygonal(pgeom.difference(covered))) - report.overlap_km2
            unsourced = [c for c in codes if not sources.get(c)]
            names = children.set_index("old_code")["old_name"]
            if unsourced:
                region = polygonal(pgeom.difference(covered))
                parts = _order_parts(split_by_population(region, len(unsourced), grid), grid)
                ordered = sorted(unsourced, key=lambda c: (c != parent.code, c))
                geoms.update(seeds)
                for rank, (code, part) in enumerate(zip(ordered, parts, strict=True)):
                    geoms[code] = part
                    quality[code] = "approximate"
                    share = "the part holding the parent's most populated cell" if rank == 0 else "another part"
                    method[code] = (
                        f"No 2009 polygon: the area of 2025 unit {parent.code} not covered by 2009 sources was cut "
                        f"into {len(unsourced)} parts of equal WorldPop 2020 population across its population's "
                        f"main axis; {names[code]} takes {share}."
                    )
            else:
                geoms.update(allocate_gaps(pgeom, seeds))
            for code in seeds:
                quality[code] = "derived"
                src_names = ", ".join(c09["name"][i] for i in sources[code])
                method[code] = (
                    f"2009 census polygon(s) {src_names} clipped to 2025 unit {parent.code}; "
                    "gaps and overlaps with neighbours given to the nearest unit."
                )
        report.quality = {q: list(quality.values()).count(q) for q in ("exact", "derived", "approximate")}
        reports.append(report)
        for code in codes:
            row = children.set_index("old_code").loc[code]
            records.append(
                {
                    "code": code,
                    "name": row["old_name"],
                    "unit_type": row["old_type"],
                    "name_variants": row["old_name_variants"],
                    "district_code": row["district_code"],
                    "district_name": row["district_name"],
                    "unit_2025_code": parent.code,
                    "unit_2025_name": parent.full_name,
                    "geometry_quality": quality[code],
                    "method": method[code],
                    "sources_2009": ", ".join(c09["name"][i] for i in sources.get(code, [])),
                    "geometry": geoms[code],
                }
            )
    out = gpd.GeoDataFrame(records, geometry="geometry", crs="EPSG:4326")
    out["geometry"] = clean_coverage(out.geometry.values)
    by_parent = out.groupby("unit_2025_code").geometry.apply(lambda s: shapely.union_all(s.values))
    parent_geom = units.set_index("code").geometry
    for report in reports:
        diff = shapely.symmetric_difference(by_parent[report.code], parent_geom[report.code])
        report.tiling_error_m2 = km2(polygonal(diff)) * 1e6
    empty = out[out.geometry.is_empty]
    if not empty.empty:
        raise HarmonisationError(f"reconstruction left unit(s) without area: {', '.join(empty['code'])}")
    out["area_km2"] = out.to_crs(METRIC_CRS).area / 1e6
    return out.sort_values("code", ignore_index=True), reports


def quality_table(reports: list[ParentReport]) -> pd.DataFrame:
    """The boundary_quality table: one row per 2025 unit."""
    return pd.DataFrame(
        [
            {
                "unit_2025_code": r.code,
                "unit_2025_name": r.name,
                "n_communes_2024": r.n_communes_2024,
                "n_exact": r.quality.get("exact", 0),
                "n_derived": r.quality.get("derived", 0),
                "n_approximate": r.quality.get("approximate", 0),
                "area_km2": round(r.area_km2, 3),
                "area_sources_km2": None if r.area_sources_km2 is None else round(r.area_sources_km2, 3),
                "area_diff_pct": None
                if r.area_sources_km2 is None
                else round(100.0 * (r.area_sources_km2 - r.area_km2) / r.area_km2, 2),
                "iou_sources": None if r.iou_sources is None else round(r.iou_sources, 4),
                "gap_km2": round(max(r.gap_km2, 0.0), 3),
                "overlap_km2": round(r.overlap_km2, 3),
                "spill_km2": round(max(r.spill_km2, 0.0), 3),
                "tiling_error_m2": round(r.tiling_error_m2, 3),
            }
            for r in reports
        ]
    )
