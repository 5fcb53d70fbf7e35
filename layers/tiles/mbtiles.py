"""Offline tile packages: the province's tiles of each layer written to an MBTiles file, for QGIS without internet."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import morecantile
import shapely
from shapely.geometry.base import BaseGeometry

from geo.atomic import atomic_write
from layers.tiles.grid import TMS
from layers.tiles.raster import RASTER_LAYERS, raster_layer
from layers.tiles.tiler import Tiler
from layers.tiles.vector import metadata_json


def province_tiles(province: BaseGeometry, zooms: range) -> Iterator[morecantile.Tile]:
    """The tiles of the zooms that touch the province (not merely its bounding box)."""
    minx, miny, maxx, maxy = province.bounds
    shapely.prepare(province)
    for tile in TMS.tiles(minx, miny, maxx, maxy, list(zooms)):
        b = TMS.bounds(tile)
        if shapely.intersects(province, shapely.box(b.left, b.bottom, b.right, b.top)):
            yield tile


def write_mbtiles(path: Path, tiles: Iterator[tuple[morecantile.Tile, bytes]], metadata: dict[str, str]) -> int:
    """Write tiles to an MBTiles file (via a temporary file, replaced atomically); returns the tile count."""
    count = 0
    with atomic_write(path) as tmp, sqlite3.connect(tmp) as con:
        con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        con.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
        con.execute("CREATE UNIQUE INDEX tile_index ON tiles (zoom_level, tile_column, tile_row)")
        for tile, data in tiles:
            if not data:
                continue
            flipped = (1 << tile.z) - 1 - tile.y  # MBTiles rows count from the south
            con.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (tile.z, tile.x, flipped, data))
            count += 1
        con.executemany("INSERT INTO metadata VALUES (?, ?)", list(metadata.items()))
    return count


def write_pmtiles(mbtiles: Path, path: Path) -> None:
    """Convert an MBTiles package to a PMTiles archive (the `pmtiles` package; vector tiles gzipped as PMTiles
    expects), through a temporary file replaced atomically."""
    from pmtiles.convert import mbtiles_to_pmtiles

    with atomic_write(path) as tmp:
        mbtiles_to_pmtiles(str(mbtiles), str(tmp), None)


@dataclass(frozen=True)
class SeedResult:
    """One written tile package, as MBTiles and as PMTiles converted from it."""

    layer: str
    path: Path
    tiles: int
    seconds: float
    pmtiles: Path | None = None
    pmtiles_seconds: float = 0.0


def seed(
    tiler: Tiler,
    zooms: range,
    out_dir: Path,
    layers: list[str] | None = None,
    progress: Callable[[str, int, int], None] = lambda *_: None,
) -> list[SeedResult]:
    """Write one MBTiles package per layer, holding the province's tiles for the zooms, and its PMTiles twin."""
    province = tiler.warehouse.frame("province").geometry.iloc[0]
    tiles = list(province_tiles(province, zooms))
    names = layers or [*tiler.specs, *(r.id for r in RASTER_LAYERS if r.reader.available(tiler))]
    minx, miny, maxx, maxy = tiler.bounds()
    results = []
    for name in names:
        start = time.perf_counter()
        raster = name in {r.id for r in RASTER_LAYERS}
        make = tiler.raster_tile if raster else tiler.vector_tile
        if not raster:
            tiler.vector_layer(name).warm(zooms)

        def produce(
            name: str = name, make: Callable[[str, int, int, int], bytes] = make
        ) -> Iterator[tuple[morecantile.Tile, bytes]]:
            for k, tile in enumerate(tiles):
                progress(name, k + 1, len(tiles))
                yield tile, make(name, tile.z, tile.x, tile.y)

        spec = tiler.specs.get(name)
        title = spec.title_vi if spec else raster_layer(name).title_vi
        metadata = {
            "name": title,
            "format": "png" if raster else "pbf",
            "type": "overlay",
            "version": "1",
            "minzoom": str(zooms.start),
            "maxzoom": str(zooms.stop - 1),
            "bounds": f"{minx},{miny},{maxx},{maxy}",
            "center": f"{(minx + maxx) / 2},{(miny + maxy) / 2},{zooms.start}",
            "description": "Atlas nghèo Sơn La / Sơn La Poverty Atlas"
            + (
                " – dữ liệu minh họa (mô phỏng) / synthetic demo data"
                if (spec and spec.synthetic) or (raster and raster_layer(name).synthetic)
                else ""
            ),
        }
        if not raster:
            metadata["json"] = metadata_json(tiler.vector_layer(name))
        path = out_dir / f"{name}.mbtiles"
        count = write_mbtiles(path, produce(), metadata)
        seconds = time.perf_counter() - start
        converted = path.with_suffix(".pmtiles")
        start = time.perf_counter()
        write_pmtiles(path, converted)
        results.append(SeedResult(name, path, count, seconds, converted, time.perf_counter() - start))
    return results
