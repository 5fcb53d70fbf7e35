"""Caches under small bounds, over real HTTP: tiles (memory, disk, empty tiles counted), maps; and two workers."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import mapbox_vector_tile
import numpy as np
import pytest
from PIL import Image

from layers.lru import ENTRY_OVERHEAD, LRU
from layers.store import Warehouse
from layers.tiles import TMS, province_tiles
from tests.conftest import Built, LiveServer

BOUND = 256 * 1024  # ATLAS_TILE_MEMORY_MB=0.25 and ATLAS_TILE_DISK_MB=0.25


def _tiles(built: Built, zoom: int) -> list[tuple[int, int, int]]:
    province = Warehouse.open(built.path).frame("province").geometry.iloc[0]
    return [(t.z, t.x, t.y) for t in province_tiles(province, range(zoom, zoom + 1))]


def _caches(server: LiveServer) -> dict[str, Any]:
    health = httpx.get(f"{server.url}/health", timeout=30).json()
    return dict(health["caches"])


def test_lru_counts_empty_entries_and_evicts_least_recent() -> None:
    cache: LRU[bytes] = LRU(10 * ENTRY_OVERHEAD + 100, len)
    for n in range(50):
        cache.put(("empty", n), b"")
    assert len(cache) == 10  # empty values are charged their entry overhead, so they are bounded too
    assert cache.get(("empty", 39)) is None and cache.get(("empty", 40)) == b""
    cache.put("big", b"x" * 100)
    assert cache.get(("empty", 40)) == b""  # recently used: kept
    assert cache.get(("empty", 41)) is None  # least recently used: evicted for the big value
    cache.put("huge", b"x" * 100_000)
    assert cache.get("huge") is None and cache.get("big") == b"x" * 100  # larger than the whole bound: not kept
    assert cache.stats()["bytes"] <= cache.stats()["max_bytes"]


def test_tile_caches_evict_at_their_bounds(built: Built, tmp_path: Path) -> None:
    tiles_dir = tmp_path / "tiles"
    env = {
        "ATLAS_CACHE_DIR": str(built.settings.cache_dir),
        "ATLAS_TILE_CACHE_DIR": str(tiles_dir),
        "ATLAS_TILE_MEMORY_MB": "0.25",
        "ATLAS_TILE_DISK_MB": "0.25",
    }
    inside = _tiles(built, 13)
    with LiveServer(built.path, env=env) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        first = None
        sizes = 0
        for z, x, y in inside:
            response = client.get(f"/ogc/collections/communes_2024/tiles/WebMercatorQuad/{z}/{y}/{x}")
            assert response.status_code in (200, 204)
            if response.status_code == 200:
                decoded = mapbox_vector_tile.decode(response.content)
                assert decoded["communes_2024"]["features"]
                first = first or ((z, x, y), response.content)
                sizes += len(response.content)
        assert sizes > 2 * BOUND, "the tiles asked for must exceed both bounds for the test to mean anything"
        caches = _caches(server)["tiles"]
        memory, disk = caches["memory"], caches["disk"]
        assert memory["bytes"] <= memory["max_bytes"] == BOUND and memory["evictions"] > 0
        assert disk["bytes"] <= disk["max_bytes"] == BOUND
        assert 0 < disk["entries"] < len(inside)
        # an evicted tile is made again, the same bytes
        assert first is not None
        (z, x, y), content = first
        again = client.get(f"/ogc/collections/communes_2024/tiles/WebMercatorQuad/{z}/{y}/{x}")
        assert again.content == content
        on_disk = sum(p.stat().st_size for p in tiles_dir.rglob("tiles.sqlite*") if p.is_file())
        assert on_disk < 2 * BOUND + 1024 * 1024  # tiles, SQLite pages and index, a write-ahead log of 1 MB at most
    with sqlite3.connect(next(tiles_dir.glob("*/tiles.sqlite"))) as con:
        stored, count = con.execute("SELECT total(size), count(*) FROM tiles").fetchone()
    assert stored <= BOUND and count == disk["entries"]


def test_empty_tiles_are_counted_not_written(built: Built, tmp_path: Path) -> None:
    env = {
        "ATLAS_CACHE_DIR": str(built.settings.cache_dir),
        "ATLAS_TILE_CACHE_DIR": str(tmp_path / "tiles"),
        "ATLAS_TILE_MEMORY_MB": "1",
    }
    far = TMS.tile(100.0, 40.0, 14)  # far north of the province, in China: empty for every layer
    asked = 6000  # more empty tiles than 1 MB holds at ENTRY_OVERHEAD bytes each
    with LiveServer(built.path, env=env) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        for k in range(asked):
            response = client.get(f"/tiles/poverty_rate_units_2025/14/{far.x + k % 100}/{far.y + k // 100}.png")
            assert response.status_code == 204 and response.content == b""
        memory = _caches(server)["tiles"]["memory"]
        disk = _caches(server)["tiles"]["disk"]
        assert memory["empty_entries"] == memory["entries"]
        assert memory["entries"] * ENTRY_OVERHEAD <= memory["bytes"] <= 1024 * 1024
        assert memory["entries"] < asked and memory["evictions"] == asked - memory["entries"]
        assert disk["entries"] == 0  # nothing written for empty tiles
        # a non-empty tile beside them still renders and is stored
        point = Warehouse.open(built.path).frame("units_2025").geometry.iloc[0].representative_point()
        tile = TMS.tile(point.x, point.y, 11)
        png = client.get(f"/tiles/poverty_rate_units_2025/11/{tile.x}/{tile.y}.png")
        assert png.status_code == 200
        alpha = np.asarray(Image.open(io.BytesIO(png.content)).convert("RGBA"))[..., 3]
        assert alpha.max() > 0
        assert _caches(server)["tiles"]["disk"]["entries"] == 1


def test_map_cache_keeps_maps_within_its_bound(built: Built) -> None:
    env = {"ATLAS_CACHE_DIR": str(built.settings.cache_dir), "ATLAS_MAP_CACHE_MB": "1"}
    with LiveServer(built.path, env=env) as server, httpx.Client(base_url=server.url, timeout=300) as client:
        slugs = [m["id"] for m in client.get("/maps/?f=json").json()["maps"] if m["kind"] == "unit"][:4]
        bodies = {}
        for slug in slugs:
            page = client.get(f"/maps/{slug}.html")
            assert page.status_code == 200 and "<html" in page.text[:200].lower()
            bodies[slug] = page.content
        maps = _caches(server)["maps"]
        assert sum(len(b) for b in bodies.values()) > 1024 * 1024 > max(len(b) for b in bodies.values())
        assert maps["bytes"] <= maps["max_bytes"] == 1024 * 1024 and maps["evictions"] >= 1
        assert client.get(f"/maps/{slugs[0]}.html").content == bodies[slugs[0]]  # made again, the same map


@pytest.mark.parametrize("workers", [2])
def test_serve_with_two_workers(built: Built, workers: int) -> None:
    env = {"ATLAS_CACHE_DIR": str(built.settings.cache_dir), "ATLAS_WORKERS": str(workers)}
    with LiveServer(built.path, env=env) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        pids = set()
        for _ in range(200):
            # a fresh connection each time: the kernel hands connections to either worker
            health = httpx.get(f"{server.url}/health", timeout=30, headers={"Connection": "close"}).json()
            assert health["status"] == "ok" and health["fingerprint"]
            pids.add(health["worker"])
            if len(pids) == workers:
                break
        assert len(pids) == workers
        assert server.process is not None and server.process.pid not in pids  # the supervisor does not serve
        collection = client.get("/ogc/collections/units_2025/items/03646", headers={"Accept-Encoding": "gzip"})
        assert collection.status_code == 200 and collection.json()["properties"]["name"] == "Tô Hiệu"
