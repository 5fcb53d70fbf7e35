"""Investment planning: candidate projects computed from the network and villages, and the budget MILP.

The model is a covering problem written once and used three ways (MILP, evaluation, brute force in the
tests). A *component* is something that is built and paid for once: the concrete upgrade of one road
link, a crossing on one earth link, a school or health post at one village, a grid extension to one
village. A *project* is what a planner funds: one or more components (the road from a village to its
commune centre is the upgrade of every unpaved link on the way, links shared between villages' roads
are paid once). A village *need* is met when each of its clauses holds, a clause holding when any one of
its components is built:

- road: every unpaved link on the village's fastest route to its commune centre is upgraded;
- all-season: every earth link on that route is upgraded or has a crossing;
- school / health: a school (health post) is built within the threshold travel time, for villages
  now beyond it;
- grid: the village gets a grid extension (villages with partial or no grid power).

A need is worth the village's poor households (for grid, the poor households without power), so the
objective is the number of poor households whose need is met, counted once per need. The MILP picks
projects to maximise it within the budget, optionally with a minimum share of spending in region III
communes and at most N projects per 2025 unit; among equally good portfolios it takes the cheapest.
Travel times for coverage are those of the current network (an upgraded road does not change them).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
import yaml
from pydantic import BaseModel, Field, ValidationError
from scipy import sparse
from scipy.sparse import csgraph

from geo.access import MAX_SNAP_KM, Snap, facility_sources, nearest_by_road, road_graph, snap, walk_minutes
from geo.errors import GeoError, InputDataError, validation_problem
from geo.harmonise import METRIC_CRS

PAVED = ("nhựa", "bê tông")
EARTH = "đất"
NEED_KINDS = ("road", "all_season", "school", "health", "grid")
PROJECT_KINDS = ("road", "bridge", "school", "health_station", "grid")
KIND_LABELS = {
    "road": ("Cứng hóa đường giao thông", "Road upgrade"),
    "bridge": ("Cầu, ngầm tràn", "All-season crossing"),
    "school": ("Điểm trường", "School site"),
    "health_station": ("Điểm y tế", "Health post"),
    "grid": ("Kéo điện lưới", "Grid extension"),
}


class PlanError(GeoError):
    """The plan cannot be computed (bad option, infeasible constraints, solver failure)."""


class Costs(BaseModel):
    """Unit costs (VND) and service thresholds (minutes) for the candidate projects."""

    version: str = "unversioned"
    road_upgrade_per_km: dict[str, float]
    all_season_crossing: float = Field(gt=0)
    school: float = Field(gt=0)
    health_station: float = Field(gt=0)
    grid_fixed: float = Field(ge=0)
    grid_per_km: float = Field(ge=0)
    school_minutes: float = Field(gt=0)
    health_minutes: float = Field(gt=0)

    @classmethod
    def load(cls, path: Path) -> Costs:
        """Read a costs file; errors name the file and the entry."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputDataError(path, "costs file does not exist") from None
        except yaml.YAMLError as exc:
            raise InputDataError(path, f"is not valid YAML: {exc}") from exc
        if isinstance(data, dict) and "version" in data:
            data["version"] = str(data["version"])
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InputDataError(path, validation_problem(exc.errors())) from exc

    def upgrade_per_km(self, surface: str) -> float:
        """Cost per km of bringing a link of this surface to concrete."""
        key = surface_key(surface)
        if key in self.road_upgrade_per_km:
            return self.road_upgrade_per_km[key]
        return max(self.road_upgrade_per_km.values())


def surface_key(surface: str) -> str:
    """ "đất / earth" → "đất"."""
    return str(surface).split(" / ")[0].strip().lower()


def is_paved(surface: str) -> bool:
    """Asphalt and concrete count as paved (cứng hóa); gravel and earth do not."""
    return surface_key(surface) in PAVED


@dataclass(frozen=True)
class Component:
    """Built and paid for once."""

    id: str
    kind: str
    cost: float
    commune_2024_code: str
    region_iii: bool


@dataclass
class Project:
    """What a planner funds: one or more components, at a place."""

    id: str
    kind: str
    name_vi: str
    name_en: str
    components: tuple[str, ...]
    commune_2024_code: str
    point: shapely.Point
    line: shapely.MultiLineString | None = None
    length_km: float = 0.0
    road_ids: str = ""
    source: str = "network"
    unit_2025_code: str = ""  # set from the commune by _Builder.project


@dataclass(frozen=True)
class Need:
    """A village's need, met when each clause holds."""

    village_id: str
    kind: str
    clauses: tuple[str, ...]
    poor_households: float
    people: float


@dataclass(frozen=True)
class Evaluation:
    """What a set of projects costs and serves."""

    cost: float
    poor_households_served: float
    poor_households_reached: float
    people_reached: float
    needs_met: int
    met: np.ndarray  # bool per need


@dataclass
class Candidates:
    """Components, projects and village needs, with the incidence matrices for evaluation and the MILP."""

    components: dict[str, Component]
    projects: dict[str, Project]
    needs: list[Need]
    clauses: dict[str, set[str]]
    villages: pd.DataFrame  # village_id, households, poor_households, people
    notes: list[str] = field(default_factory=list)
    graph: nx.Graph | None = None  # the road graph and the villages' snap, kept for imported candidates
    village_snap: Snap | None = None
    _compiled: dict[str, Any] | None = None

    def compile(self) -> dict[str, Any]:
        """Sparse incidence matrices (projects × components, clauses × components, needs × clauses)."""
        if self._compiled is not None:
            return self._compiled
        comp_ids = list(self.components)
        cidx = {c: i for i, c in enumerate(comp_ids)}
        proj_ids = list(self.projects)
        clause_ids = [k for k, members in self.clauses.items() if members]
        kidx = {k: i for i, k in enumerate(clause_ids)}
        rows, cols = [], []
        for i, pid in enumerate(proj_ids):
            for c in self.projects[pid].components:
                rows.append(i)
                cols.append(cidx[c])
        p_mat = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(proj_ids), len(comp_ids)))
        rows, cols = [], []
        for i, k in enumerate(clause_ids):
            for c in self.clauses[k]:
                rows.append(i)
                cols.append(cidx[c])
        c_mat = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(clause_ids), len(comp_ids)))
        rows, cols = [], []
        impossible = np.zeros(len(self.needs), dtype=bool)
        for i, need in enumerate(self.needs):
            for k in need.clauses:
                if k in kidx:
                    rows.append(i)
                    cols.append(kidx[k])
                else:
                    impossible[i] = True  # a clause no component can satisfy
        n_mat = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(self.needs), len(clause_ids)))
        village_ids = self.villages["village_id"].tolist()
        vidx = {v: i for i, v in enumerate(village_ids)}
        self._compiled = {
            "comp_ids": comp_ids,
            "proj_ids": proj_ids,
            "proj_index": {p: i for i, p in enumerate(proj_ids)},
            "clause_ids": clause_ids,
            "P": p_mat,
            "C": c_mat,
            "N": n_mat,
            "impossible": impossible,
            "cost": np.array([self.components[c].cost for c in comp_ids]),
            "region_iii": np.array([self.components[c].region_iii for c in comp_ids]),
            "weight": np.array([n.poor_households for n in self.needs]),
            "need_village": np.array([vidx[n.village_id] for n in self.needs], dtype=int),
            "village_poor": self.villages["poor_households"].to_numpy(dtype=float),
            "village_people": self.villages["people"].to_numpy(dtype=float),
        }
        return self._compiled

    def built(self, selected: Iterable[str]) -> np.ndarray:
        """Which components a set of projects builds."""
        m = self.compile()
        index = [m["proj_index"][p] for p in selected]
        if not index:
            return np.zeros(len(m["comp_ids"]), dtype=bool)
        return np.asarray(m["P"][index].sum(axis=0)).ravel() > 0

    def evaluate(self, selected: Iterable[str]) -> Evaluation:
        """Cost and poor households served by a set of projects (components shared between them paid once)."""
        m = self.compile()
        built = self.built(selected)
        satisfied = (m["C"] @ built.astype(float)) > 0
        unmet = m["N"] @ (~satisfied).astype(float)
        met = (unmet == 0) & ~m["impossible"]
        reached = np.zeros(len(m["village_poor"]), dtype=bool)
        reached[m["need_village"][met]] = True
        return Evaluation(
            cost=float(m["cost"][built].sum()),
            poor_households_served=float(m["weight"][met].sum()),
            poor_households_reached=float(m["village_poor"][reached].sum()),
            people_reached=float(m["village_people"][reached].sum()),
            needs_met=int(met.sum()),
            met=met,
        )

    def table(self) -> pd.DataFrame:
        """Every candidate project with its stand-alone cost and what it serves on its own."""
        rows = []
        for pid, p in self.projects.items():
            ev = self.evaluate([pid])
            rows.append(
                _project_row(p, self.components)
                | {
                    "cost_vnd": round(ev.cost),
                    "poor_households_served": round(ev.poor_households_served, 1),
                    "people_reached": round(ev.people_reached),
                    "needs_met": ev.needs_met,
                }
            )
        return pd.DataFrame(rows)


def _project_row(p: Project, components: dict[str, Component]) -> dict[str, Any]:
    return {
        "project_id": p.id,
        "kind": p.kind,
        "kind_label": " / ".join(KIND_LABELS[p.kind]),
        "name_vi": p.name_vi,
        "name_en": p.name_en,
        "commune_2024_code": p.commune_2024_code,
        "unit_2025_code": p.unit_2025_code,
        "region_iii": any(components[c].region_iii for c in p.components),
        "length_km": round(p.length_km, 2),
        "road_ids": p.road_ids,
        "source": p.source,
    }


# ----------------------------------------------------------------------------------------------------
# Candidates from the network
# ----------------------------------------------------------------------------------------------------


@dataclass
class PlanInputs:
    """What the candidate generator reads (all EPSG:4326)."""

    villages: gpd.GeoDataFrame  # village_id, name, commune_2024_code, is_commune_centre, households_2025,
    #                             poor_households_2025, grid_power_share
    roads: gpd.GeoDataFrame  # road_id, surface, geometry (commune_2024_code optional)
    health_stations: gpd.GeoDataFrame
    schools: gpd.GeoDataFrame
    communes: pd.DataFrame  # code, name, unit_2025_code, region_iii (bool), persons_per_household


class _Builder:
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
        self.components[cid] = Component(cid, kind, float(cost), commune, bool(self.region.get(commune, False)))
        return cid

    def project(self, p: Project) -> None:
        if p.id in self.projects:
            raise InputDataError("candidates", f"project id {p.id!r} is used twice")
        p.unit_2025_code = self.unit_of.get(p.commune_2024_code, "")
        self.projects[p.id] = p

    def clause(self, key: str, *components: str) -> str:
        self.clauses.setdefault(key, set()).update(components)
        return key


def network_candidates(inputs: PlanInputs, costs: Costs) -> Candidates:
    """Candidate projects and village needs computed from the road network, facilities and villages."""
    b = _Builder(inputs, costs)
    v = inputs.villages.reset_index(drop=True)
    graph = road_graph(inputs.roads)
    vsnap = snap(v.geometry, graph)
    ids = v["village_id"].astype(str).to_numpy()
    names = v["name"].astype(str).to_numpy()
    communes = v["commune_2024_code"].astype(str).to_numpy()
    pph = inputs.communes.set_index("code")["persons_per_household"]
    households = v["households_2025"].to_numpy(dtype=float)
    poor = v["poor_households_2025"].to_numpy(dtype=float)
    people = np.round(households * pph.reindex(communes).fillna(pph.mean()).to_numpy(), 0)
    grid_share = v["grid_power_share"].to_numpy(dtype=float)
    notes: list[str] = []
    unreached = int(sum(n is None for n in vsnap.nodes))
    if unreached:
        notes.append(f"{unreached} village(s) lie more than {MAX_SNAP_KM} km from any road and get no road project")
    road_commune = (
        inputs.roads.set_index("road_id")["commune_2024_code"].astype(str).to_dict()
        if "commune_2024_code" in inputs.roads
        else {}
    )
    road_geom = inputs.roads.set_index("road_id").geometry
    node_village: dict[tuple[float, float], int] = {}
    for i, node in enumerate(vsnap.nodes):
        if node is not None:
            node_village.setdefault(node, i)

    # roads and crossings: the fastest route from each village to its commune centre
    centre = {
        c: i
        for i, c in zip(
            np.flatnonzero(v["is_commune_centre"].to_numpy(dtype=bool)),
            communes[v["is_commune_centre"].to_numpy(dtype=bool)],
            strict=True,
        )
    }
    nodes = list(graph.nodes)
    nidx = {n: k for k, n in enumerate(nodes)}
    order = sorted(set(communes))
    roots = [c for c in order if c in centre and vsnap.nodes[centre[c]] is not None]
    for c in order:
        if c not in roots:
            notes.append(f"commune {c}: no commune centre on the network; its villages get no road project")
    pred = np.empty((0, len(nodes)), dtype=int)
    if roots:
        minutes_csr = nx.to_scipy_sparse_array(graph, nodelist=nodes, weight="minutes", format="csr")
        _, pred = csgraph.dijkstra(
            minutes_csr, directed=False, return_predecessors=True, indices=[nidx[vsnap.nodes[centre[c]]] for c in roots]
        )
    for r, commune in enumerate(roots):
        members = np.flatnonzero(communes == commune)
        for i in map(int, members):
            node = vsnap.nodes[i]
            if i == centre[commune] or node is None or pred[r, nidx[node]] < 0:
                continue
            path = [nidx[node]]
            while pred[r, path[-1]] >= 0:
                path.append(int(pred[r, path[-1]]))
            path.reverse()  # from the commune centre out to the village, the order the links are built in
            legs = [(nodes[a], nodes[c], graph[nodes[a]][nodes[c]]) for a, c in itertools.pairwise(path)]
            unpaved = [leg for leg in legs if not is_paved(leg[2]["surface"])]
            if not unpaved:
                continue
            road_clauses, season_clauses, parts, rids = [], [], [], []
            km = 0.0
            for _, _, edge in unpaved:
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
            b.needs.append(Need(ids[i], "road", tuple(road_clauses), poor[i], people[i]))
            if season_clauses:
                b.needs.append(Need(ids[i], "all_season", tuple(season_clauses), poor[i], people[i]))
            centre_name = b.commune_name.get(commune, commune)
            b.project(
                Project(
                    id=f"road-{ids[i]}",
                    kind="road",
                    name_vi=f"Cứng hóa đường từ {names[i]} đến trung tâm {_lower_type(centre_name)}",
                    name_en=f"Concrete road from {names[i]} to the centre of {centre_name}",
                    components=tuple(parts),
                    commune_2024_code=commune,
                    point=v.geometry.iloc[i],
                    line=shapely.MultiLineString([g for rid in rids for g in _lines(road_geom[rid])]),
                    length_km=km,
                    road_ids=";".join(rids),
                )
            )
    for cid, comp in list(b.components.items()):
        if comp.kind != "bridge":
            continue
        rid = cid.split(":", 1)[1]
        line = road_geom[rid]
        ends = [node_village.get(_end(line, k)) for k in (0, -1)]
        between = " – ".join(names[e] for e in ends if e is not None) or rid
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

    # schools and health posts: villages beyond the threshold, sites at those villages
    for kind, facilities, threshold, cost in (
        ("school", inputs.schools, costs.school_minutes, costs.school),
        ("health_station", inputs.health_stations, costs.health_minutes, costs.health_station),
    ):
        need_kind = "school" if kind == "school" else "health"
        minutes, _ = nearest_by_road(graph, facility_sources(facilities, graph), vsnap)
        needy = np.flatnonzero(~(minutes <= threshold))
        needy_at: dict[tuple[float, float], list[int]] = {}
        for i in map(int, needy):
            at = vsnap.nodes[i]
            if at is not None:
                needy_at.setdefault(at, []).append(i)
        for s in needy:
            cid = b.component(f"{kind}:{ids[s]}", kind, cost, communes[s])
            covered = [int(s)]
            if vsnap.nodes[s] is not None:
                lead = float(walk_minutes(vsnap.km[s]))
                reach = nx.single_source_dijkstra_path_length(
                    graph, vsnap.nodes[s], cutoff=threshold - lead, weight="minutes"
                )
                for node, t in reach.items():
                    for j in needy_at.get(node, []):
                        if j != s and lead + t + float(walk_minutes(vsnap.km[j])) <= threshold:
                            covered.append(j)
            for j in covered:
                b.clause(f"{need_kind}:{ids[j]}", cid)
            label_vi, label_en = KIND_LABELS[kind]
            b.project(
                Project(
                    id=f"{kind.replace('_', '-')}-{ids[s]}",
                    kind=kind,
                    name_vi=f"{label_vi} tại {names[s]}",
                    name_en=f"{label_en} at {names[s]}",
                    components=(cid,),
                    commune_2024_code=communes[s],
                    point=v.geometry.iloc[s],
                )
            )
        for i in map(int, needy):
            b.needs.append(Need(ids[i], need_kind, (f"{need_kind}:{ids[i]}",), poor[i], people[i]))

    # grid extensions: villages with partial or no grid power, line to the nearest fully powered village
    powered: dict[tuple[float, float], float] = {}
    for i in map(int, np.flatnonzero(grid_share >= 1.0)):
        at = vsnap.nodes[i]
        if at is not None:
            powered[at] = 0.0
    _, line_km = nearest_by_road(graph, powered, vsnap)
    powered_pts = v.geometry[grid_share >= 1.0].to_crs(METRIC_CRS)
    tree = shapely.STRtree(powered_pts.values) if len(powered_pts) else None
    metric = v.geometry.to_crs(METRIC_CRS).values
    for i in map(int, np.flatnonzero(grid_share < 1.0)):
        km = line_km[i]
        if np.isnan(km) and tree is not None:
            km = float(shapely.distance(metric[i], powered_pts.values[tree.nearest(metric[i])])) / 1000
        km = 0.0 if np.isnan(km) else km
        cid = b.component(f"grid:{ids[i]}", "grid", costs.grid_fixed + costs.grid_per_km * km, communes[i])
        b.clause(f"grid:{ids[i]}", cid)
        b.needs.append(
            Need(ids[i], "grid", (f"grid:{ids[i]}",), poor[i] * (1 - grid_share[i]), people[i] * (1 - grid_share[i]))
        )
        label_vi, label_en = KIND_LABELS["grid"]
        b.project(
            Project(
                id=f"grid-{ids[i]}",
                kind="grid",
                name_vi=f"{label_vi} đến {names[i]}",
                name_en=f"{label_en} to {names[i]}",
                components=(cid,),
                commune_2024_code=communes[i],
                point=v.geometry.iloc[i],
                length_km=km,
            )
        )
    table = pd.DataFrame({"village_id": ids, "households": households, "poor_households": poor, "people": people})
    return Candidates(b.components, b.projects, b.needs, b.clauses, table, notes, graph, vsnap)


def _lower_type(name: str) -> str:
    """ "Xã Cò Nòi" → "xã Cò Nòi" for use inside a sentence."""
    for prefix in ("Xã ", "Phường ", "Thị trấn "):
        if name.startswith(prefix):
            return prefix.lower() + name[len(prefix) :]
    return name


def _lines(geom: shapely.Geometry) -> list[shapely.LineString]:
    return list(geom.geoms) if isinstance(geom, shapely.MultiLineString) else [geom]


def _end(line: shapely.Geometry, k: int) -> tuple[float, float]:
    coords = _lines(line)[0 if k == 0 else -1].coords[k]
    return (round(float(coords[0]), 6), round(float(coords[1]), 6))


# ----------------------------------------------------------------------------------------------------
# Imported candidates (CSV or any vector file)
# ----------------------------------------------------------------------------------------------------

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


def add_imported(cand: Candidates, inputs: PlanInputs, costs: Costs, frame: gpd.GeoDataFrame, source: str) -> int:
    """Add imported candidate projects; what each serves is computed from the network, not read from the file."""
    for column in ("project_id", "kind"):
        if column not in frame:
            raise InputDataError(source, f"missing column {column!r} (need project_id, kind and a geometry)")
    graph, vsnap = cand.graph, cand.village_snap
    if graph is None or vsnap is None:
        raise PlanError("imported candidates need the network candidates first")
    v = inputs.villages.reset_index(drop=True)
    ids = v["village_id"].astype(str).to_numpy()
    communes_of = v["commune_2024_code"].astype(str).to_numpy()
    b = _Builder(inputs, costs)
    b.components, b.projects, b.clauses = cand.components, cand.projects, cand.clauses
    village_tree = shapely.STRtree(v.geometry.to_crs(METRIC_CRS).values)
    roads_m = inputs.roads.to_crs(METRIC_CRS)
    road_tree = shapely.STRtree(roads_m.geometry.values)
    metric = frame.to_crs(METRIC_CRS)
    added = 0
    for row_no, (rec, geom, geom_m) in enumerate(
        zip(frame.to_dict("records"), frame.geometry, metric.geometry, strict=True), start=2
    ):
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
                raise InputDataError(
                    source, f"cost {cost_text!r} is not a number", row=row_no, column="cost_vnd"
                ) from None
            if given <= 0:
                raise InputDataError(source, "cost must be positive", row=row_no, column="cost_vnd")
        point = geom if geom.geom_type == "Point" else geom.representative_point()
        near_village = int(village_tree.nearest(geom_m.centroid))
        commune = communes_of[near_village]
        name = str(rec.get("name") or pid)
        label_vi, label_en = KIND_LABELS[kind]
        length = 0.0
        rids: list[str] = []
        if kind in ("school", "health_station"):
            need_kind = "school" if kind == "school" else "health"
            threshold = costs.school_minutes if kind == "school" else costs.health_minutes
            site = snap(gpd.GeoSeries([point], crs="EPSG:4326"), graph)
            if site.nodes[0] is None:
                raise InputDataError(source, f"the site is more than {MAX_SNAP_KM} km from any road", row=row_no)
            lead = float(walk_minutes(site.km[0]))
            reach = nx.single_source_dijkstra_path_length(
                graph, site.nodes[0], cutoff=max(threshold - lead, 0), weight="minutes"
            )
            cid = b.component(
                f"{pid}:{kind}", kind, given or (costs.school if kind == "school" else costs.health_station), commune
            )
            for j, node in enumerate(vsnap.nodes):
                if node in reach and lead + reach[node] + float(walk_minutes(vsnap.km[j])) <= threshold:
                    key = f"{need_kind}:{ids[j]}"
                    if key in b.clauses:  # only villages that need one
                        b.clause(key, cid)
        elif kind == "grid":
            dist = float(shapely.distance(geom_m, village_tree.geometries[near_village])) / 1000
            key = f"grid:{ids[near_village]}"
            if dist > IMPORT_SNAP_KM["grid"] or key not in b.clauses:
                raise InputDataError(
                    source, f"no village without full grid power within {IMPORT_SNAP_KM['grid']} km", row=row_no
                )
            cid = b.component(f"{pid}:grid", "grid", given or b.components[f"grid:{ids[near_village]}"].cost, commune)
            b.clause(key, cid)
        elif kind == "bridge":
            hits = road_tree.query(geom_m.buffer(IMPORT_SNAP_KM["bridge"] * 1000))
            earth = [int(h) for h in hits if f"allseason:{inputs.roads['road_id'].iloc[h]}" in b.clauses]
            if not earth:
                raise InputDataError(
                    source, f"no earth road link on a village's route within {IMPORT_SNAP_KM['bridge']} km", row=row_no
                )
            h = min(earth, key=lambda k: float(shapely.distance(geom_m, roads_m.geometry.iloc[k])))
            rid = str(inputs.roads["road_id"].iloc[h])
            commune = b.components.get(f"road:{rid}", Component("", "", 0, commune, False)).commune_2024_code
            cid = b.component(f"{pid}:bridge", "bridge", given or costs.all_season_crossing, commune)
            b.clause(f"allseason:{rid}", cid)
            rids = [rid]
        else:  # road: the unpaved links that the line follows for at least 80% of their length
            corridor = geom_m.buffer(IMPORT_SNAP_KM["road"] * 1000)
            for h in road_tree.query(corridor):
                link = roads_m.geometry.iloc[int(h)]
                rid = str(inputs.roads["road_id"].iloc[int(h)])
                if (
                    link.length > 0
                    and link.intersection(corridor).length >= 0.8 * link.length
                    and f"paved:{rid}" in b.clauses
                ):
                    rids.append(rid)
            if not rids:
                raise InputDataError(source, "the line follows no unpaved road link on a village's route", row=row_no)
            own = sum(b.components[f"road:{r}"].cost for r in rids)
            cid = b.component(f"{pid}:road", "road", given or own, commune)
            for r in rids:
                b.clause(f"paved:{r}", cid)
                if f"allseason:{r}" in b.clauses:
                    b.clause(f"allseason:{r}", cid)
            length = float(geom_m.length) / 1000
        b.project(
            Project(
                id=pid,
                kind=kind,
                name_vi=f"{label_vi}: {name}",
                name_en=f"{label_en}: {name}",
                components=(cid,),
                commune_2024_code=commune,
                point=point,
                line=shapely.MultiLineString(_lines(geom)) if kind == "road" else None,
                length_km=length,
                road_ids=";".join(rids),
                source=f"imported: {source}",
            )
        )
        added += 1
    cand._compiled = None
    return added


# ----------------------------------------------------------------------------------------------------
# The MILP
# ----------------------------------------------------------------------------------------------------


class PlanOptions(BaseModel):
    """Budget and constraints of a plan."""

    budget: float = Field(gt=0, description="VND")
    min_region_iii_share: float | None = Field(default=None, ge=0, le=1)
    max_projects_per_unit: int | None = Field(default=None, ge=1)
    solver: Literal["highs", "cbc"] = "highs"
    time_limit: float = Field(default=120, gt=0)
    next_best: int = Field(default=10, ge=0)


PROJECT_FIELDS = (
    "project_id",
    "kind",
    "kind_label",
    "name_vi",
    "name_en",
    "commune_2024_code",
    "unit_2025_code",
    "region_iii",
    "length_km",
    "road_ids",
    "source",
    "unit_2025_name",
)
CHOSEN_COLUMNS = (
    *PROJECT_FIELDS,
    "cost_vnd",
    "standalone_cost_vnd",
    "poor_households_served",
    "people_reached",
    "cumulative_cost_vnd",
    "cumulative_poor_households_served",
)
NEXT_COLUMNS = (
    *PROJECT_FIELDS,
    "added_cost_vnd",
    "added_poor_households_served",
    "added_people_reached",
    "poor_households_per_billion_vnd",
)


@dataclass
class PlanResult:
    """The chosen projects, the totals and the next best unfunded projects."""

    chosen: pd.DataFrame
    totals: dict[str, Any]
    next_best: pd.DataFrame
    projects: dict[str, Project]


TIE_BREAK = 1e-7  # poor households per billion đồng and per project: breaks ties towards cheap, small plans


def _solver(name: str, time_limit: float) -> Any:
    import pulp

    if name == "highs" and pulp.HiGHS(msg=False).available():
        return pulp.HiGHS(msg=False, timeLimit=time_limit, gapRel=1e-9)
    return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, gapRel=1e-9)


def optimise(cand: Candidates, options: PlanOptions, exclude: Sequence[str] = ()) -> tuple[list[str], str, str]:
    """Project ids of the best portfolio, the solver status and the solver name.

    The objective is the poor households served, less TIE_BREAK households per billion đồng spent and
    per project: among portfolios serving the same households the cheapest and smallest wins, and no
    portfolio gives up more than TIE_BREAK x (total candidate cost in billions + projects) households,
    under 0.001 in the demo, to save money. (A second, exact cost-minimising solve took 20 s at tight
    budgets for no difference a planner can see.)"""
    import pulp

    m = cand.compile()
    n_comp, n_proj = len(m["comp_ids"]), len(m["proj_ids"])
    costs = m["cost"] / 1e9  # billions of VND keep the coefficients well scaled
    budget = options.budget / 1e9
    prob = pulp.LpProblem("investment_plan", pulp.LpMaximize)
    z = [prob.add_variable(f"z{i}", cat="Binary") for i in range(n_comp)]
    x = [prob.add_variable(f"x{i}", cat="Binary") for i in range(n_proj)]
    met = [
        prob.add_variable(f"m{i}", lowBound=0, upBound=0 if m["impossible"][i] else 1) for i in range(len(cand.needs))
    ]
    served = pulp.lpSum(float(w) * v for w, v in zip(m["weight"], met, strict=True) if w > 0)
    p_csr, p_csc = m["P"].tocsr(), m["P"].tocsc()
    for i in range(n_proj):
        for j in p_csr.indices[p_csr.indptr[i] : p_csr.indptr[i + 1]]:
            prob += x[i] <= z[j]
    for j in range(n_comp):
        owners = p_csc.indices[p_csc.indptr[j] : p_csc.indptr[j + 1]]
        prob += z[j] <= pulp.lpSum(x[i] for i in owners)
    c_csr, n_csr = m["C"].tocsr(), m["N"].tocsr()
    clause_sum = [
        pulp.lpSum(z[j] for j in c_csr.indices[c_csr.indptr[k] : c_csr.indptr[k + 1]])
        for k in range(len(m["clause_ids"]))
    ]
    for i in range(len(cand.needs)):
        for k in n_csr.indices[n_csr.indptr[i] : n_csr.indptr[i + 1]]:
            prob += met[i] <= clause_sum[k]
    spend = pulp.lpSum(float(c) * zj for c, zj in zip(costs, z, strict=True))
    prob += served - TIE_BREAK * (spend + pulp.lpSum(x))
    prob += spend <= budget, "budget"
    if options.min_region_iii_share:
        region = pulp.lpSum(float(c) * zj for c, zj, r in zip(costs, z, m["region_iii"], strict=True) if r)
        prob += region >= options.min_region_iii_share * spend, "region_iii_share"
    if options.max_projects_per_unit:
        by_unit: dict[str, list[int]] = {}
        for i, pid in enumerate(m["proj_ids"]):
            by_unit.setdefault(cand.projects[pid].unit_2025_code, []).append(i)
        for unit, members in by_unit.items():
            prob += pulp.lpSum(x[i] for i in members) <= options.max_projects_per_unit, f"unit_{unit}"
    for pid in exclude:
        prob += x[m["proj_index"][pid]] == 0
    solver = _solver(options.solver, options.time_limit)
    status = pulp.LpStatus[prob.solve(solver)]
    if status not in ("Optimal",):
        if status == "Infeasible":
            raise PlanError("no portfolio meets the constraints (check the budget and the region III share)")
        if pulp.value(served) is None:
            raise PlanError(f"the solver stopped without a portfolio (status {status})")
    chosen = [pid for pid, var in zip(m["proj_ids"], x, strict=True) if (var.value() or 0) > 0.5]
    return chosen, status, type(solver).__name__


def plan(cand: Candidates, options: PlanOptions, unit_names: dict[str, str] | None = None) -> PlanResult:
    """Solve, attribute cost and households to each chosen project, and list the next best unfunded ones."""
    started = time.perf_counter()
    chosen, status, solver = optimise(cand, options)
    seconds = time.perf_counter() - started
    alone = {pid: cand.evaluate([pid]) for pid in chosen}
    # attribution: projects in order of stand-alone value for money; each gets what it adds to those before it
    order = sorted(chosen, key=lambda p: (-alone[p].poor_households_served / max(alone[p].cost, 1.0), p))
    rows = []
    before = cand.evaluate([])
    done: list[str] = []
    for pid in order:
        after = cand.evaluate([*done, pid])
        p = cand.projects[pid]
        rows.append(
            _project_row(p, cand.components)
            | {
                "unit_2025_name": (unit_names or {}).get(p.unit_2025_code, ""),
                "cost_vnd": round(after.cost - before.cost),
                "standalone_cost_vnd": round(alone[pid].cost),
                "poor_households_served": round(after.poor_households_served - before.poor_households_served, 1),
                "people_reached": round(after.people_reached - before.people_reached),
                "cumulative_cost_vnd": round(after.cost),
                "cumulative_poor_households_served": round(after.poor_households_served, 1),
            }
        )
        done.append(pid)
        before = after
    total = cand.evaluate(chosen)
    region_cost = sum(
        cand.components[c].cost
        for c, b in zip(cand.compile()["comp_ids"], cand.built(chosen), strict=True)
        if b and cand.components[c].region_iii
    )
    everything = cand.evaluate(list(cand.projects))
    totals: dict[str, Any] = {
        "budget_vnd": options.budget,
        "cost_vnd": round(total.cost),
        "projects": len(chosen),
        "poor_households_served": round(total.poor_households_served, 1),
        "poor_households_reached": round(total.poor_households_reached),
        "people_reached": round(total.people_reached),
        "needs_met": total.needs_met,
        "needs_total": len(cand.needs),
        "region_iii_cost_share": round(region_cost / total.cost, 4) if total.cost else 0.0,
        "poor_households_served_if_all_funded": round(everything.poor_households_served, 1),
        "cost_to_fund_all_vnd": round(everything.cost),
        "candidates": len(cand.projects),
        "min_region_iii_share": options.min_region_iii_share,
        "max_projects_per_unit": options.max_projects_per_unit,
        "solver": solver,
        "status": status,
        "seconds": round(seconds, 2),
    }
    chosen_table = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(CHOSEN_COLUMNS))
    return PlanResult(chosen_table, totals, next_best(cand, chosen, options.next_best, unit_names), cand.projects)


def next_best(
    cand: Candidates,
    chosen: Sequence[str],
    n: int,
    unit_names: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The unfunded projects that would add the most poor households per đồng on top of the chosen ones."""
    base = cand.evaluate(chosen)
    taken = set(chosen)
    rows = []
    for pid, p in cand.projects.items():
        if pid in taken:
            continue
        ev = cand.evaluate([*chosen, pid])
        gain = ev.poor_households_served - base.poor_households_served
        extra = ev.cost - base.cost
        if gain <= 0:
            continue
        rows.append(
            _project_row(p, cand.components)
            | {
                "unit_2025_name": (unit_names or {}).get(p.unit_2025_code, ""),
                "added_cost_vnd": round(extra),
                "added_poor_households_served": round(gain, 1),
                "added_people_reached": round(ev.people_reached - base.people_reached),
                "poor_households_per_billion_vnd": round(gain / max(extra / 1e9, 1e-9), 2),
            }
        )
    out = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(NEXT_COLUMNS))
    if out.empty:
        return out
    out = out.sort_values(
        ["poor_households_per_billion_vnd", "added_poor_households_served", "project_id"],
        ascending=[False, False, True],
    )
    return out.head(n).reset_index(drop=True)


def plan_layers(result: PlanResult) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The chosen projects as points (every kind) and the chosen road upgrades as lines."""
    chosen = result.chosen
    points = gpd.GeoDataFrame(
        chosen.copy(),
        geometry=[result.projects[p].point for p in chosen["project_id"]] if len(chosen) else [],
        crs="EPSG:4326",
    )
    roads = chosen[chosen["project_id"].map(lambda p: result.projects[p].line is not None)] if len(chosen) else chosen
    lines = gpd.GeoDataFrame(
        roads.copy(),
        geometry=[result.projects[p].line for p in roads["project_id"]] if len(roads) else [],
        crs="EPSG:4326",
    )
    return points, lines
