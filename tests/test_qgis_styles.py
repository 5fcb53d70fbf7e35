"""Styled out of the box: the warehouse's layer_styles table, opened by QGIS itself (headless), and each collection's
QML and SLD over HTTP; the classes are the palette's, so a known unit is drawn in its class colour everywhere."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pyogrio
import pytest

from geo.settings import PROJECT_ROOT
from layers.catalog import CATALOG, LayerSpec, get_layer
from layers.palette import DIFFICULT_VILLAGE, DISBURSEMENT_RATE, POVERTY_RATE, PRIORITY_TIER, VILLAGE, ColourScale
from layers.qgis_styles import STYLES_TABLE, qml, rules, sld
from layers.warehouse import read_table
from tests.conftest import Built, LiveServer
from tests.test_qgis import QGIS_PYTHON, REASON

SPATIAL = [s for s in CATALOG if s.is_spatial]
SE = "{http://www.opengis.net/se}"


@pytest.mark.parametrize(
    ("layer", "scale"),
    [
        ("indicators_units_2025", POVERTY_RATE),
        ("priority_units_2025", PRIORITY_TIER),
        ("programme_units_2025", DISBURSEMENT_RATE),
    ],
)
def test_rules_hold_the_same_values_as_the_palette_classes(layer: str, scale: ColourScale) -> None:
    classes = rules(get_layer(layer), [scale.field])
    values = np.array([0.0, 4.99, 5.0, 9.99, 10.0, 15.0, 20.0, 29.9, 30.0, 50.0, 99.0, 1.0, 2.0, 3.0, 25.0, 90.0])
    expected = scale.classify(values)
    for value, k in zip(values, expected, strict=True):
        held = [
            i
            for i, r in enumerate(classes)
            if not r.missing and (r.lower is None or value >= r.lower) and (r.upper is None or value < r.upper)
        ]
        assert held == [k], (value, held, k)
    assert classes[-1].missing and classes[-1].expression() == f'"{scale.field}" IS NULL'


@pytest.mark.parametrize("layer", SPATIAL, ids=lambda s: s.id)
def test_every_spatial_layer_has_a_well_formed_qml_and_sld(built: Built, layer: LayerSpec) -> None:
    fields = list(pyogrio.read_info(built.path, layer=layer.id)["fields"])
    document = ET.fromstring(qml(layer, fields).split("\n", 1)[1])
    assert document.tag == "qgis" and document.find("renderer-v2").get("type") == "RuleRenderer"  # type: ignore[union-attr]
    n = len(rules(layer, fields))
    assert len(document.findall("renderer-v2/rules/rule")) == len(document.findall("renderer-v2/symbols/symbol")) == n
    styled = ET.fromstring(sld(layer, fields).encode())
    drawn = [r for r in styled.iter(f"{SE}Rule") if r.find(f"{SE}TextSymbolizer") is None]
    assert len(drawn) == n


def test_the_warehouse_carries_a_default_style_per_spatial_layer(built: Built) -> None:
    table = read_table(built.path, STYLES_TABLE)
    assert sorted(table["f_table_name"]) == sorted(s.id for s in SPATIAL)
    assert table["useAsDefault"].astype(bool).all() and set(table["f_geometry_column"]) == {"geom"}
    with sqlite3.connect(built.path) as con:
        geometry_columns = {row[0] for row in con.execute("SELECT column_name FROM gpkg_geometry_columns")}
    assert geometry_columns == {"geom"}  # what f_geometry_column names, and QGIS matches on


def _qgis_styles(path: Path, request: dict[str, object]) -> dict[str, object]:
    result = subprocess.run(
        [QGIS_PYTHON, str(PROJECT_ROOT / "scripts" / "qgis_styles_check.py"), str(path), json.dumps(request)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


@pytest.mark.skipif(REASON is not None, reason=REASON or "")
def test_qgis_opens_the_geopackage_styled_and_labelled(built: Built, tmp_path: Path) -> None:
    units = read_table(built.path, "indicators_units_2025").set_index("unit_code")
    poorest, richest = units["poor_rate"].idxmax(), units["poor_rate"].idxmin()
    villages = read_table(built.path, "demo_villages")
    difficult = villages["especially_difficult_2026_2030"].astype(bool)
    sld_file = tmp_path / "units.sld"
    fields = list(pyogrio.read_info(built.path, layer="indicators_units_2025")["fields"])
    sld_file.write_text(sld(get_layer("indicators_units_2025"), fields), encoding="utf-8")
    report = _qgis_styles(
        built.path,
        {
            "layers": [s.id for s in SPATIAL],
            "features": [
                ["indicators_units_2025", "unit_code", poorest],
                ["indicators_units_2025", "unit_code", richest],
                ["demo_villages", "village_id", villages.loc[difficult, "village_id"].iloc[0]],
                ["demo_villages", "village_id", villages.loc[~difficult, "village_id"].iloc[0]],
            ],
            "sld": {"indicators_units_2025": str(sld_file)},
        },
    )
    layers = report["layers"]
    assert isinstance(layers, dict)
    for spec in SPATIAL:  # every layer opens with its default style from layer_styles, not QGIS's random colour
        assert layers[spec.id]["valid"] and layers[spec.id]["renderer"] == "RuleRenderer", spec.id
    assert layers["units_2025"]["labels"] and layers["demo_villages"]["labels"] and not layers["roads"]["labels"]
    assert layers["indicators_units_2025"]["legend"][: len(POVERTY_RATE.colours)] == POVERTY_RATE.labels()
    colours = [f["colours"] for f in report["features"]]  # type: ignore[union-attr]
    assert colours == [
        [POVERTY_RATE.colour(float(units.loc[poorest, "poor_rate"]))],
        [POVERTY_RATE.colour(float(units.loc[richest, "poor_rate"]))],
        [DIFFICULT_VILLAGE.colour],
        [VILLAGE.colour],
    ]
    assert report["sld"] == {
        "indicators_units_2025": {
            "ok": True,
            "message": "",
            "rules": len(POVERTY_RATE.colours) + 1,
        }  # the classes and no data
    }


@pytest.fixture(scope="module")
def server(built: Built) -> Iterator[LiveServer]:
    with LiveServer(built.path, env={"ATLAS_CACHE_DIR": str(built.settings.cache_dir)}) as live:
        yield live


def test_styles_of_a_collection_over_http(server: LiveServer, built: Built) -> None:
    listed = httpx.get(f"{server.url}/ogc/collections/priority_units_2025/styles", timeout=60).json()
    links = {link["type"]: link["href"] for link in listed["styles"][0]["links"]}
    assert listed["default"] == "default" and len(links) == 3
    fields = list(pyogrio.read_info(built.path, layer="priority_units_2025")["fields"])
    spec = get_layer("priority_units_2025")
    as_qml = httpx.get(links["application/vnd.qgis.qml"], timeout=60)
    assert as_qml.headers["content-type"].startswith("application/vnd.qgis.qml") and as_qml.text == qml(spec, fields)
    as_sld = httpx.get(links["application/vnd.ogc.sld+xml;version=1.1"], timeout=60)
    assert ET.fromstring(as_sld.content).tag == "{http://www.opengis.net/sld}StyledLayerDescriptor"
    maplibre = httpx.get(links["application/vnd.mapbox.style+json"], timeout=60).json()
    assert maplibre["version"] == 8
    wrong = httpx.get(f"{server.url}/ogc/collections/priority_units_2025/styles/default?f=lyrx", timeout=60)
    assert wrong.status_code == 400 and "f" in wrong.text
    assert httpx.get(f"{server.url}/ogc/collections/crosswalk_2025/styles", timeout=60).status_code == 404
