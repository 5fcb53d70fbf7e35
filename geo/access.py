"""Access to services: network travel time and distance from every village to the nearest facility.

The road layer is turned into a graph (networkx); every link's travel time comes from its length and
the speed of its surface class. Villages and facilities are snapped to the nearest
network node; the gap is walked at WALK_KMH and added to the time and distance (zero on the demo
network, whose links end at villages). Multi-source Dijkstra from all facilities of a kind gives each
village its nearest facility by time, the network distance along that route, and the straight-line
distance to the nearest facility beside it. Villages the network does not reach get no time.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely

from geo.harmonise import METRIC_CRS

# Typical speeds on Sơn La's mountain roads (km/h), by surface class: assumptions, stated in the docs.
SPEED_KMH = {"nhựa": 35.0, "bê tông": 25.0, "cấp phối": 15.0, "đất": 8.0}
DEFAULT_SPEED_KMH = 10.0
WALK_KMH = 4.0  # off-network leg from a point to its nearest road node
MAX_SNAP_KM = 5.0  # points farther than this from any road are left unreached
SERVICES = ("health_stations", "schools", "markets")


def speed_of(surface: str) -> float:
    """Speed (km/h) for a surface label such as "bê tông / concrete"."""
    key = str(surface).split(" / ")[0].strip().lower()
    return SPEED_KMH.get(key, DEFAULT_SPEED_KMH)


def _node(x: float, y: float) -> tuple[float, float]:
    return (round(float(x), 6), round(float(y), 6))


def road_graph(roads: gpd.GeoDataFrame) -> nx.Graph:
    """Undirected graph of road links: nodes are link ends (lon, lat to 1e-6°), weights minutes and km."""
    graph = nx.Graph()
    parts = roads[["road_id", "surface", "geometry"]].explode(index_parts=False)
    parts = parts[~parts.geometry.is_empty & parts.geometry.notna()]
    metric = parts.to_crs(METRIC_CRS)
    for geom, geom_m, surface, road_id in zip(
        parts.geometry, metric.geometry, parts["surface"], parts["road_id"], strict=True
    ):
        coords = list(geom.coords)
        a, b = _node(*coords[0][:2]), _node(*coords[-1][:2])
        if a == b:
            continue
        km = geom_m.length / 1000
        minutes = 60 * km / speed_of(surface)
        if graph.has_edge(a, b) and graph[a][b]["minutes"] <= minutes:
            continue
        graph.add_edge(a, b, km=km, minutes=minutes, road_id=road_id, surface=surface)
    return graph


@dataclass(frozen=True)
class Snap:
    """Each point's nearest graph node and the straight gap to it (km); node None when beyond MAX_SNAP_KM."""

    nodes: list[tuple[float, float] | None]
    km: np.ndarray


def snap(points: gpd.GeoSeries, graph: nx.Graph) -> Snap:
    """Snap points (EPSG:4326) to the nearest node of the graph."""
    keys = list(graph.nodes)
    if not keys or len(points) == 0:
        return Snap([None] * len(points), np.full(len(points), np.nan))
    node_pts = gpd.GeoSeries(shapely.points(np.array(keys)), crs="EPSG:4326").to_crs(METRIC_CRS)
    tree = shapely.STRtree(node_pts.values)
    (src, dst), dist = tree.query_nearest(points.to_crs(METRIC_CRS).values, return_distance=True, all_matches=False)
    km = np.full(len(points), np.nan)
    km[src] = dist / 1000
    nodes: list[tuple[float, float] | None] = [None] * len(points)
    for i, j in zip(src, dst, strict=True):
        if km[i] <= MAX_SNAP_KM:
            nodes[i] = keys[j]
    return Snap(nodes, km)


def walk_minutes(km: np.ndarray | float) -> np.ndarray | float:
    """Minutes to walk a distance off the network."""
    return 60 * np.asarray(km) / WALK_KMH


def nearest_by_road(
    graph: nx.Graph,
    sources: dict[tuple[float, float], float],
    targets: Snap,
) -> tuple[np.ndarray, np.ndarray]:
    """Minutes and km from the nearest source to each target; sources map node → minutes already spent."""
    minutes = np.full(len(targets.nodes), np.nan)
    km = np.full(len(targets.nodes), np.nan)
    if not sources:
        return minutes, km
    # a virtual origin joined to each source node by its off-network minutes
    origin = ("origin",)
    work = graph.copy()
    for source, lead in sources.items():
        work.add_edge(origin, source, minutes=lead, km=lead * WALK_KMH / 60)
    lengths, paths = nx.single_source_dijkstra(work, origin, weight="minutes")
    for i, target in enumerate(targets.nodes):
        if target is None or target not in lengths:
            continue
        path = paths[target]
        minutes[i] = lengths[target] + float(walk_minutes(targets.km[i]))
        km[i] = sum(work[u][v]["km"] for u, v in itertools.pairwise(path)) + targets.km[i]
    return minutes, km


@dataclass(frozen=True)
class AccessResult:
    """Per-village access, one column group per service."""

    table: pd.DataFrame


def facility_sources(facilities: gpd.GeoDataFrame, graph: nx.Graph) -> dict[tuple[float, float], float]:
    """Network node → walking minutes from the nearest facility snapped to it (the Dijkstra sources)."""
    fsnap = snap(facilities.geometry, graph)
    sources: dict[tuple[float, float], float] = {}
    for node, gap in zip(fsnap.nodes, fsnap.km, strict=True):
        if node is not None:
            sources[node] = min(sources.get(node, np.inf), float(walk_minutes(gap)))
    return sources


def village_access(
    villages: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, facilities: dict[str, gpd.GeoDataFrame]
) -> AccessResult:
    """Minutes and km by road to the nearest facility of each kind, and the straight-line km, per village."""
    graph = road_graph(roads)
    at = snap(villages.geometry, graph)
    out = pd.DataFrame({"village_id": villages["village_id"].to_numpy(), "snap_km": np.round(at.km, 3)})
    village_m = villages.to_crs(METRIC_CRS).geometry
    for kind, points in facilities.items():
        minutes, km = nearest_by_road(graph, facility_sources(points, graph), at)
        straight = np.full(len(villages), np.nan)
        if len(points):
            tree = shapely.STRtree(points.to_crs(METRIC_CRS).geometry.values)
            nearest = tree.query_nearest(village_m.values, return_distance=True, all_matches=False)
            straight[nearest[0][0]] = nearest[1] / 1000
        out[f"minutes_to_{kind}"] = np.round(minutes, 1)
        out[f"km_to_{kind}"] = np.round(km, 2)
        out[f"straight_km_to_{kind}"] = np.round(straight, 2)
    return AccessResult(out)


def unit_access(
    villages: pd.DataFrame, access: pd.DataFrame, unit_column: str, weight_column: str = "households"
) -> pd.DataFrame:
    """Household-weighted mean minutes, road km and straight km to each service per unit, and the share of
    households more than an hour away (or not reached by the network)."""
    merged = villages[["village_id", unit_column, weight_column]].merge(access, on="village_id")
    rows = []
    for unit, group in merged.groupby(unit_column, sort=True):
        weights = group[weight_column].to_numpy(dtype=float)
        rec: dict[str, object] = {unit_column: unit}
        for kind in SERVICES:
            for measure in ("minutes", "km", "straight_km"):
                values = group[f"{measure}_to_{kind}"].to_numpy(dtype=float)
                ok = ~np.isnan(values)
                mean = float(np.average(values[ok], weights=weights[ok])) if weights[ok].sum() > 0 else np.nan
                rec[f"mean_{measure}_to_{kind}"] = round(mean, 2)
            minutes = group[f"minutes_to_{kind}"].to_numpy(dtype=float)
            far = (minutes > 60) | np.isnan(minutes)
            total = weights.sum()
            rec[f"share_households_over_60_min_to_{kind}"] = (
                round(100 * float(weights[far].sum() / total), 2) if total > 0 else np.nan
            )
        rec["villages_unreached"] = int(group[[f"minutes_to_{k}" for k in SERVICES]].isna().any(axis=1).sum())
        rows.append(rec)
    return pd.DataFrame(rows)
