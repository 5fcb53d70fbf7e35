"""The HTTP service over real HTTP: landing page, health and the GeoPackage download, decoded; every route
without a warehouse, and with a build that lacks a layer."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import mapbox_vector_tile
import pyogrio
import pytest

from api.app import create_app
from api.errors import NotFoundError, status_for
from api.settings import ServerSettings
from geo.errors import ChecksumError, InputDataError
from layers.errors import BuildReplaced, LayerMissing, WarehouseMissing
from layers.tiles import TMS
from layers.warehouse import read_table
from tests.conftest import Built, LiveServer


def test_landing_health_and_download(built: Built, live_server: type[LiveServer], tmp_path: Path) -> None:
    with live_server(built.path) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        health = client.get("/health").json()
        assert health["status"] == "ok" and len(health["fingerprint"]) == 64

        doc = client.get("/", params={"f": "json"}).json()
        layers = {layer["layer"]: layer for layer in doc["layers"]}
        assert layers["units_2025"]["rows"] == 75 and layers["communes_2024"]["rows"] == 200
        assert "Nghị quyết 1681" in layers["units_2025"]["description_vi"]
        assert any(link["rel"] == "enclosure" for link in doc["links"])

        page = client.get("/", headers={"Accept": "text/html"})
        assert page.headers["content-type"].startswith("text/html")
        assert "Xã, phường từ 01/7/2025" in page.text and "Communes and wards from 1 July 2025" in page.text

        response = client.get("/downloads/warehouse.gpkg")
        assert response.headers["content-type"] == "application/geopackage+sqlite3"
        saved = tmp_path / "download.gpkg"
        saved.write_bytes(response.content)
        assert pyogrio.read_info(saved, layer="communes_2024")["features"] == 200

        bad = client.get("/", params={"f": "xml"})
        assert bad.status_code == 400 and bad.json()["code"] == "InvalidParameterValue"
        missing = client.get("/no/such/page")
        assert missing.status_code == 404 and missing.json()["code"] == "NotFound"


def test_missing_warehouse_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(WarehouseMissing, match=r"none\.gpkg: run `atlas build`"):
        create_app(ServerSettings(_env_file=None, warehouse=tmp_path / "none.gpkg"))  # type: ignore[call-arg]


def _without_layer(source: Path, target: Path, layer: str, built_at: str) -> None:
    """A copy of a warehouse as another build (its own build time) that lacks one layer."""
    shutil.copyfile(source, target)
    with sqlite3.connect(target) as con:
        rtrees = con.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE ? AND sql LIKE '%VIRTUAL%'", (f"rtree_{layer}_%",)
        )
        for (name,) in rtrees.fetchall():
            con.execute(f'DROP TABLE "{name}"')
        con.execute(f'DROP TABLE "{layer}"')
        for table in ("gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions", "gpkg_ogr_contents"):
            if con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
                con.execute(f"DELETE FROM {table} WHERE lower(table_name) = ?", (layer,))
        con.execute("UPDATE atlas_build SET value = ? WHERE key = 'built_at'", (built_at,))


def test_every_route_answers_503_without_the_warehouse_and_404_for_a_missing_layer(
    built: Built, warehouse_copy: Path, tmp_path: Path
) -> None:
    """The file removed under a running server: every reader answers 503 alike; a new build is noticed."""
    point = read_table(built.path, "units_2025").geometry.iloc[0].representative_point()
    tile = TMS.tile(point.x, point.y, 10)
    rows = [{"unit_code": "03646", "year": 2024, "households": 1200, "poor_households": 12}]
    env = {
        "ATLAS_CACHE_DIR": str(built.settings.cache_dir),
        "ATLAS_TILE_CACHE_DIR": str(tmp_path / "tiles"),
        "ATLAS_PRELOAD": "false",
        "ATLAS_PROCESS_WORKERS": "1",
    }

    def ask(client: httpx.Client) -> dict[str, httpx.Response]:
        return {
            "items": client.get("/ogc/collections/units_2025/items", params={"limit": 5, "f": "json"}),
            "tile": client.get(f"/ogc/collections/units_2025/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}"),
            "png": client.get(f"/tiles/poverty_rate_units_2025/{tile.z}/{tile.x}/{tile.y}.png"),
            "map": client.get("/maps/unit-03646.html"),
            "process": client.post("/ogc/processes/carry-to-2025/execution", json={"inputs": {"rows": rows}}),
            "landing": client.get("/", params={"f": "json"}),
            "download": client.get("/downloads/warehouse.gpkg"),
            "health": client.get("/health"),
        }

    with LiveServer(warehouse_copy, env=env) as server, httpx.Client(base_url=server.url, timeout=300) as client:
        served = ask(client)
        assert {name: r.status_code for name, r in served.items()} == dict.fromkeys(served, 200)
        assert [f["id"] for f in served["items"].json()["features"]] == list(
            read_table(built.path, "units_2025")["code"].astype(str)[:5]
        )
        assert mapbox_vector_tile.decode(served["tile"].content)["units_2025"]["features"]
        assert served["process"].json()["value"][0]["households"] == 1200
        before = served["health"].json()

        away = warehouse_copy.with_name("moved-away.gpkg")
        os.replace(warehouse_copy, away)
        missing = ask(client)
        for name, response in missing.items():
            assert response.status_code == 503, (name, response.text)
            assert response.headers["content-type"].startswith("application/json"), name
        bodies = {name: response.json() for name, response in missing.items()}
        assert bodies["health"]["code"] == "WarehouseMissing"
        assert "warehouse.gpkg" in bodies["health"]["description"] and str(tmp_path) not in str(bodies)
        assert all(body == bodies["health"] for body in bodies.values()), bodies  # one error, one answer

        os.replace(away, warehouse_copy)  # the same build again: served from what was loaded
        assert client.get("/health").json()["fingerprint"] == before["fingerprint"]
        assert client.get("/ogc/collections/units_2025/items", params={"limit": 5}).status_code == 200

        rebuilt = tmp_path / "rebuilt.gpkg"
        _without_layer(warehouse_copy, rebuilt, "bridges", "2030-01-01T00:00:00+00:00")
        os.replace(rebuilt, warehouse_copy)  # as `atlas build` replaces it
        health = client.get("/health").json()
        assert health["built_at"] == "2030-01-01T00:00:00+00:00"  # the new build is served, without a restart
        assert client.get("/", params={"f": "json"}).json()["built_at"] == health["built_at"]
        gone = {
            "items": client.get("/ogc/collections/bridges/items", params={"f": "json"}),
            "tile": client.get(f"/ogc/collections/bridges/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}"),
        }
        for name, response in gone.items():
            assert response.status_code == 404, (name, response.text)
            assert response.json()["code"] == "LayerMissing" and "bridges" in response.json()["description"]
        again = client.get("/ogc/collections/units_2025/items", params={"limit": 5, "f": "json"})
        assert again.status_code == 200 and again.headers["ETag"] != served["items"].headers["ETag"]


def test_exception_status_map() -> None:
    assert status_for(NotFoundError("x")) == 404
    assert status_for(WarehouseMissing("x")) == 503
    assert status_for(BuildReplaced("x")) == 503
    assert status_for(LayerMissing("x")) == 404
    assert status_for(InputDataError("f.csv", "bad", row=3)) == 400
    assert status_for(ChecksumError("s", "p", "a" * 64, "b" * 64)) == 503
    assert status_for(ValueError("x")) == 500


def test_printed_maps_revalidate_per_day() -> None:
    """A sheet carries its print date, so its validators change at midnight; other responses do not."""
    import asyncio
    from datetime import UTC, datetime

    from starlette.responses import PlainTextResponse

    from api.caching import CachingMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("sheet")(scope, receive, send)

    built = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)

    async def etags(day: int) -> tuple[str, str, int]:
        wrapped = CachingMiddleware(
            app,
            build=lambda: ("fp", built),
            daily=("/maps/print/",),
            clock=lambda: datetime(2026, 11, day, 9, tzinfo=UTC),
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://atlas") as client:
            sheet = await client.get("/maps/print/province.pdf")
            other = await client.get("/ogc/collections")
            since = {"If-Modified-Since": "Sun, 01 Nov 2026 10:00:00 GMT"}
            stale = await client.get("/maps/print/province.pdf", headers=since)
            return sheet.headers["ETag"], other.headers["ETag"], stale.status_code

    day1, day2 = asyncio.run(etags(1)), asyncio.run(etags(2))
    assert day1[0] != day2[0] and day1[1] == day2[1]
    assert day1[2] == 304 and day2[2] == 200  # a sheet of 1 November is stale on 2 November
