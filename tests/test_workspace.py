"""The workspace's routes over real HTTP, decoded: the page and its local scripts, glyphs, sprites, search, the units
document against the OGC API, the exports read back, the printed view, and the quick re-rank of `priority`."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyogrio
import pytest
import shapely.geometry
from openpyxl import load_workbook
from PIL import Image

from api.workspace import VENDOR
from geo.settings import PROJECT_ROOT
from layers.glyphs import decode
from tests.conftest import Built, LiveServer

pytestmark = pytest.mark.integration
NODE_MODULES = PROJECT_ROOT / "node_modules"
NO_NPM = None if (NODE_MODULES / "maplibre-gl" / "dist" / "maplibre-gl.js").is_file() else "run `npm ci` first"


def workspace_env(built: Built, factory: pytest.TempPathFactory, **extra: str) -> dict[str, str]:
    """The environment of a server for the workspace's tests: the built sources, its own tiles, node_modules."""
    return {
        "ATLAS_CACHE_DIR": str(built.settings.cache_dir),
        "ATLAS_TILE_CACHE_DIR": str(factory.mktemp("tiles")),
        "ATLAS_NODE_MODULES": str(NODE_MODULES),
        **extra,
    }


@pytest.fixture(scope="module")
def client(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    env = workspace_env(built, tmp_path_factory)
    with LiveServer(built.path, env=env) as server, httpx.Client(base_url=server.url, timeout=120) as http:
        yield http


@pytest.mark.skipif(NO_NPM is not None, reason=NO_NPM or "")
def test_the_page_loads_only_what_the_atlas_serves(client: httpx.Client) -> None:
    page = client.get("/app")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="vi">' in html and "Bàn làm việc quy hoạch" in html
    sources = [part.split('"')[0] for part in html.split('src="')[1:]] + [
        part.split('"')[0] for part in html.split('href="')[1:]
    ]
    for src in sources:
        assert src.startswith(("/", "#", "data:")) and not src.startswith("//"), src  # nothing from another host
    script = next(s for s in sources if "/app/vendor/maplibre-gl.js" in s)
    served = client.get(script, headers={"Accept-Encoding": "gzip, br"})
    assert served.headers["content-encoding"] in ("gzip", "br")
    assert served.content == (NODE_MODULES / "maplibre-gl" / "dist" / "maplibre-gl.js").read_bytes()
    assert "immutable" in served.headers["cache-control"]  # versioned: a repeat visit asks for nothing
    unversioned = client.get("/app/vendor/maplibre-gl.js")
    assert "immutable" not in unversioned.headers["cache-control"]
    own = client.get(next(s for s in sources if "/app/static/app.js" in s))
    assert own.status_code == 200 and "priority/execution" in own.text
    assert client.get("/app/vendor/jquery.js").status_code == 404
    assert client.get("/app/static/..%2Fworkspace.py").status_code == 404
    assert set(VENDOR) == {"maplibre-gl.js", "maplibre-gl.css"}


def test_glyphs_cover_vietnamese(client: httpx.Client) -> None:
    letters = "Chiềng Nơi Phiêng Cằm Mường Lèo Đông Sang ưỡ"
    ranges = sorted({ord(ch) // 256 * 256 for ch in letters})
    for start in ranges:
        response = client.get(f"/app/fonts/DejaVu Sans,Noto Sans Regular/{start}-{start + 255}.pbf")
        assert response.status_code == 200 and response.headers["content-type"] == "application/x-protobuf"
        ((name, span, glyphs),) = list(decode(response.content))
        assert (name, span) == ("DejaVu Sans", f"{start}-{start + 255}")
        for ch in {c for c in letters if start <= ord(c) < start + 256 and not c.isspace()}:
            glyph = glyphs[ord(ch)]
            width, height = int(glyph["width"]), int(glyph["height"])
            assert width > 0 and height > 0 and int(glyph["advance"]) > 0, ch
            bitmap = glyph["bitmap"]
            assert isinstance(bitmap, bytes) and len(bitmap) == (width + 6) * (height + 6), ch
            assert max(bitmap) >= 192 > min(bitmap), ch  # inside and outside the outline
    # the dot below sits under the baseline, the grave accent of "ề" above the x-height
    dot = next(iter(decode(client.get("/app/fonts/DejaVu Sans/7680-7935.pbf").content)))[2]
    assert int(dot[ord("ạ")]["top"]) > int(dot[ord("ề")]["top"]) - int(dot[ord("ề")]["height"])
    assert client.get("/app/fonts/DejaVu Sans/1-256.pbf").status_code == 404


def test_sprites_at_both_ratios(client: httpx.Client) -> None:
    for suffix, ratio in (("", 1), ("@2x", 2)):
        index = client.get(f"/app/sprites/atlas{suffix}.json").json()
        sheet = Image.open(io.BytesIO(client.get(f"/app/sprites/atlas{suffix}.png").content))
        assert {"health_station", "school", "market", "bridge", "village_difficult", "project"} <= set(index)
        for icon in index.values():
            assert icon["pixelRatio"] == ratio and icon["x"] + icon["width"] <= sheet.width
            box = (icon["x"], icon["y"], icon["x"] + icon["width"], icon["y"] + icon["height"])
            assert sheet.crop(box).getchannel("A").getextrema()[1] == 255  # something is drawn
    assert client.get("/app/sprites/other.png").status_code == 400


def test_search_with_and_without_accents(client: httpx.Client) -> None:
    for query in ("chieng noi", "Chiềng Nơi"):
        best = client.get("/app/search", params={"q": query}).json()["places"][0]
        assert (best["kind"], best["name"], best["unit_name"]) == ("commune_2024", "Xã Chiềng Nơi", "Xã Phiêng Cằm")
        assert "since 1 July 2025" in best["note_en"] and best["kind_vi"] == "Xã trước sáp nhập"
    units = client.get("/app/search", params={"q": "muong", "kind": "unit_2025", "limit": 3}).json()["places"]
    assert len(units) == 3 and {p["kind"] for p in units} == {"unit_2025"}
    assert client.get("/app/search", params={"q": "x" * 101}).status_code == 400
    assert client.get("/app/search", params={"q": "a", "kind": "hamlet"}).status_code == 400


def test_units_document_agrees_with_the_ogc_api(client: httpx.Client) -> None:
    answer = client.get("/app/data.json", headers={"Accept-Encoding": "gzip, br"})
    assert answer.headers["content-encoding"] == "br"
    revalidate = {"Accept-Encoding": "gzip, br", "If-None-Match": answer.headers["etag"]}
    again = client.get("/app/data.json", headers=revalidate)
    assert again.status_code == 304 and again.content == b""
    doc = answer.json()
    assert len(doc["units"]) == 75 and doc["synthetic"] is True
    overview = doc["overview"]["units"]["features"]  # the first view's simplified shapes: every unit, valid, light
    assert sorted(f["properties"]["code"] for f in overview) == sorted(u["unit_code"] for u in doc["units"])
    assert len(doc["overview"]["districts"]["features"]) == 12
    assert all(shapely.geometry.shape(f["geometry"]).area > 0 for f in overview)
    assert {c["id"] for c in doc["criteria"]} >= {"poor_rate", "deprivation", "region_iii"}
    assert {i["id"] for i in doc["indicators"]} >= {"poor_rate", "near_poor_households", "region_class", "tier"}
    for unit in doc["units"][::15]:
        code = unit["unit_code"]
        ogc = client.get(f"/ogc/collections/indicators_units_2025/items/{code}", params={"f": "json"}).json()
        for field in ("households", "poor_households", "poor_rate", "near_poor_rate", "poor_rate_2021"):
            assert unit[field] == pytest.approx(ogc["properties"][field]), (code, field)
        ranked = client.get(f"/ogc/collections/priority_units_2025/items/{code}", params={"f": "json"}).json()
        assert (unit["rank"], unit["tier"]) == (ranked["properties"]["rank"], ranked["properties"]["tier"])
        assert (
            len(unit["communes_2024"])
            == client.get(
                "/ogc/collections/communes_2024/items", params={"f": "json", "unit_2025_code": code, "limit": 50}
            ).json()["numberMatched"]
        )
    detail = client.get("/app/units/04240.json").json()
    matched = client.get(
        "/ogc/collections/priority_villages/items", params={"f": "json", "unit_2025_code": "04240", "limit": 1}
    ).json()["numberMatched"]
    assert len(detail["villages"]) == matched and detail["villages"][0]["rank_in_unit"] == 1
    missing = client.get("/app/units/99999.json")
    assert missing.status_code == 404 and "99999" in missing.json()["description"]
    assert client.get("/app/units/abc.json").status_code == 400


def test_exports_read_back(client: httpx.Client, tmp_path: Path) -> None:
    table = {
        "name": "xep-hang",
        "title": "Xếp hạng",
        "columns": [{"key": "name", "vi": "Xã, phường", "en": "Unit"}, {"key": "rank", "vi": "Hạng", "en": "Rank"}],
        "rows": [{"name": "Xã Mường Lèo", "rank": 1}, {"name": "Xã Chiềng\x07 Sơ", "rank": 2}],
        "notes": ["dữ liệu minh họa / demo data"],
    }
    xlsx = client.post("/app/export/table.xlsx", json=table)
    assert xlsx.status_code == 200 and 'filename="xep-hang.xlsx"' in xlsx.headers["content-disposition"]
    book = load_workbook(io.BytesIO(xlsx.content))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows == [("Xã, phường", "Hạng"), ("Xã Mường Lèo", 1), ("Xã Chiềng Sơ", 2)]
    assert ("rank", "Hạng", "Rank") in list(book["Ghi chú - Notes"].iter_rows(values_only=True))
    text = client.post("/app/export/table.csv", json=table).content
    assert text.startswith(b"\xef\xbb\xbf")
    assert list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))[1] == ["Xã Mường Lèo", "1"]

    features = {
        "name": "du-an",
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [103.9, 21.3]},
             "properties": {"project_id": "road-1", "name_vi": "Cứng hóa đường", "cost_vnd": 1.5e9}},
        ],
    }  # fmt: skip
    gpkg = client.post("/app/export/features.gpkg", json=features)
    assert gpkg.headers["content-type"] == "application/geopackage+sqlite3"
    (tmp_path / "du-an.gpkg").write_bytes(gpkg.content)
    frame = pyogrio.read_dataframe(tmp_path / "du-an.gpkg")
    assert frame.loc[0, "name_vi"] == "Cứng hóa đường" and frame.crs.to_epsg() == 4326
    back = json.loads(client.post("/app/export/features.geojson", json=features).content)
    assert back["features"][0]["properties"]["project_id"] == "road-1"

    no_geometry = {**features, "features": [{"type": "Feature", "geometry": None, "properties": {}}]}
    refused = client.post("/app/export/features.gpkg", json=no_geometry)
    assert refused.status_code == 400 and "geometry" in refused.json()["description"]
    assert client.post("/app/export/table.xlsx", json={**table, "name": "../x"}).status_code == 400
    assert client.post("/app/export/table.pdf", json=table).status_code in (400, 404)


def test_the_current_view_prints(client: httpx.Client, tmp_path: Path) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    bbox = "103.8,21.1,104.2,21.5"
    sheet = client.get("/maps/print/province.pdf", params={"paper": "A4", "bbox": bbox})
    assert sheet.status_code == 200 and sheet.content.startswith(b"%PDF")
    assert "_view.pdf" in sheet.headers["content-disposition"]
    (tmp_path / "view.pdf").write_bytes(sheet.content)
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "view.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Chiềng An" in text and "Mường Lèo" not in text  # Mường Lèo lies far to the west
    assert "VÙNG ĐANG XEM" in text and "current view (103.800°E–104.200°E" in text
    assert client.get("/maps/print/province.pdf", params={"bbox": "104,21,103,22"}).status_code == 400
    assert client.get("/maps/print/province.pdf", params={"bbox": "90,0,91,1"}).status_code == 400
    assert client.get("/maps/print/province.pdf", params={"bbox": "a,b,c,d"}).status_code == 400
    by_name = client.get("/maps/print/unit-chieng-noi.pdf", params={"paper": "A4", "orientation": "portrait"})
    assert by_name.status_code == 200 and by_name.content.startswith(b"%PDF")


def test_quick_rerank_without_monte_carlo(client: httpx.Client) -> None:
    def run(inputs: dict[str, object]) -> httpx.Response:
        return client.post("/ogc/processes/priority/execution", json={"inputs": inputs})

    quick = run({"draws": 0, "geometry": False, "weights": {"poor_rate": 0.9}})
    assert quick.status_code == 200, quick.text
    body = quick.json()
    assert body["summary"]["units_stable"] is None
    props = [f["properties"] for f in body["ranking"]["features"]]
    assert sorted(p["rank"] for p in props) == list(range(1, 76))
    assert all(p["tier_share_mc"] is None and p["stability"] == "không tính / not computed" for p in props)
    full = run({"draws": 10, "geometry": False, "weights": {"poor_rate": 0.9}}).json()
    assert [f["properties"]["rank"] for f in full["ranking"]["features"]] == [p["rank"] for p in props]
    refused = run({"draws": 5})
    assert refused.status_code == 400 and "draws" in refused.json()["description"]
