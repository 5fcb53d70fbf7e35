"""The Tiler: every tiled layer of one warehouse build, its vector and raster tiles, and their caches."""

from __future__ import annotations

import threading
from pathlib import Path

from layers.catalog import CATALOG
from layers.provider import load_layer
from layers.tiles.cache import CODE_VERSION, MB, GeometryStore, TileCache
from layers.tiles.grid import MIN_ZOOM, TileError, check_tile
from layers.tiles.raster import raster_layer
from layers.tiles.simplify import SimplifiedGeometries
from layers.tiles.vector import VectorLayer


class Tiler:
    """Every tiled layer of one warehouse, with the cache of its build."""

    def __init__(
        self,
        warehouse: Path,
        fingerprint: str,
        cache_dir: Path | None,
        population: Path | None,
        memory_bytes: int = 64 * MB,
        disk_bytes: int = 512 * MB,
        geometry_bytes: int = 160 * MB,
    ) -> None:
        self.warehouse = warehouse
        self.fingerprint = fingerprint
        self.population = population
        if population is not None:
            import rio_tiler.io  # noqa: F401  # imported once here: first imports racing in request threads fail
        self.specs = {s.id: s for s in CATALOG if s.is_spatial}
        folder = cache_dir / f"{fingerprint[:16]}-{CODE_VERSION}" if cache_dir else None
        self.cache = TileCache(folder, memory_bytes, disk_bytes)
        self.simplified = SimplifiedGeometries(
            geometry_bytes, GeometryStore(folder / "geometries.sqlite") if folder else None
        )
        self._vector: dict[str, VectorLayer] = {}
        self._lock = threading.Lock()

    def stats(self) -> dict[str, object]:
        """Use of the tile caches and the simplified geometries against their bounds."""
        return {**self.cache.stats(), "geometries": self.simplified.stats()}

    def bounds(self) -> tuple[float, float, float, float]:
        """Bounds of the province (EPSG:4326)."""
        province = load_layer(self.warehouse, "province", "code").frame
        minx, miny, maxx, maxy = (float(v) for v in province.total_bounds)
        return minx, miny, maxx, maxy

    def vector_layer(self, layer_id: str) -> VectorLayer:
        """The tiling state of a spatial layer."""
        if layer_id not in self.specs:
            raise TileError(f"no vector tiles for {layer_id!r}")
        layer = self._vector.get(layer_id)
        if layer is None:
            with self._lock:
                layer = self._vector.get(layer_id)
                if layer is None:
                    layer = VectorLayer.load(self.warehouse, self.specs[layer_id], self.simplified)
                    self._vector[layer_id] = layer
        return layer

    def warm(self, layer_ids: tuple[str, ...], zooms: range = range(MIN_ZOOM, 16)) -> None:
        """Load and simplify layers ahead of their first tiles."""
        for layer_id in layer_ids:
            self.vector_layer(layer_id).warm(zooms)

    def vector_tile(self, layer_id: str, z: int, x: int, y: int) -> bytes:
        """A Mapbox vector tile (b"" when empty)."""
        check_tile(z, x, y)
        layer = self.vector_layer(layer_id)
        return self.cache.get((f"mvt-{layer_id}", z, x, y), lambda: layer.tile(z, x, y))

    def raster_tile(self, layer_id: str, z: int, x: int, y: int) -> bytes:
        """A PNG raster tile (b"" when empty)."""
        check_tile(z, x, y)
        spec = raster_layer(layer_id)
        source = spec.reader.open(spec, self)
        return self.cache.get((f"png-{layer_id}", z, x, y), lambda: source.tile(z, x, y))
