"""A pygeoapi feature provider serving warehouse layers from memory.

Each layer is read from the GeoPackage once per warehouse build and kept as a GeoDataFrame with its
properties and geometries already converted to JSON-ready values, so a query costs a mask and a slice.
Filtering: bbox (in the storage CRS, EPSG:4326), datetime on yearly layers (the `year` field), property
equality, free text `q` (accent-insensitive, so "chieng" finds "Chiềng"), CQL2 text and JSON
(pygeofilter, evaluated on the GeoDataFrame), `sortby`, `properties`, `skipGeometry`, and output CRS
(pygeoapi's crs_transform).
"""

from __future__ import annotations

import json
import math
import re
import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
    ProviderQueryError,
)
from pygeoapi.util import crs_transform

from geo.names import fold_ascii


@dataclass
class LoadedLayer:
    """A layer held in memory with JSON-ready rows."""

    frame: pd.DataFrame
    ids: list[str]
    position: dict[str, int]
    properties: list[dict[str, Any]]
    geometries: list[dict[str, Any] | None]
    fields: dict[str, dict[str, str]]
    text: pd.Series  # folded text of the string columns, for q
    years: np.ndarray | None
    number: int = 0  # registry number, for geometry tokens
    geometry_json: list[str] = field(default_factory=list)  # each geometry serialised once, lazily


# When set (by the OGC routes, for GeoJSON output in the storage CRS), features carry a short token in place
# of their geometry and the finished document gets the pre-serialised geometries spliced in: serialising
# thousands of coordinates once per build instead of once per request.
RAW_GEOMETRY: ContextVar[bool] = ContextVar("RAW_GEOMETRY", default=False)
_TOKEN = re.compile(r'"@@atlas-geometry:(\d+):(\d+)@@"')
_REGISTRY: dict[int, LoadedLayer] = {}


def splice_geometries(document: str) -> str:
    """Replace geometry tokens in a serialised document by the geometries' GeoJSON."""

    def geometry(match: re.Match[str]) -> str:
        return serialised_geometries(_REGISTRY[int(match.group(1))])[int(match.group(2))]

    return _TOKEN.sub(geometry, document)


def serialised_geometries(layer: LoadedLayer) -> list[str]:
    """Each geometry of the layer as GeoJSON text, made once."""
    if not layer.geometry_json:
        with _LOCK:
            if not layer.geometry_json:
                layer.geometry_json = [json.dumps(g, separators=(",", ":")) for g in layer.geometries]
    return layer.geometry_json


_CACHE: dict[tuple[str, str, int], LoadedLayer] = {}
_LOCK = threading.Lock()


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


_TYPES = {
    "int64": "integer",
    "int32": "integer",
    "int16": "integer",
    "float64": "number",
    "float32": "number",
    "bool": "boolean",
}


def load_layer(path: Path, layer: str, id_field: str | None) -> LoadedLayer:
    """The layer, from memory if this file (same path and modification time) was read before."""
    path = Path(path)
    key = (str(path), layer, path.stat().st_mtime_ns)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        frame = pyogrio.read_dataframe(path, layer=layer)
        spatial = isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame
        attrs = frame.drop(columns=frame.geometry.name) if spatial else frame
        ids = [str(v) for v in (attrs[id_field] if id_field else range(1, len(attrs) + 1))]
        records = attrs.astype(object).where(attrs.notna(), None).to_dict("records")
        properties = [{str(k): _json_value(v) for k, v in rec.items()} for rec in records]
        geometries: list[dict[str, Any] | None] = (
            [None if g is None else shapely.geometry.mapping(g) for g in frame.geometry]
            if spatial
            else [None] * len(attrs)
        )
        info = pyogrio.read_info(path, layer=layer)
        declared = dict(zip(info["fields"], info["dtypes"], strict=True))
        fields = {str(c): {"type": _TYPES.get(str(declared.get(c)), "string")} for c in attrs.columns}
        strings = [c for c in attrs.columns if fields[str(c)]["type"] == "string"]
        text = (
            attrs[strings].fillna("").astype(str).agg(" ".join, axis=1).map(fold_ascii)
            if strings
            else pd.Series([""] * len(attrs))
        )
        years = attrs["year"].to_numpy(dtype="int64") if "year" in attrs else None
        loaded = LoadedLayer(
            frame,
            ids,
            {i: n for n, i in enumerate(ids)},
            properties,
            geometries,
            fields,
            text.reset_index(drop=True),
            years,
        )
        for stale in [k for k in _CACHE if k[0] == key[0] and k[1] == layer]:
            _REGISTRY.pop(_CACHE.pop(stale).number, None)
        loaded.number = max(_REGISTRY, default=0) + 1
        _REGISTRY[loaded.number] = loaded
        _CACHE[key] = loaded
        return loaded


_YEAR = re.compile(r"^(\d{4})")


def _year_range(datetime_: str) -> tuple[int, int]:
    """Years covered by an OGC datetime value: an instant or an interval with open ends ('..')."""
    parts = datetime_.split("/")
    if len(parts) == 1:
        m = _YEAR.match(parts[0])
        if not m:
            raise ProviderInvalidQueryError(f"datetime {datetime_!r} is not a date")
        return int(m.group(1)), int(m.group(1))
    lo, hi = parts[0], parts[1]
    low = int(_YEAR.match(lo).group(1)) if _YEAR.match(lo) else -(10**6)  # type: ignore[union-attr]
    high = int(_YEAR.match(hi).group(1)) if _YEAR.match(hi) else 10**6  # type: ignore[union-attr]
    return low, high


class AtlasProvider(BaseProvider):
    """pygeoapi provider for one layer of the atlas warehouse (options.layer names the layer)."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.layer_name = (self.options or {}).get("layer") or provider_def.get("table") or self.name
        self.layer = load_layer(Path(self.data), self.layer_name, self.id_field)
        self._fields = self.layer.fields

    def get_fields(self) -> dict[str, dict[str, str]]:
        """Field names and JSON types."""
        return self.layer.fields

    def _mask(
        self, bbox: list[float], datetime_: str | None, properties: list[tuple[str, str]], q: str | None, filterq: Any
    ) -> np.ndarray:
        layer = self.layer
        n = len(layer.ids)
        mask = np.ones(n, dtype=bool)
        frame = layer.frame
        if bbox:
            if not isinstance(frame, gpd.GeoDataFrame):
                raise ProviderInvalidQueryError("bbox on a collection without geometry")
            minx, miny, maxx, maxy = bbox[0], bbox[1], bbox[-2], bbox[-1]
            mask &= shapely.intersects(frame.geometry.values, shapely.box(minx, miny, maxx, maxy))
        if datetime_:
            if layer.years is None:
                raise ProviderInvalidQueryError("datetime on a collection without years")
            low, high = _year_range(datetime_)
            mask &= (layer.years >= low) & (layer.years <= high)
        for name, value in properties:
            column = frame[name]
            kind = layer.fields[name]["type"]
            try:
                if kind in ("integer", "number"):
                    mask &= (column.astype("float64") == float(value)).to_numpy()
                elif kind == "boolean":
                    mask &= (column.astype(bool) == (value.lower() in ("true", "1"))).to_numpy()
                else:
                    mask &= (column.astype(str) == value).to_numpy()
            except ValueError:
                raise ProviderInvalidQueryError(f"{name}={value!r}: not a {kind}") from None
        if q:
            terms = fold_ascii(q).split()
            for term in terms:
                mask &= layer.text.str.contains(term, regex=False).to_numpy()
        if filterq is not None:
            from pygeofilter.backends.geopandas.evaluate import to_filter

            try:
                selected = to_filter(frame, filterq, {k: k for k in frame.columns}, {})
            except Exception as exc:  # pygeofilter raises plain errors for unknown fields or operators
                raise ProviderInvalidQueryError(f"filter cannot be applied: {exc}") from exc
            mask &= np.asarray(selected, dtype=bool)
        return mask

    @crs_transform
    def query(
        self,
        offset: int = 0,
        limit: int = 10,
        resulttype: str = "results",
        bbox: list[float] | None = None,
        datetime_: str | None = None,
        properties: list[tuple[str, str]] | None = None,
        sortby: list[dict[str, str]] | None = None,
        select_properties: list[str] | None = None,
        skip_geometry: bool = False,
        q: str | None = None,
        filterq: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Features matching the query, with numberMatched and numberReturned."""
        layer = self.layer
        mask = self._mask(bbox or [], datetime_, properties or [], q, filterq)
        index = np.flatnonzero(mask)
        if sortby:
            frame = layer.frame.iloc[index]
            try:
                ordered = frame.sort_values(
                    [s["property"] for s in sortby], ascending=[s["order"] != "-" for s in sortby], kind="stable"
                )
            except KeyError as exc:
                raise ProviderQueryError(f"cannot sort by {exc}") from None
            index = ordered.index.to_numpy()  # the frame has a RangeIndex: labels are positions
        matched = len(index)
        page: np.ndarray = index[:0] if resulttype == "hits" else index[offset : offset + limit]
        features = [self._feature(int(i), select_properties, skip_geometry) for i in page]
        return {
            "type": "FeatureCollection",
            "features": features,
            "numberMatched": matched,
            "numberReturned": len(features),
        }

    def _feature(self, i: int, select: list[str] | None, skip_geometry: bool) -> dict[str, Any]:
        props = self.layer.properties[i]
        if select:
            props = {k: props[k] for k in select if k in props}
        geometry: Any = None if skip_geometry else self.layer.geometries[i]
        if geometry is not None and RAW_GEOMETRY.get():
            geometry = f"@@atlas-geometry:{self.layer.number}:{i}@@"
        return {"type": "Feature", "id": self.layer.ids[i], "properties": dict(props), "geometry": geometry}

    @crs_transform
    def get(self, identifier: Any, **kwargs: Any) -> dict[str, Any]:
        """One feature by id."""
        position = self.layer.position.get(str(identifier))
        if position is None:
            raise ProviderItemNotFoundError(f"no feature {identifier!r} in {self.layer_name}")
        return self._feature(position, None, False)
