"""Map tiles from the warehouse: Mapbox vector tiles and PNG raster tiles on WebMercatorQuad, cached per build.

Vector tiles: each layer's geometries are projected to EPSG:3857 once; polygons are simplified per zoom
with shapely.coverage_simplify (shared edges stay shared, so neighbours never gap or overlap) to about
one tile unit (1/4096 of the tile), clipped with a 64-unit buffer and encoded with mapbox-vector-tile.
Raster tiles: indicator polygons are rasterised (rasterio.features.rasterize) at 2x the output size and
averaged down for anti-aliased edges, in the colours of layers.styles; the population raster is read
with rio-tiler. Tiles are computed once per warehouse build and kept in memory and on disk.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.atomic import atomic_write
from geo.digest import code_digest
from geo.errors import GeoError
from layers.catalog import CATALOG, LayerSpec
from layers.lru import LRU
from layers.store import Build, Warehouse
from layers.styles import POVERTY_RATE, PRIORITY_TIER, SCALES, ColourScale, hex_to_rgba

TMS = morecantile.tms.get("WebMercatorQuad")
MIN_ZOOM, MAX_ZOOM = 0, 18
EXTENT = 4096
BUFFER = 64
SIMPLIFY_UNITS = 4  # simplification tolerance in tile units: 4/4096 of a tile, half a pixel on a 512-px tile
TILE_SIZE = 256
SUPERSAMPLE = 2  # raster tiles are drawn at 2x and averaged down (anti-aliasing)
SIMPLIFY_MAX_ZOOM = 15  # deeper zooms reuse z15's geometries: 1.2 m tolerance, half a pixel on a 512-px z18 tile
MB = 1024 * 1024


# short hash of the tile and style code: cached tiles of an older renderer are never served
CODE_VERSION = code_digest(*(Path(__file__).parent / name for name in ("tiles.py", "styles.py")))[:12]


class TileError(GeoError):
    """A tile address outside the tile matrix set, or an unknown tiled layer."""


def check_tile(z: int, x: int, y: int) -> morecantile.Tile:
    """The tile, or TileError when z/x/y is outside WebMercatorQuad (or the served zoom range)."""
    if not MIN_ZOOM <= z <= MAX_ZOOM:
        raise TileError(f"zoom {z} is outside {MIN_ZOOM}-{MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise TileError(f"tile {z}/{x}/{y} does not exist: x and y run from 0 to {n - 1} at zoom {z}")
    return morecantile.Tile(x, y, z)


INDICATOR_TILE_FIELDS = (
    "unit_code",
    "unit_name",
    "latest_year",
    "households",
    "poor_households",
    "poor_rate",
    "near_poor_households",
    "near_poor_rate",
    "poor_rate_change",
    "region_class",
    "n_region_iii_communes",
    "n_especially_difficult_villages",
    "synthetic",
)
# The properties tiles carry: what styling, labels and a click need, not every column (those are in the OGC API).
TILE_FIELDS: dict[str, tuple[str, ...]] = {
    "province": ("code", "name"),
    "districts_2024": ("code", "name", "unit_type"),
    "communes_2009": ("census_id", "name", "district_name", "population_2009"),
    "communes_2024": ("code", "name", "unit_type", "district_name", "unit_2025_code", "geometry_quality"),
    "units_2025": ("code", "name", "full_name", "unit_type", "n_communes_2024"),
    "villages": ("geonameid", "name", "is_ban", "commune_2024_code", "unit_2025_code"),
    "demo_villages": (
        "village_id",
        "name",
        "households",
        "poor_rate_2025",
        "especially_difficult",
        "paved_road_to_centre",
        "all_season_road",
        "is_commune_centre",
        "synthetic",
    ),
    "health_stations": ("facility_id", "name", "facility_type", "synthetic"),
    "schools": ("facility_id", "name", "facility_type", "synthetic"),
    "markets": ("facility_id", "name", "facility_type", "synthetic"),
    "roads": ("road_id", "road_class", "surface", "synthetic"),
    "bridges": ("bridge_id", "bridge_type", "synthetic"),
    "indicators_units_2025": INDICATOR_TILE_FIELDS,
    "priority_units_2025": (
        "unit_code",
        "unit_name",
        "score",
        "rank",
        "tier",
        "tier_label",
        "poor_rate",
        "poor_households",
        "stability",
        "falling_behind",
        "synthetic",
    ),
    "priority_villages": (
        "village_id",
        "name",
        "unit_2025_code",
        "score",
        "rank",
        "rank_in_unit",
        "tier",
        "tier_label",
        "poor_rate_2025",
        "especially_difficult",
        "synthetic",
    ),
    "investment_plan": ("project_id", "kind", "name_vi", "name_en", "cost_vnd", "poor_households_served", "synthetic"),
    "investment_plan_roads": ("project_id", "name_vi", "length_km", "cost_vnd", "synthetic"),
    "indicators_communes_2024": INDICATOR_TILE_FIELDS,
    "indicators_districts_2024": INDICATOR_TILE_FIELDS,
}


def _tile_properties(spec: LayerSpec, frame: gpd.GeoDataFrame) -> list[str]:
    wanted = TILE_FIELDS.get(spec.id, tuple(c for c in (spec.key, "name") if c))
    return [c for c in wanted if c in frame.columns]


@dataclass
class VectorLayer:
    """One warehouse layer ready for tiling."""

    spec: LayerSpec
    geometries: np.ndarray  # EPSG:3857
    properties: list[dict[str, Any]]
    fields: dict[str, str]
    tree: shapely.STRtree
    polygonal: bool
    simplified: SimplifiedGeometries = field(default_factory=lambda: SimplifiedGeometries(160 * MB))
    digest: str = ""  # of the set of geometries: layers sharing their geometries share their simplifications
    order: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.intp))  # canonical order of the set
    rank: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.intp))  # each feature's canonical place

    @classmethod
    def load(cls, build: Build, spec: LayerSpec, simplified: SimplifiedGeometries | None = None) -> VectorLayer:
        """Project and index a layer of a warehouse build."""
        loaded = build.layer(spec.id)
        frame = loaded.frame
        assert isinstance(frame, gpd.GeoDataFrame)
        geoms = frame.geometry.to_crs("EPSG:3857").values
        columns = _tile_properties(spec, frame)
        # the loaded layer's properties are JSON-ready already (NaN → None, numpy scalars → Python)
        props = [{k: rec[k] for k in columns if rec.get(k) is not None} for rec in loaded.properties]
        fields = {k: loaded.fields[k]["type"] for k in columns}
        for scale in SCALES.values():  # the class index each shared colour scale gives each feature
            if scale.field not in columns:
                continue
            classes = scale.classify(np.array([p.get(scale.field, np.nan) for p in props], dtype=float))
            for p, c in zip(props, classes, strict=True):
                if c >= 0:
                    p[scale.class_field] = str(int(c))
            fields[scale.class_field] = "string"
        polygonal = spec.geometry_type in ("MultiPolygon", "Polygon")
        geometries = np.asarray(geoms)
        wkb = np.asarray(shapely.to_wkb(geometries), dtype=object)
        order = np.argsort(wkb, kind="stable") if len(wkb) else np.empty(0, dtype=np.intp)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        digest = hashlib.sha256(b"".join(w or b"" for w in wkb[order])).hexdigest()[:24]
        layer = cls(spec, geometries, props, fields, shapely.STRtree(geoms), polygonal, digest=digest, order=order)
        layer.rank = rank
        if simplified is not None:
            layer.simplified = simplified
        return layer

    def geometries_at(self, z: int) -> np.ndarray:
        """Geometries simplified to about one tile unit at zoom z (shared polygon edges kept shared)."""
        if self.spec.geometry_type == "Point":
            return self.geometries
        z = min(z, SIMPLIFY_MAX_ZOOM)
        canonical = self.simplified.get(self.digest, z, lambda: self.geometries[self.order], self.polygonal)
        return canonical[self.rank]

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The Mapbox vector tile, or None when no feature touches the tile."""
        bounds = TMS.xy_bounds(morecantile.Tile(x, y, z))
        pad = (bounds.right - bounds.left) * BUFFER / EXTENT
        box = (bounds.left - pad, bounds.bottom - pad, bounds.right + pad, bounds.top + pad)
        hits = self.tree.query(shapely.box(*box))
        if len(hits) == 0:
            return None
        geoms = self.geometries_at(z)
        scale_x = EXTENT / (bounds.right - bounds.left)
        scale_y = EXTENT / (bounds.top - bounds.bottom)

        def to_tile(coords: np.ndarray) -> np.ndarray:
            return np.round(
                np.column_stack([(coords[:, 0] - bounds.left) * scale_x, (coords[:, 1] - bounds.bottom) * scale_y])
            )

        features = []
        for i in np.sort(hits):
            geom: BaseGeometry = geoms[i]
            if geom is None or geom.is_empty:
                continue
            if self.spec.geometry_type != "Point":
                geom = shapely.clip_by_rect(geom, *box)
                if geom.is_empty:
                    continue
            elif not shapely.intersects(geom, shapely.box(*box)):
                continue
            features.append(
                {"geometry": shapely.transform(geom, to_tile), "properties": self.properties[i], "id": int(i) + 1}
            )
        if not features:
            return None
        # coordinates are already tile units (y up; the encoder flips them): no per-coordinate Python work
        encoded = mapbox_vector_tile.encode(
            [{"name": self.spec.id, "features": features}], default_options={"extents": EXTENT, "y_coord_down": False}
        )
        return bytes(encoded)

    def warm(self, zooms: range) -> None:
        """Simplify ahead for the zooms that will be asked."""
        for z in zooms:
            if z <= SIMPLIFY_MAX_ZOOM:
                self.geometries_at(z)


def geometry_bytes(geometries: np.ndarray) -> int:
    """Estimated memory of GEOS geometries: 16 bytes a coordinate and about 100 bytes a part."""
    return (
        int(shapely.get_num_coordinates(geometries).sum()) * 16
        + int(shapely.get_num_geometries(geometries).sum()) * 100
    )


def _pack(geometries: np.ndarray) -> bytes:
    """Geometries as one blob: their count, each WKB's length, then the WKBs."""
    wkb = [w or b"" for w in shapely.to_wkb(geometries)]
    lengths = np.array([len(w) for w in wkb], dtype="<u4")
    return len(wkb).to_bytes(4, "little") + lengths.tobytes() + b"".join(wkb)


def _unpack(blob: bytes) -> np.ndarray:
    """The geometries of a blob written by _pack (None where the length is 0)."""
    count = int.from_bytes(blob[:4], "little")
    lengths = np.frombuffer(blob, dtype="<u4", count=count, offset=4)
    ends = np.cumsum(lengths) + 4 + 4 * count
    wkb = [blob[end - n : end] if n else None for n, end in zip(lengths.tolist(), ends.tolist(), strict=True)]
    return np.asarray(shapely.from_wkb(wkb), dtype=object)


class SimplifiedGeometries:
    """Geometry sets simplified per zoom: bounded in memory, kept on disk per build, shared by layers and workers.

    Keyed by the digest of a set of geometries (in a canonical order), so layers drawn from the same boundaries
    (units_2025, its indicators and its priority ranking) simplify them once; a set is checked once for being a
    valid coverage (which coverage_simplify needs to keep shared edges shared).
    """

    def __init__(self, max_bytes: int, disk: GeometryStore | None = None) -> None:
        self.memory: LRU[np.ndarray] = LRU(max_bytes, geometry_bytes)
        self.disk = disk
        self._coverage: dict[str, bool] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, digest: str, z: int, geometries: Callable[[], np.ndarray], polygonal: bool) -> np.ndarray:
        """The set simplified for zoom z, in its canonical order; made (once at a time per set) on a miss."""
        key = f"{digest}-{z}"
        cached = self.memory.get(key)
        if cached is not None:
            return cached
        with self._guard:
            lock = self._locks.setdefault(digest, threading.Lock())
        with lock:  # one simplification per set at a time, not one per waiting request
            cached = self.memory.get(key)
            if cached is not None:
                return cached
            blob = self.disk.get(key) if self.disk is not None else None
            if blob is not None:
                cached = _unpack(blob)
            else:
                source = geometries()
                tolerance = SIMPLIFY_UNITS * (2 * math.pi * 6378137 / (1 << z)) / EXTENT
                if digest not in self._coverage:
                    self._coverage[digest] = polygonal and len(source) > 1 and bool(shapely.coverage_is_valid(source))
                if self._coverage[digest]:
                    cached = shapely.coverage_simplify(source, tolerance)
                else:
                    cached = shapely.simplify(source, tolerance, preserve_topology=True)
                if self.disk is not None:
                    self.disk.put(key, _pack(cached))
            self.memory.put(key, cached)
            return cached

    def stats(self) -> dict[str, Any]:
        """Use of the memory bound, and the bytes stored on disk."""
        return {**self.memory.stats(), "disk_bytes": self.disk.stored_bytes() if self.disk is not None else None}


@dataclass(frozen=True)
class RasterLayer:
    """A raster tile source: a choropleth of a vector layer, or the population grid."""

    id: str
    title_vi: str
    title_en: str
    source: str  # vector layer id, or "worldpop"
    scale: ColourScale | None = None
    synthetic: bool = False


RASTER_LAYERS: tuple[RasterLayer, ...] = (
    RasterLayer(
        "poverty_rate_units_2025",
        "Tỷ lệ hộ nghèo – xã, phường 2025 (minh họa)",
        "Poverty rate – 2025 units (demo data)",
        "indicators_units_2025",
        POVERTY_RATE,
        synthetic=True,
    ),
    RasterLayer(
        "poverty_rate_communes_2024",
        "Tỷ lệ hộ nghèo – xã trước sáp nhập (minh họa)",
        "Poverty rate – pre-merger communes (demo data)",
        "indicators_communes_2024",
        POVERTY_RATE,
        synthetic=True,
    ),
    RasterLayer(
        "priority_tier_units_2025",
        "Mức ưu tiên – xã, phường 2025 (minh họa)",
        "Priority tier – 2025 units (demo data)",
        "priority_units_2025",
        PRIORITY_TIER,
        synthetic=True,
    ),
    RasterLayer("population", "Dân số WorldPop 2020", "Population, WorldPop 2020", "worldpop"),
)


def _png(rgba: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def choropleth_tile(layer: VectorLayer, scale: ColourScale, z: int, x: int, y: int) -> bytes | None:
    """A PNG of the layer's polygons coloured by the scale, edges anti-aliased, or None when empty."""
    from PIL import Image
    from rasterio.features import rasterize
    from rasterio.transform import from_bounds

    bounds = TMS.xy_bounds(morecantile.Tile(x, y, z))
    frame = (bounds.left, bounds.bottom, bounds.right, bounds.top)
    hits = layer.tree.query(shapely.box(*frame))
    if len(hits) == 0:
        return None
    size = TILE_SIZE * SUPERSAMPLE
    pad = (bounds.right - bounds.left) / TILE_SIZE
    geoms = shapely.clip_by_rect(
        layer.geometries_at(min(z + 2, MAX_ZOOM))[hits], frame[0] - pad, frame[1] - pad, frame[2] + pad, frame[3] + pad
    )
    keep = ~shapely.is_empty(geoms)
    if not keep.any():
        return None
    values = np.array([layer.properties[i].get(scale.field, np.nan) for i in hits[keep]], dtype="float64")
    classes = scale.classify(values)
    # one rasterisation: each feature burns (its number << 4) | its palette index (0 outside, 1 no data)
    shapes = [(g, ((k + 1) << 4) | (int(c) + 2)) for k, (g, c) in enumerate(zip(geoms[keep], classes, strict=True))]
    grid = rasterize(shapes, out_shape=(size, size), transform=from_bounds(*frame, size, size), fill=0, dtype="uint32")
    # outlines: pixels on either side of a change of feature, inside a feature
    edge = np.zeros((size, size), dtype=bool)
    for changed, before, after in (
        (grid[:, 1:] != grid[:, :-1], (slice(None), slice(1, None)), (slice(None), slice(None, -1))),
        (grid[1:, :] != grid[:-1, :], (slice(1, None), slice(None)), (slice(None, -1), slice(None))),
    ):
        edge[before] |= changed
        edge[after] |= changed
    index = (grid & 15).astype("uint8")
    outline = len(scale.colours) + 2
    index[edge & (index > 0)] = outline
    palette = [(0, 0, 0, 0), hex_to_rgba(scale.no_data, 220), *(hex_to_rgba(c, 220) for c in scale.colours)]
    palette.append((60, 60, 60, 255))
    image = Image.frombuffer("P", (size, size), index.tobytes(), "raw", "P", 0, 1)
    image.putpalette([v for colour in palette for v in colour], rawmode="RGBA")
    # Pillow box-averages RGBA in premultiplied form over SUPERSAMPLE x SUPERSAMPLE blocks: anti-aliased edges
    image = image.convert("RGBA").resize((TILE_SIZE, TILE_SIZE), Image.Resampling.BOX)
    if image.getbbox(alpha_only=True) is None:
        return None
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


POPULATION_COLOURS = ("#f7fcf5", "#c7e9c0", "#74c476", "#238b45", "#00441b")


def population_tile(raster: Path, z: int, x: int, y: int) -> bytes | None:
    """A PNG of WorldPop 2020 population per ~1 km cell (log scale), or None outside the raster."""
    from rio_tiler.errors import TileOutsideBounds
    from rio_tiler.io import Reader

    try:
        with Reader(str(raster)) as src:
            img = src.tile(x, y, z, tilesize=TILE_SIZE, resampling_method="nearest")
    except TileOutsideBounds:
        return None
    data = img.data[0].astype("float64")
    valid = ~np.ma.getmaskarray(img.array[0]) & (data > 0)
    if not valid.any():
        return None
    level = np.clip(np.log10(np.maximum(data, 1)) / 4.0, 0, 0.999)  # 1 .. 10,000 persons per cell
    palette = np.array([hex_to_rgba(c, 210) for c in POPULATION_COLOURS], dtype="uint8")
    rgba = palette[(level * len(POPULATION_COLOURS)).astype(int)]
    rgba[~valid] = 0
    return _png(rgba)


TileKey = tuple[str, int, int, int]
WAL_PAGES = 256  # SQLite's write-ahead log of the tile store is checkpointed and cut back at 1 MB


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to a cache file of the build, shared by worker processes (write-ahead log kept small)."""
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    con.execute("PRAGMA auto_vacuum = INCREMENTAL")  # before anything is written: evicted pages go back
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    con.execute(f"PRAGMA wal_autocheckpoint = {WAL_PAGES}")  # the write-ahead log stays small
    con.execute(f"PRAGMA journal_size_limit = {WAL_PAGES * 4096}")
    return con


class GeometryStore:
    """Simplified geometry sets of one build on disk, shared by worker processes and later starts.

    A few per layer and zoom, fixed by the data and not by use (about 30 MB for Sơn La's layers): never evicted.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._con().execute("CREATE TABLE IF NOT EXISTS geometries (key TEXT PRIMARY KEY, data BLOB NOT NULL)")

    def _con(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = _connect(self.path)
            self._local.con = con
        return con

    def get(self, key: str) -> bytes | None:
        """A stored geometry set, or None."""
        row = self._con().execute("SELECT data FROM geometries WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, key: str, data: bytes) -> None:
        """Store a geometry set."""
        self._con().execute("INSERT OR REPLACE INTO geometries VALUES (?, ?)", (key, data))

    def stored_bytes(self) -> int:
        """Bytes of the stored sets."""
        return int(self._con().execute("SELECT total(length(data)) FROM geometries").fetchone()[0])


class DiskTiles:
    """Non-empty tiles of one build in one SQLite file, bounded in bytes, least recently used evicted first.

    Shared by every worker process (SQLite locks it); empty tiles are never written, they cost nothing to make.
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._local = threading.local()
        self._written = 0
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        con = self._con()
        con.execute(
            "CREATE TABLE IF NOT EXISTS tiles (layer TEXT, z INTEGER, x INTEGER, y INTEGER, data BLOB NOT NULL, "
            "size INTEGER NOT NULL, used INTEGER NOT NULL, PRIMARY KEY (layer, z, x, y))"
        )
        con.execute("CREATE INDEX IF NOT EXISTS tiles_used ON tiles (used)")
        self.evict()

    def _con(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = _connect(self.path)
            self._local.con = con
        return con

    def get(self, key: TileKey) -> bytes | None:
        """The stored tile, or None."""
        row = (
            self._con()
            .execute("SELECT data, used FROM tiles WHERE layer = ? AND z = ? AND x = ? AND y = ?", key)
            .fetchone()
        )
        if row is None:
            return None
        now = int(time.time())
        if now - row[1] > 60:  # recency to the minute: a read costs a write at most once a minute
            self._con().execute("UPDATE tiles SET used = ? WHERE layer = ? AND z = ? AND x = ? AND y = ?", (now, *key))
        return bytes(row[0])

    def put(self, key: TileKey, data: bytes) -> None:
        """Store a non-empty tile; past the bound, the least recently used tiles go."""
        if not data or len(data) > self.max_bytes:
            return
        self._con().execute(
            "INSERT OR REPLACE INTO tiles VALUES (?, ?, ?, ?, ?, ?, ?)", (*key, data, len(data), int(time.time()))
        )
        with self._lock:
            self._written += len(data)
            check = self._written > self.max_bytes // 20
            if check:
                self._written = 0
        if check:
            self.evict()

    def stored_bytes(self) -> int:
        """Bytes of the stored tiles."""
        return int(self._con().execute("SELECT total(size) FROM tiles").fetchone()[0])

    def evict(self) -> None:
        """Remove the least recently used tiles until the store is under 90% of its bound."""
        con = self._con()
        total = self.stored_bytes()
        target = int(self.max_bytes * 0.9)
        while total > target:
            rows = con.execute("SELECT layer, z, x, y, size FROM tiles ORDER BY used LIMIT 256").fetchall()
            if not rows:
                break
            con.executemany("DELETE FROM tiles WHERE layer = ? AND z = ? AND x = ? AND y = ?", [r[:4] for r in rows])
            total -= sum(r[4] for r in rows)
        con.execute("PRAGMA incremental_vacuum")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def stats(self) -> dict[str, int]:
        """Stored tiles, their bytes, the file's bytes and the bound."""
        count = int(self._con().execute("SELECT count(*) FROM tiles").fetchone()[0])
        files = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return {"entries": count, "bytes": self.stored_bytes(), "file_bytes": files, "max_bytes": self.max_bytes}


class TileCache:
    """Tiles of one warehouse build: a bounded LRU in memory (empty tiles counted) in front of a bounded disk store."""

    def __init__(self, folder: Path | None, memory_bytes: int = 64 * MB, disk_bytes: int = 512 * MB) -> None:
        self.folder = folder
        self.memory: LRU[bytes] = LRU(memory_bytes, len)
        self.disk = DiskTiles(folder / "tiles.sqlite", disk_bytes) if folder is not None else None

    def get(self, key: TileKey, make: Callable[[], bytes | None]) -> bytes:
        """The cached tile (b"" for an empty tile), computing and storing it on a miss."""
        hit = self.memory.get(key)
        if hit is not None:
            return hit
        data = self.disk.get(key) if self.disk is not None else None
        if data is None:
            data = make() or b""
            if self.disk is not None:
                self.disk.put(key, data)
        self.memory.put(key, data)
        return data

    def stats(self) -> dict[str, object]:
        """Memory and disk use against their bounds."""
        memory = self.memory.stats()
        memory["empty_entries"] = self.memory.count(lambda v: not v)
        return {"memory": memory, "disk": self.disk.stats() if self.disk is not None else None}


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

    def vector_layer(self, layer_id: str, build: Build | None = None) -> VectorLayer:
        """The tiling state of a spatial layer in a build (the current one by default)."""
        if layer_id not in self.specs:
            raise TileError(f"no vector tiles for {layer_id!r}")
        spec = self.specs[layer_id]
        build = build or self.warehouse.build()
        return build.derived((self._key, layer_id), lambda b: VectorLayer.load(b, spec, self._tiles(b).simplified))

    def warm(self, layer_ids: tuple[str, ...], zooms: range = range(MIN_ZOOM, 16)) -> None:
        """Load and simplify layers ahead of their first tiles."""
        for layer_id in layer_ids:
            self.vector_layer(layer_id).warm(zooms)

    def vector_tile(self, layer_id: str, z: int, x: int, y: int) -> bytes:
        """A Mapbox vector tile (b"" when empty)."""
        check_tile(z, x, y)
        build = self.warehouse.build()
        layer = self.vector_layer(layer_id, build)
        return self._tiles(build).cache.get((f"mvt-{layer_id}", z, x, y), lambda: layer.tile(z, x, y))

    def raster_tile(self, layer_id: str, z: int, x: int, y: int) -> bytes:
        """A PNG raster tile (b"" when empty)."""
        check_tile(z, x, y)
        spec = next((r for r in RASTER_LAYERS if r.id == layer_id), None)
        if spec is None:
            raise TileError(f"no raster tiles for {layer_id!r}; one of {', '.join(r.id for r in RASTER_LAYERS)}")
        build = self.warehouse.build()
        cache = self._tiles(build).cache
        if spec.source == "worldpop":
            raster = self.population
            if raster is None:
                raise TileError("the population raster is not available")
            return cache.get((f"png-{layer_id}", z, x, y), lambda: population_tile(raster, z, x, y))
        layer = self.vector_layer(spec.source, build)
        assert spec.scale is not None
        scale = spec.scale
        return cache.get((f"png-{layer_id}", z, x, y), lambda: choropleth_tile(layer, scale, z, x, y))


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


def tilejson_fields(layer: VectorLayer) -> dict[str, str]:
    """TileJSON `vector_layers` field descriptions."""
    kinds = {"integer": "Number", "number": "Number", "boolean": "Boolean"}
    return {name: kinds.get(kind, "String") for name, kind in layer.fields.items()}


def metadata_json(layer: VectorLayer) -> str:
    """The MBTiles `json` metadata entry describing the vector layer."""
    return json.dumps(
        {
            "vector_layers": [
                {"id": layer.spec.id, "fields": tilejson_fields(layer), "description": layer.spec.title_en}
            ]
        },
        ensure_ascii=False,
    )


@dataclass(frozen=True)
class SeedResult:
    """One written tile package."""

    layer: str
    path: Path
    tiles: int
    seconds: float


def seed(
    tiler: Tiler,
    zooms: range,
    out_dir: Path,
    layers: list[str] | None = None,
    progress: Callable[[str, int, int], None] = lambda *_: None,
) -> list[SeedResult]:
    """Write one MBTiles package per layer, holding the province's tiles for the zooms."""
    import time

    province = tiler.warehouse.frame("province").geometry.iloc[0]
    tiles = list(province_tiles(province, zooms))
    names = layers or [*tiler.specs, *(r.id for r in RASTER_LAYERS if r.source != "worldpop" or tiler.population)]
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
        title = spec.title_vi if spec else next(r.title_vi for r in RASTER_LAYERS if r.id == name)
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
                if (spec and spec.synthetic) or (raster and next(r for r in RASTER_LAYERS if r.id == name).synthetic)
                else ""
            ),
        }
        if not raster:
            metadata["json"] = metadata_json(tiler.vector_layer(name))
        path = out_dir / f"{name}.mbtiles"
        count = write_mbtiles(path, produce(), metadata)
        results.append(SeedResult(name, path, count, time.perf_counter() - start))
    return results
