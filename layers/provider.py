"""The pygeoapi feature provider: a thin adapter over the shared read-side Warehouse (layers/store.py).

pygeoapi instantiates a provider per request from its configuration; the provider finds the one Warehouse
of the configured file (`Warehouse.open`) and takes its layer from the current build, held in memory with
JSON-ready properties and geometries, so a query costs a mask and a slice. Filtering: bbox (in the storage
CRS, EPSG:4326), datetime on yearly layers (the `year` field), property equality, free text `q`
(accent-insensitive, so "chieng" finds "Chiềng"), CQL2 text and JSON (pygeofilter, evaluated on the
GeoDataFrame), `sortby`, `properties`, `skipGeometry`, and output CRS (pygeoapi's crs_transform).
"""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import geopandas as gpd
import numpy as np
import shapely
from pygeoapi.provider.base import (
    BaseProvider,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
    ProviderQueryError,
)
from pygeoapi.util import crs_transform

from geo.names import fold_ascii
from layers.errors import BuildReplaced
from layers.publish import error_detail
from layers.store import open_store

if TYPE_CHECKING:
    from layers.postgis import PostgisBuild

# When set (by the OGC routes, for GeoJSON output in the storage CRS), features carry a short token in place
# of their geometry and the finished document gets the pre-serialised geometries spliced in: serialising
# thousands of coordinates once per build instead of once per request. The list holds the layers the tokens
# point into (and keeps them alive until the document is finished, even if their build is replaced meanwhile).
RAW_GEOMETRY: ContextVar[list[GeometryText] | None] = ContextVar("RAW_GEOMETRY", default=None)
_TOKEN = re.compile(r'"@@atlas-geometry:(\d+):(\d+)@@"')


class GeometryText(Protocol):
    """GeoJSON text of a set of geometries, by position (a loaded layer's, or one page of a database query's)."""

    def geometry_json(self) -> list[str]:
        """Each geometry as GeoJSON text."""
        ...


@dataclass
class PageGeometries:
    """The GeoJSON text of the geometries of one page of features, as the database wrote it."""

    texts: list[str]

    def geometry_json(self) -> list[str]:
        """Each geometry as GeoJSON text."""
        return self.texts


def splice_geometries(document: str, layers: list[GeometryText]) -> str:
    """Replace the geometry tokens in a serialised document by the GeoJSON of the layers' geometries."""

    def geometry(match: re.Match[str]) -> str:
        return layers[int(match.group(1))].geometry_json()[int(match.group(2))]

    return _TOKEN.sub(geometry, document)


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


def _equality(fields: dict[str, dict[str, str]], properties: list[tuple[str, str]]) -> tuple[tuple[str, Any], ...]:
    """Property equality filters with their values typed as the fields are (numbers as floats, booleans)."""
    typed: list[tuple[str, Any]] = []
    for name, value in properties:
        kind = fields[name]["type"] if name in fields else None
        if kind is None:
            raise ProviderInvalidQueryError(f"no field {name!r}")
        try:
            if kind in ("integer", "number"):
                typed.append((name, float(value)))
            elif kind == "boolean":
                typed.append((name, value.lower() in ("true", "1")))
            else:
                typed.append((name, value))
        except ValueError:
            raise ProviderInvalidQueryError(f"{name}={value!r}: not a {kind}") from None
    return tuple(typed)


class AtlasProvider(BaseProvider):
    """pygeoapi provider for one layer of the atlas warehouse (options.layer names the layer)."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.layer_name = (self.options or {}).get("layer") or provider_def.get("table") or self.name
        self.layer = open_store(self.data).layer(self.layer_name)
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
        for name, value in _equality(layer.fields, properties):
            column = frame[name]
            kind = layer.fields[name]["type"]
            if kind in ("integer", "number"):
                mask &= (column.astype("float64") == value).to_numpy()
            elif kind == "boolean":
                mask &= (column.astype(bool) == value).to_numpy()
            else:
                mask &= (column.astype(str) == value).to_numpy()
        if q:
            terms = fold_ascii(q).split()
            for term in terms:
                mask &= layer.text.str.contains(term, regex=False).to_numpy()
        if filterq is not None:
            from pygeofilter.backends.geopandas.evaluate import to_filter

            from layers.cql import TEXT_FUNCTIONS, FilterError, prepare

            try:
                selected = to_filter(frame, prepare(filterq), {k: k for k in frame.columns}, TEXT_FUNCTIONS)
            except FilterError as exc:
                raise ProviderInvalidQueryError(str(exc)) from exc
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
        slot = self._slot()
        features = [self._feature(int(i), select_properties, skip_geometry, slot) for i in page]
        return {
            "type": "FeatureCollection",
            "features": features,
            "numberMatched": matched,
            "numberReturned": len(features),
        }

    def _slot(self) -> int | None:
        """This layer's place in the request's list of layers whose geometries are spliced in, or None."""
        layers = RAW_GEOMETRY.get()
        if layers is None:
            return None
        for n, layer in enumerate(layers):
            if layer is self.layer:
                return n
        layers.append(self.layer)
        return len(layers) - 1

    def _feature(self, i: int, select: list[str] | None, skip_geometry: bool, slot: int | None) -> dict[str, Any]:
        props = self.layer.properties[i]
        if select:
            props = {k: props[k] for k in select if k in props}
        geometry: Any = None if skip_geometry else self.layer.geometries[i]
        if geometry is not None and slot is not None:
            geometry = f"@@atlas-geometry:{slot}:{i}@@"
        return {"type": "Feature", "id": self.layer.ids[i], "properties": dict(props), "geometry": geometry}

    @crs_transform
    def get(self, identifier: Any, **kwargs: Any) -> dict[str, Any]:
        """One feature by id."""
        position = self.layer.position.get(str(identifier))
        if position is None:
            raise ProviderItemNotFoundError(f"no feature {identifier!r} in {self.layer_name}")
        return self._feature(position, None, False, self._slot())


class PostgisProvider(BaseProvider):
    """pygeoapi provider for one layer of the current publish in PostGIS: every query answered by the database."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.layer_name = (self.options or {}).get("layer") or provider_def.get("table") or self.name
        self.build = self._current()
        self._fields = {k: {"type": v} for k, v in self.build.types(self.layer_name).items()}

    def _current(self) -> PostgisBuild:
        from layers.postgis import PostgisBuild

        build = open_store(self.data).build()
        assert isinstance(build, PostgisBuild)
        return build

    def get_fields(self) -> dict[str, dict[str, str]]:
        """Field names and JSON types."""
        return self._fields

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
        from layers.cql import FilterError, prepare
        from layers.postgis import FeatureQuery

        build = self.build
        if bbox and not build.spatial(self.layer_name):
            raise ProviderInvalidQueryError("bbox on a collection without geometry")
        if datetime_ and "year" not in self._fields:
            raise ProviderInvalidQueryError("datetime on a collection without years")
        for s in sortby or []:
            if s["property"] not in self._fields:
                raise ProviderQueryError(f"cannot sort by {s['property']!r}")
        try:
            filterq = prepare(filterq) if filterq is not None else None
        except FilterError as exc:
            raise ProviderInvalidQueryError(str(exc)) from exc
        query = FeatureQuery(
            offset=offset,
            limit=limit,
            hits_only=resulttype == "hits",
            bbox=(bbox[0], bbox[1], bbox[-2], bbox[-1]) if bbox else None,
            years=_year_range(datetime_) if datetime_ else None,
            equal=_equality(self._fields, properties or []),
            terms=tuple(fold_ascii(q).split()) if q else (),
            filterq=filterq,
            sortby=tuple((s["property"], s["order"] != "-") for s in sortby or []),
            select=tuple(select_properties) if select_properties else None,
            skip_geometry=skip_geometry,
        )
        try:
            try:
                matched, rows = build.query(self.layer_name, query)
            except BuildReplaced:  # its schema was dropped after newer publishes: ask the current one
                self.build = build = self._current()
                matched, rows = build.query(self.layer_name, query)
        except FilterError as exc:
            raise ProviderInvalidQueryError(str(exc)) from exc
        except self._database_errors() as exc:
            raise ProviderInvalidQueryError(f"filter cannot be applied: {error_detail(exc)}") from exc
        slot = self._slot([r.geometry for r in rows])
        features = [self._feature(n, row, slot) for n, row in enumerate(rows)]
        return {
            "type": "FeatureCollection",
            "features": features,
            "numberMatched": matched,
            "numberReturned": len(features),
        }

    @staticmethod
    def _database_errors() -> tuple[type[Exception], ...]:
        """Errors of a query the database refuses for its values (a text compared with a number, say)."""
        import psycopg

        return (psycopg.errors.DataError, psycopg.errors.UndefinedFunction, psycopg.errors.InternalError_)

    @staticmethod
    def _slot(texts: list[str | None]) -> int | None:
        """Where the page's geometry texts sit among the request's spliced geometries, or None (parse them)."""
        layers = RAW_GEOMETRY.get()
        if layers is None:
            return None
        layers.append(PageGeometries([t or "null" for t in texts]))
        return len(layers) - 1

    @staticmethod
    def _feature(n: int, row: Any, slot: int | None) -> dict[str, Any]:
        geometry: Any = None
        if row.geometry is not None:
            geometry = f"@@atlas-geometry:{slot}:{n}@@" if slot is not None else json.loads(row.geometry)
        return {"type": "Feature", "id": row.id, "properties": dict(row.properties), "geometry": geometry}

    @crs_transform
    def get(self, identifier: Any, **kwargs: Any) -> dict[str, Any]:
        """One feature by id."""
        try:
            row = self.build.get(self.layer_name, str(identifier))
        except BuildReplaced:
            self.build = self._current()
            row = self.build.get(self.layer_name, str(identifier))
        if row is None:
            raise ProviderItemNotFoundError(f"no feature {identifier!r} in {self.layer_name}")
        return self._feature(0, row, self._slot([row.geometry]))
