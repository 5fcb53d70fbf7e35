"""The generator: runs the stages in order on one seeded random generator and returns the demo dataset."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.demo.communes import commune_figures, commune_table
from geo.demo.geography import geography
from geo.demo.infrastructure import infrastructure
from geo.demo.params import SEED
from geo.demo.roads import district_road
from geo.demo.villages import villages_and_roads
from geo.population import PopulationGrid


@dataclass
class DemoResult:
    """The generated tables and layers, and the notes of how targets were met."""

    communes: pd.DataFrame  # one row per pre-merger commune and year
    villages: gpd.GeoDataFrame  # the 2,303 villages with their attributes
    village_years: pd.DataFrame  # one row per village and year
    layers: dict[str, gpd.GeoDataFrame]  # health_stations, schools, markets, roads, bridges
    notes: list[str] = field(default_factory=list)


def generate_demo(
    communes: gpd.GeoDataFrame,
    places: gpd.GeoDataFrame,
    grid: PopulationGrid,
    targets: dict[str, float],
) -> DemoResult:
    """Generate the demo dataset for the pre-merger communes, calibrated to `targets` (see geo.facts)."""
    rng = np.random.default_rng(SEED)  # one generator, drawn from in stage order: the order is part of the output
    communes = communes.sort_values("code").reset_index(drop=True)
    geo = geography(communes, places, grid, rng)
    figures, notes = commune_figures(communes, geo, targets, rng)
    villages, village_years, roads, village_notes = villages_and_roads(
        communes, geo, places, grid, figures, rng, targets
    )
    notes += village_notes
    road_km, road_unpaved = district_road(communes, geo, roads, villages)
    table = commune_table(communes, figures, villages, road_km, road_unpaved)
    layers = infrastructure(communes, villages, roads, rng)
    layers["roads"] = roads
    return DemoResult(table, villages, village_years, layers, notes)
