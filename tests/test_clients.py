"""What real clients send, recorded through a loopback proxy: QGIS's OAPIF provider and headless Chromium.

The benchmarks replay these headers and QGIS's paging (bench/clients/*.json). When a client starts to send
something else, these tests fail; `ATLAS_RECORD_CLIENTS=1` rewrites the files from what was recorded.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import shapely

from geo.settings import PROJECT_ROOT
from layers.warehouse import read_table
from tests.conftest import Built, LiveServer, free_port
from tests.recording import Recorded, RecordingProxy
from tests.test_qgis import QGIS_PYTHON
from tests.test_qgis import REASON as QGIS_MISSING

CLIENTS = PROJECT_ROOT / "bench" / "clients"
VIEW = (103.8, 21.2, 104.2, 21.5)  # a QGIS map view around Sơn La city
SKIPPED_HEADERS = ("host",)


@pytest.fixture(scope="module")
def server(built: Built) -> Iterator[LiveServer]:
    with LiveServer(built.path, env={"ATLAS_CACHE_DIR": str(built.settings.cache_dir)}) as live:
        yield live


def _headers(request: Recorded) -> dict[str, str]:
    return {k: v for k, v in sorted(request.headers.items()) if k not in SKIPPED_HEADERS}


def _compare(name: str, recorded: dict[str, object]) -> dict[str, object]:
    """The committed record of a client, rewritten first when ATLAS_RECORD_CLIENTS is set."""
    path = CLIENTS / f"{name}.json"
    if os.environ.get("ATLAS_RECORD_CLIENTS"):
        path.write_text(json.dumps(recorded, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    committed: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return committed


@pytest.mark.skipif(QGIS_MISSING is not None, reason=QGIS_MISSING or "")
def test_qgis_headers_and_paging_are_the_recorded_ones(built: Built) -> None:
    port = free_port()
    # the server's links (next pages) name the proxy, so that every page QGIS asks for is recorded
    with (
        RecordingProxy(f"http://127.0.0.1:{port}") as proxy,
        LiveServer(
            built.path, port=port, env={"ATLAS_CACHE_DIR": str(built.settings.cache_dir), "ATLAS_PUBLIC_URL": proxy.url}
        ),
    ):
        result = subprocess.run(
            [
                QGIS_PYTHON,
                str(PROJECT_ROOT / "scripts" / "qgis_check.py"),
                f"{proxy.url}/ogc",
                "villages",
                "--bbox=" + ",".join(map(str, VIEW)),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    villages = read_table(built.path, "villages")
    inside = int(shapely.intersects(villages.geometry.values, shapely.box(*VIEW)).sum())
    assert report["valid"] is True and report["count"] == inside > 0
    items = [r for r in proxy.requests if urlsplit(r.path).path.endswith("/collections/villages/items")]
    pages = [r for r in items if "bbox" in parse_qs(urlsplit(r.path).query)]
    assert pages, [r.path for r in proxy.requests]
    queries = [parse_qs(urlsplit(r.path).query) for r in pages]
    page_size = int(queries[0]["limit"][0])
    assert len(pages) == math.ceil(inside / page_size)  # QGIS asks for the view, page by page
    bbox = [float(v) for v in queries[0]["bbox"][0].split(",")]
    assert shapely.box(*bbox).equals_exact(shapely.box(*VIEW), 1e-9)
    recorded = {
        "client": f"QGIS {report['qgis']} (OAPIF provider)",
        "headers": _headers(pages[0]),
        "page_size": page_size,
        "requests": [r.path.removeprefix("/ogc") for r in proxy.requests],
    }
    committed = _compare("qgis", recorded)
    assert committed["headers"] == recorded["headers"], "QGIS sends other headers: ATLAS_RECORD_CLIENTS=1 to update"
    assert committed["page_size"] == recorded["page_size"]
    assert "gzip" in str(recorded["headers"]).lower()  # QGIS asks for compressed answers


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_browser_headers_are_the_recorded_ones(server: LiveServer, tmp_path: Path) -> None:
    with RecordingProxy(server.url) as proxy:
        result = subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--dump-dom",
                f"{proxy.url}/maps/",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Sơn La" in result.stdout  # the maps index came through the proxy and was read
    page = next(r for r in proxy.requests if r.path == "/maps/")
    headers = _headers(page)
    recorded = {"client": headers.get("user-agent", "chromium").split(" ")[-2], "headers": headers}
    committed = _compare("chromium", recorded)
    committed_headers = committed["headers"]
    assert isinstance(committed_headers, dict)
    assert committed_headers["accept-encoding"] == headers["accept-encoding"]
    # Accept lists image formats that vary between Chromium releases (156 adds image/jxl); a page is asked as HTML
    assert committed_headers["accept"].split(",")[0] == headers["accept"].split(",")[0] == "text/html"
