"""Vector and raster tiles over real HTTP, decoded; offline MBTiles packages."""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import mapbox_vector_tile
import numpy as np
import pyogrio
import pytest
import shapely
from matplotlib.colors import to_hex
from PIL import Image
from pmtiles.reader import MmapSource, all_tiles
from pmtiles.reader import Reader as PMTilesReader
from pmtiles.tile import TileType

from layers.catalog import CATALOG, GEOMETRY_KINDS, get_layer
from layers.mapdata import map_data_for
from layers.palette import DIFFICULT_FIELD, REGION_CLASS, SURFACES, colours_for, need_colours
from layers.printmap import PrintOptions, build_print_map
from layers.store import Warehouse
from layers.styles import POVERTY_RATE, PRIORITY_TIER, hex_to_rgba
from layers.tiles import (
    EXTENT,
    RASTER_LAYERS,
    SIMPLIFY_UNITS,
    TMS,
    ChoroplethSource,
    RasterSource,
    TileError,
    Tiler,
    check_tile,
    province_tiles,
    simplify_tolerance,
)
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
    assert found["properties"][DIFFICULT_FIELD] == bool(village[DIFFICULT_FIELD])
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
    # the PMTiles twins, converted from the MBTiles: the same tiles, one by one (vector tiles gzipped in PMTiles)
    for name, packed in (("units_2025", True), ("poverty_rate_units_2025", False)):
        with sqlite3.connect(tmp_path / f"{name}.mbtiles") as con:
            expected_tiles = {
                (z, x, (1 << z) - 1 - row): data
                for z, x, row, data in con.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles")
            }
        with open(tmp_path / f"{name}.pmtiles", "rb") as fh:
            reader = PMTilesReader(MmapSource(fh))
            header = reader.header()
            assert (header["min_zoom"], header["max_zoom"]) == (6, 9)
            assert header["tile_type"] == (TileType.MVT if packed else TileType.PNG)
            for (z, x, y), data in expected_tiles.items():
                got = reader.get(z, x, y)
                assert (gzip.decompress(got) if packed else got) == data, (name, z, x, y)
            assert reader.get(9, 0, 0) is None  # outside the province: no tile
            assert len(list(all_tiles(MmapSource(fh)))) == len(expected_tiles)


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


STYLE_TYPES = {"polygon": {"fill", "line"}, "line": {"line"}, "point": {"circle"}}


def _style_layers(server: LiveServer, layer_id: str) -> list[dict[str, Any]]:
    style = httpx.get(f"{server.url}/ogc/collections/{layer_id}/styles/default", timeout=60).json()
    layers: list[dict[str, Any]] = style["layers"]
    return layers


def test_every_layer_is_styled_and_tiled_as_its_geometry_kind(server: LiveServer, built: Built) -> None:
    # a MultiLineString layer: lines, no circles
    assert [layer["type"] for layer in _style_layers(server, "investment_plan_roads")] == ["line"]
    spatial = [spec for spec in CATALOG if spec.is_spatial]
    assert {spec.geometry_kind for spec in spatial} == set(STYLE_TYPES)
    for spec in spatial:
        assert spec.geometry_kind is not None
        layers = _style_layers(server, spec.id)
        assert {layer["type"] for layer in layers} == STYLE_TYPES[spec.geometry_kind], spec.id
        assert {layer["source-layer"] for layer in layers} == {spec.id}
        # and the layer's tiles hold that kind of geometry
        frame = read_table(built.path, spec.id)
        assert len(frame) > 0, spec.id
        point = frame.geometry.iloc[0].representative_point()
        tile = TMS.tile(point.x, point.y, 10)
        url = f"{server.url}/ogc/collections/{spec.id}/tiles/WebMercatorQuad/10/{tile.y}/{tile.x}"
        features = mapbox_vector_tile.decode(httpx.get(url, timeout=60).content)[spec.id]["features"]
        assert {GEOMETRY_KINDS[f["geometry"]["type"]] for f in features} == {spec.geometry_kind}, spec.id


def _web_map_features(page: str) -> list[tuple[dict[str, Any], str, dict[str, Any]]]:
    """(properties, geometry type, style) of every feature of every GeoJSON layer of a folium page."""
    stylers: dict[str, tuple[str, dict[str, dict[str, Any]], dict[str, Any]]] = {}
    styler = r"function (geo_json_\w+)_styler\(feature\) \{\s*switch\(([\w.]+)\) \{(.*?)default:\s*return (\{.*?\});"
    for name, identifier, cases, default in re.findall(styler, page, re.S):
        by_id = {}
        value = r'(?:"(?:[^"\\]|\\.)*"|-?[\d.]+)'  # a JSON string or number
        for labels, style in re.findall(rf"((?:case {value}: )+)\s*return (\{{.*?\}});", cases, re.S):
            for label in re.findall(rf"case ({value}): ", labels):
                by_id[str(json.loads(label))] = json.loads(style)
        stylers[name] = (identifier, by_id, json.loads(default))
    features = []
    for name, data in re.findall(r"(geo_json_\w+)_add\((\{.*?\})\);\n", page):
        identifier, by_id, default = stylers[name]
        for feature in json.loads(data)["features"]:
            key = feature
            for part in identifier.split(".")[1:]:  # feature.id or feature.properties.<unique column>
                key = key[part]
            features.append((feature["properties"], feature["geometry"]["type"], by_id.get(str(key), default)))
    return features


def _paints(server: LiveServer, layer: str) -> list[dict[str, Any]]:
    return [style_layer["paint"] for style_layer in _style_layers(server, layer)]


def test_tiles_web_maps_and_printed_maps_draw_layers_in_the_same_colours(server: LiveServer, built: Built) -> None:
    # the MapLibre styles of the vector tiles: paint of each layer (villages: ordinary, especially difficult)
    villages = {layer["filter"][0]: layer["paint"] for layer in _style_layers(server, "demo_villages")}
    ordinary, difficult = villages["!in"], villages["=="]
    assert difficult["circle-color"] != ordinary["circle-color"]
    plan = _style_layers(server, "investment_plan")[0]["paint"]
    plan_roads = _style_layers(server, "investment_plan_roads")[0]["paint"]
    districts = next(layer["paint"] for layer in _style_layers(server, "districts_2024") if layer["type"] == "line")
    poverty = [
        layer["paint"]["fill-color"]
        for layer in _style_layers(server, "indicators_units_2025")
        if layer["type"] == "fill"
    ]
    expected = {
        "ordinary": {(ordinary["circle-color"], ordinary["circle-stroke-color"])},
        "difficult": {(difficult["circle-color"], difficult["circle-stroke-color"])},
        "plan": {(plan["circle-color"], plan["circle-stroke-color"])},
        "plan_roads": {(plan_roads["line-color"],)},
        "districts": {(districts["line-color"],)},
    }

    # the web map of the province, read back from its HTML
    page = httpx.get(f"{server.url}/maps/province.html", timeout=180).text
    seen: dict[str, set[tuple[Any, ...]]] = {}
    for props, geometry, style in _web_map_features(page):
        if "village_id" in props:  # marked by the current period's list
            kind = "difficult" if props[DIFFICULT_FIELD] else "ordinary"
            seen.setdefault(kind, set()).add((style["fillColor"], style["color"]))
        elif "project_id" in props and "status" in props:  # the programme register's sites, by status
            seen.setdefault("programme", set()).add((style["fillColor"], style["color"]))
        elif "project_id" in props and geometry == "Point":
            seen.setdefault("plan", set()).add((style["fillColor"], style["color"]))
        elif "project_id" in props:
            seen.setdefault("plan_roads", set()).add((style["color"],))
        elif set(props) == {"code", "name"}:
            seen.setdefault("districts", set()).add((style["color"],))
        elif props.get(POVERTY_RATE.field) is not None and "fillColor" in style:
            k = int(POVERTY_RATE.classify(np.array([props[POVERTY_RATE.field]], dtype=float))[0])
            seen.setdefault("poverty", set()).add((k, style["fillColor"]))
    assert {kind: seen[kind] for kind in expected} == expected
    sites = {(paint["circle-color"], paint["circle-stroke-color"]) for paint in _paints(server, "programme_sites")}
    assert len(seen["programme"]) >= 2 and seen["programme"] <= sites
    assert len(seen["poverty"]) >= 3 and all(poverty[k] == colour for k, colour in seen["poverty"])

    # the printed sheet of the province, read back from its matplotlib artists
    data = map_data_for(Warehouse.open(built.path))
    figure, _ = build_print_map(data, data.by_slug("province"), PrintOptions(paper="A4", indicator="poverty"))
    artists = {a.get_gid(): a for ax in figure.axes for a in ax.collections if a.get_gid()}

    def colours(gid: str, face: bool = True) -> set[tuple[str, ...]]:
        faces = [to_hex(c) for c in artists[gid].get_facecolor()] if face else []
        edges = [to_hex(c) for c in artists[gid].get_edgecolor()]
        return {(f, e) for f, e in zip(faces, edges, strict=True)} if face else {(e,) for e in edges}

    printed = {
        "ordinary": colours("demo_villages"),
        "difficult": colours("demo_villages/especially_difficult"),
        "plan": colours("investment_plan"),
        "plan_roads": colours("investment_plan_roads", face=False),
        "districts": colours("districts_2024", face=False),
    }
    assert printed == expected
    units = data.units_in(data.by_slug("province"))
    classes = POVERTY_RATE.classify(units[POVERTY_RATE.field].to_numpy(dtype=float))
    assert {to_hex(c) for c in artists[POVERTY_RATE.id].get_facecolor()} == {poverty[k] for k in classes}


def test_road_surfaces_of_the_data_have_their_colours(built: Built) -> None:
    roads = colours_for(get_layer("roads"))
    surfaces = set(read_table(built.path, "roads")["surface"])
    assert surfaces == {value for value, _ in SURFACES}  # the values geo.demo writes, each with its colour
    assert len({roads.symbol_for({"surface": s}).colour for s in surfaces} | {roads.symbol.colour}) == len(surfaces) + 1


def test_raster_sources_behind_one_interface(built: Built) -> None:
    tiler = Tiler(Warehouse.open(built.path), None, None)  # no population raster
    assert all(issubclass(layer.reader, RasterSource) for layer in RASTER_LAYERS)
    point = _point_of(built, "units_2025", "code", "03646")
    tile = TMS.tile(point.x, point.y, 11)
    spec = next(layer for layer in RASTER_LAYERS if layer.id == "poverty_rate_units_2025")
    source = spec.reader.open(spec, tiler)
    assert isinstance(source, ChoroplethSource) and source.scale is POVERTY_RATE
    drawn = source.tile(tile.z, tile.x, tile.y)
    assert drawn and drawn == tiler.raster_tile(spec.id, tile.z, tile.x, tile.y)
    assert Image.open(io.BytesIO(drawn)).size == (256, 256)
    with pytest.raises(TileError, match="population raster is not available"):
        tiler.raster_tile("population", tile.z, tile.x, tile.y)
    with pytest.raises(TileError, match="one of poverty_rate_units_2025"):
        tiler.raster_tile("nope", tile.z, tile.x, tile.y)


@pytest.mark.parametrize(
    ("z", "x", "y", "valid"),
    [(0, 0, 0, True), (18, 262143, 262143, True), (18, 262144, 0, False), (8, 0, -1, False), (19, 0, 0, False),
     (-1, 0, 0, False), (8, 255, 256, False)],
)  # fmt: skip
def test_tile_addresses_and_simplification_from_the_tile_matrix_set(z: int, x: int, y: int, valid: bool) -> None:
    if not valid:
        with pytest.raises(TileError):
            check_tile(z, x, y)
        return
    assert check_tile(z, x, y) == (x, y, z)
    bounds = TMS.xy_bounds(x, y, z)
    assert math.isclose(simplify_tolerance(z), SIMPLIFY_UNITS * (bounds.right - bounds.left) / EXTENT)


def _decoded(server: LiveServer, layer: str, point: shapely.Point, z: int) -> list[dict[str, Any]]:
    tile = TMS.tile(point.x, point.y, z)
    response = httpx.get(
        f"{server.url}/ogc/collections/{layer}/tiles/WebMercatorQuad/{z}/{tile.y}/{tile.x}", timeout=60
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    features: list[dict[str, Any]] = mapbox_vector_tile.decode(response.content)[layer]["features"]
    return features


def test_classification_tiles_carry_the_region_class_and_the_style_colours_by_it(
    server: LiveServer, built: Built
) -> None:
    classes = read_table(built.path, "classification_2026_2030").set_index("unit_code")
    for code in (classes["region_class"].idxmin(), classes["region_class"].idxmax()):  # region I and region III
        point = classes.geometry[code].representative_point()
        mine = [f["properties"] for f in _decoded(server, "classification_2026_2030", point, 11)]
        found = next(p for p in mine if p["unit_code"] == code)
        expected = classes.loc[code]
        assert found["unit_name"] == expected["unit_name"] and found["source"] == expected["source"]
        assert found["region_class"] == int(expected["region_class"])
        assert found["region_class_class"] == str(int(expected["region_class"]) - 1)
        assert found["n_especially_difficult_villages"] == int(expected["n_especially_difficult_villages"])
    style = httpx.get(f"{server.url}/ogc/collections/classification_2026_2030/styles/default", timeout=60).json()
    fills = [layer for layer in style["layers"] if layer["type"] == "fill"]
    assert [f["filter"] for f in fills] == [["==", "region_class_class", str(k)] for k in range(3)]
    assert [f["paint"]["fill-color"] for f in fills] == list(REGION_CLASS.colours)
    legend = style["metadata"]["legend"]
    assert legend["title"] == "Khu vực 2026-2030 / Region class 2026-2030"
    assert legend["labels"] == ["khu vực I / region I", "khu vực II / region II", "khu vực III / region III"]
    meta = httpx.get(
        f"{server.url}/ogc/collections/classification_2026_2030/tiles/WebMercatorQuad/tilejson", timeout=60
    ).json()
    assert {"unit_code", "unit_name", "region_class", "source"} <= set(meta["vector_layers"][0]["fields"])


def test_deprivation_tiles_carry_the_profile_and_the_style_draws_the_latest_year_by_top_need(
    server: LiveServer, built: Built
) -> None:
    wide = read_table(built.path, "deprivations_units_2025")
    latest = int(wide["year"].max())
    row = wide[wide["year"] == latest].iloc[10]
    point = row.geometry.representative_point()
    features = [f["properties"] for f in _decoded(server, "deprivations_units_2025", point, 11)]
    years = sorted(p["year"] for p in features if p["unit_code"] == row["unit_code"])
    assert years == sorted(wide.loc[wide["unit_code"] == row["unit_code"], "year"])  # every year, one feature each
    found = next(p for p in features if p["unit_code"] == row["unit_code"] and p["year"] == latest)
    assert found["top_need"] == row["top_need"] and found["top_need_label"] == row["top_need_label"]
    pct = [c for c in wide.columns if c.startswith("pct_") and not np.isnan(row[c])]
    assert len(pct) >= 12 and all(found[c] == pytest.approx(row[c]) for c in pct)
    style = httpx.get(f"{server.url}/ogc/collections/deprivations_units_2025/styles/default", timeout=60).json()
    fills = [layer for layer in style["layers"] if layer["type"] == "fill"]
    assert all(f["filter"][:2] == ["all", ["==", "year", latest]] for f in fills)  # the latest year only
    colours = need_colours()
    by_need = {f["filter"][2][2]: f["paint"]["fill-color"] for f in fills if f["filter"][2][0] == "=="}
    assert by_need == {value: symbol.colour for value, symbol in colours.classes}
    assert row["top_need"] in by_need and len(set(by_need.values())) == len(by_need)
    legend = style["metadata"]["legend"]
    assert legend["field"] == "top_need" and legend["year"] == latest
    assert row["top_need_label"] in legend["labels"]
