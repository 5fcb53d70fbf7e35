"""The WorldPop population grid as cell-centre points with counts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
import shapely
from rasterio.errors import RasterioIOError
from shapely.geometry.base import BaseGeometry

from geo.errors import InputDataError


@dataclass(frozen=True)
class PopulationGrid:
    """Cell centres (lon, lat) and population counts of a population raster; nodata counted as 0."""

    x: np.ndarray
    y: np.ndarray
    count: np.ndarray

    @classmethod
    def read(cls, path: Path) -> PopulationGrid:
        """Read a single-band population raster in EPSG:4326."""
        try:
            with rasterio.open(path) as src:
                if src.crs is None or src.crs.to_epsg() != 4326:
                    raise InputDataError(path, f"population raster must be in EPSG:4326, found {src.crs}")
                band = src.read(1, masked=True).astype("float64")
                rows, cols = np.indices(band.shape)
                xs, ys = rasterio.transform.xy(src.transform, rows.ravel(), cols.ravel())
        except RasterioIOError as exc:
            raise InputDataError(path, f"cannot be read as a raster: {exc}") from exc
        values = band.filled(0.0).ravel()
        if np.any(values < 0):
            raise InputDataError(path, "population raster holds negative counts outside nodata")
        keep = values > 0
        return cls(np.asarray(xs)[keep], np.asarray(ys)[keep], values[keep])

    def inside(self, region: BaseGeometry) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres inside a region, as an (n, 2) array, and their counts."""
        mask = shapely.contains_xy(region, self.x, self.y)
        return np.column_stack([self.x[mask], self.y[mask]]), self.count[mask]
