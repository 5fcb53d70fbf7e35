"""Candidate projects from the network: roads and crossings, schools and health posts, grid extensions, and
village projects against deprivation (water and latrines, housing support, telecom connection)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csgraph

from geo.access import MAX_SNAP_KM, Snap, facility_sources, nearest_by_road, road_graph, snap, walk_minutes
from geo.errors import InputDataError
from geo.harmonise import METRIC_CRS
from geo.plan.model import (
    DEPRIVATION_KINDS,
    DEPRIVATION_OF_NEED,
    EARTH,
    KIND_LABELS,
    Candidates,
    Component,
    Costs,
    Need,
    Project,
    is_paved,
    surface_key,
)


@dataclass
class PlanInputs:
    """What the candidate generator reads (all EPSG:4326)."""

    villages: gpd.GeoDataFrame  # village_id, name, commune_2024_code, is_commune_centre, households_2025,
    #                             poor_households_2025, grid_power_share; optional: households_2026 and
    #                             poor_households_2026 (used when present), deprived_<kind> and
    #                             poor_deprived_<kind> (households lacking what a project kind addresses)
    roads: gpd.GeoDataFrame  # road_id, surface, geometry (commune_2024_code optional)
    health_stations: gpd.GeoDataFrame
    schools: gpd.GeoDataFrame
    communes: pd.DataFrame  # code, name, unit_2025_code, region_iii (bool), persons_per_household


class Builder:
    """Accumulates components, projects, clauses and needs."""

    def __init__(self, inputs: PlanInputs, costs: Costs) -> None:
        self.inputs, self.costs = inputs, costs
        communes = inputs.communes.set_index("code")
        self.region = communes["region_iii"].astype(bool).to_dict()
        self.unit_of = communes["unit_2025_code"].astype(str).to_dict()
        self.commune_name = communes["name"].astype(str).to_dict()
        self.components: dict[str, Component] = {}
        self.projects: dict[str, Project] = {}
        self.clauses: dict[str, set[str]] = {}
        self.needs: list[Need] = []

    def component(self, cid: str, kind: str, cost: float, commune: str) -> str:
        """Add (or replace) a component in a commune; returns its id."""
        self.components[cid] = Component(cid, kind, float(cost), commune, bool(self.region.get(commune, False)))
        return cid

    def project(self, p: Project) -> None:
        """Add a project, taking its 2025 unit from its commune; an id used twice is an input error."""
        if p.id in self.projects:
            raise InputDataError("candidates", f"project id {p.id!r} is used twice")
        p.unit_2025_code = self.unit_of.get(p.commune_2024_code, "")
        self.projects[p.id] = p

    def clause(self, key: str, *components: str) -> str:
        """Let the components satisfy the clause `key`; returns the key."""
        self.clauses.setdefault(key, set()).update(components)
        return key


@dataclass
class _Villages:
    """The villages as the stages read them: arrays by position, and their snap to the road graph."""

    frame: gpd.GeoDataFrame
    graph: nx.Graph
    snap: Snap
    ids: np.ndarray
    names: np.ndarray
    communes: np.ndarray
    households: np.ndarray
    poor: np.ndarray
    people: np.ndarray
    grid_share: np.ndarray
    deprived: dict[str, np.ndarray]  # by kind of data/profiles/needs.yaml: households lacking what it addresses
    poor_deprived: dict[str, np.ndarray]  # the poor households among them

    def value(self, need_kind: str, i: int) -> tuple[float, float | None]:
        """(poor households, households) a need of this kind at village i is worth; None: no deprivation data."""
        kind = DEPRIVATION_OF_NEED.get(need_kind)
        if kind is None or kind not in self.deprived:
            return float(self.poor[i]), None
        return float(self.poor_deprived[kind][i]), float(self.deprived[kind][i])


def _villages(inputs: PlanInputs) -> _Villages:
    v = inputs.villages.reset_index(drop=True)
    graph = road_graph(inputs.roads)
    communes = v["commune_2024_code"].astype(str).to_numpy()
    pph = inputs.communes.set_index("code")["persons_per_household"]
    latest = "2026" if {"households_2026", "poor_households_2026"} <= set(v.columns) else "2025"
    households = v[f"households_{latest}"].to_numpy(dtype=float)
    kinds = [k for k in set(DEPRIVATION_OF_NEED.values()) if f"deprived_{k}" in v and f"poor_deprived_{k}" in v]
    return _Villages(
        frame=v,
        graph=graph,
        snap=snap(v.geometry, graph),
        ids=v["village_id"].astype(str).to_numpy(),
        names=v["name"].astype(str).to_numpy(),
        communes=communes,
        households=households,
        poor=v[f"poor_households_{latest}"].to_numpy(dtype=float),
        people=np.round(households * pph.reindex(communes).fillna(pph.mean()).to_numpy(), 0),
        grid_share=v["grid_power_share"].to_numpy(dtype=float),
        deprived={k: v[f"deprived_{k}"].fillna(0).to_numpy(dtype=float) for k in kinds},
        poor_deprived={k: v[f"poor_deprived_{k}"].fillna(0).to_numpy(dtype=float) for k in kinds},
    )


def network_candidates(inputs: PlanInputs, costs: Costs) -> Candidates:
    """Candidate projects and village needs computed from the road network, facilities and villages."""
    b = Builder(inputs, costs)
    vs = _villages(inputs)
    notes: list[str] = []
    unreached = int(sum(n is None for n in vs.snap.nodes))
    if unreached:
        notes.append(f"{unreached} village(s) lie more than {MAX_SNAP_KM} km from any road and get no road project")
    road_geom = inputs.roads.set_index("road_id").geometry
    notes += _road_projects(b, vs, inputs.roads, road_geom, costs)
    _crossing_projects(b, vs, road_geom)
    _facility_projects(b, vs, "school", inputs.schools, costs.school_minutes, costs.school)
    _facility_projects(b, vs, "health_station", inputs.health_stations, costs.health_minutes, costs.health_station)
    _grid_projects(b, vs, costs)
    notes += _deprivation_projects(b, vs, costs)
    table = pd.DataFrame(
        {"village_id": vs.ids, "households": vs.households, "poor_households": vs.poor, "people": vs.people}
    )
    return Candidates(b.components, b.projects, b.needs, b.clauses, table, notes, vs.graph, vs.snap)


# ----------------------------------------------------------------------------------------------------
# roads and crossings: the fastest route from each village to its commune centre
# ----------------------------------------------------------------------------------------------------


def _road_projects(
    b: Builder, vs: _Villages, roads: gpd.GeoDataFrame, road_geom: gpd.GeoSeries, costs: Costs
) -> list[str]:
    """A road project per village whose route to its commune centre has unpaved links; returns notes."""
    notes: list[str] = []
    road_commune = (
        roads.set_index("road_id")["commune_2024_code"].astype(str).to_dict() if "commune_2024_code" in roads else {}
    )
    is_centre = vs.frame["is_commune_centre"].to_numpy(dtype=bool)
    centre = {c: i for i, c in zip(np.flatnonzero(is_centre), vs.communes[is_centre], strict=True)}
    nodes = list(vs.graph.nodes)
    nidx = {n: k for k, n in enumerate(nodes)}
    order = sorted(set(vs.communes))
    roots = [c for c in order if c in centre and vs.snap.nodes[centre[c]] is not None]
    for c in order:
        if c not in roots:
            notes.append(f"commune {c}: no commune centre on the network; its villages get no road project")
    pred = np.empty((0, len(nodes)), dtype=int)
    if roots:
        minutes_csr = nx.to_scipy_sparse_array(vs.graph, nodelist=nodes, weight="minutes", format="csr")
        _, pred = csgraph.dijkstra(
            minutes_csr,
            directed=False,
            return_predecessors=True,
            indices=[nidx[vs.snap.nodes[centre[c]]] for c in roots],
        )
    for r, commune in enumerate(roots):
        for i in map(int, np.flatnonzero(vs.communes == commune)):
            node = vs.snap.nodes[i]
            if i == centre[commune] or node is None or pred[r, nidx[node]] < 0:
                continue
            path = [nidx[node]]
            while pred[r, path[-1]] >= 0:
                path.append(int(pred[r, path[-1]]))
            path.reverse()  # from the commune centre out to the village, the order the links are built in
            legs = [vs.graph[nodes[a]][nodes[c]] for a, c in itertools.pairwise(path)]
            unpaved = [edge for edge in legs if not is_paved(edge["surface"])]
            if unpaved:
                _village_road(b, vs, i, commune, unpaved, road_commune, road_geom, costs)
    return notes


def _village_road(
    b: Builder,
    vs: _Villages,
    i: int,
    commune: str,
    unpaved: list[dict[str, Any]],
    road_commune: dict[str, str],
    road_geom: gpd.GeoSeries,
    costs: Costs,
) -> None:
    """The road (and all-season) needs of village i and the project upgrading the unpaved links of its route."""
    road_clauses, season_clauses, parts, rids = [], [], [], []
    km = 0.0
    for edge in unpaved:
        rid = str(edge["road_id"])
        where = road_commune.get(rid, commune)
        cid = b.component(f"road:{rid}", "road", edge["km"] * costs.upgrade_per_km(edge["surface"]), where)
        road_clauses.append(b.clause(f"paved:{rid}", cid))
        if surface_key(edge["surface"]) == EARTH:
            cross = b.component(f"crossing:{rid}", "bridge", costs.all_season_crossing, where)
            season_clauses.append(b.clause(f"allseason:{rid}", cid, cross))
        parts.append(cid)
        rids.append(rid)
        km += edge["km"]
    b.needs.append(Need(vs.ids[i], "road", tuple(road_clauses), vs.poor[i], vs.people[i]))
    if season_clauses:
        b.needs.append(Need(vs.ids[i], "all_season", tuple(season_clauses), vs.poor[i], vs.people[i]))
    centre_name = b.commune_name.get(commune, commune)
    b.project(
        Project(
            id=f"road-{vs.ids[i]}",
            kind="road",
            name_vi=f"Cứng hóa đường từ {vs.names[i]} đến trung tâm {_lower_type(centre_name)}",
            name_en=f"Concrete road from {vs.names[i]} to the centre of {centre_name}",
            components=tuple(parts),
            commune_2024_code=commune,
            point=vs.frame.geometry.iloc[i],
            line=shapely.MultiLineString([g for rid in rids for g in as_lines(road_geom[rid])]),
            length_km=km,
            road_ids=";".join(rids),
        )
    )


def _crossing_projects(b: Builder, vs: _Villages, road_geom: gpd.GeoSeries) -> None:
    """A crossing project for each crossing component, named after the villages at the ends of its link."""
    node_village: dict[tuple[float, float], int] = {}
    for i, node in enumerate(vs.snap.nodes):
        if node is not None:
            node_village.setdefault(node, i)
    for cid, comp in list(b.components.items()):
        if comp.kind != "bridge":
            continue
        rid = cid.split(":", 1)[1]
        line = road_geom[rid]
        ends = [node_village.get(_end(line, k)) for k in (0, -1)]
        between = " – ".join(vs.names[e] for e in ends if e is not None) or rid
        b.project(
            Project(
                id=f"bridge-{rid}",
                kind="bridge",
                name_vi=f"Ngầm tràn, cầu dân sinh trên đường {between}",
                name_en=f"All-season crossing on the track {between}",
                components=(cid,),
                commune_2024_code=comp.commune_2024_code,
                point=line.interpolate(0.5, normalized=True),
                road_ids=rid,
            )
        )


# ----------------------------------------------------------------------------------------------------
# schools and health posts: villages beyond the threshold, sites at those villages
# ----------------------------------------------------------------------------------------------------


def _facility_projects(
    b: Builder, vs: _Villages, kind: str, facilities: gpd.GeoDataFrame, threshold: float, cost: float
) -> None:
    """A site at each village beyond the threshold, serving every such village within it."""
    need_kind = "school" if kind == "school" else "health"
    minutes, _ = nearest_by_road(vs.graph, facility_sources(facilities, vs.graph), vs.snap)
    needy = np.flatnonzero(~(minutes <= threshold))
    needy_at: dict[tuple[float, float], list[int]] = {}
    for i in map(int, needy):
        at = vs.snap.nodes[i]
        if at is not None:
            needy_at.setdefault(at, []).append(i)
    for s in needy:
        cid = b.component(f"{kind}:{vs.ids[s]}", kind, cost, vs.communes[s])
        for j in _covered(vs, int(s), threshold, needy_at):
            b.clause(f"{need_kind}:{vs.ids[j]}", cid)
        _village_project(b, vs, kind, int(s), cid)
    for i in map(int, needy):
        poor, households = vs.value(need_kind, i)
        b.needs.append(Need(vs.ids[i], need_kind, (f"{need_kind}:{vs.ids[i]}",), poor, vs.people[i], households))


def _covered(vs: _Villages, s: int, threshold: float, needy_at: dict[tuple[float, float], list[int]]) -> list[int]:
    """Village s and the needy villages within the threshold of a site at s (walks to and from the road counted)."""
    covered = [s]
    if vs.snap.nodes[s] is not None:
        lead = float(walk_minutes(vs.snap.km[s]))
        reach = nx.single_source_dijkstra_path_length(
            vs.graph, vs.snap.nodes[s], cutoff=threshold - lead, weight="minutes"
        )
        for node, t in reach.items():
            for j in needy_at.get(node, []):
                if j != s and lead + t + float(walk_minutes(vs.snap.km[j])) <= threshold:
                    covered.append(j)
    return covered


# ----------------------------------------------------------------------------------------------------
# grid extensions: villages with partial or no grid power, line to the nearest fully powered village
# ----------------------------------------------------------------------------------------------------


def _grid_projects(b: Builder, vs: _Villages, costs: Costs) -> None:
    """A grid extension to each village short of full power, its line to the nearest powered village."""
    powered: dict[tuple[float, float], float] = {}
    for i in map(int, np.flatnonzero(vs.grid_share >= 1.0)):
        at = vs.snap.nodes[i]
        if at is not None:
            powered[at] = 0.0
    _, line_km = nearest_by_road(vs.graph, powered, vs.snap)
    powered_pts = vs.frame.geometry[vs.grid_share >= 1.0].to_crs(METRIC_CRS)
    tree = shapely.STRtree(powered_pts.values) if len(powered_pts) else None
    metric = vs.frame.geometry.to_crs(METRIC_CRS).values
    for i in map(int, np.flatnonzero(vs.grid_share < 1.0)):
        km = line_km[i]
        if np.isnan(km) and tree is not None:
            km = float(shapely.distance(metric[i], powered_pts.values[tree.nearest(metric[i])])) / 1000
        km = 0.0 if np.isnan(km) else km
        share = vs.grid_share[i]
        cid = b.component(f"grid:{vs.ids[i]}", "grid", costs.grid_fixed + costs.grid_per_km * km, vs.communes[i])
        b.clause(f"grid:{vs.ids[i]}", cid)
        b.needs.append(
            Need(vs.ids[i], "grid", (f"grid:{vs.ids[i]}",), vs.poor[i] * (1 - share), vs.people[i] * (1 - share))
        )
        _village_project(b, vs, "grid", i, cid, ("đến", "to"), km)


# ----------------------------------------------------------------------------------------------------
# village projects against deprivation: where a share of households lacks what the kind addresses
# ----------------------------------------------------------------------------------------------------


def _deprivation_projects(b: Builder, vs: _Villages, costs: Costs) -> list[str]:
    """A water-and-latrine scheme, housing support or a telecom connection at each village where at least
    `deprivation_min_share` of households lack what it addresses; each is worth those households."""
    if not any(k in vs.deprived for k in DEPRIVATION_KINDS):
        return ["no deprivation counts on the villages: no water, housing or connectivity candidates"]
    for kind in (k for k in DEPRIVATION_KINDS if k in vs.deprived):
        lacking = vs.deprived[kind]
        share = np.divide(lacking, vs.households, out=np.zeros_like(lacking), where=vs.households > 0)
        for i in map(int, np.flatnonzero((share >= costs.deprivation_min_share) & (lacking > 0))):
            if kind == "water_sanitation":
                cost = costs.water_sanitation_fixed + costs.water_sanitation_per_household * lacking[i]
            elif kind == "housing_support":
                cost = costs.housing_support_per_household * lacking[i]
            else:
                cost = costs.connectivity
            cid = b.component(f"{kind}:{vs.ids[i]}", kind, cost, vs.communes[i])
            b.clause(f"{kind}:{vs.ids[i]}", cid)
            poor, households = vs.value(kind, i)
            b.needs.append(Need(vs.ids[i], kind, (f"{kind}:{vs.ids[i]}",), poor, vs.people[i], households))
            _village_project(b, vs, kind, i, cid)
    return []


def _village_project(
    b: Builder, vs: _Villages, kind: str, i: int, cid: str, at: tuple[str, str] = ("tại", "at"), km: float = 0.0
) -> None:
    """The project of one component at (or, for grid, to) village i, named in both languages."""
    label_vi, label_en = KIND_LABELS[kind]
    b.project(
        Project(
            id=f"{kind.replace('_', '-')}-{vs.ids[i]}",
            kind=kind,
            name_vi=f"{label_vi} {at[0]} {vs.names[i]}",
            name_en=f"{label_en} {at[1]} {vs.names[i]}",
            components=(cid,),
            commune_2024_code=vs.communes[i],
            point=vs.frame.geometry.iloc[i],
            length_km=km,
        )
    )


def _lower_type(name: str) -> str:
    """ "Xã Cò Nòi" → "xã Cò Nòi" for use inside a sentence."""
    for prefix in ("Xã ", "Phường ", "Thị trấn "):
        if name.startswith(prefix):
            return prefix.lower() + name[len(prefix) :]
    return name


def as_lines(geom: shapely.Geometry) -> list[shapely.LineString]:
    """The parts of a line or multi-line."""
    return list(geom.geoms) if isinstance(geom, shapely.MultiLineString) else [geom]


def _end(line: shapely.Geometry, k: int) -> tuple[float, float]:
    coords = as_lines(line)[0 if k == 0 else -1].coords[k]
    return (round(float(coords[0]), 6), round(float(coords[1]), 6))
