"""The HTTP service over real HTTP: landing page, health and the GeoPackage download, decoded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pyogrio
import pytest

from api.app import create_app
from api.errors import NotFoundError, WarehouseUnavailableError, status_for
from api.settings import ServerSettings
from geo.errors import ChecksumError, InputDataError
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
    with pytest.raises(WarehouseUnavailableError, match=r"none\.gpkg; run `atlas build`"):
        create_app(ServerSettings(_env_file=None, warehouse=tmp_path / "none.gpkg"))  # type: ignore[call-arg]


def test_exception_status_map() -> None:
    assert status_for(NotFoundError("x")) == 404
    assert status_for(WarehouseUnavailableError("x")) == 503
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
