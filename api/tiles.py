"""OGC API - Tiles (vector) under /ogc, XYZ raster tiles under /tiles, TileJSON and MapLibre styles.

`TileFactory` wires the routes over one Tiler (as titiler's TilerFactory does over a reader); what the
routes answer is made elsewhere: tiles by layers.tiles, styles by layers.styles.

Vector tiles follow OGC API - Tiles: /ogc/collections/{id}/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/
{tileCol}, that is z/y/x. Raster tiles follow the XYZ convention: /tiles/{layer}/{z}/{x}/{y}.png.
A tile with nothing in it (outside the province, or between features) is answered 204 No Content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from layers.catalog import CATALOG, LayerSpec
from layers.qgis_styles import qml, sld
from layers.styles import maplibre_style
from layers.tiles import MAX_ZOOM, MIN_ZOOM, RASTER_LAYERS, TMS, TileError, Tiler, tilejson_fields

MVT = "application/vnd.mapbox-vector-tile"
STYLE_FORMATS = {  # f: (media type, title)
    "mapbox": ("application/vnd.mapbox.style+json", "MapLibre style"),
    "qml": ("application/vnd.qgis.qml", "QGIS style (QML)"),
    "sld": ("application/vnd.ogc.sld+xml;version=1.1", "OGC SLD 1.1 / Symbology Encoding"),
}
TILE_CACHE_CONTROL = "public, no-cache"  # always revalidate: a 304 costs nothing, a stale tile misleads


def _tile_response(data: bytes, media_type: str) -> Response:
    if not data:
        return Response(status_code=204, headers={"Cache-Control": TILE_CACHE_CONTROL})
    return Response(data, media_type=media_type, headers={"Cache-Control": TILE_CACHE_CONTROL})


@dataclass
class TileFactory:
    """Routes of one Tiler's tiles: tile matrix sets, OGC tilesets, TileJSON, MapLibre styles, MVT and PNG tiles."""

    tiler: Tiler
    base_url: str
    attribution: dict[str, str] = field(default_factory=dict)  # layer id → attribution text
    router: APIRouter = field(default_factory=APIRouter)

    def __post_init__(self) -> None:
        self.specs: dict[str, LayerSpec] = {s.id: s for s in CATALOG if s.is_spatial}
        self.register_routes()

    @property
    def ogc(self) -> str:
        """Base URL of the OGC API."""
        return f"{self.base_url}/ogc"

    def template(self, layer_id: str) -> str:
        """The vector tile URL template of a collection."""
        return f"{self.ogc}/collections/{layer_id}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}"

    def known(self, layer_id: str) -> None:
        """TileError (404) unless the collection has tiles."""
        if layer_id not in self.specs:
            raise TileError(f"collection {layer_id!r} has no tiles")

    def register_routes(self) -> None:
        """Add every group of routes to the router, in order."""
        self.tile_matrix_sets()
        self.tilesets()
        self.tilejson()
        self.styles()
        self.vector_tiles()
        self.raster_tiles()

    def tile_matrix_sets(self) -> None:
        """The tile matrix sets tiles are offered in (WebMercatorQuad, from morecantile)."""

        @self.router.get("/ogc/tileMatrixSets", summary="Tile matrix sets")
        def matrix_sets() -> dict[str, Any]:
            """The tile matrix sets tiles are offered in."""
            return {
                "tileMatrixSets": [
                    {
                        "id": "WebMercatorQuad",
                        "title": "Google Maps Compatible for the World",
                        "uri": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
                        "links": [
                            {
                                "rel": "self",
                                "href": f"{self.ogc}/tileMatrixSets/WebMercatorQuad",
                                "type": "application/json",
                            }
                        ],
                    }
                ]
            }

        @self.router.get("/ogc/tileMatrixSets/WebMercatorQuad", summary="WebMercatorQuad")
        def matrix_set() -> Response:
            """The WebMercatorQuad definition (OGC Two Dimensional Tile Matrix Set, from morecantile)."""
            return Response(TMS.model_dump_json(exclude_none=True), media_type="application/json")

    def tilesets(self) -> None:
        """OGC tilesets of the collections and their metadata."""

        @self.router.get("/ogc/collections/{layer_id}/tiles", summary="Tilesets of a collection")
        def tilesets(layer_id: str) -> dict[str, Any]:
            """The vector tileset of a collection."""
            self.known(layer_id)
            return {
                "tilesets": [
                    {
                        "title": self.specs[layer_id].title_vi,
                        "dataType": "vector",
                        "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
                        "tileMatrixSetURI": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
                        "links": [
                            {
                                "rel": "self",
                                "href": f"{self.ogc}/collections/{layer_id}/tiles/WebMercatorQuad",
                                "type": "application/json",
                            },
                            {"rel": "item", "href": self.template(layer_id), "templated": True, "type": MVT},
                        ],
                    }
                ]
            }

        @self.router.get("/ogc/collections/{layer_id}/tiles/WebMercatorQuad", summary="Tileset metadata")
        def tileset(layer_id: str) -> dict[str, Any]:
            """OGC tileset metadata of a collection's vector tiles."""
            self.known(layer_id)
            fields = self.tiler.tile_fields(layer_id)
            return {
                "title": self.specs[layer_id].title_en,
                "dataType": "vector",
                "tileMatrixSetURI": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
                "tileMatrixSetLimits": [{"tileMatrix": str(z)} for z in range(MIN_ZOOM, MAX_ZOOM + 1)],
                "layers": [
                    {
                        "id": layer_id,
                        "dataType": "vector",
                        "propertiesSchema": {
                            "type": "object",
                            "properties": {k: {"type": v} for k, v in fields.items()},
                        },
                    }
                ],
                "links": [
                    {"rel": "item", "href": self.template(layer_id), "templated": True, "type": MVT},
                    {
                        "rel": "describedby",
                        "href": f"{self.ogc}/collections/{layer_id}/tiles/WebMercatorQuad/tilejson",
                        "type": "application/json",
                        "title": "TileJSON",
                    },
                    {
                        "rel": "stylesheet",
                        "href": f"{self.ogc}/collections/{layer_id}/styles/default",
                        "type": "application/vnd.mapbox.style+json",
                        "title": "MapLibre style",
                    },
                ],
            }

    def tilejson(self) -> None:
        """TileJSON of each collection's vector tiles."""

        @self.router.get("/ogc/collections/{layer_id}/tiles/WebMercatorQuad/tilejson", summary="TileJSON")
        def tilejson(layer_id: str) -> dict[str, Any]:
            """TileJSON 3.0 of a collection's vector tiles (for MapLibre and QGIS)."""
            self.known(layer_id)
            fields = self.tiler.tile_fields(layer_id)
            spec = self.specs[layer_id]
            minx, miny, maxx, maxy = self.tiler.bounds()
            note = " · Dữ liệu minh họa (mô phỏng) / synthetic demo data" if spec.synthetic else ""
            return {
                "tilejson": "3.0.0",
                "name": spec.title_vi,
                "description": spec.description_en,
                "tiles": [self.template(layer_id)],
                "minzoom": MIN_ZOOM,
                "maxzoom": MAX_ZOOM,
                "bounds": [minx, miny, maxx, maxy],
                "center": [(minx + maxx) / 2, (miny + maxy) / 2, 8],
                "attribution": self.attribution.get(layer_id, "") + note,
                "vector_layers": [
                    {"id": layer_id, "fields": tilejson_fields(fields), "minzoom": MIN_ZOOM, "maxzoom": MAX_ZOOM}
                ],
            }

    def styles(self) -> None:
        """Each collection's style as MapLibre JSON (layers.styles), QGIS QML and SLD 1.1 (layers.qgis_styles)."""

        @self.router.get("/ogc/collections/{layer_id}/styles", summary="Styles of a collection")
        def styles(layer_id: str) -> dict[str, Any]:
            """The collection's one style, "default", in each of its encodings (OGC API - Styles)."""
            self.known(layer_id)
            href = f"{self.ogc}/collections/{layer_id}/styles/default"
            spec = self.specs[layer_id]
            return {
                "default": "default",
                "styles": [
                    {
                        "id": "default",
                        "title": f"{spec.title_vi} / {spec.title_en}",
                        "links": [
                            {"rel": "stylesheet", "href": f"{href}?f={f}", "type": media, "title": title}
                            for f, (media, title) in STYLE_FORMATS.items()
                        ],
                    }
                ],
                "links": [{"rel": "self", "href": f"{self.ogc}/collections/{layer_id}/styles"}],
            }

        @self.router.get(
            "/ogc/collections/{layer_id}/styles/default",
            summary="A collection's style",
            response_model=None,
            responses={200: {"content": {media: {} for media, _ in STYLE_FORMATS.values()}}},
        )
        def style(layer_id: str, f: Literal["mapbox", "json", "qml", "sld"] = "mapbox") -> dict[str, Any] | Response:
            """MapLibre style (f=mapbox or json, the default), QGIS style (f=qml) or SLD 1.1 (f=sld): the same
            classes and colours as the tiles, web maps and printed sheets."""
            self.known(layer_id)
            spec = self.specs[layer_id]
            if f in ("mapbox", "json"):
                fields = self.tiler.tile_fields(layer_id)
                return maplibre_style(spec, fields, f"{self.ogc}/collections/{layer_id}/tiles/WebMercatorQuad/tilejson")
            every = self.tiler.layer_fields(layer_id)
            body = qml(spec, every) if f == "qml" else sld(spec, every)
            name = f"{layer_id}.{f}"
            return Response(
                body,
                media_type=STYLE_FORMATS[f][0],
                headers={"Content-Disposition": f'inline; filename="{name}"'},
            )

    def vector_tiles(self) -> None:
        """Mapbox vector tiles, z/y/x."""

        @self.router.get(
            "/ogc/collections/{layer_id}/tiles/WebMercatorQuad/{z:int}/{y:int}/{x:int}",  # not whole numbers: 404
            summary="Vector tile",
            response_class=Response,
            responses={200: {"content": {MVT: {}}}, 204: {"description": "empty"}},
        )
        def vector_tile(layer_id: str, z: int, y: int, x: int) -> Response:
            """A Mapbox vector tile (z/y/x, OGC order); 204 when the tile holds nothing."""
            return _tile_response(self.tiler.vector_tile(layer_id, z, x, y), MVT)

    def raster_tiles(self) -> None:
        """The raster layers and their PNG tiles, z/x/y."""

        @self.router.get("/tiles", summary="Raster tile layers")
        def raster_layers(request: Request) -> JSONResponse:
            """Raster layers with their XYZ URL templates (QGIS: XYZ Tiles connection)."""
            return JSONResponse(
                {
                    "layers": [
                        {
                            "id": r.id,
                            "title_vi": r.title_vi,
                            "title_en": r.title_en,
                            "synthetic": r.synthetic,
                            "template": f"{self.base_url}/tiles/{r.id}/{{z}}/{{x}}/{{y}}.png",
                            "legend": {"labels": r.scale.labels(), "colours": list(r.scale.colours)}
                            if r.scale
                            else None,
                        }
                        for r in RASTER_LAYERS
                    ]
                }
            )

        @self.router.get(
            "/tiles/{layer_id}/{z:int}/{x:int}/{y:int}.png",
            summary="Raster tile",
            response_class=Response,
            responses={200: {"content": {"image/png": {}}}, 204: {"description": "empty"}},
        )
        def raster_tile(layer_id: str, z: int, x: int, y: int) -> Response:
            """A PNG tile (z/x/y, XYZ order); 204 when the tile holds nothing."""
            return _tile_response(self.tiler.raster_tile(layer_id, z, x, y), "image/png")


def tile_routes(tiler: Tiler, base_url: str, attribution: dict[str, str]) -> APIRouter:
    """Routes for vector and raster tiles of one warehouse."""
    return TileFactory(tiler, base_url, attribution).router
