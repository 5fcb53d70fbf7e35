"""Vector and raster tiles over real HTTP, decoded; offline MBTiles packages."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import mapbox_vector_tile
import numpy as np
import pyogrio
import pytest
import shapely
from PIL import Image

from layers.store import Warehouse
from layers.styles import POVERTY_RATE, PRIORITY_TIER, hex_to_rgba
from layers.tiles import TMS, Tiler, province_tiles
from layers.warehouse import read_table
from tests.conftest import Built, LiveServer


@pytest.fixture(scope="module")
def server(built: Built) -> Iterator[LiveServer]:
    with LiveServer(built.path, env={"ATLAS_CACHE_DIR": str(built.settings.cache_dir)}) as live:
        yield live


def _point_of(built: Built, layer: str, key: str, code: str) -> shapely.Point:
    frame = read_table(built.path, layer).set_index(key)
    return frame.geometry[code].representative_point()


def test_known_feature_lands_in_its_vector_tile(server: LiveServer, built: Built) -> None:
    point = _point_of(built, "units_2025", "code", "03646")  # Phường Tô Hiệu, Sơn La city
    tile = TMS.tile(point.x, point.y, 12)
    url = f"{server.url}/ogc/collections/units_2025/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}"
    response = httpx.get(url, timeout=60)
    assert response.status_code == 200 and response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    decoded = mapbox_vector_tile.decode(response.content)
    features = decoded["units_2025"]["features"]
    codes = {f["properties"]["code"] for f in features}
    assert "03646" in codes
    feature = next(f for f in features if f["properties"]["code"] == "03646")
    assert feature["properties"]["name"] == "Tô Hiệu" and feature["properties"]["unit_type"] == "Phường"
    # the decoded polygon (tile units, y up) contains the point's position in the tile
    bounds = TMS.xy_bounds(tile)
    x, y = TMS.xy(point.x, point.y)
    local = (
        (x - bounds.left) / (bounds.right - bounds.left) * 4096,
        (y - bounds.bottom) / (bounds.top - bounds.bottom) * 4096,
    )
    assert shapely.geometry.shape(feature["geometry"]).buffer(2).contains(shapely.Point(local))
    far = TMS.tile(105.9, 22.9, 12)  # north of the province
    empty = httpx.get(f"{server.url}/ogc/collections/units_2025/tiles/WebMercatorQuad/12/{far.y}/{far.x}", timeout=60)
    assert empty.status_code == 204 and empty.content == b""


def test_point_layer_tile_and_properties_for_styling(server: LiveServer, built: Built) -> None:
    villages = read_table(built.path, "demo_villages")
    village = villages.iloc[100]
    tile = TMS.tile(village.geometry.x, village.geometry.y, 13)
    response = httpx.get(
        f"{server.url}/ogc/collections/demo_villages/tiles/WebMercatorQuad/13/{tile.y}/{tile.x}", timeout=60
    )
    features = mapbox_vector_tile.decode(response.content)["demo_villages"]["features"]
    found = next(f for f in features if f["properties"]["village_id"] == village["village_id"])
    assert found["properties"]["especially_difficult"] == bool(village["especially_difficult"])
    assert found["properties"]["synthetic"] is True


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ogc/collections/units_2025/tiles/WebMercatorQuad/30/0/0", 404),
        ("/ogc/collections/units_2025/tiles/WebMercatorQuad/8/256/0", 404),
        ("/ogc/collections/units_2025/tiles/WebMercatorQuad/8/-1/0", 404),
        ("/ogc/collections/units_2025/tiles/WebMercatorQuad/x/0/0", 404),  # no such tile: z/y/x are whole numbers
        ("/ogc/collections/crosswalk_2025/tiles/WebMercatorQuad/8/112/201", 404),
        ("/ogc/collections/nope/tiles", 404),
        ("/tiles/nope/8/201/112.png", 404),
        ("/tiles/population/8/201/999.png", 404),
    ],
)
def test_bad_tile_addresses(server: LiveServer, path: str, status: int) -> None:
    response = httpx.get(server.url + path, timeout=60)
    assert response.status_code == status
    assert {"code", "description"} <= set(response.json())


def test_choropleth_png_colours_a_known_unit(server: LiveServer, built: Built) -> None:
    view = read_table(built.path, "indicators_units_2025").set_index("unit_code")
    code = view["poor_rate"].idxmax()
    point = view.geometry[code].representative_point()
    tile = TMS.tile(point.x, point.y, 11)
    response = httpx.get(f"{server.url}/tiles/poverty_rate_units_2025/11/{tile.x}/{tile.y}.png", timeout=60)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (256, 256) and image.mode == "RGBA"
    bounds = TMS.xy_bounds(tile)
    x, y = TMS.xy(point.x, point.y)
    px = int((x - bounds.left) / (bounds.right - bounds.left) * 256)
    py = int((bounds.top - y) / (bounds.top - bounds.bottom) * 256)
    r, g, b, a = image.getpixel((px, py))
    expected = hex_to_rgba(POVERTY_RATE.colour(float(view.loc[code, "poor_rate"])))
    assert max(abs(r - expected[0]), abs(g - expected[1]), abs(b - expected[2])) <= 3 and a == 220
    pixels = np.asarray(image)
    alphas = set(np.unique(pixels[..., 3]))
    assert len(alphas - {0, 220, 255}) > 0  # partial coverage at edges: anti-aliased


def test_priority_tier_tiles_and_style(server: LiveServer, built: Built) -> None:
    ranked = read_table(built.path, "priority_units_2025").set_index("unit_code")
    for code in (ranked["rank"].idxmin(), ranked["rank"].idxmax()):  # very high and low tier
        point = ranked.geometry[code].representative_point()
        tile = TMS.tile(point.x, point.y, 11)
        png = httpx.get(f"{server.url}/tiles/priority_tier_units_2025/11/{tile.x}/{tile.y}.png", timeout=60)
        image = Image.open(io.BytesIO(png.content))
        bounds = TMS.xy_bounds(tile)
        x, y = TMS.xy(point.x, point.y)
        px = int((x - bounds.left) / (bounds.right - bounds.left) * 256)
        py = int((bounds.top - y) / (bounds.top - bounds.bottom) * 256)
        expected = hex_to_rgba(PRIORITY_TIER.colours[int(ranked.loc[code, "tier"])])
        assert np.abs(np.array(image.getpixel((px, py))[:3]) - expected[:3]).max() <= 3
        mvt = httpx.get(
            f"{server.url}/ogc/collections/priority_units_2025/tiles/WebMercatorQuad/11/{tile.y}/{tile.x}", timeout=60
        )
        features = mapbox_vector_tile.decode(mvt.content)["priority_units_2025"]["features"]
        mine = [f["properties"] for f in features if f["properties"]["unit_code"] == code]
        assert mine and mine[0]["tier_class"] == str(int(ranked.loc[code, "tier"]))
        assert mine[0]["rank"] == ranked.loc[code, "rank"]
    style = httpx.get(f"{server.url}/ogc/collections/priority_units_2025/styles/default", timeout=60).json()
    fills = [layer for layer in style["layers"] if layer["type"] == "fill"]
    assert [f["filter"][1] for f in fills] == ["tier_class"] * 4
    assert style["metadata"]["legend"]["labels"][-1] == "rất cao / very high"
    roads = httpx.get(f"{server.url}/ogc/collections/roads/styles/default", timeout=60).json()
    assert roads["metadata"]["legend"] is None


def test_population_png(server: LiveServer, built: Built) -> None:
    point = _point_of(built, "units_2025", "code", "03646")
    tile = TMS.tile(point.x, point.y, 9)
    response = httpx.get(f"{server.url}/tiles/population/9/{tile.x}/{tile.y}.png", timeout=60)
    image = np.asarray(Image.open(io.BytesIO(response.content)))
    assert image.shape == (256, 256, 4) and (image[..., 3] > 0).mean() > 0.2


def test_tilejson_style_and_revalidation(server: LiveServer) -> None:
    meta = httpx.get(
        f"{server.url}/ogc/collections/indicators_units_2025/tiles/WebMercatorQuad/tilejson", timeout=60
    ).json()
    assert meta["tilejson"] == "3.0.0" and "poor_rate" in meta["vector_layers"][0]["fields"]
    assert "demo data" in meta["attribution"]
    style = httpx.get(f"{server.url}/ogc/collections/indicators_units_2025/styles/default", timeout=60).json()
    fills = [layer for layer in style["layers"] if layer["type"] == "fill"]
    assert [f["paint"]["fill-color"] for f in fills] == list(POVERTY_RATE.colours)
    assert [f["filter"] for f in fills] == [["==", "poor_rate_class", str(k)] for k in range(len(fills))]
    template = meta["tiles"][0]
    url = template.format(z=10, y=449, x=806)
    first = httpx.get(url, timeout=60)
    assert first.status_code == 200 and "ETag" in first.headers
    again = httpx.get(url, headers={"If-None-Match": first.headers["ETag"]}, timeout=60)
    assert again.status_code == 304
    collection = httpx.get(f"{server.url}/ogc/collections/units_2025?f=json", timeout=60).json()
    assert any(link["rel"].endswith("tilesets-vector") for link in collection["links"])


def test_units_tiles_stay_under_200_kb(built: Built) -> None:
    tiler = Tiler(Warehouse.open(built.path), None, None)
    layer = tiler.vector_layer("units_2025")
    province = Warehouse.open(built.path).frame("province").geometry.iloc[0]
    largest = 0
    for tile in province_tiles(province, range(6, 15)):
        largest = max(largest, len(layer.tile(tile.z, tile.x, tile.y) or b""))
    assert 0 < largest < 200 * 1024


def test_seed_writes_mbtiles_qgis_and_gdal_can_read(built: Built, tmp_path: Path) -> None:
    env = {**os.environ, "ATLAS_CACHE_DIR": str(tmp_path / "cache")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.cli",
            "tiles",
            "seed",
            "--zoom",
            "6-9",
            "--layer",
            "units_2025",
            "--layer",
            "poverty_rate_units_2025",
            "--out",
            str(tmp_path),
            "--warehouse",
            str(built.path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    vector = tmp_path / "units_2025.mbtiles"
    with sqlite3.connect(vector) as con:
        meta = dict(con.execute("SELECT name, value FROM metadata").fetchall())
        rows = con.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").fetchall()
    assert meta["format"] == "pbf" and json.loads(meta["json"])["vector_layers"][0]["id"] == "units_2025"
    province = Warehouse.open(built.path).frame("province").geometry.iloc[0]
    expected = {(t.z, t.x, (1 << t.z) - 1 - t.y) for t in province_tiles(province, range(6, 10))}
    assert {(z, x, y) for z, x, y, _ in rows} == expected  # only the province's tiles, TMS row order
    assert all(mapbox_vector_tile.decode(data)["units_2025"]["features"] for *_, data in rows)
    read = pyogrio.read_dataframe(vector, layer="units_2025")  # GDAL's MBTiles vector driver
    assert set(read["code"]) == set(read_table(built.path, "units_2025")["code"])
    with sqlite3.connect(tmp_path / "poverty_rate_units_2025.mbtiles") as con:
        png = con.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()[0]
    assert Image.open(io.BytesIO(png)).size == (256, 256)


def test_layers_on_the_same_boundaries_share_simplified_geometries_kept_per_build(built: Built, tmp_path: Path) -> None:
    first = Tiler(Warehouse.open(built.path), tmp_path, None)
    units = first.vector_layer("units_2025")
    indicators = first.vector_layer("indicators_units_2025")
    priority = first.vector_layer("priority_units_2025")  # the same units, in the order of their rank
    simplified = {name: layer.geometries_at(10) for name, layer in (("units", units), ("indicators", indicators))}
    simplified["priority"] = priority.geometries_at(10)
    assert first.simplified.stats()["entries"] == 1  # one simplification for the three layers
    by_code = {p["code"]: g for p, g in zip(units.properties, simplified["units"], strict=True)}
    for name, layer in (("indicators", indicators), ("priority", priority)):
        for props, geom in zip(layer.properties, simplified[name], strict=True):
            assert shapely.equals_exact(geom, by_code[props["unit_code"]], tolerance=0), (name, props["unit_code"])
    assert shapely.get_num_coordinates(simplified["units"]).sum() < shapely.get_num_coordinates(units.geometries).sum()
    assert first.stats()["geometries"]["disk_bytes"] > 0
    # a later start of the same build (another worker, a restart) reads them from disk: the same tiles
    second = Tiler(Warehouse.open(built.path), tmp_path, None)
    again = second.vector_layer("units_2025").geometries_at(10)
    assert all(shapely.equals_exact(a, b, tolerance=0) for a, b in zip(again, simplified["units"], strict=True))
    point = Warehouse.open(built.path).frame("units_2025").geometry.iloc[0].representative_point()
    tile = TMS.tile(point.x, point.y, 10)
    made = second.vector_tile("units_2025", tile.z, tile.x, tile.y)
    assert made and made == units.tile(tile.z, tile.x, tile.y)
