"""Lighter features for overview maps: a layer's geometries generalised for a zoom level, shared borders kept shared.

`zoom-level` (a WebMercatorQuad zoom, as ldproxy names the parameter) stands for the tolerance the vector tiles
use at that zoom (layers.tiles.simplify: half a pixel of a 512-pixel tile), in degrees of longitude;
`max-allowable-offset` gives the tolerance in degrees directly. Polygons that form a valid coverage (the units,
communes, districts) are simplified together with shapely.coverage_simplify, so neighbours neither gap nor
overlap; other layers with shapely.simplify, topology preserved. Coordinates are rounded to `precision` decimals
(by default to a tenth of the tolerance). One generalisation per layer and tolerance is kept per build.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely
import shapely.geometry
from pyproj import Transformer

from layers.store import Warehouse
from layers.tiles.simplify import simplify_tolerance

METRES_PER_DEGREE = 111_320.0
MAX_ZOOM_LEVEL = 18


def zoom_tolerance(zoom: int) -> float:
    """The tolerance in degrees of a WebMercatorQuad zoom's vector tiles (Web Mercator x is proportional to
    longitude, so its metres divide by one degree's, whatever the latitude)."""
    return simplify_tolerance(zoom) / METRES_PER_DEGREE


def default_precision(tolerance: float) -> int:
    """Decimals keeping coordinates to a tenth of the tolerance (at least 4, at most 7)."""
    return max(4, min(7, math.ceil(-math.log10(tolerance / 10))))


class Generaliser:
    """Generalised geometries of the warehouse's layers by feature id, computed once per build, tolerance, precision
    and output CRS."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse

    def geometries(
        self, layer: str, key: str, tolerance: float, precision: int | None, crs: str | None = None
    ) -> dict[str, Any]:
        """GeoJSON geometries of a layer's features by their id (`key`), generalised to `tolerance` degrees, in
        `crs` (an EPSG or OGC CRS URI; CRS84 by default; EPSG:4326 in its latitude, longitude order), rounded to
        `precision` decimals (by default a tenth of the tolerance, or decimetres in a projected CRS)."""
        return self.warehouse.derived(
            ("generalised", layer, round(tolerance, 12), precision, crs),
            lambda build: _generalised(build.frame(layer), key, tolerance, precision, crs),
        )


def _generalised(frame: Any, key: str, tolerance: float, precision: int | None, crs: str | None) -> dict[str, Any]:
    geometries = np.asarray(frame.geometry.values, dtype=object)
    polygonal = all(g is not None and g.geom_type in ("Polygon", "MultiPolygon") for g in geometries)
    if tolerance <= 0:
        simplified = geometries
    elif polygonal and bool(shapely.coverage_is_valid(geometries)):
        simplified = shapely.coverage_simplify(geometries, tolerance, simplify_boundary=True)
    else:
        simplified = shapely.simplify(geometries, tolerance, preserve_topology=True)
    empty = shapely.is_empty(simplified)  # a feature generalised to nothing (a sliver) keeps its own geometry
    simplified[empty] = geometries[empty]
    code = int(crs.rsplit("/", 1)[-1]) if crs and "/EPSG/" in crs else None
    projected = code not in (None, 4326)
    if projected:
        transformer = Transformer.from_crs(4326, code, always_xy=True)
        simplified = shapely.transform(
            simplified, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
        )
    decimals = precision if precision is not None else (1 if projected else default_precision(tolerance or 1e-7))
    snapped = shapely.set_precision(simplified, 10.0**-decimals, mode="pointwise")
    if code == 4326:  # EPSG:4326 answers latitude first, as the server does for crs=EPSG:4326
        snapped = shapely.transform(snapped, lambda xy: xy[:, ::-1])
    return {str(k): shapely.geometry.mapping(g) for k, g in zip(frame[key].astype(str), snapped, strict=True)}
