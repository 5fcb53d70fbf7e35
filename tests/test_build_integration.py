"""The warehouse built from the real sources in ../shared/data."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pyogrio
import pytest
import shapely

from layers.build import build_warehouse
from layers.catalog import CATALOG
from layers.warehouse import read_build_info, read_table, validate_warehouse
from tests.conftest import Built


def test_layer_counts(built: Built) -> None:
    counts = {
        name: pyogrio.read_info(built.path, layer=name)["features"] for name, _ in pyogrio.list_layers(built.path)
    }
    assert {
        k: counts[k]
        for k in (
            "province",
            "districts_2024",
            "communes_2009",
            "communes_2024",
            "units_2025",
            "crosswalk_2025",
            "boundary_quality",
        )
    } == {
        "province": 1,
        "districts_2024": 12,
        "communes_2009": 204,
        "communes_2024": 200,
        "units_2025": 75,
        "crosswalk_2025": 200,
        "boundary_quality": 75,
    }
    assert counts["villages"] == 2231
    assert validate_warehouse(built.path) == []


def test_units_2025_types_and_codes_are_text(built: Built) -> None:
    units = read_table(built.path, "units_2025")
    assert units["unit_type"].value_counts().to_dict() == {"Xã": 67, "Phường": 8}
    assert all(isinstance(c, str) and len(c) == 5 for c in units["code"])
    assert units.crs.to_epsg() == 4326 and units.is_valid.all()
    chieng_an = units.set_index("code").loc["03664"]
    assert chieng_an["full_name"] == "Phường Chiềng An"


def test_crosswalk_is_complete(built: Built) -> None:
    cw = read_table(built.path, "crosswalk_2025")
    units = read_table(built.path, "units_2025")
    assert cw["old_code"].is_unique and len(cw) == 200
    assert set(cw["new_code"]) == set(units["code"])
    assert cw.groupby("new_code").size().min() >= 1
    assert cw["clause"].between(1, 69).all()
    row = cw.set_index("old_code").loc["04117"]
    assert row["old_name"] == "Xã Mường Chanh" and "Xã Mương Chanh" in row["old_name_variants"]
    assert "khoản 47" in row["resolution_ref"] and "Mường Chanh" in row["resolution_text"]
    assert (cw["new_code"] == cw["old_code"]).sum() >= 7  # the 7 unchanged units keep their code
    unchanged = cw[cw["clause"] == 69]
    assert sorted(unchanged["old_name"]) == sorted(
        ["Xã Mường Lạn", "Xã Phiêng Khoài", "Xã Suối Tọ", "Xã Ngọc Chiến", "Xã Tân Yên", "Xã Mường Bám", "Xã Mường Lèo"]
    )


def test_communes_2024_tile_their_parents_with_quality_flags(built: Built) -> None:
    communes = read_table(built.path, "communes_2024")
    units = read_table(built.path, "units_2025").set_index("code")
    assert shapely.coverage_is_valid(communes.geometry.values)
    for code, group in communes.groupby("unit_2025_code"):
        diff = shapely.symmetric_difference(shapely.union_all(group.geometry.values), units.geometry[code])
        assert diff.area < 1e-9, code
    quality = communes.set_index("code")["geometry_quality"]
    assert set(quality) == {"exact", "derived", "approximate"}
    assert quality[["03982", "03984", "03983", "04033"]].eq("approximate").all()  # Mộc Châu wards, no 2009 polygon
    assert quality["03997"] == "exact"  # Tân Yên: alone in its 2025 unit
    assert quality["03748"] == "derived"  # Phổng Ly from Chiềng Ly + Phổng Lăng
    assert communes["method"].str.len().min() > 40
    assert all(unicodedata.is_normalized("NFC", n) for n in communes["name"])


def test_villages_each_in_exactly_one_unit(built: Built) -> None:
    villages = read_table(built.path, "villages")
    units = read_table(built.path, "units_2025")
    assert villages["unit_2025_code"].notna().all() and villages["commune_2024_code"].notna().all()
    hits = shapely.contains_xy  # exact point-in-polygon against the real 2025 polygons
    n_inside = np.zeros(len(villages), dtype=int)
    owner = np.full(len(villages), "", dtype=object)
    for code, geom in zip(units["code"], units.geometry, strict=True):
        inside = hits(geom, villages.geometry.x.to_numpy(), villages.geometry.y.to_numpy())
        n_inside += inside
        owner[inside] = code
    strictly_inside = n_inside == 1
    assert strictly_inside.mean() > 0.99
    assert (owner[strictly_inside] == villages["unit_2025_code"].to_numpy()[strictly_inside]).all()
    assert villages["is_ban"].sum() > 1400
    assert (villages["location_precision"] != "point").sum() > 1000


def test_quality_report_and_metadata(built: Built) -> None:
    quality = read_table(built.path, "boundary_quality")
    iou = quality["iou_sources"].astype(float)
    assert 0.85 < iou.median() < 1.0
    assert quality["tiling_error_m2"].max() < 10
    assert int(quality[["n_exact", "n_derived", "n_approximate"]].to_numpy().sum()) == 200
    meta = read_table(built.path, "atlas_layers").set_index("layer")
    assert set(meta.index) == {s.id for s in CATALOG}
    assert "GeoNames" in meta.loc["villages", "attribution"] and "CC BY 4.0" in meta.loc["villages", "licences"]
    info = read_build_info(built.path)
    assert info is not None and len(info["fingerprint"]) == 64
    assert set(json.loads(info["sources"])) >= {"units_2025", "communes_2009"}


def test_second_build_with_unchanged_inputs_is_skipped(built: Built) -> None:
    before = built.path.stat().st_mtime_ns
    again = build_warehouse(built.settings)
    assert again.skipped and again.fingerprint == built.outcome.fingerprint
    assert built.path.stat().st_mtime_ns == before
    assert len(again.quality) == 75


@pytest.mark.parametrize("layer", [s.id for s in CATALOG if s.is_spatial])
def test_spatial_layers_are_valid_wgs84(built: Built, layer: str) -> None:
    frame = read_table(built.path, layer)
    assert frame.crs.to_epsg() == 4326
    assert frame.is_valid.all() and not frame.geometry.is_empty.any()
