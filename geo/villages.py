"""Villages: GeoNames populated places placed in their 2024 commune, 2025 unit and former district."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from geo.harmonise import METRIC_CRS

MAX_OUTSIDE_M = 2000.0  # places this close outside the province are given to the nearest commune


def assign_villages(places: gpd.GeoDataFrame, communes_2024: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Each place with its commune (point in polygon), 2025 unit and district; also the places left out."""
    cols = ["code", "name", "unit_2025_code", "unit_2025_name", "district_code", "district_name", "geometry"]
    communes = communes_2024[cols]
    hits = gpd.sjoin(places, communes, how="left", predicate="intersects")
    hits = hits.sort_values("code", kind="stable")
    n_hits = hits.groupby(level=0).size().where(hits.groupby(level=0)["code"].count() > 0, 0)
    first = hits[~hits.index.duplicated(keep="first")].sort_index()
    first["assignment"] = "inside"
    first.loc[n_hits[n_hits > 1].index, "assignment"] = "on boundary (lowest code)"
    outside = first[first["code"].isna()].index
    dropped = pd.DataFrame(columns=["geonameid", "name", "distance_m"])
    if len(outside):
        pts = places.loc[outside].to_crs(METRIC_CRS)
        near = gpd.sjoin_nearest(pts, communes.to_crs(METRIC_CRS), how="left", distance_col="distance_m")
        near = near[~near.index.duplicated(keep="first")]
        keep = near[near["distance_m"] <= MAX_OUTSIDE_M]
        assigned = ["code", "name_right", "unit_2025_code", "unit_2025_name", "district_code", "district_name"]
        first.loc[keep.index, assigned] = keep[assigned].to_numpy()
        first.loc[keep.index, "assignment"] = [f"nearest commune, {d:.0f} m outside" for d in keep["distance_m"]]
        far = near[near["distance_m"] > MAX_OUTSIDE_M]
        dropped = pd.DataFrame(
            {"geonameid": far["geonameid"], "name": far["name_left"], "distance_m": far["distance_m"].round(0)}
        )
        first = first.drop(index=far.index)
    out = gpd.GeoDataFrame(
        {
            "geonameid": first["geonameid"],
            "name": first["name_left"],
            "name_ascii": first["name_ascii"],
            "alternate_names": first["alternate_names"],
            "feature_code": first["feature_code"],
            "is_ban": first["is_ban"].astype(bool),
            "location_precision": first["location_precision"],
            "commune_2024_code": first["code"],
            "commune_2024_name": first["name_right"],
            "unit_2025_code": first["unit_2025_code"],
            "unit_2025_name": first["unit_2025_name"],
            "district_code": first["district_code"],
            "district_name": first["district_name"],
            "assignment": first["assignment"],
        },
        geometry=first.geometry.values,
        crs=places.crs,
    )
    return out.reset_index(drop=True), dropped.reset_index(drop=True)
