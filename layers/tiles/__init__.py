"""Map tiles from the warehouse: Mapbox vector tiles and PNG raster tiles on WebMercatorQuad, cached per build.

One module per job: `grid` (tile maths, from morecantile), `vector` (Mapbox vector tiles of a layer),
`simplify` (geometries simplified per zoom, shared edges kept shared), `raster` (PNG tile sources behind one
interface: choropleths and the population grid), `cache` (tiles in memory and on disk per build), `tiler`
(the Tiler serving every layer of a build) and `mbtiles` (offline packages). Every name is importable from
`layers.tiles`.
"""

from layers.tiles.cache import CODE_VERSION, MB, TILE_CODE, DiskTiles, GeometryStore, TileCache, TileKey
from layers.tiles.grid import BUFFER, EXTENT, MAX_ZOOM, MIN_ZOOM, TILE_SIZE, TMS, TileError, check_tile, tile_span
from layers.tiles.mbtiles import SeedResult, province_tiles, seed, write_mbtiles
from layers.tiles.raster import (
    RASTER_LAYERS,
    SUPERSAMPLE,
    ChoroplethSource,
    PopulationSource,
    RasterLayer,
    RasterSource,
    TileInputs,
    choropleth_tile,
    population_tile,
    raster_layer,
)
from layers.tiles.simplify import (
    SIMPLIFY_MAX_ZOOM,
    SIMPLIFY_UNITS,
    SimplifiedGeometries,
    geometry_bytes,
    simplify_tolerance,
)
from layers.tiles.tiler import Tiler
from layers.tiles.vector import INDICATOR_TILE_FIELDS, TILE_FIELDS, VectorLayer, metadata_json, tilejson_fields

__all__ = [
    "BUFFER",
    "CODE_VERSION",
    "EXTENT",
    "INDICATOR_TILE_FIELDS",
    "MAX_ZOOM",
    "MB",
    "MIN_ZOOM",
    "RASTER_LAYERS",
    "SIMPLIFY_MAX_ZOOM",
    "SIMPLIFY_UNITS",
    "SUPERSAMPLE",
    "TILE_CODE",
    "TILE_FIELDS",
    "TILE_SIZE",
    "TMS",
    "ChoroplethSource",
    "DiskTiles",
    "GeometryStore",
    "PopulationSource",
    "RasterLayer",
    "RasterSource",
    "SeedResult",
    "SimplifiedGeometries",
    "TileCache",
    "TileError",
    "TileInputs",
    "TileKey",
    "Tiler",
    "VectorLayer",
    "check_tile",
    "choropleth_tile",
    "geometry_bytes",
    "metadata_json",
    "population_tile",
    "province_tiles",
    "raster_layer",
    "seed",
    "simplify_tolerance",
    "tile_span",
    "tilejson_fields",
    "write_mbtiles",
]
