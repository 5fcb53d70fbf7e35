"""Imported candidate projects (CSV or any vector file): what each serves is computed from the network."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from geo.access import MAX_SNAP_KM, Snap, snap, walk_minutes
from geo.errors import InputDataError
from geo.harmonise import METRIC_CRS
from geo.plan.model import KIND_LABELS, PROJECT_KINDS, Candidates, Component, Costs, PlanError, Project
from geo.plan.network import Builder, PlanInputs, as_lines

IMPORT_SNAP_KM = {"bridge": 0.5, "grid": 1.0, "road": 0.05}


def read_candidate_file(path: Path) -> gpd.GeoDataFrame:
    """Read candidate projects: GeoJSON/GeoPackage/Shapefile, or CSV with lon/lat or wkt columns."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(path, "candidate file does not exist")
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
        frame.columns = [c.strip().lower() for c in frame.columns]
        if "wkt" in frame:
            try:
                geoms = shapely.from_wkt(frame["wkt"].fillna("").to_numpy())
            except shapely.errors.GEOSException as exc:
                raise InputDataError(path, f"unreadable WKT: {exc}", column="wkt") from exc
        elif {"lon", "lat"} <= set(frame.columns):
            lon = pd.to_numeric(frame["lon"], errors="coerce")
            lat = pd.to_numeric(frame["lat"], errors="coerce")
            bad = frame.index[lon.isna() | lat.isna()]
            if len(bad):
                raise InputDataError(path, "lon/lat is not a number", row=int(bad[0]) + 2, column="lon")
            geoms = shapely.points(lon.to_numpy(), lat.to_numpy())
        else:
            raise InputDataError(path, "a CSV of candidates needs lon and lat columns, or a wkt column")
        return gpd.GeoDataFrame(frame, geometry=list(geoms), crs="EPSG:4326")
    try:
        frame = gpd.read_file(path)
    except Exception as exc:
        raise InputDataError(path, f"cannot be read as a vector file: {exc}") from exc
    frame.columns = [c if c == "geometry" else str(c).strip().lower() for c in frame.columns]
    if frame.crs is None:
        raise InputDataError(path, "has no coordinate reference system")
    return frame.to_crs("EPSG:4326")


@dataclass
class _Context:
    """What placing one imported project reads: the builder over the candidates, the network and the villages."""

    b: Builder
    costs: Costs
    source: str
    graph: nx.Graph
    vsnap: Snap
    ids: np.ndarray
    village_tree: shapely.STRtree
    roads: gpd.GeoDataFrame
    roads_m: gpd.GeoDataFrame
    road_tree: shapely.STRtree


def add_imported(cand: Candidates, inputs: PlanInputs, costs: Costs, frame: gpd.GeoDataFrame, source: str) -> int:
    """Add imported candidate projects; what each serves is computed from the network, not read from the file."""
    for column in ("project_id", "kind"):
        if column not in frame:
            raise InputDataError(source, f"missing column {column!r} (need project_id, kind and a geometry)")
    graph, vsnap = cand.graph, cand.village_snap
    if graph is None or vsnap is None:
        raise PlanError("imported candidates need the network candidates first")
    v = inputs.villages.reset_index(drop=True)
    communes_of = v["commune_2024_code"].astype(str).to_numpy()
    b = Builder(inputs, costs)
    b.components, b.projects, b.clauses = cand.components, cand.projects, cand.clauses
    roads_m = inputs.roads.to_crs(METRIC_CRS)
    ctx = _Context(
        b=b,
        costs=costs,
        source=source,
        graph=graph,
        vsnap=vsnap,
        ids=v["village_id"].astype(str).to_numpy(),
        village_tree=shapely.STRtree(v.geometry.to_crs(METRIC_CRS).values),
        roads=inputs.roads,
        roads_m=roads_m,
        road_tree=shapely.STRtree(roads_m.geometry.values),
    )
    metric = frame.to_crs(METRIC_CRS)
    added = 0
    for row_no, (rec, geom, geom_m) in enumerate(
        zip(frame.to_dict("records"), frame.geometry, metric.geometry, strict=True), start=2
    ):
        pid, kind, given = _read_row(rec, geom, source, row_no)
        point = geom if geom.geom_type == "Point" else geom.representative_point()
        near_village = int(ctx.village_tree.nearest(geom_m.centroid))
        commune = communes_of[near_village]
        length = 0.0
        rids: list[str] = []
        if kind in ("school", "health_station"):
            cid = _facility(ctx, pid, kind, point, given, commune, row_no)
        elif kind == "grid":
            cid = _grid(ctx, pid, geom_m, near_village, given, commune, row_no)
        elif kind == "bridge":
            cid, commune, rids = _bridge(ctx, pid, geom_m, given, commune, row_no)
        else:
            cid, rids = _road(ctx, pid, geom_m, given, commune, row_no)
            length = float(geom_m.length) / 1000
        name = str(rec.get("name") or pid)
        label_vi, label_en = KIND_LABELS[kind]
        b.project(
            Project(
                id=pid,
                kind=kind,
                name_vi=f"{label_vi}: {name}",
                name_en=f"{label_en}: {name}",
                components=(cid,),
                commune_2024_code=commune,
                point=point,
                line=shapely.MultiLineString(as_lines(geom)) if kind == "road" else None,
                length_km=length,
                road_ids=";".join(rids),
                source=f"imported: {source}",
            )
        )
        added += 1
    cand._compiled = None
    return added


def _read_row(rec: dict[str, Any], geom: Any, source: str, row_no: int) -> tuple[str, str, float | None]:
    """Project id, kind and the cost given in the file (None when blank) of one row, checked."""
    pid = f"import-{str(rec['project_id']).strip()}"
    kind = str(rec["kind"]).strip().lower().replace(" ", "_")
    if kind not in PROJECT_KINDS:
        raise InputDataError(
            source, f"kind {kind!r} is not one of {', '.join(PROJECT_KINDS)}", row=row_no, column="kind"
        )
    if geom is None or geom.is_empty:
        raise InputDataError(source, "no geometry", row=row_no)
    cost_text = rec.get("cost_vnd")
    given = None
    if cost_text not in (None, "") and not (isinstance(cost_text, float) and np.isnan(cost_text)):
        try:
            given = float(str(cost_text).replace(",", ""))
        except ValueError:
            raise InputDataError(source, f"cost {cost_text!r} is not a number", row=row_no, column="cost_vnd") from None
        if given <= 0:
            raise InputDataError(source, "cost must be positive", row=row_no, column="cost_vnd")
    return pid, kind, given


def _facility(
    ctx: _Context, pid: str, kind: str, point: shapely.Point, given: float | None, commune: str, row_no: int
) -> str:
    """A school or health post at the site, serving the needy villages within the threshold of it."""
    b, costs = ctx.b, ctx.costs
    need_kind = "school" if kind == "school" else "health"
    threshold = costs.school_minutes if kind == "school" else costs.health_minutes
    site = snap(gpd.GeoSeries([point], crs="EPSG:4326"), ctx.graph)
    if site.nodes[0] is None:
        raise InputDataError(ctx.source, f"the site is more than {MAX_SNAP_KM} km from any road", row=row_no)
    lead = float(walk_minutes(site.km[0]))
    reach = nx.single_source_dijkstra_path_length(
        ctx.graph, site.nodes[0], cutoff=max(threshold - lead, 0), weight="minutes"
    )
    cid = b.component(
        f"{pid}:{kind}", kind, given or (costs.school if kind == "school" else costs.health_station), commune
    )
    for j, node in enumerate(ctx.vsnap.nodes):
        if node in reach and lead + reach[node] + float(walk_minutes(ctx.vsnap.km[j])) <= threshold:
            key = f"{need_kind}:{ctx.ids[j]}"
            if key in b.clauses:  # only villages that need one
                b.clause(key, cid)
    return cid


def _grid(
    ctx: _Context, pid: str, geom_m: shapely.Geometry, near_village: int, given: float | None, commune: str, row_no: int
) -> str:
    """A grid extension to the nearest village short of full power (within IMPORT_SNAP_KM)."""
    b = ctx.b
    dist = float(shapely.distance(geom_m, ctx.village_tree.geometries[near_village])) / 1000
    key = f"grid:{ctx.ids[near_village]}"
    if dist > IMPORT_SNAP_KM["grid"] or key not in b.clauses:
        raise InputDataError(
            ctx.source, f"no village without full grid power within {IMPORT_SNAP_KM['grid']} km", row=row_no
        )
    cid = b.component(f"{pid}:grid", "grid", given or b.components[f"grid:{ctx.ids[near_village]}"].cost, commune)
    b.clause(key, cid)
    return cid


def _bridge(
    ctx: _Context, pid: str, geom_m: shapely.Geometry, given: float | None, commune: str, row_no: int
) -> tuple[str, str, list[str]]:
    """A crossing on the nearest earth link of a village's route: component, its commune, the link."""
    b, roads = ctx.b, ctx.roads
    hits = ctx.road_tree.query(geom_m.buffer(IMPORT_SNAP_KM["bridge"] * 1000))
    earth = [int(h) for h in hits if f"allseason:{roads['road_id'].iloc[h]}" in b.clauses]
    if not earth:
        raise InputDataError(
            ctx.source, f"no earth road link on a village's route within {IMPORT_SNAP_KM['bridge']} km", row=row_no
        )
    h = min(earth, key=lambda k: float(shapely.distance(geom_m, ctx.roads_m.geometry.iloc[k])))
    rid = str(roads["road_id"].iloc[h])
    commune = b.components.get(f"road:{rid}", Component("", "", 0, commune, False)).commune_2024_code
    cid = b.component(f"{pid}:bridge", "bridge", given or ctx.costs.all_season_crossing, commune)
    b.clause(f"allseason:{rid}", cid)
    return cid, commune, [rid]


def _road(
    ctx: _Context, pid: str, geom_m: shapely.Geometry, given: float | None, commune: str, row_no: int
) -> tuple[str, list[str]]:
    """A road upgrade of the unpaved links that the line follows for at least 80% of their length."""
    b = ctx.b
    corridor = geom_m.buffer(IMPORT_SNAP_KM["road"] * 1000)
    rids: list[str] = []
    for h in ctx.road_tree.query(corridor):
        link = ctx.roads_m.geometry.iloc[int(h)]
        rid = str(ctx.roads["road_id"].iloc[int(h)])
        if link.length > 0 and link.intersection(corridor).length >= 0.8 * link.length and f"paved:{rid}" in b.clauses:
            rids.append(rid)
    if not rids:
        raise InputDataError(ctx.source, "the line follows no unpaved road link on a village's route", row=row_no)
    own = sum(b.components[f"road:{r}"].cost for r in rids)
    cid = b.component(f"{pid}:road", "road", given or own, commune)
    for r in rids:
        b.clause(f"paved:{r}", cid)
        if f"allseason:{r}" in b.clauses:
            b.clause(f"allseason:{r}", cid)
    return cid, rids
