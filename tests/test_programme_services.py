"""The programme layers as clients see them: OGC API items, vector tiles decoded and their style, the web map's
popup section and layer, and the printed disbursement sheet read back from its PDF and pixels."""

from __future__ import annotations

import math
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import mapbox_vector_tile
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from geo.programme import COMPONENTS
from layers.mapdata import map_data_for
from layers.palette import DISBURSEMENT_RATE, hex_to_rgba
from layers.printmap import PrintOptions, build_print_map, panel_overlaps, render_print_map
from layers.store import Warehouse
from layers.tiles import TMS
from layers.warehouse import read_table
from layers.webmap import build_web_map, programme_rows
from tests.conftest import Built, LiveServer
from tests.test_maps import MAI_SON, NO_POPPLER, _pdf_text


@pytest.fixture(scope="module")
def server(built: Built) -> Iterator[LiveServer]:
    with LiveServer(built.path, env={"ATLAS_CACHE_DIR": str(built.settings.cache_dir)}) as live:
        yield live


def test_collections_items_and_tiles(server: LiveServer, built: Built) -> None:
    units = read_table(built.path, "programme_units_2025").set_index("unit_code")
    items = httpx.get(
        f"{server.url}/ogc/collections/programme_units_2025/items", params={"f": "json", "limit": 100}, timeout=60
    ).json()
    assert items["numberMatched"] == 75
    props = {f["properties"]["unit_code"]: f["properties"] for f in items["features"]}
    slowest = units["disbursement_rate"].idxmin()
    assert props[slowest]["disbursement_rate"] == units.loc[slowest, "disbursement_rate"]
    # the register and the quarterly table are collections too, filtered like any other
    quarters = httpx.get(
        f"{server.url}/ogc/collections/programme_unit_quarters/items",
        params={"f": "json", "unit_code": "14", "limit": 100},
        timeout=60,
    ).json()
    periods = sorted(f["properties"]["period"] for f in quarters["features"])
    assert (
        periods[0] == "2021Q1" and periods[-1] == units["period"].iloc[0] and len(periods) == quarters["numberMatched"]
    )
    register = httpx.get(
        f"{server.url}/ogc/collections/programme_projects/items", params={"f": "json", "plan_match": "plan"}, timeout=60
    ).json()
    plan = read_table(built.path, "investment_plan")
    assert register["numberMatched"] == int(plan["programme_status"].notna().sum()) > 0

    point = units.geometry[slowest].representative_point()
    tile = TMS.tile(point.x, point.y, 10)
    mvt = httpx.get(
        f"{server.url}/ogc/collections/programme_units_2025/tiles/WebMercatorQuad/10/{tile.y}/{tile.x}", timeout=60
    )
    features = mapbox_vector_tile.decode(mvt.content)["programme_units_2025"]["features"]
    mine = [f["properties"] for f in features if f["properties"]["unit_code"] == slowest]
    rate = float(units.loc[slowest, "disbursement_rate"])
    assert mine and mine[0]["disbursement_rate_class"] == str(int(DISBURSEMENT_RATE.classify(np.array([rate]))[0]))
    style = httpx.get(f"{server.url}/ogc/collections/programme_units_2025/styles/default", timeout=60).json()
    fills = [layer for layer in style["layers"] if layer["type"] == "fill"]
    assert [f["paint"]["fill-color"] for f in fills] == list(DISBURSEMENT_RATE.colours)
    assert style["metadata"]["legend"]["labels"][0] == "< 25%"


def test_web_map_popup_and_programme_layer(built: Built) -> None:
    data = map_data_for(Warehouse.open(built.path))
    units = read_table(built.path, "programme_units_2025").set_index("unit_code")
    flagged = units.index[units["least_funded_top_tier"].astype(bool)]
    assert len(flagged) > 0  # the demo has top-tier units that received least
    row = data.layers["map_units"].set_index("unit_code").loc[flagged[0]]
    shown = dict(programme_rows(row))
    since = f"{units.loc[flagged[0], 'since']}–{units.loc[flagged[0], 'period']}"
    assert shown[f"Đã giải ngân {since} / disbursed"] == (
        f"{units.loc[flagged[0], 'disbursed_vnd'] / 1e9:.1f}".replace(".", ",") + " tỷ đồng"
    )
    assert shown["Ưu tiên cao nhưng nhận ít nhất / top tier, least funded"].startswith("CÓ")
    page = build_web_map(data, data.by_slug(f"district-{MAI_SON}")).get_root().render()
    quarter = units["period"].iloc[0]
    assert f"Disbursement rate to {quarter}" in page  # the layer control's names (Vietnamese escaped in its JSON)
    assert f"programme projects to {quarter}" in page
    sites = data.select("programme_sites", data.by_slug(f"district-{MAI_SON}"))
    assert len(sites) and all(pid in page for pid in sites["project_id"])


@pytest.mark.skipif(NO_POPPLER is not None, reason=NO_POPPLER or "")
def test_printed_disbursement_sheet(built: Built, tmp_path: Path) -> None:
    data = map_data_for(Warehouse.open(built.path))
    scope = data.by_slug(f"district-{MAI_SON}")
    pdf = render_print_map(data, scope, PrintOptions(paper="A3", indicator="disbursement"))
    text = _pdf_text(pdf, tmp_path)
    flat = " ".join(text.split())
    units = data.units_in(scope)
    quarter = str(units["programme_quarter"].iloc[0])
    since = str(units["programme_since"].iloc[0])
    assert f"TỶ LỆ GIẢI NGÂN CÁC CT MTQG, {since}–{quarter} – HUYỆN MAI SƠN (CŨ)" in flat
    for label in DISBURSEMENT_RATE.labels():
        assert label in flat
    slowest = units.sort_values(["disbursement_rate", "unit_code"]).head(8)
    for name, rate in zip(slowest["unit_name"], slowest["disbursement_rate"], strict=True):
        assert re.search(rf"{re.escape(name)}\s.*?{f'{rate:.1f}'.replace('.', ',')}", flat), name
    houses = units["output_housing_support_houses"].sum()
    assert houses > 0 and f"{COMPONENTS['housing_support'][0]} / {COMPONENTS['housing_support'][1]} houses" in flat
    assert f"{round(houses):,}".replace(",", ".") in flat
    (tmp_path / "sheet.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(tmp_path / "sheet.pdf"), str(tmp_path / "page")], check=True)
    image = np.asarray(Image.open(next(tmp_path.glob("page*.png"))).convert("RGB"))
    assert image.shape[:2] == (math.ceil(297 / 25.4 * 40), math.ceil(420 / 25.4 * 40))
    for value in units["disbursement_rate"].dropna():
        rgb = np.array(hex_to_rgba(DISBURSEMENT_RATE.colour(float(value)))[:3])
        assert (np.abs(image.astype(int) - rgb).max(axis=2) <= 3).sum() > 20
    for paper in ("A4", "A3"):
        for orientation in ("portrait", "landscape"):
            options = PrintOptions(paper=paper, orientation=orientation, indicator="disbursement")
            fig, _ = build_print_map(data, data.by_slug("province"), options)
            assert panel_overlaps(fig) == [], (paper, orientation)


def test_report_command_and_template_command(built: Built, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from scripts.cli import app

    runner = CliRunner()
    out = tmp_path / "q.xlsx"
    done = runner.invoke(app, ["report", "programme", "--period", "Q1/2026", "--out", str(out), "-w", str(built.path)])
    assert done.exit_code == 0, done.output
    sheet = pd.read_excel(out, sheet_name="Theo xa", header=2, dtype=str)
    assert len(sheet) == 76 and sheet.iloc[-1, 0] == "14"
    bad = runner.invoke(app, ["report", "programme", "--period", "2026-05", "-w", str(built.path)])
    assert bad.exit_code != 0 and "is not a quarter" in bad.output
    template = tmp_path / "t.xlsx"
    done = runner.invoke(app, ["template", "programme", "--out", str(template), "--last", "2027Q2"])
    assert done.exit_code == 0, done.output
    headers = pd.read_excel(template, header=3).columns
    assert headers[-1].startswith("Giải ngân Q2/2027") and len([h for h in headers if "Giải ngân" in h]) == 6
