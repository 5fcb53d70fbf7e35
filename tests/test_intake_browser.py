"""The whole intake in a real browser (Playwright + Debian Chromium): an officer logs in, downloads the template,
sends a file with two mistakes, reads them in the page, sends the fixed file; the reviewer compares and approves;
the OGC API, the vector tiles and the web map show the new figure; the releases and the audit log show each step.

Screenshots of the intake and review pages go to ATLAS_SCREENSHOT_DIR when it is set (docs/img in the README).
"""

from __future__ import annotations

import gzip
import io
import math
import os
from pathlib import Path

import httpx
import mapbox_vector_tile
import pytest
from openpyxl import load_workbook

from geo.settings import DataSettings
from layers.intake import accounts_for
from tests.conftest import Built, LiveServer
from tests.test_intake import PASSWORD, deployment, filled, server_env  # noqa: F401 (fixture)
from tests.test_maps import CHROMIUM, NO_CHROMIUM

pytestmark = [pytest.mark.integration, pytest.mark.skipif(NO_CHROMIUM is not None, reason=NO_CHROMIUM or "")]


def _log_in(page: object, url: str, username: str) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/intake/")


def _pdf_text(data: bytes, folder: Path) -> str:
    """The text of a PDF (pdftotext when poppler is installed, else the raw bytes' text)."""
    import shutil
    import subprocess

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = folder / "sheet.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def test_officer_and_reviewer_in_a_browser(built: Built, deployment: DataSettings, tmp_path: Path) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("ATLAS_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    store = accounts_for(deployment)
    unit = store.user("officer.a").units[0]
    env = server_env(deployment, ATLAS_INTAKE_MAX_RATE_CHANGE="5")
    with LiveServer(deployment.warehouse, env=env) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        officer = browser.new_page(viewport={"width": 1200, "height": 900}, accept_downloads=True)
        _log_in(officer, server.url, "officer.a")
        assert "Tiếp nhận số liệu rà soát năm 2026" in officer.inner_text("h1")
        with officer.expect_download() as download:
            officer.click("#template")
        template = Path(download.value.path()).read_bytes()
        rows = load_workbook(io.BytesIO(template)).worksheets[0]
        villages = sum(1 for r in range(5, rows.max_row + 1) if rows.cell(r, 2).value == unit)

        wrong = tmp_path / "ra-soat-loi.xlsx"
        wrong.write_bytes(filled(template, errors=True))
        officer.set_input_files("#file", str(wrong))
        officer.click("form[action='/intake/submissions'] button[type=submit]")
        officer.wait_for_selector("#report")
        assert "not accepted" in officer.inner_text("#upload-error")
        report = officer.inner_text("#report")
        assert "column F" in report and "exceed households" in report and "column E" in report
        officer.screenshot(path=str(shots / "intake.png"), full_page=True)

        fixed = tmp_path / "ra-soat.xlsx"
        fixed.write_bytes(filled(template))
        officer.set_input_files("#file", str(fixed))
        officer.click("form[action='/intake/submissions'] button[type=submit]")
        officer.wait_for_url(f"{server.url}/intake/submissions/*")
        assert "pending" in officer.inner_text("#status")
        officer.click("nav form button[type=submit]")  # log out
        officer.wait_for_url(f"{server.url}/login")

        reviewer = browser.new_page(viewport={"width": 1200, "height": 900})
        _log_in(reviewer, server.url, "reviewer")
        reviewer.click("#pending a")
        reviewer.wait_for_selector("#comparison")
        table = reviewer.inner_text("#comparison")
        assert unit in table and "Số hộ nghèo / Poor households" in table
        flagged = reviewer.locator("#comparison tr.flag")
        assert flagged.count() >= 1 and "poverty rate moves" in flagged.first.inner_text()  # 8% against < 3%
        reviewer.click("#deprivations summary")
        assert "Thiếu hụt: Việc làm / Deprived: Employment" in reviewer.inner_text("#deprivations")
        reviewer.click("#deprivations summary")
        reviewer.screenshot(path=str(shots / "review.png"), full_page=True)
        reviewer.click("#approve button", no_wait_after=True)  # the rebuild behind it can take a while
        reviewer.wait_for_selector("#status.status-approved", timeout=900_000)
        assert "release 2" in reviewer.inner_text("#status")
        reviewer.goto(f"{server.url}/releases")
        assert "submission 1 by officer.a" in reviewer.inner_text("#releases")
        reviewer.goto(f"{server.url}/audit")
        audit = reviewer.inner_text("#audit")
        for action in ("login", "upload-refused", "upload", "logout", "approve", "release"):
            assert f"\t{action}\t" in audit, action
        browser.close()

        # the OGC API, a vector tile and the web map show the new figure, and say which release they show
        expected = 150 * villages
        answer = httpx.get(
            f"{server.url}/ogc/collections/indicators_units_2025/items",
            params={"unit_code": unit, "f": "json"},
            timeout=120,
        )
        assert answer.headers["atlas-release"].startswith("2; date=")
        props = answer.json()["features"][0]["properties"]
        assert props["households"] == expected and props["poor_rate"] == 8.0 and props["latest_year"] == 2026
        assert "intake" not in props["sources"] and "import: submission-1" in props["sources"]
        feature = answer.json()["features"][0]
        ring = feature["geometry"]["coordinates"][0][0]
        lon, lat = sum(c[0] for c in ring) / len(ring), sum(c[1] for c in ring) / len(ring)
        x, y = _tile(lon, lat, 9)
        tile = httpx.get(
            f"{server.url}/ogc/collections/indicators_units_2025/tiles/WebMercatorQuad/9/{y}/{x}",
            headers={"accept-encoding": "gzip"},
            timeout=120,
        )
        body = tile.content
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        decoded = mapbox_vector_tile.decode(body)
        units = [f["properties"] for layer in decoded.values() for f in layer["features"]]
        assert any(u.get("unit_code") == unit and u.get("households") == expected for u in units)
        maps = httpx.get(f"{server.url}/maps/?f=json", timeout=60).json()["maps"]
        slug = next(m["id"] for m in maps if m["code"] == unit)
        web = httpx.get(f"{server.url}/maps/{slug}.html", timeout=600).text
        assert f"{expected:,}".replace(",", ".") in web and "8,00%" in web
        assert "bản phát hành / release 2, " in web
        sheet = httpx.get(f"{server.url}/maps/print/{slug}.pdf?paper=A4", timeout=600)
        assert sheet.content.startswith(b"%PDF") and "release 2" in _pdf_text(sheet.content, tmp_path)
