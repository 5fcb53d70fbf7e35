"""The two stores side by side, over real HTTP: the GeoPackage and the same build published to PostGIS.

The same request gives the same features, properties, ids and geometries from either store, and the same
tiles' features; processes answer the same. Two servers on one database answer byte for byte alike, and
both switch to a newly published build (and back, on a rollback) within seconds, without a restart. A server
pointed at a database it cannot serve from says so in one line. (tests/test_ogc.py runs the whole features
contract against each store; tests/test_publish.py kills a publisher midway.)
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import mapbox_vector_tile
import pytest

from layers.catalog import CATALOG
from layers.publish import publish
from tests.conftest import Built, LiveServer, needs_database, new_database

pytestmark = needs_database


@pytest.fixture(scope="module")
def servers(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LiveServer]]:
    """One server on the GeoPackage and one on the same build published to a new database."""
    env = {"ATLAS_CACHE_DIR": str(built.settings.cache_dir), "ATLAS_PRELOAD": "false"}
    with new_database() as url:
        publish(url, built.path)
        pg_env = {**env, "ATLAS_DATABASE_URL": url, "ATLAS_TILE_CACHE_DIR": str(tmp_path_factory.mktemp("tiles"))}
        with LiveServer(built.path, env=env) as gpkg, LiveServer(built.path, env=pg_env) as pg:
            yield {"geopackage": gpkg, "postgis": pg}


def _json(server: LiveServer, path: str, **params: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/ogc{path}", params={"f": "json", **params}, timeout=120)
    assert response.status_code == 200, f"{path} {params}: {response.status_code} {response.text[:300]}"
    body: dict[str, Any] = response.json()
    return body


SPATIAL = [s.id for s in CATALOG if s.is_spatial]
QUERIES: list[tuple[str, dict[str, str]]] = [
    *((f"/collections/{s.id}/items", {"limit": "40"}) for s in CATALOG if s.collection),
    *((f"/collections/{s.id}/items", {"limit": "25", "offset": "30"}) for s in CATALOG if s.collection),
    ("/collections/units_2025/items", {"sortby": "-area_km2", "limit": "10"}),
    ("/collections/units_2025/items", {"sortby": "unit_type,name", "limit": "75", "skipGeometry": "true"}),
    ("/collections/demo_villages/items", {"sortby": "-households", "bbox": "103.8,21.2,104.0,21.4", "limit": "60"}),
    ("/collections/villages/items", {"q": "chieng", "limit": "100"}),
    ("/collections/villages/items", {"q": "ban na", "limit": "100", "properties": "name,geonameid"}),
    ("/collections/commune_indicators/items", {"datetime": "2022/2023", "limit": "100", "sortby": "-poor_rate"}),
    ("/collections/commune_indicators/items", {"datetime": "2024", "vintage": "2024", "limit": "50"}),
    ("/collections/indicators_communes_2024/items", {"filter": "region_class = 3 AND poor_rate > 20", "limit": "200"}),
    ("/collections/units_2025/items", {"filter": "name LIKE 'Chiềng%' OR unit_type IN ('Phường')", "limit": "100"}),
    ("/collections/units_2025/items", {"filter": "area_km2 BETWEEN 100 AND 200 AND NOT name LIKE 'M%'"}),
    ("/collections/units_2025/items", {"filter": "S_INTERSECTS(geometry, POINT(103.91 21.33))"}),
    (
        "/collections/demo_villages/items",
        {"filter": "S_WITHIN(geometry, POLYGON((103.8 21.2, 104.0 21.2, 104.0 21.4, 103.8 21.4, 103.8 21.2)))"},
    ),
    ("/collections/demo_villages/items", {"filter": "households * 2 > 600 AND especially_difficult = true"}),
    ("/collections/roads/items", {"bbox": "103.85,21.28,103.95,21.36", "limit": "500", "sortby": "-road_class"}),
    ("/collections/units_2025/items", {"district_name": "Thành phố Sơn La", "skipGeometry": "true"}),
    ("/collections/units_2025/items", {"limit": "3", "crs": "http://www.opengis.net/def/crs/EPSG/0/3405"}),
]


def _same_features(path: str, params: dict[str, str], a: dict[str, Any], b: dict[str, Any]) -> None:
    where = f"{path} {params}"
    assert a["numberMatched"] == b["numberMatched"], where
    assert [f["id"] for f in a["features"]] == [f["id"] for f in b["features"]], where
    for fa, fb in zip(a["features"], b["features"], strict=True):
        assert fa["properties"] == fb["properties"], f"{where}: feature {fa['id']}"
        assert fa["geometry"] == fb["geometry"], f"{where}: geometry of feature {fa['id']}"


@pytest.mark.parametrize(("path", "params"), QUERIES, ids=[f"{p} {q}" for p, q in QUERIES])
def test_the_same_request_gives_the_same_features_from_either_store(
    servers: dict[str, LiveServer], path: str, params: dict[str, str]
) -> None:
    a = _json(servers["geopackage"], path, **params)
    b = _json(servers["postgis"], path, **params)
    _same_features(path, params, a, b)
    assert a["numberReturned"] > 0 or a["numberMatched"] <= int(params.get("offset", "0")), "a query that tests nothing"


@pytest.mark.parametrize("layer", [s.id for s in CATALOG if s.key])
def test_single_items_are_the_same_from_either_store(servers: dict[str, LiveServer], layer: str) -> None:
    page = _json(servers["geopackage"], f"/collections/{layer}/items", limit="3", offset="7")
    for feature in page["features"]:
        a = _json(servers["geopackage"], f"/collections/{layer}/items/{feature['id']}")
        b = _json(servers["postgis"], f"/collections/{layer}/items/{feature['id']}")
        assert (a["id"], a["properties"], a["geometry"]) == (b["id"], b["properties"], b["geometry"])


TILES = [
    ("units_2025", 8, 201, 112),
    ("indicators_units_2025", 8, 201, 112),
    ("priority_units_2025", 9, 403, 225),
    ("demo_villages", 10, 807, 449),
    ("villages", 12, 3230, 1799),
    ("health_stations", 9, 403, 224),
    ("roads", 11, 1615, 899),
]


def _tile(server: LiveServer, layer: str, z: int, x: int, y: int) -> dict[int, dict[str, Any]]:
    response = httpx.get(f"{server.url}/ogc/collections/{layer}/tiles/WebMercatorQuad/{z}/{y}/{x}", timeout=120)
    assert response.status_code == 200, (layer, z, x, y, response.status_code)
    assert response.headers["content-type"].startswith("application/vnd.mapbox-vector-tile")
    decoded = mapbox_vector_tile.decode(response.content)
    assert list(decoded) == [layer]
    return {f["id"]: f for f in decoded[layer]["features"]}


@pytest.mark.parametrize(("layer", "z", "x", "y"), TILES)
def test_tiles_from_the_database_carry_the_same_features(
    servers: dict[str, LiveServer], layer: str, z: int, x: int, y: int
) -> None:
    memory = _tile(servers["geopackage"], layer, z, x, y)
    database = _tile(servers["postgis"], layer, z, x, y)
    assert memory, f"{layer} {z}/{x}/{y} is empty: a tile that tests nothing"
    common = memory.keys() & database.keys()
    # simplification differs (shared-edge in memory, per feature in PostGIS): a polygon grazing the buffer may
    # be kept by one and not the other; points and the features well inside are the same
    assert len(common) >= 0.97 * max(len(memory), len(database)), (len(memory), len(database), len(common))
    if next(s for s in CATALOG if s.id == layer).geometry_kind == "point":
        assert memory.keys() == database.keys()
    for fid in common:
        assert memory[fid]["properties"] == database[fid]["properties"], f"{layer} feature {fid}"
        kinds = (memory[fid]["geometry"]["type"], database[fid]["geometry"]["type"])
        assert kinds[0].removeprefix("Multi") == kinds[1].removeprefix("Multi")  # one part left: either way


def test_tilejson_and_styles_describe_the_same_fields(servers: dict[str, LiveServer]) -> None:
    for layer in ("indicators_units_2025", "demo_villages"):
        path = f"/collections/{layer}/tiles/WebMercatorQuad/tilejson"
        a, b = _json(servers["geopackage"], path), _json(servers["postgis"], path)
        assert a["vector_layers"] == b["vector_layers"] and a["vector_layers"][0]["fields"]
        style = f"/collections/{layer}/styles/default"
        assert _json(servers["geopackage"], style)["layers"] == _json(servers["postgis"], style)["layers"]


def test_processes_answer_the_same_from_either_store(servers: dict[str, LiveServer]) -> None:
    inputs: dict[str, dict[str, Any]] = {
        "priority": {"scope": "villages", "limit": 15, "draws": 50},
        "plan": {"budget": 20e9, "next_best": 3},
    }
    for process, body in inputs.items():
        answers = []
        for server in servers.values():
            response = httpx.post(f"{server.url}/ogc/processes/{process}/execution", json={"inputs": body}, timeout=600)
            assert response.status_code == 200, response.text[:500]
            answers.append(response.json())
        a, b = answers
        if process == "priority":
            assert [f["properties"] for f in a["ranking"]["features"]] == [
                f["properties"] for f in b["ranking"]["features"]
            ]
        else:  # the same plan; only the solver's time differs
            assert json.dumps(_timeless(a), sort_keys=True) == json.dumps(_timeless(b), sort_keys=True)


def _timeless(value: Any) -> Any:
    """A JSON value without its timings (keys naming seconds)."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def test_the_download_is_the_built_geopackage(servers: dict[str, LiveServer], built: Built) -> None:
    response = httpx.get(f"{servers['postgis'].url}/downloads/warehouse.gpkg", timeout=120)
    assert response.status_code == 200 and response.content == built.path.read_bytes()


# --- several servers on one database ---------------------------------------------------------------------------


def _renamed_build(source: Path, target: Path, fingerprint: str, code: str, name: str) -> None:
    """A copy of a build with another fingerprint and one unit renamed (what a new build would change)."""
    shutil.copyfile(source, target)
    with sqlite3.connect(target) as con:
        # the GeoPackage's R-tree triggers call SpatiaLite functions this SQLite lacks; no geometry changes here
        for (trigger,) in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'units_2025'"
        ):
            con.execute(f'DROP TRIGGER "{trigger}"')
        con.execute("UPDATE atlas_build SET value = ? WHERE key = 'fingerprint'", (fingerprint,))
        con.execute("UPDATE atlas_build SET value = ? WHERE key = 'built_at'", ("2026-12-03T09:00:00+00:00",))
        con.execute("UPDATE units_2025 SET name = ? WHERE code = ?", (name, code))


def _wait(check: Callable[[], bool], seconds: float = 30) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.2)
    return time.monotonic() - started


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.cli", *args], env={**os.environ, **env}, capture_output=True, text=True
    )


def test_two_servers_on_one_database_answer_alike_and_switch_together(built: Built, tmp_path: Path) -> None:
    item = "/ogc/collections/units_2025/items/03646?f=json"
    tile = "/ogc/collections/units_2025/tiles/WebMercatorQuad/12/1799/3230"
    with new_database() as url:
        publish(url, built.path)
        env = {
            "ATLAS_DATABASE_URL": url,
            "ATLAS_DATABASE_POLL_SECONDS": "1",
            "ATLAS_CACHE_DIR": str(built.settings.cache_dir),
            "ATLAS_PRELOAD": "false",
            "ATLAS_PUBLIC_URL": "http://atlas.example.org",  # behind one load balancer, as deployed
        }
        one_env = {**env, "ATLAS_TILE_CACHE_DIR": str(tmp_path / "tiles-1")}
        two_env = {**env, "ATLAS_TILE_CACHE_DIR": str(tmp_path / "tiles-2"), "ATLAS_WORKERS": "2"}
        with LiveServer(built.path, env=one_env) as one, LiveServer(built.path, env=two_env) as two:
            first = [httpx.get(s.url + item, timeout=60) for s in (one, two)]
            assert first[0].content == first[1].content and first[0].headers["ETag"] == first[1].headers["ETag"]
            tiles = [httpx.get(s.url + tile, timeout=60) for s in (one, two)]
            assert tiles[0].content == tiles[1].content and tiles[0].headers["ETag"] == tiles[1].headers["ETag"]
            old_name = first[0].json()["properties"]["name"]

            renamed = tmp_path / "renamed.gpkg"
            _renamed_build(built.path, renamed, "f" * 64, "03646", "Tô Hiệu mới")
            published = _cli(["publish", "--warehouse", str(renamed)], {"ATLAS_DATABASE_URL": url})
            assert published.returncode == 0 and "number 2" in published.stdout, published.stderr[-2000:]

            def switched(name: str) -> Callable[[], bool]:
                def check() -> bool:
                    # every worker of either server (several requests reach both of the second one's workers)
                    answers = [httpx.get(s.url + item, timeout=60).json() for s in (one, two, two, two)]
                    return all(a["properties"]["name"] == name for a in answers)

                return check

            took = _wait(switched("Tô Hiệu mới"))
            assert took < 15
            for server in (one, two):
                assert httpx.get(server.url + "/health", timeout=30).json()["fingerprint"] == "f" * 64
            after = [httpx.get(s.url + item, timeout=60) for s in (one, two)]
            assert after[0].headers["ETag"] == after[1].headers["ETag"] != first[0].headers["ETag"]
            new_tiles = [httpx.get(s.url + tile, timeout=60) for s in (one, two)]
            assert new_tiles[0].content == new_tiles[1].content
            names = {f["properties"]["name"] for f in _decoded(new_tiles[0].content, "units_2025")}
            assert "Tô Hiệu mới" in names and old_name not in names  # no tile of the old build is served

            rolled = _cli(["publish", "--rollback"], {"ATLAS_DATABASE_URL": url})
            assert rolled.returncode == 0, rolled.stderr[-2000:]
            _wait(switched(old_name))
            back = httpx.get(one.url + item, timeout=60)
            assert back.headers["ETag"] == first[0].headers["ETag"] and back.content == first[0].content


def _decoded(content: bytes, layer: str) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = mapbox_vector_tile.decode(content)[layer]["features"]
    return features


def test_a_server_keeps_serving_when_its_publish_is_pruned(built: Built, tmp_path: Path) -> None:
    with new_database() as url:
        publish(url, built.path, keep=1)
        env = {"ATLAS_DATABASE_URL": url, "ATLAS_DATABASE_POLL_SECONDS": "60", "ATLAS_PRELOAD": "false"}
        with LiveServer(built.path, env={**env, "ATLAS_CACHE_DIR": str(built.settings.cache_dir)}) as server:
            items = f"{server.url}/ogc/collections/units_2025/items?f=json&limit=5"
            assert httpx.get(items, timeout=60).status_code == 200
            renamed = tmp_path / "renamed.gpkg"
            _renamed_build(built.path, renamed, "e" * 64, "03646", "Tô Hiệu mới")
            publish(url, renamed, keep=1)  # the served schema is dropped; the server still polls every minute
            response = httpx.get(items + "&offset=1", timeout=60)
            assert response.status_code == 200 and response.json()["numberMatched"] == 75


def test_serving_from_a_database_that_cannot_serve_says_why_in_one_line(built: Built) -> None:
    unreachable = _cli(["serve"], {"ATLAS_DATABASE_URL": "postgresql://atlas:secret@127.0.0.1:1/none"})
    line = " ".join(unreachable.stderr.split())
    assert unreachable.returncode == 1 and "Traceback" not in unreachable.stderr
    assert "ATLAS_DATABASE_URL" in line and "cannot connect" in line and "secret" not in line
    with new_database() as url:
        empty = _cli(["serve"], {"ATLAS_DATABASE_URL": url})
        assert empty.returncode == 1 and "nothing is published there" in " ".join(empty.stderr.split())
