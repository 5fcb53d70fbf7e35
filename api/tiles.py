"""OGC API - Tiles (vector) under /ogc, XYZ raster tiles under /tiles, TileJSON and MapLibre styles.

Vector tiles follow OGC API - Tiles: /ogc/collections/{id}/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/
{tileCol}, that is z/y/x. Raster tiles follow the XYZ convention: /tiles/{layer}/{z}/{x}/{y}.png.
A tile with nothing in it (outside the province, or between features) is answered 204 No Content.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from layers.catalog import CATALOG
from layers.styles import scale_for
from layers.tiles import MAX_ZOOM, MIN_ZOOM, RASTER_LAYERS, TMS, TileError, Tiler, tilejson_fields

MVT = "application/vnd.mapbox-vector-tile"
TILE_CACHE_CONTROL = "public, no-cache"  # always revalidate: a 304 costs nothing, a stale tile misleads


def _tile_response(data: bytes, media_type: str) -> Response:
    if not data:
        return Response(status_code=204, headers={"Cache-Control": TILE_CACHE_CONTROL})
    return Response(data, media_type=media_type, headers={"Cache-Control": TILE_CACHE_CONTROL})


def tile_routes(tiler: Tiler, base_url: str, attribution: dict[str, str]) -> APIRouter:
    """Routes for vector and raster tiles of one warehouse."""
    router = APIRouter()
    ogc = f"{base_url}/ogc"
    specs = {s.id: s for s in CATALOG if s.is_spatial}

    def template(layer_id: str) -> str:
        return f"{ogc}/collections/{layer_id}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}"

    def known(layer_id: str) -> None:
        if layer_id not in specs:
            raise TileError(f"collection {layer_id!r} has no tiles")

    @router.get("/ogc/tileMatrixSets", summary="Tile matrix sets")
    def matrix_sets() -> dict[str, Any]:
        """The tile matrix sets tiles are offered in."""
        return {
            "tileMatrixSets": [
                {
                    "id": "WebMercatorQuad",
                    "title": "Google Maps Compatible for the World",
                    "uri": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
                    "links": [
                        {"rel": "self", "href": f"{ogc}/tileMatrixSets/WebMercatorQuad", "type": "application/json"}
                    ],
                }
            ]
        }

    @router.get("/ogc/tileMatrixSets/WebMercatorQuad", summary="WebMercatorQuad")
    def matrix_set() -> Response:
        """The WebMercatorQuad definition (OGC Two Dimensional Tile Matrix Set, from morecantile)."""
        return Response(TMS.model_dump_json(exclude_none=True), media_type="application/json")

    @router.get("/ogc/collections/{layer_id}/tiles", summary="Tilesets of a collection")
    def tilesets(layer_id: str) -> dict[str, Any]:
        """The vector tileset of a collection."""
        known(layer_id)
        return {
            "tilesets": [
                {
                    "title": specs[layer_id].title_vi,
                    "dataType": "vector",
                    "crs": "http://www.opengis.net/def/crs/EPSG/0/3857",
                    "tileMatrixSetURI": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
                    "links": [
                        {
                            "rel": "self",
                            "href": f"{ogc}/collections/{layer_id}/tiles/WebMercatorQuad",
                            "type": "application/json",
                        },
                        {"rel": "item", "href": template(layer_id), "templated": True, "type": MVT},
                    ],
                }
            ]
        }

    @router.get("/ogc/collections/{layer_id}/tiles/WebMercatorQuad", summary="Tileset metadata")
    def tileset(layer_id: str) -> dict[str, Any]:
        """OGC tileset metadata of a collection's vector tiles."""
        known(layer_id)
        layer = tiler.vector_layer(layer_id)
        return {
            "title": specs[layer_id].title_en,
            "dataType": "vector",
            "tileMatrixSetURI": "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad",
            "tileMatrixSetLimits": [{"tileMatrix": str(z)} for z in range(MIN_ZOOM, MAX_ZOOM + 1)],
            "layers": [
                {
                    "id": layer_id,
                    "dataType": "vector",
                    "propertiesSchema": {
                        "type": "object",
                        "properties": {k: {"type": v} for k, v in layer.fields.items()},
                    },
                }
            ],
            "links": [
                {"rel": "item", "href": template(layer_id), "templated": True, "type": MVT},
                {
                    "rel": "describedby",
                    "href": f"{ogc}/collections/{layer_id}/tiles/WebMercatorQuad/tilejson",
                    "type": "application/json",
                    "title": "TileJSON",
                },
                {
                    "rel": "stylesheet",
                    "href": f"{ogc}/collections/{layer_id}/styles/default",
                    "type": "application/vnd.mapbox.style+json",
                    "title": "MapLibre style",
                },
            ],
        }

    @router.get("/ogc/collections/{layer_id}/tiles/WebMercatorQuad/tilejson", summary="TileJSON")
    def tilejson(layer_id: str) -> dict[str, Any]:
        """TileJSON 3.0 of a collection's vector tiles (for MapLibre and QGIS)."""
        known(layer_id)
        layer = tiler.vector_layer(layer_id)
        spec = specs[layer_id]
        minx, miny, maxx, maxy = tiler.bounds()
        note = " · Dữ liệu minh họa (mô phỏng) / synthetic demo data" if spec.synthetic else ""
        return {
            "tilejson": "3.0.0",
            "name": spec.title_vi,
            "description": spec.description_en,
            "tiles": [template(layer_id)],
            "minzoom": MIN_ZOOM,
            "maxzoom": MAX_ZOOM,
            "bounds": [minx, miny, maxx, maxy],
            "center": [(minx + maxx) / 2, (miny + maxy) / 2, 8],
            "attribution": attribution.get(layer_id, "") + note,
            "vector_layers": [
                {"id": layer_id, "fields": tilejson_fields(layer), "minzoom": MIN_ZOOM, "maxzoom": MAX_ZOOM}
            ],
        }

    @router.get("/ogc/collections/{layer_id}/styles/default", summary="MapLibre style")
    def style(layer_id: str) -> dict[str, Any]:
        """A MapLibre style: a priority-tier or poverty-rate choropleth where the layer has one, else plain symbols."""
        known(layer_id)
        layer = tiler.vector_layer(layer_id)
        spec = specs[layer_id]
        source = {"type": "vector", "url": f"{ogc}/collections/{layer_id}/tiles/WebMercatorQuad/tilejson"}
        # no "background" layer: QGIS 3.22 turns it into a style for every source layer, after which the
        # filters of the other styles no longer see their attributes
        layers: list[dict[str, Any]] = []
        scale = scale_for(layer.fields)
        if spec.geometry_type in ("MultiPolygon", "Polygon"):
            if scale is not None:
                layers += scale.maplibre_fill_layers("atlas", layer_id)
            else:
                layers.append(
                    {
                        "id": f"{layer_id}-fill",
                        "type": "fill",
                        "source": "atlas",
                        "source-layer": layer_id,
                        "paint": {"fill-color": "#b3b3d9", "fill-opacity": 0.85},
                    }
                )
            layers += [
                {
                    "id": f"{layer_id}-line",
                    "type": "line",
                    "source": "atlas",
                    "source-layer": layer_id,
                    "paint": {"line-color": "#3c3c3c", "line-width": 0.6},
                },
            ]
        elif spec.geometry_type == "LineString":
            layers.append(
                {
                    "id": f"{layer_id}-line",
                    "type": "line",
                    "source": "atlas",
                    "source-layer": layer_id,
                    "paint": {"line-color": "#8c510a", "line-width": 1.2},
                }
            )
        else:
            difficult = ["case", ["==", ["get", "especially_difficult"], True], "#d7301f", "#2b8cbe"]
            layers.append(
                {
                    "id": f"{layer_id}-point",
                    "type": "circle",
                    "source": "atlas",
                    "source-layer": layer_id,
                    "paint": {
                        "circle-radius": 3.5,
                        "circle-stroke-width": 0.5,
                        "circle-stroke-color": "#fff",
                        "circle-color": difficult if "especially_difficult" in layer.fields else "#2b8cbe",
                    },
                }
            )
        return {
            "version": 8,
            "name": f"{spec.title_vi} / {spec.title_en}",
            "sources": {"atlas": source},
            "layers": layers,
            "metadata": {
                "legend": {
                    "title": f"{scale.title_vi} / {scale.title_en}",
                    "labels": scale.labels(),
                    "colours": list(scale.colours),
                }
                if scale is not None
                else None,
                "synthetic": spec.synthetic,
            },
        }

    @router.get(
        "/ogc/collections/{layer_id}/tiles/WebMercatorQuad/{z:int}/{y:int}/{x:int}",  # not whole numbers: 404
        summary="Vector tile",
        response_class=Response,
        responses={200: {"content": {MVT: {}}}, 204: {"description": "empty"}},
    )
    def vector_tile(layer_id: str, z: int, y: int, x: int) -> Response:
        """A Mapbox vector tile (z/y/x, OGC order); 204 when the tile holds nothing."""
        return _tile_response(tiler.vector_tile(layer_id, z, x, y), MVT)

    @router.get("/tiles", summary="Raster tile layers")
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
                        "template": f"{base_url}/tiles/{r.id}/{{z}}/{{x}}/{{y}}.png",
                        "legend": {"labels": r.scale.labels(), "colours": list(r.scale.colours)} if r.scale else None,
                    }
                    for r in RASTER_LAYERS
                ]
            }
        )

    @router.get(
        "/tiles/{layer_id}/{z:int}/{x:int}/{y:int}.png",
        summary="Raster tile",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}, 204: {"description": "empty"}},
    )
    def raster_tile(layer_id: str, z: int, x: int, y: int) -> Response:
        """A PNG tile (z/x/y, XYZ order); 204 when the tile holds nothing."""
        return _tile_response(tiler.raster_tile(layer_id, z, x, y), "image/png")

    return router
