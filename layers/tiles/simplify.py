"""Geometries simplified per zoom to about one vector tile unit, shared polygon edges kept shared.

Polygons that form a valid coverage are simplified with shapely.coverage_simplify (neighbours never gap or
overlap), other geometries with shapely.simplify; a set is kept per zoom in memory and on disk per build.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely

from layers.lru import LRU
from layers.tiles.cache import GeometryStore
from layers.tiles.grid import EXTENT, tile_span

SIMPLIFY_UNITS = 4  # simplification tolerance in tile units: 4/4096 of a tile, half a pixel on a 512-px tile
SIMPLIFY_MAX_ZOOM = 15  # deeper zooms reuse z15's geometries: 1.2 m tolerance, half a pixel on a 512-px z18 tile


def simplify_tolerance(z: int) -> float:
    """The simplification tolerance at zoom z, in EPSG:3857 metres."""
    return SIMPLIFY_UNITS * tile_span(z) / EXTENT


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
                tolerance = simplify_tolerance(z)
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
