"""Harmonisation on tiny hand-made fixtures whose right answers are known."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from geo.errors import HarmonisationError
from geo.harmonise import allocate_gaps, match_sources, reconstruct_communes_2024, split_by_population
from geo.lineage import Lineage, LineageRule, NameRule
from geo.population import PopulationGrid

A = box(104.0, 21.0, 104.1, 21.1)
B = box(104.1, 21.0, 104.2, 21.1)
C = box(104.0, 21.1, 104.2, 21.2)
D = box(104.2, 21.0, 104.3, 21.2)


def _units() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": ["00001", "00002", "00003", "00004"], "full_name": ["Xã A", "Xã B", "Xã C", "Phường D"]},
        geometry=[A, B, C, D],
        crs="EPSG:4326",
    )


def _c09() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"name": ["Xã A1", "Xã A2", "Xã B1", "Xã C1"], "district_name": ["Huyện X"] * 4},
        geometry=[
            box(104.0, 21.0, 104.048, 21.1),  # leaves a 0.004° gap before A2
            box(104.052, 21.0, 104.105, 21.1),  # spills 0.005° into B
            box(104.1, 21.0, 104.2, 21.1),
            box(104.0, 21.1, 104.2, 21.21),  # spills north of C
        ],
        crs="EPSG:4326",
    )


def _crosswalk() -> pd.DataFrame:
    rows = [
        ("10001", "Xã A1", "00001"),
        ("10002", "Xã A2", "00001"),
        ("10003", "Xã B1", "00002"),
        ("10004", "Xã C1", "00003"),
        ("00004", "Phường D", "00004"),
        ("10006", "Phường D2", "00004"),
    ]
    return pd.DataFrame(
        {
            "old_code": [r[0] for r in rows],
            "old_name": [r[1] for r in rows],
            "old_type": ["Xã"] * 4 + ["Phường"] * 2,
            "old_name_variants": [""] * 6,
            "district_code": ["100"] * 6,
            "district_name": ["Huyện X"] * 6,
            "new_code": [r[2] for r in rows],
        }
    )


def _grid() -> PopulationGrid:
    """Uniform population of 1 on a 0.01° grid, plus a town of 50 in the north of D."""
    xs, ys = np.meshgrid(np.arange(104.005, 104.3, 0.01), np.arange(21.005, 21.2, 0.01))
    x, y = xs.ravel(), ys.ravel()
    count = np.ones_like(x)
    town = np.argmin((x - 104.255) ** 2 + (y - 21.175) ** 2)
    count[town] = 50.0
    return PopulationGrid(x, y, count)


SOURCES = {"10001": [0], "10002": [1], "10003": [2], "10004": [3], "00004": [], "10006": []}


@pytest.fixture(scope="module")
def rebuilt() -> tuple[gpd.GeoDataFrame, dict[str, object]]:
    out, reports = reconstruct_communes_2024(_units(), _c09(), _crosswalk(), SOURCES, _grid())
    return out.set_index("code"), {r.code: r for r in reports}


def test_every_parent_is_tiled_exactly(rebuilt: tuple[gpd.GeoDataFrame, dict[str, object]]) -> None:
    out, _ = rebuilt
    assert shapely.coverage_is_valid(out.geometry.values)
    for code, parent in zip(["00001", "00002", "00003", "00004"], [A, B, C, D], strict=True):
        union = shapely.union_all(out[out["unit_2025_code"] == code].geometry.values)
        assert shapely.symmetric_difference(union, parent).area < 1e-12


def test_quality_flags(rebuilt: tuple[gpd.GeoDataFrame, dict[str, object]]) -> None:
    out, _ = rebuilt
    assert out["geometry_quality"].to_dict() == {
        "00004": "approximate",
        "10001": "derived",
        "10002": "derived",
        "10003": "exact",
        "10004": "exact",
        "10006": "approximate",
    }
    assert "Xã A1" in out.loc["10001", "method"]
    assert out.loc["10003", "geometry"].equals(shapely.normalize(B)) or out.loc["10003", "geometry"].area == B.area


def test_gap_goes_half_to_each_neighbour(rebuilt: tuple[gpd.GeoDataFrame, dict[str, object]]) -> None:
    out, reports = rebuilt
    a1, a2 = out.loc["10001", "geometry"], out.loc["10002", "geometry"]
    assert a1.bounds[2] == pytest.approx(104.05, abs=1e-6)  # the gap is cut down its middle
    assert a2.bounds[0] == pytest.approx(104.05, abs=1e-6)
    assert a2.bounds[2] == pytest.approx(104.1, abs=1e-9)  # the spill into B is trimmed
    report = reports["00001"]
    assert report.gap_km2 == pytest.approx(0.004 * 0.1 * 111.32 * 110.6 * np.cos(np.radians(21.05)), rel=0.05)
    assert report.spill_km2 > 0
    assert 0.9 < report.iou_sources < 1
    assert report.tiling_error_m2 < 1e-3


def test_unsourced_units_split_by_population(rebuilt: tuple[gpd.GeoDataFrame, dict[str, object]]) -> None:
    out, _ = rebuilt
    grid = _grid()
    d1, d2 = out.loc["00004", "geometry"], out.loc["10006", "geometry"]
    _, w1 = grid.inside(d1)
    _, w2 = grid.inside(d2)
    assert w1.max() == 50  # the unit keeping the parent's code takes the part with the town
    assert abs(w1.sum() - w2.sum()) <= 0.1 * (w1.sum() + w2.sum())  # equal halves of the population
    assert d1.area < d2.area  # the town's half is smaller in area


def test_allocate_gaps_keeps_seeds_and_fills_parent() -> None:
    seeds = {"w": box(0, 0, 0.4, 1), "e": box(0.6, 0, 1, 1)}
    out = allocate_gaps(box(0, 0, 1, 1), seeds)
    assert out["w"].area == pytest.approx(0.5, rel=1e-6)
    assert out["e"].area == pytest.approx(0.5, rel=1e-6)
    assert out["w"].contains(seeds["w"].buffer(-1e-9))


def test_split_by_population_three_ways() -> None:
    region = box(104.0, 21.0, 104.3, 21.1)
    xs, ys = np.meshgrid(np.arange(104.005, 104.3, 0.01), np.arange(21.005, 21.1, 0.01))
    grid = PopulationGrid(xs.ravel(), ys.ravel(), np.ones(xs.size))
    parts = split_by_population(region, 3, grid)
    assert len(parts) == 3
    assert sum(p.area for p in parts) == pytest.approx(region.area, rel=1e-9)
    assert [round(p.area / region.area, 1) for p in parts] == [0.3, 0.3, 0.3]


def _lineage(**kw: list[object]) -> Lineage:
    return Lineage(version=1, **kw)  # type: ignore[arg-type]


def test_match_sources_by_name_variant_type_and_lineage() -> None:
    c09 = gpd.GeoDataFrame(
        {
            "name": ["Thị trấn Hát Lót", "Xã Hát Lót", "Xã Mường Tranh", "Xã Chiềng Ly", "Xã Chiềng Sơ"],
            "district_name": ["Huyện Mai Sơn"] * 5,
        },
        geometry=[box(i, 0, i + 1, 1) for i in range(5)],
        crs="EPSG:4326",
    )
    crosswalk = pd.DataFrame(
        {
            "old_code": ["1", "2", "3", "4"],
            "old_name": ["Thị trấn Hát Lót", "Xã Hát Lót", "Xã Mường Chanh", "Xã Phổng Ly"],
            "old_name_variants": ["", "", "Xã Mường Tranh", ""],
            "district_code": ["125"] * 4,
        }
    )
    lineage = _lineage(lineage=[LineageRule(code="00004", from_2009=["Xã Chiềng Ly", "Xã Chiềng Sơ"])])
    crosswalk["old_code"] = ["00001", "00002", "00003", "00004"]
    got = match_sources(c09, crosswalk, lineage, {"mai sơn": "125"}, Path("c09.geojson"), Path("lineage.toml"))
    assert got == {"00001": [0], "00002": [1], "00003": [2], "00004": [3, 4]}


def test_unmatched_and_unused_communes_are_errors() -> None:
    c09 = gpd.GeoDataFrame(
        {"name": ["Xã Một", "Xã Hai"], "district_name": ["Huyện X"] * 2},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
        crs="EPSG:4326",
    )
    crosswalk = pd.DataFrame(
        {"old_code": ["00001"], "old_name": ["Xã Ba"], "old_name_variants": [""], "district_code": ["100"]}
    )
    with pytest.raises(HarmonisationError, match=r"00001 Xã Ba .*lineage.toml"):
        match_sources(c09, crosswalk, _lineage(), {"x": "100"}, Path("c.geojson"), Path("lineage.toml"))
    crosswalk["old_name"] = ["Xã Một"]
    with pytest.raises(HarmonisationError, match=r"feed no pre-merger unit: Xã Hai"):
        match_sources(c09, crosswalk, _lineage(), {"x": "100"}, Path("c.geojson"), Path("lineage.toml"))
    renamed = _lineage(names=[NameRule(code="00001", name="Xã Ba", variants=["Xã Hai"])])
    assert renamed.variants("00001") == ["Xã Hai"]
