"""Tile maths on WebMercatorQuad, from morecantile: the served zoom range, tile addresses and tile sizes."""

from __future__ import annotations

import morecantile

from geo.errors import GeoError

TMS = morecantile.tms.get("WebMercatorQuad")
MIN_ZOOM, MAX_ZOOM = 0, 18  # the zooms served, within the tile matrix set's
EXTENT = 4096  # vector tile units across a tile
BUFFER = 64  # vector tile units drawn beyond each edge
TILE_SIZE = 256  # pixels across a raster tile


class TileError(GeoError):
    """A tile address outside the tile matrix set, or an unknown tiled layer."""


def check_tile(z: int, x: int, y: int) -> morecantile.Tile:
    """The tile, or TileError when z/x/y is outside WebMercatorQuad (or the served zoom range)."""
    if not MIN_ZOOM <= z <= MAX_ZOOM:
        raise TileError(f"zoom {z} is outside {MIN_ZOOM}-{MAX_ZOOM}")
    tile = morecantile.Tile(x, y, z)
    if not TMS.is_valid(tile):
        matrix = TMS.matrix(z)
        raise TileError(
            f"tile {z}/{x}/{y} does not exist: x runs from 0 to {matrix.matrixWidth - 1} "
            f"and y from 0 to {matrix.matrixHeight - 1} at zoom {z}"
        )
    return tile


def tile_span(z: int) -> float:
    """Width of a tile of zoom z in EPSG:3857 metres (its matrix's cell size times the tile's width in cells)."""
    matrix = TMS.matrix(z)
    return matrix.cellSize * matrix.tileWidth
