"""Priority and plan runs on a built warehouse: inputs taken once per warehouse build, results written atomically."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from geo.analysis_layers import (
    Criteria,
    PriorityLayers,
    criteria_tables,
    plan_inputs,
    plan_tables,
    priority_layers,
    unit_names,
)
from geo.atomic import atomic_write
from geo.plan import Candidates, Costs, PlanOptions, PlanResult, add_imported, network_candidates, plan
from geo.priority import Profile
from layers.errors import LayerMissing
from layers.lru import LRU
from layers.store import Build, Warehouse

CANDIDATE_SETS = 4  # network candidate sets kept per warehouse (one per unit-cost set asked for)
INPUT_LAYERS = (
    "demo_villages",
    "roads",
    "health_stations",
    "schools",
    "markets",
    "indicators_units_2025",
    "deprivations_units_2025",
    "classification_2026_2030",
    "indicators_communes_2024",
    "communes_2024",
    "units_2025",
    "commune_indicators",
)


def read_inputs(build: Build) -> dict[str, pd.DataFrame]:
    """The layers the priority index and the plan are computed from (shared with the build's other readers)."""
    missing = [n for n in INPUT_LAYERS if n not in build.names]
    if missing:
        raise LayerMissing(f"the warehouse lacks layer(s) {', '.join(missing)}: rebuild it with `atlas build`")
    return {name: build.frame(name) for name in INPUT_LAYERS}


@dataclass
class Analysis:
    """Inputs of one warehouse build, with the criteria tables and default candidates computed once."""

    layers: dict[str, pd.DataFrame]
    _criteria: Criteria | None = None
    # network candidates per unit-cost set: requests may send any costs, so only the last few are kept (~1 MB each)
    _candidates: LRU[Candidates] = field(default_factory=lambda: LRU(2**62, lambda _: 0, max_entries=CANDIDATE_SETS))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def criteria(self) -> Criteria:
        """Criteria tables of units and villages (travel times included)."""
        with self._lock:
            if self._criteria is None:
                self._criteria = criteria_tables(self.layers)
            return self._criteria

    def rank(self, profile: Profile, draws: int = 500) -> PriorityLayers:
        """The priority layers for a profile."""
        return priority_layers(self.criteria, profile, draws=draws)

    def candidates(self, costs: Costs, imported: list[tuple[gpd.GeoDataFrame, str]] | None = None) -> Candidates:
        """Network candidates for these costs (kept), plus imported ones (computed afresh)."""
        if imported:
            inputs = plan_inputs(self.layers)
            cand = network_candidates(inputs, costs)
            for frame, source in imported:
                add_imported(cand, inputs, costs, frame, source)
            return cand
        key = costs.model_dump_json()
        with self._lock:
            return self._candidates.get_or_make(key, lambda: network_candidates(plan_inputs(self.layers), costs))

    def plan(
        self, costs: Costs, options: PlanOptions, imported: list[tuple[gpd.GeoDataFrame, str]] | None = None
    ) -> PlanResult:
        """The optimal portfolio."""
        return plan(self.candidates(costs, imported), options, unit_names(self.layers))

    def plan_layers(self, result: PlanResult, costs: Costs) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
        """The plan as a point layer and a road-line layer."""
        return plan_tables(result, self.criteria.synthetic, costs)


def analysis_for(warehouse: Warehouse) -> Analysis:
    """The analysis of the warehouse's current build (inputs taken, criteria computed, once per build)."""
    return warehouse.derived(Analysis, lambda build: Analysis(read_inputs(build)))


def write_outputs(folder: Path, name: str, layers: dict[str, pd.DataFrame]) -> list[Path]:
    """Write the layers to folder/name.gpkg (atomically) and one CSV per layer (geometry as lon/lat or WKT)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.gpkg"
    written = [target]
    with atomic_write(target) as tmp:
        for layer, frame in layers.items():
            multi = isinstance(frame, gpd.GeoDataFrame) and frame.geom_type.str.startswith("Multi").any()
            pyogrio.write_dataframe(frame, tmp, layer=layer, driver="GPKG", promote_to_multi=bool(multi))
    for layer, frame in layers.items():
        csv = folder / f"{layer}.csv"
        table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
        if isinstance(frame, gpd.GeoDataFrame) and len(frame):
            if (frame.geom_type == "Point").all():
                table["lon"], table["lat"] = frame.geometry.x.round(6), frame.geometry.y.round(6)
            else:
                table["wkt"] = frame.geometry.to_wkt(rounding_precision=6)
        with atomic_write(csv) as tmp:
            table.to_csv(tmp, index=False, encoding="utf-8-sig")  # BOM: Excel opens Vietnamese text correctly
        written.append(csv)
    return written
