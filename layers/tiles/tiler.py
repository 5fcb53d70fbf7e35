"""The Tiler: every tiled layer of one warehouse build, its vector and raster tiles, and their caches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from layers.catalog import CATALOG, LayerSpec
from layers.store import Build, Warehouse
from layers.tiles.cache import CODE_VERSION, MB, GeometryStore, TileCache
from layers.tiles.grid import MIN_ZOOM, TileError, check_tile
from layers.tiles.raster import raster_layer
from layers.tiles.simplify import SimplifiedGeometries
from layers.tiles.vector import VectorLayer, tile_field_types

if TYPE_CHECKING:
    from layers.postgis import PostgisBuild


@dataclass
class BuildTiles:
    """The tile caches of one warehouse build (its folder is named by the build's fingerprint)."""

    cache: TileCache
    simplified: SimplifiedGeometries


class Tiler:
    """Every tiled layer of one warehouse, with the caches of its current build (dropped with the build)."""

    def __init__(
        self,
        warehouse: Warehouse,
        cache_dir: Path | None,
        population: Path | None,
        memory_bytes: int = 64 * MB,
        disk_bytes: int = 512 * MB,
        geometry_bytes: int = 160 * MB,
    ) -> None:
        self.warehouse = warehouse
        self.cache_dir = cache_dir
        self.population = population
        if population is not None:
            import rio_tiler.io  # noqa: F401  # imported once here: first imports racing in request threads fail
        self.specs = {s.id: s for s in CATALOG if s.is_spatial}
        self._bytes = (memory_bytes, disk_bytes, geometry_bytes)
        self._key = object()  # this tiler's objects among those derived from a build

    def _tiles(self, build: Build) -> BuildTiles:
        def make(build: Build) -> BuildTiles:
            memory_bytes, disk_bytes, geometry_bytes = self._bytes
            folder = self.cache_dir / f"{build.fingerprint[:16]}-{CODE_VERSION}" if self.cache_dir else None
            store = GeometryStore(folder / "geometries.sqlite") if folder else None
            return BuildTiles(TileCache(folder, memory_bytes, disk_bytes), SimplifiedGeometries(geometry_bytes, store))

        return build.derived((self._key, "caches"), make)

    @property
    def cache(self) -> TileCache:
        """The tile cache of the current build."""
        return self._tiles(self.warehouse.build()).cache

    @property
    def simplified(self) -> SimplifiedGeometries:
        """The simplified geometries of the current build."""
        return self._tiles(self.warehouse.build()).simplified

    def stats(self) -> dict[str, object]:
        """Use of the tile caches and the simplified geometries against their bounds."""
        tiles = self._tiles(self.warehouse.build())
        return {**tiles.cache.stats(), "geometries": tiles.simplified.stats()}

    def bounds(self) -> tuple[float, float, float, float]:
        """Bounds of the province (EPSG:4326)."""
        province = self.warehouse.frame("province")
        minx, miny, maxx, maxy = (float(v) for v in province.total_bounds)
        return minx, miny, maxx, maxy

    def _spec(self, layer_id: str) -> LayerSpec:
        """The spec of a tiled layer (TileError for any other)."""
        if layer_id not in self.specs:
            raise TileError(f"no vector tiles for {layer_id!r}")
        return self.specs[layer_id]

    def vector_layer(self, layer_id: str, build: Build | None = None) -> VectorLayer:
        """The tiling state of a spatial layer in a build (the current one by default)."""
        spec = self._spec(layer_id)
        build = build or self.warehouse.build()
        return build.derived((self._key, layer_id), lambda b: VectorLayer.load(b, spec, self._tiles(b).simplified))

    def warm(self, layer_ids: tuple[str, ...], zooms: range = range(MIN_ZOOM, 16)) -> None:
        """Load and simplify layers ahead of their first tiles."""
        for layer_id in layer_ids:
            self.vector_layer(layer_id).warm(zooms)

    def tile_fields(self, layer_id: str) -> dict[str, str]:
        """JSON type of each property the layer's vector tiles carry (for TileJSON, tileset metadata, styles)."""
        spec = self._spec(layer_id)
        build = self.warehouse.build()
        database = _in_database(build)
        if database is not None:
            return tile_field_types(spec, database.types(layer_id))
        return self.vector_layer(layer_id, build).fields

    def layer_fields(self, layer_id: str) -> list[str]:
        """Every property of a tiled layer's features, tiled or not (for the QGIS and SLD styles)."""
        self._spec(layer_id)
        build = self.warehouse.build()
        database = _in_database(build)
        if database is not None:
            return list(database.types(layer_id))
        return [c for c in build.frame(layer_id).columns if c != "geometry"]

    def vector_tile(self, layer_id: str, z: int, x: int, y: int) -> bytes:
        """A Mapbox vector tile (b"" when empty): made by the database (ST_AsMVT) or from the layer in memory."""
        check_tile(z, x, y)
        build = self.warehouse.build()
        database = _in_database(build)
        make: Callable[[], bytes | None]
        if database is not None:
            spec = self._spec(layer_id)
            make = lambda: database.vector_tile(spec, z, x, y)  # noqa: E731
        else:
            layer = self.vector_layer(layer_id, build)
            make = lambda: layer.tile(z, x, y)  # noqa: E731
        return self._tiles(build).cache.get((f"mvt-{layer_id}", z, x, y), make)

    def raster_tile(self, layer_id: str, z: int, x: int, y: int) -> bytes:
        """A PNG raster tile (b"" when empty)."""
        check_tile(z, x, y)
        spec = raster_layer(layer_id)
        build = self.warehouse.build()
        source = spec.reader.open(spec, _BuildInputs(self, build, self.population))
        return self._tiles(build).cache.get((f"png-{layer_id}", z, x, y), lambda: source.tile(z, x, y))


def _in_database(build: Build) -> PostgisBuild | None:
    """The build as a database publish, when it is one (its tiles are made by the database)."""
    from layers.postgis import PostgisBuild  # imported here: layers.postgis uses this package's grid and fields

    return build if isinstance(build, PostgisBuild) else None


@dataclass
class _BuildInputs:
    """A tiler's layers in one build, for raster sources (a tile never mixes two builds)."""

    tiler: Tiler
    build: Build
    population: Path | None

    def vector_layer(self, layer_id: str) -> VectorLayer:
        """The tiling state of a spatial layer in this build."""
        return self.tiler.vector_layer(layer_id, self.build)
