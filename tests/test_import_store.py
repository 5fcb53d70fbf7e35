"""`atlas import` end to end: a bad file changes nothing; a good one is stored, applied and removable."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from geo.importing import ImportFailed
from geo.sources import sha256_file
from layers.build import build_warehouse, import_file, remove_import
from layers.imports import ImportStore
from layers.warehouse import read_table
from tests.conftest import Built, isolated_copy


def test_import_is_all_or_nothing_and_applied_by_every_build(built: Built, tmp_path: Path) -> None:
    settings = isolated_copy(built, tmp_path)
    warehouse = settings.warehouse
    communes = read_table(warehouse, "communes_2024").set_index("code")
    codes = list(communes.index[:2])
    store = ImportStore(settings.imports_dir)

    bad = tmp_path / "bad.csv"
    bad.write_text(f"Mã xã,Năm,Tổng số hộ,Số hộ nghèo\n{codes[0]},2024,1000,100\n09999,2024,900,90\n", encoding="utf-8")
    before = sha256_file(warehouse)
    with pytest.raises(ImportFailed, match="row 3: unknown code 09999"):
        import_file(settings, "commune_indicators", bad)
    assert sha256_file(warehouse) == before and store.entries() == []

    good = tmp_path / "rasoat_2024.csv"
    good.write_text(
        f"Mã xã,Năm,Tổng số hộ,Số hộ nghèo,Số hộ cận nghèo\n{codes[0]},2024,1000,123,45\n{codes[1]},2024,2000,234,56\n",
        encoding="utf-8",
    )
    outcome = import_file(settings, "commune_indicators", good)
    assert outcome.report.count("imported") == 2 and len(store.entries()) == 1
    indicators = read_table(warehouse, "commune_indicators")
    rows = indicators[(indicators["vintage"] == "2024") & (indicators["year"] == 2024)].set_index("unit_code")
    assert rows.loc[codes[0], "poor_households"] == 123 and rows.loc[codes[1], "households"] == 2000
    assert rows.loc[codes[0], "poor_rate"] == pytest.approx(12.3)
    assert "import: rasoat_2024.csv" in rows.loc[codes[0], "sources"]
    values = read_table(warehouse, "indicator_values")
    cell = values[
        (values["unit_code"] == codes[0]) & (values["year"] == 2024) & (values["indicator"] == "poor_households")
    ].iloc[0]
    assert cell["source"].startswith("import: rasoat_2024.csv") and not bool(cell["synthetic"])
    parent = communes.loc[codes[0], "unit_2025_code"]
    siblings = communes.index[communes["unit_2025_code"] == parent]
    unit = indicators[
        (indicators["vintage"] == "2025") & (indicators["year"] == 2024) & (indicators["unit_code"] == parent)
    ].iloc[0]
    assert unit["poor_households"] == rows.loc[list(siblings), "poor_households"].sum()

    again = build_warehouse(settings)  # the import is part of the inputs: nothing changed, nothing rebuilt
    assert again.skipped

    gone, _ = remove_import(settings, store.entries()[0].id)
    assert (
        gone.file == "rasoat_2024.csv"
        and store.entries() == []
        and sorted(p.name for p in store.root.iterdir()) == ["index.json"]
    )
    restored = read_table(warehouse, "commune_indicators")
    demo = restored[(restored["vintage"] == "2024") & (restored["year"] == 2024)].set_index("unit_code")
    assert demo.loc[codes[0], "poor_households"] != 123 or demo.loc[codes[0], "households"] != 1000
    assert pd.Series(demo["sources"]).str.startswith("demo:").all()


def test_unit_scoped_vector_import_replaces_only_its_units() -> None:
    import geopandas as gpd
    from shapely.geometry import Point

    from layers.imports import VectorImport

    layer = gpd.GeoDataFrame(
        {"facility_id": ["a1", "a2", "b1"], "unit_2025_code": ["03646", "03646", "03664"]},
        geometry=[Point(104, 21), Point(104.1, 21), Point(104.2, 21.1)],
        crs="EPSG:4326",
    )
    sent = gpd.GeoDataFrame(
        {"facility_id": ["n1"], "unit_2025_code": ["03646"]}, geometry=[Point(104.05, 21)], crs="EPSG:4326"
    )
    merged, note = VectorImport("health_stations", sent, ("03646",), "tram.geojson").apply(layer)
    assert sorted(merged["facility_id"]) == ["b1", "n1"] and merged.crs == layer.crs
    assert "replace their 2 earlier feature(s)" in note
    whole, note = VectorImport("health_stations", sent, (), "tram.geojson").apply(layer)
    assert list(whole["facility_id"]) == ["n1"] and "replaces the demo data" in note
