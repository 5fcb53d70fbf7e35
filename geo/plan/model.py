"""The covering model of the investment plan: costs, components, projects, needs and their incidence matrices."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import shapely
import yaml
from pydantic import BaseModel, Field, ValidationError
from scipy import sparse

from geo.access import Snap
from geo.errors import GeoError, InputDataError, validation_problem

PAVED = ("nhựa", "bê tông")
EARTH = "đất"
NEED_KINDS = ("road", "all_season", "school", "health", "grid", "water_sanitation", "housing_support", "connectivity")
PROJECT_KINDS = ("road", "bridge", "school", "health_station", "grid")  # the kinds a candidate file may hold
DEPRIVATION_KINDS = ("water_sanitation", "housing_support", "connectivity")  # village projects against deprivation
KIND_LABELS = {
    "road": ("Cứng hóa đường giao thông", "Road upgrade"),
    "bridge": ("Cầu, ngầm tràn", "All-season crossing"),
    "school": ("Điểm trường", "School site"),
    "health_station": ("Điểm y tế", "Health post"),
    "grid": ("Kéo điện lưới", "Grid extension"),
    "water_sanitation": ("Cấp nước sinh hoạt và nhà tiêu hợp vệ sinh", "Water supply and latrines"),
    "housing_support": ("Hỗ trợ nhà ở", "Housing support"),
    "connectivity": ("Kết nối viễn thông", "Telecom connection"),
}
# the need kind a project kind meets, and the need kind of data/profiles/needs.yaml whose deprivations value it
NEED_OF_KIND = {"school": "school", "health_station": "health", **{k: k for k in DEPRIVATION_KINDS}}
DEPRIVATION_OF_NEED = {"school": "school", "health": "health_station", **{k: k for k in DEPRIVATION_KINDS}}


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
    # village projects against deprivation (planning assumptions; see data/profiles/costs.yaml)
    water_sanitation_fixed: float = Field(default=0.8e9, ge=0)
    water_sanitation_per_household: float = Field(default=5e6, ge=0)
    housing_support_per_household: float = Field(default=60e6, ge=0)
    connectivity: float = Field(default=1.2e9, ge=0)
    deprivation_min_share: float = Field(default=0.2, ge=0, le=1)

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
    unit_2025_code: str = ""  # set from the commune by network.Builder.project


@dataclass(frozen=True)
class Need:
    """A village's need, met when each clause holds; worth `households` (the poor households when None)."""

    village_id: str
    kind: str
    clauses: tuple[str, ...]
    poor_households: float
    people: float
    households: float | None = None  # households lacking what the need's kind addresses, where known

    @property
    def value(self) -> float:
        """What meeting the need is worth: the deprived households it addresses, or else its poor households."""
        return self.poor_households if self.households is None else self.households


@dataclass(frozen=True)
class Evaluation:
    """What a set of projects costs and serves."""

    cost: float
    households_served: float  # the objective: deprived households in what each met need addresses (else poor)
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
            "weight": np.array([n.value for n in self.needs]),
            "poor_weight": np.array([n.poor_households for n in self.needs]),
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
            households_served=float(m["weight"][met].sum()),
            poor_households_served=float(m["poor_weight"][met].sum()),
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
                project_row(p, self.components)
                | {
                    "cost_vnd": round(ev.cost),
                    "households_served": round(ev.households_served, 1),
                    "poor_households_served": round(ev.poor_households_served, 1),
                    "people_reached": round(ev.people_reached),
                    "needs_met": ev.needs_met,
                }
            )
        return pd.DataFrame(rows)


def project_row(p: Project, components: dict[str, Component]) -> dict[str, Any]:
    """The descriptive columns of a project in every table of projects (candidates, chosen, next best)."""
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
