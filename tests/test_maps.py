"""Web maps in headless Chromium and printed maps through poppler, served over real HTTP."""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from layers.mapdata import MapError, map_data_for
from layers.printmap import PrintOptions, build_print_map, overlapping_pairs
from layers.store import Warehouse
from layers.styles import POVERTY_RATE, PRIORITY_TIER, hex_to_rgba
from tests.conftest import Built, LiveServer

CHROMIUM = os.environ.get("ATLAS_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
NO_CHROMIUM = None if Path(CHROMIUM).is_file() else f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
NO_POPPLER = None if shutil.which("pdftoppm") else "poppler-utils is not installed (apt-get install poppler-utils)"
MAI_SON = "125"


@pytest.fixture(scope="module")
def server(built: Built) -> Iterator[LiveServer]:
    with LiveServer(built.path, env={"ATLAS_CACHE_DIR": str(built.settings.cache_dir)}) as live:
        yield live


def _browse(path: Path, actions: str = "") -> dict[str, object]:
    """Open a saved map in headless Chromium; return console errors, outside requests and page facts."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        page.goto(path.as_uri())
        page.wait_for_timeout(800)
        facts = page.evaluate(
            """() => {
            const MAIN = '.folium-map > .leaflet-map-pane > .leaflet-overlay-pane';  // not the minimap's
            return {
                paths: document.querySelectorAll(MAIN + ' path').length,
                fills: Array.from(document.querySelectorAll(MAIN + ' path.leaflet-interactive'))
                    .map(p => p.getAttribute('fill')),
                demo: document.querySelector('.atlas-demo') ? document.querySelector('.atlas-demo').innerText : '',
                legend: document.querySelector('.atlas-legend').innerText,
                layers: Array.from(document.querySelectorAll('.leaflet-control-layers label')).map(l => l.innerText),
                title: document.title,
            };}"""
        )
        if actions:
            facts["after"] = page.evaluate(actions)
        browser.close()
    return {"problems": problems, "outside": outside, **facts}


@pytest.mark.skipif(NO_CHROMIUM is not None, reason=NO_CHROMIUM or "")
def test_district_web_map_draws_every_feature_offline(server: LiveServer, built: Built, tmp_path: Path) -> None:
    response = httpx.get(f"{server.url}/maps/district-{MAI_SON}.html", timeout=120)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = tmp_path / "mai-son.html"
    page.write_bytes(response.content)
    assert b'src="http' not in response.content and b'rel="stylesheet" href="http' not in response.content

    data = map_data_for(Warehouse.open(built.path))
    scope = data.by_slug(f"district-{MAI_SON}")
    units = data.units_in(scope)
    expected = (
        2 * len(units)  # the poverty choropleth and the 2025 outlines
        + len(data.select("roads", scope))
        + len(data.select("demo_villages", scope))
        + len(data.select("investment_plan", scope))
        + len(data.select("investment_plan_roads", scope))
    )
    # click the first unit, then switch the base layer to the priority tiers
    facts = _browse(
        page,
        """() => {
            const MAIN = '.folium-map > .leaflet-map-pane > .leaflet-overlay-pane';
            const unit = document.querySelector(MAIN + ' path.leaflet-interactive');
            unit.dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: 700, clientY: 450}));
            const popup = document.querySelector('.leaflet-popup-content');
            const radios = Array.from(document.querySelectorAll('.leaflet-control-layers-base input'));
            radios[1].click();
            return {
                popup: popup ? popup.innerText : '',
                fills: Array.from(document.querySelectorAll(MAIN + ' path.leaflet-interactive'))
                    .map(p => p.getAttribute('fill')),
            };
        }""",
    )
    assert facts["problems"] == [] and facts["outside"] == []
    assert facts["paths"] == expected
    fills = {f.lower() for f in facts["fills"] if f}  # type: ignore[union-attr]
    assert {POVERTY_RATE.colour(v) for v in units["poor_rate"]} <= fills
    assert "Dữ liệu minh họa" in str(facts["demo"]) and "Demo data" in str(facts["demo"])
    for label in (*POVERTY_RATE.labels(), *PRIORITY_TIER.labels()):
        assert label in str(facts["legend"])
    assert any("Ranh giới xã trước sáp nhập (2024)" in label for label in facts["layers"])  # type: ignore[union-attr]
    after = facts["after"]
    assert isinstance(after, dict)
    assert "Tỷ lệ hộ nghèo / poverty rate" in after["popup"] and "Mức ưu tiên / priority tier" in after["popup"]
    tier_fills = {f.lower() for f in after["fills"] if f}
    assert {PRIORITY_TIER.colours[int(t)] for t in units["tier"]} <= tier_fills


@pytest.mark.skipif(NO_CHROMIUM is not None, reason=NO_CHROMIUM or "")
def test_atlas_maps_writes_a_province_map_that_loads(built: Built, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.cli",
            "maps",
            "--only",
            "province",
            "-w",
            str(built.path),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert 'href="province.html"' in index and "Tỉnh Sơn La" in index
    facts = _browse(tmp_path / "province.html")
    assert facts["problems"] == [] and facts["outside"] == []
    data = map_data_for(Warehouse.open(built.path))
    villages = len(data.layers["demo_villages"])
    plan = len(data.layers["investment_plan"]) + len(data.layers["investment_plan_roads"])
    assert facts["paths"] == 2 * 75 + 12 + villages + plan  # units twice, former districts, villages, plan


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "sheet.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(NO_POPPLER is not None, reason=NO_POPPLER or "")
def test_district_pdf_has_its_furniture_and_renders(server: LiveServer, built: Built, tmp_path: Path) -> None:
    response = httpx.get(f"{server.url}/maps/print/district-{MAI_SON}.pdf", params={"paper": "A3"}, timeout=180)
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    text = _pdf_text(response.content, tmp_path)
    data = map_data_for(Warehouse.open(built.path))
    units = data.units_in(data.by_slug(f"district-{MAI_SON}"))
    assert "TỶ LỆ HỘ NGHÈO NĂM 2025 – HUYỆN MAI SƠN (CŨ)" in text
    assert "Former Mai Sơn district" in text and "DỮ LIỆU MINH HỌA" in text
    for label in POVERTY_RATE.labels():
        assert label in text
    for name in units["unit_name"]:
        assert name in text, name  # in the priority table, with diacritics
    assert "GeoNames" in text and "CC BY 4.0" in text and f"Ngày in / printed: {dt.date.today().isoformat()}" in text
    assert "21°" in text and "104°" in text  # the coordinate grid
    info = subprocess.run(["pdfinfo", str(tmp_path / "sheet.pdf")], capture_output=True, text=True, check=True).stdout
    assert "1190.55 x 841.89 pts" in info  # A3 landscape
    fonts = subprocess.run(["pdffonts", str(tmp_path / "sheet.pdf")], capture_output=True, text=True).stdout
    assert "DejaVuSans" in fonts and "Type 3" not in fonts
    # rendered by poppler: the choropleth's colours are on the page
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(tmp_path / "sheet.pdf"), str(tmp_path / "page")], check=True)
    image = np.asarray(Image.open(next(tmp_path.glob("page*.png"))).convert("RGB"))
    assert image.shape[:2] == (math.ceil(297 / 25.4 * 40), math.ceil(420 / 25.4 * 40))
    for value in units["poor_rate"]:
        rgb = np.array(hex_to_rgba(POVERTY_RATE.colour(float(value)))[:3])
        assert (np.abs(image.astype(int) - rgb).max(axis=2) <= 3).sum() > 20


@pytest.mark.skipif(NO_POPPLER is not None, reason=NO_POPPLER or "")
def test_atlas_print_a4_portrait_pdf_and_png(built: Built, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", "scripts.cli", "print", "--district", "mai son", "--unit", "Chiềng Mung",
            "--paper", "A4", "--orientation", "portrait", "--format", "both", "--indicator", "priority",
            "-w", str(built.path), "--out", str(tmp_path), "--workers", "2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    png = tmp_path / f"district-{MAI_SON}_A4_portrait_priority.png"
    pdf = tmp_path / "unit-04123_A4_portrait_priority.pdf"
    assert png.is_file() and pdf.is_file()
    assert Image.open(png).size == (int(210 / 25.4 * 150), int(297 / 25.4 * 150))  # A4 at 150 dpi
    text = _pdf_text(pdf.read_bytes(), tmp_path)
    assert "MỨC ƯU TIÊN ĐẦU TƯ – XÃ CHIỀNG MUNG" in text
    for label in PRIORITY_TIER.labels():
        assert label in text
    bad = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "print", "--district", "Atlantis", "-w", str(built.path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "unknown district 'Atlantis'" in bad.stderr and "Huyện Mai Sơn" in bad.stderr


def test_labels_do_not_collide(built: Built) -> None:
    data = map_data_for(Warehouse.open(built.path))
    for slug in (f"district-{MAI_SON}", "province", "unit-04123"):
        scope = data.by_slug(slug)
        fig, labels = build_print_map(data, scope, PrintOptions(paper="A4", orientation="portrait"))
        fig.canvas.draw()
        assert overlapping_pairs(labels) == 0
        names = {t.get_text() for t in labels}
        units = data.units_in(scope)["unit_name"]
        short = {n.replace("Phường ", "P. ").replace("Xã ", "") for n in units}
        assert len(short & names) >= 0.9 * len(short), slug  # (nearly) every unit is named


def test_bad_map_requests(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/maps/district-999.html", timeout=30).status_code == 404
    assert httpx.get(f"{server.url}/maps/print/province.pdf", params={"paper": "A5"}, timeout=30).status_code == 400
    assert httpx.get(f"{server.url}/maps/print/province.svg", timeout=30).status_code in (400, 404)
    listing = httpx.get(f"{server.url}/maps/", params={"f": "json"}, timeout=30).json()
    assert len(listing["maps"]) == 1 + 12 + 75 and listing["synthetic"] is True
    with pytest.raises(MapError, match="paper"):
        PrintOptions(paper="A5")  # type: ignore[arg-type]


def test_png_sheet_over_http(server: LiveServer) -> None:
    response = httpx.get(
        f"{server.url}/maps/print/province.png", params={"paper": "A4", "orientation": "landscape"}, timeout=180
    )
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (int(297 / 25.4 * 150), int(210 / 25.4 * 150))
