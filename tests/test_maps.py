"""Web maps in headless Chromium and printed maps through poppler, served over real HTTP."""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from geo.policy import Periods, Standards
from layers.mapdata import MapError, map_data_for
from layers.palette import DIFFICULT_FIELD, REGION_CLASS
from layers.printmap import PrintOptions, build_print_map, overlapping_pairs, panel_overlaps, render_print_map
from layers.profile import short_label
from layers.store import Warehouse
from layers.styles import POVERTY_RATE, PRIORITY_TIER, hex_to_rgba
from layers.warehouse import read_table
from layers.webmap import render_web_map
from tests.conftest import Built, LiveServer

CHROMIUM = os.environ.get("ATLAS_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
NO_CHROMIUM = None if Path(CHROMIUM).is_file() else f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
NO_POPPLER = None if shutil.which("pdftoppm") else "poppler-utils is not installed (apt-get install poppler-utils)"
MAI_SON = "125"
CHIENG_MUNG = "04123"
PERIOD = Periods.load().current  # 2026-2030


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
            const bars = Array.from(document.querySelectorAll('.leaflet-popup-content .atlas-dp i'))
                .map(i => i.getBoundingClientRect().width);
            const radios = Array.from(document.querySelectorAll('.leaflet-control-layers-base input'));
            radios[1].click();
            return {
                popup: popup ? popup.innerText : '',
                bars: bars,
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
    assert f"Khu vực {PERIOD} / region {PERIOD}" in after["popup"] and "Hộ thiếu hụt" in after["popup"]
    assert len(after["bars"]) == 12 and max(after["bars"]) > 0  # the profile's bars are drawn, with their widths
    assert f"Giai đoạn {PERIOD} / Period {PERIOD}" in str(facts["legend"])
    assert any(f"Khu vực {PERIOD}" in label for label in facts["layers"])  # type: ignore[union-attr]
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
    year = data.edition().year
    assert f"TỶ LỆ HỘ NGHÈO NĂM {year} – HUYỆN MAI SƠN (CŨ)" in text
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
    # the PNG is laid out at its own resolution: nothing (the wrapped footer included) reaches the right margin
    pixels = np.asarray(Image.open(png).convert("L"))
    margin = pixels[:, -int(0.02 * pixels.shape[1]) :]
    assert (margin < 200).sum() == 0, "something is drawn in the right margin of the PNG sheet"
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


# ----------------------------------------------------------------------------------------------------
# the policy period and the deprivation profile
# ----------------------------------------------------------------------------------------------------


class _Popup(HTMLParser):
    """The rows of a unit popup: (label, value) of its table and (label, value, bar width px) of its bar chart."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, str]] = []
        self.bars: list[tuple[str, str, int, bool]] = []
        self.text: list[str] = []
        self._in_bars = False
        self._top = False
        self._cells: list[str] = []
        self._width = -1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "div" and found.get("class") == "atlas-dp":
            self._in_bars = True
        elif tag == "tr":
            self._cells, self._width, self._top = [], -1, found.get("class") == "top"
        elif tag in ("th", "td"):
            self._cells.append("")
        elif tag == "i":
            self._width = int(re.fullmatch(r"width:(\d+)px", found.get("style") or "").group(1))  # type: ignore[union-attr]

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and len(self._cells) == 2:
            label, value = self._cells
            if self._in_bars:
                self.bars.append((label, value, self._width, self._top))
            else:
                self.rows.append((label, value))

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cells:
            self._cells[-1] += data


def _unit_popups(page: str) -> list[str]:
    """The prepared unit popups of a web map page (one list shared by the four choropleths)."""
    found = re.findall(r"var (shared_popups_\w+) = (\[.*?\]);\n", page, re.S)
    assert len(found) == 1
    name, data = found[0]
    assert page.count(f"var popups = {name}") == 4  # poverty, priority tier, region class, disbursement rate
    popups: list[str] = json.loads(data)
    return popups


def _percent(value: float) -> str:
    return f"{value:.1f}%".replace(".", ",")


def test_unit_popup_shows_the_period_region_class_and_deprivation_bars(built: Built) -> None:
    data = map_data_for(Warehouse.open(built.path))
    scope = data.by_slug(f"unit-{CHIENG_MUNG}")
    page = render_web_map(data, scope).decode("utf-8")
    assert '<script src="http' not in page  # still self-contained
    popups = _unit_popups(page)
    assert len(popups) == 1
    popup = _Popup()
    popup.feed(popups[0])
    rows = dict(popup.rows)

    # the region class and the especially difficult villages of the period, from classification_2026_2030
    classes = read_table(built.path, "classification_2026_2030").set_index("unit_code")
    unit = classes.loc[CHIENG_MUNG]
    label = REGION_CLASS.labels()[int(unit["region_class"]) - 1]
    demo = " (minh họa / demo)" if unit["source"] == "demo" else ""
    assert rows[f"Khu vực {PERIOD} / region {PERIOD}"] == label + demo
    assert demo  # no official list is imported in the test warehouse
    assert rows[f"Thôn ĐBKK {PERIOD} / especially difficult villages {PERIOD}"] == str(
        int(unit["n_especially_difficult_villages"])
    )
    text = "".join(popup.text)
    assert f"Giai đoạn {PERIOD}" in text

    # the bars: one per indicator of the latest year's standard, each share computed here from the warehouse
    wide = read_table(built.path, "deprivations_units_2025")
    latest = int(wide["year"].max())
    row = wide[(wide["unit_code"] == CHIENG_MUNG) & (wide["year"] == latest)].iloc[0]
    standard = Standards.load().for_year(latest)
    assert f"Hộ thiếu hụt {latest} ({standard.id})" in text
    assert [b[0] for b in popup.bars] == [" / ".join(short_label(i, standard)) for i in standard.indicator_ids]
    bars = {b[0]: b for b in popup.bars}
    water = 100 * float(row["d_water_source"]) / float(row["households"])
    _, value, width, _ = bars[" / ".join(short_label("water_source", standard))]
    assert value == _percent(water)
    scale = float(re.search(r"thang / scale 0–(\d+)%", text).group(1))  # type: ignore[union-attr]
    assert scale >= wide[wide["year"] == latest].filter(like="pct_").max().max()  # one scale for the province
    assert width == round(water / scale * 100)
    shares = {i: 100 * float(row[f"d_{i}"]) / float(row["households"]) for i in standard.indicator_ids}
    most = max(shares, key=shares.__getitem__)
    assert [b[0] for b in popup.bars if b[3]] == [" / ".join(short_label(most, standard))]  # the darker bar
    assert f"need that stands out: {row['top_need_label']}" in text
    # the chart stays small: the province map has 75 of these popups
    chart = popups[0][popups[0].index('<div class="atlas-dp">') :]
    assert len(chart.encode("utf-8")) < 2048


def test_web_map_title_and_legend_name_the_period_and_the_standard(built: Built) -> None:
    data = map_data_for(Warehouse.open(built.path))
    page = render_web_map(data, data.by_slug(f"district-{MAI_SON}")).decode("utf-8")
    edition = data.edition()
    title = re.search(r'<div class="atlas-title">(.*?)</div>\s*</div>', page, re.S)
    legend = re.search(r'<div class="atlas-legend" id="[^"]+">(.*?)</div>\s*$', page, re.S | re.M)
    assert title and legend
    for part in (title.group(1), legend.group(1)):
        assert f"Giai đoạn {PERIOD}" in part and f"Period {PERIOD}" in part
        assert f"chuẩn nghèo {edition.standard_vi}" in part and "poverty standard Decree 07/2021" in part
    assert f"Tỷ lệ hộ nghèo {edition.year} / Poverty rate {edition.year}" in legend.group(1)
    for label in REGION_CLASS.labels():
        assert label in legend.group(1)
    assert f"Thôn, bản ĐBKK {PERIOD} / especially difficult village {PERIOD}" in legend.group(1)
    # village popups (built in the page from each village's properties) show the current period's flag
    rows = json.loads(re.search(r"var rows = (\[.*?\]);", page).group(1))  # type: ignore[union-attr]
    assert [f"Thôn ĐBKK {PERIOD} / especially difficult {PERIOD}", DIFFICULT_FIELD, "bool"] in rows
    # the unit popups are in the page once, not once per choropleth
    assert len(_unit_popups(page)) == len(data.units_in(data.by_slug(f"district-{MAI_SON}")))


@pytest.mark.skipif(NO_POPPLER is not None, reason=NO_POPPLER or "")
def test_printed_sheet_names_the_period_and_draws_the_deprivation_panel(built: Built, tmp_path: Path) -> None:
    data = map_data_for(Warehouse.open(built.path))
    scope = data.by_slug(f"district-{MAI_SON}")
    pdf = render_print_map(data, scope, PrintOptions(paper="A4", orientation="portrait"))
    text = _pdf_text(pdf, tmp_path)
    flat = " ".join(text.split())
    assert f"Giai đoạn {PERIOD} / Period {PERIOD}" in flat
    wide = read_table(built.path, "deprivations_units_2025")
    latest = int(wide["year"].max())
    standard = Standards.load().for_year(latest)
    assert f"chuẩn nghèo / poverty standard: Nghị định 07/2021/NĐ-CP ({standard.id})" in flat
    assert f"Hộ thiếu hụt theo chỉ số, {latest} / households deprived by indicator, {latest}" in flat
    for indicator in standard.indicator_ids:
        assert " / ".join(short_label(indicator, standard)) in flat, indicator
    # household-weighted over the district's 2025 units: Σ deprived / Σ households
    codes = set(data.units_in(scope)["unit_code"])
    rows = wide[wide["unit_code"].isin(codes) & (wide["year"] == latest)]
    shares = {i: 100 * rows[f"d_{i}"].sum() / rows["households"].sum() for i in standard.indicator_ids}
    most = max(shares, key=shares.__getitem__)
    assert f"most lacked: {' / '.join(short_label(most, standard))}" in flat
    assert re.search(
        rf"{re.escape(' / '.join(short_label('latrine', standard)))}\s+{_percent(shares['latrine'])}", flat
    )
    assert f"Thôn, bản ĐBKK {PERIOD}" in flat and f"especially difficult village {PERIOD}" in flat


def test_sheet_panels_do_not_overlap_and_villages_follow_the_current_list(built: Built) -> None:
    data = map_data_for(Warehouse.open(built.path))
    for slug in ("province", f"unit-{CHIENG_MUNG}"):
        scope = data.by_slug(slug)
        for paper in ("A4", "A3"):
            for orientation in ("portrait", "landscape"):
                fig, _ = build_print_map(data, scope, PrintOptions(paper=paper, orientation=orientation))  # type: ignore[arg-type]
                assert panel_overlaps(fig) == [], (slug, paper, orientation)
                assert {ax.get_label() for ax in fig.axes} >= {"map", "legend", "inset", "profile", "table"}
    # the especially difficult villages drawn are those of the current period's list
    fig, _ = build_print_map(data, data.by_slug(f"district-{MAI_SON}"), PrintOptions(paper="A4"))
    drawn = {a.get_gid(): a for ax in fig.axes for a in ax.collections if a.get_gid()}
    villages = data.select("demo_villages", data.by_slug(f"district-{MAI_SON}"))
    flagged = villages[DIFFICULT_FIELD].astype(bool)
    assert len(drawn["demo_villages/especially_difficult"].get_offsets()) == flagged.sum()
    assert (flagged != villages["especially_difficult"].astype(bool)).any()  # the 2021-2025 list differs here
    profile = next(ax for ax in fig.axes if ax.get_label() == "profile")
    assert len(profile.patches) == len(Standards.load().for_year(int(data.deprivations["year"].max())).indicators)
