"""Zonal statistics on the population raster and areal interpolation of 2009 census figures."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import InputDataError
from geo.harmonise import METRIC_CRS

AREA_WEIGHTED = "area-weighted areal interpolation (tobler.area_weighted.area_interpolate, EPSG:3405)"
POPULATION_WEIGHTED = "population-weighted areal interpolation (pieces weighted by WorldPop 2020, exactextract)"


def raster_sums(raster: Path, zones: gpd.GeoDataFrame) -> np.ndarray:
    """Sum of a raster over each zone, cells weighted by the fraction the zone covers (exactextract)."""
    from exactextract import exact_extract

    if zones.empty:
        return np.zeros(0)
    try:
        result = exact_extract(str(raster), zones.reset_index(drop=True), ["sum"], output="pandas")
    except Exception as exc:  # exactextract raises plain RuntimeErrors from GDAL
        raise InputDataError(raster, f"zonal statistics failed: {exc}") from exc
    return result["sum"].fillna(0.0).to_numpy(dtype="float64")


def interpolate_extensive(
    source: gpd.GeoDataFrame, target: gpd.GeoDataFrame, column: str, raster: Path | None = None
) -> np.ndarray:
    """An extensive variable (a count) of the source zones carried to the target zones.

    Area-weighted with tobler when `raster` is None; otherwise each source zone's value is split over
    its intersections with the targets in proportion to the raster's sum (population) in each piece.
    """
    src = source[[column, "geometry"]].reset_index(drop=True).to_crs(METRIC_CRS)
    tgt = target[["geometry"]].reset_index(drop=True).to_crs(METRIC_CRS)
    if raster is None:
        from tobler.area_weighted import area_interpolate

        out = area_interpolate(src, tgt, extensive_variables=[column])
        return out[column].to_numpy(dtype="float64")
    src["_src"] = np.arange(len(src))
    tgt["_tgt"] = np.arange(len(tgt))
    pieces = gpd.overlay(src, tgt, how="intersection", keep_geom_type=True)
    weight = raster_sums(raster, pieces.to_crs("EPSG:4326"))
    area = pieces.area.to_numpy()
    frame = pd.DataFrame({"src": pieces["_src"], "tgt": pieces["_tgt"], "w": weight, "a": area})
    totals = frame.groupby("src")[["w", "a"]].transform("sum")
    # a source zone with no population in the raster falls back to its area shares
    share = np.where(totals["w"] > 0, frame["w"] / totals["w"].where(totals["w"] > 0, 1), frame["a"] / totals["a"])
    frame["value"] = share * src[column].to_numpy(dtype="float64")[frame["src"]]
    result = np.zeros(len(tgt))
    np.add.at(result, frame["tgt"].to_numpy(), frame["value"].to_numpy())
    return result
