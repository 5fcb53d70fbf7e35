"""Stage 1, geography: population, centre, distances and density of each commune, and its deprivation score."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.alloc import standardise
from geo.demo.params import DISTRICT_EFFECT
from geo.harmonise import METRIC_CRS
from geo.names import match_key, split_unit_type
from geo.population import PopulationGrid


def _district_seats(communes: gpd.GeoDataFrame, places: gpd.GeoDataFrame) -> dict[str, int]:
    """Index of the commune holding each district's seat."""
    urban = communes["unit_type"].isin(["Phường", "Thị trấn"]).to_numpy()
    seats: dict[str, int] = {}
    code_index = {c: i for i, c in enumerate(communes["code"])}
    for district, idx in communes.groupby("district_code").indices.items():
        idx = np.asarray(idx)
        towns = places[(places["district_code"] == district) & places["feature_code"].isin(["PPLA", "PPLA2"])]
        in_urban = [code_index[c] for c in towns["commune_2024_code"] if urban[code_index[c]]]
        if in_urban:
            seats[district] = in_urban[0]
            continue
        town_units = [i for i in idx if communes["unit_type"].iloc[i] == "Thị trấn"]
        if town_units:
            seats[district] = town_units[0]
            continue
        bare = match_key(split_unit_type(communes["district_name"].iloc[idx[0]])[1])
        named = [i for i in idx if match_key(communes["name"].iloc[i]) == bare]
        seats[district] = named[0] if named else int(idx[0])
    return seats


def geography(
    communes: gpd.GeoDataFrame, places: gpd.GeoDataFrame, grid: PopulationGrid, rng: np.random.Generator
) -> pd.DataFrame:
    """Per commune: WorldPop population and centre, distances to its district seat and the capital, deprivation."""
    n = len(communes)
    pop = np.zeros(n)
    centre = np.zeros((n, 2))
    for i, geom in enumerate(communes.geometry):
        xy, w = grid.inside(geom)
        pop[i] = w.sum()
        if w.sum() > 0:
            centre[i] = np.average(xy, axis=0, weights=w)
        else:
            p = geom.representative_point()
            centre[i] = (p.x, p.y)
    if np.any(pop <= 0):
        pop = np.where(pop <= 0, pop[pop > 0].min(), pop)
    metric = gpd.GeoSeries(gpd.points_from_xy(centre[:, 0], centre[:, 1]), crs="EPSG:4326").to_crs(METRIC_CRS)
    mxy = np.column_stack([metric.x, metric.y])
    seats = _district_seats(communes, places)
    capital_rows = places[places["feature_code"] == "PPLA"]
    capital_idx = (
        int(communes.index[communes["code"] == capital_rows["commune_2024_code"].iloc[0]][0])
        if len(capital_rows)
        else int(np.argmax(pop))
    )
    seat_of = np.array([seats[d] for d in communes["district_code"]])
    dist_seat = np.hypot(*(mxy - mxy[seat_of]).T) / 1000
    dist_capital = np.hypot(*(mxy - mxy[capital_idx]).T) / 1000
    area = communes.to_crs(METRIC_CRS).area.to_numpy() / 1e6
    urban = communes["unit_type"].isin(["Phường", "Thị trấn"]).to_numpy()
    effect = communes["district_code"].map(DISTRICT_EFFECT).fillna(0.0).to_numpy()
    deprivation = (
        0.8 * standardise(np.log1p(dist_seat))
        + 0.4 * standardise(np.log1p(dist_capital))
        - 0.5 * standardise(np.log(pop / area))
        - 1.5 * urban
        + effect
        + rng.normal(0, 0.35, n)
    )
    return pd.DataFrame(
        {
            "pop_wp": pop,
            "cx": centre[:, 0],
            "cy": centre[:, 1],
            "mx": mxy[:, 0],
            "my": mxy[:, 1],
            "dist_seat_km": dist_seat,
            "dist_capital_km": dist_capital,
            "area_km2": area,
            "urban": urban,
            "deprivation": standardise(deprivation),
            "is_seat": np.isin(np.arange(n), list(seats.values())),
            "seat_index": seat_of,
        }
    )
