"""The read-side Warehouse on a real built warehouse: one instance per file, layers read once per build, a
rebuilt file noticed (and whatever was derived from the old build dropped with it), missing files and layers."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from layers.errors import BuildReplaced, LayerMissing, WarehouseMissing
from layers.store import Build, Warehouse
from layers.warehouse import read_table


def _rebuilt(source: Path, target: Path, built_at: str) -> Path:
    """A copy of a warehouse as another build: the same layers under another build time."""
    shutil.copyfile(source, target)
    with sqlite3.connect(target) as con:
        con.execute("UPDATE atlas_build SET value = ? WHERE key = 'built_at'", (built_at,))
    return target


def test_one_warehouse_per_file_and_each_layer_read_once(warehouse_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(warehouse_copy.parent)
    warehouse = Warehouse.open(warehouse_copy)
    assert Warehouse.open(str(warehouse_copy)) is warehouse and Warehouse.open(warehouse_copy.name) is warehouse
    layer = warehouse.layer("units_2025")
    assert warehouse.layer("units_2025") is layer and warehouse.frame("units_2025") is layer.frame
    expected = read_table(warehouse_copy, "units_2025")
    assert layer.ids == list(expected["code"].astype(str))  # feature ids are the catalog's key
    assert layer.properties[0]["code"] == expected["code"].iloc[0]
    assert layer.geometries[0] is not None and layer.geometries[0]["type"] == "MultiPolygon"
    assert set(warehouse.metadata["layer"]) >= {"units_2025", "communes_2024", "crosswalk_2025"}
    assert warehouse.build_info["fingerprint"] == warehouse.fingerprint and len(warehouse.fingerprint) == 64
    with pytest.raises(LayerMissing, match="no_such_layer"):
        warehouse.layer("no_such_layer")


def test_derived_objects_are_made_once_even_when_asked_at_once(warehouse_copy: Path) -> None:
    warehouse = Warehouse.open(warehouse_copy)
    calls: list[str] = []

    def slow(build: Build) -> int:
        calls.append(build.built_at)
        time.sleep(0.3)  # the other threads ask meanwhile
        return len(build.frame("villages"))

    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(warehouse.derived("count", slow))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and results == [len(read_table(warehouse_copy, "villages"))] * 8


def test_a_rebuilt_file_is_served_as_a_new_build_and_the_old_one_dropped(warehouse_copy: Path, tmp_path: Path) -> None:
    warehouse = Warehouse.open(warehouse_copy)
    first = warehouse.build()
    old_layer = warehouse.layer("districts_2024")
    old_derived = warehouse.derived("districts", lambda build: object())

    shutil.copyfile(warehouse_copy, tmp_path / "copy.gpkg")  # the same build in another file (a copy, a touch)
    os.replace(tmp_path / "copy.gpkg", warehouse_copy)
    assert warehouse.build() is first and warehouse.layer("districts_2024") is old_layer  # nothing read again

    os.replace(_rebuilt(warehouse_copy, tmp_path / "new.gpkg", "2030-01-01T00:00:00+00:00"), warehouse_copy)
    second = warehouse.build()
    assert second is not first and second.built_at == "2030-01-01T00:00:00+00:00"
    assert warehouse.build_info["built_at"] == "2030-01-01T00:00:00+00:00"
    assert warehouse.layer("districts_2024") is not old_layer  # read from the new build
    assert warehouse.derived("districts", lambda build: object()) is not old_derived  # derived anew
    assert first.derived("districts", lambda build: object()) is old_derived  # still whole for its last readers


def test_a_read_under_way_when_the_file_is_replaced_is_done_again_on_the_new_build(
    warehouse_copy: Path, tmp_path: Path
) -> None:
    warehouse = Warehouse.open(warehouse_copy)
    newer = _rebuilt(warehouse_copy, tmp_path / "new.gpkg", "2030-01-01T00:00:00+00:00")
    seen: list[str] = []

    def provinces(build: Build) -> str:
        seen.append(build.built_at)
        if len(seen) == 1:
            os.replace(newer, warehouse_copy)  # a build lands while this one is being read
        return str(build.frame("province")["code"].iloc[0])

    old = warehouse.build()
    assert warehouse.derived("province", provinces) == str(read_table(warehouse_copy, "province")["code"].iloc[0])
    assert seen == [old.built_at, "2030-01-01T00:00:00+00:00"]
    with pytest.raises(BuildReplaced):
        old.frame("province")  # the old build cannot be read any more: nothing of the new one mixes in


def test_a_missing_warehouse_is_one_error_and_its_return_is_noticed(warehouse_copy: Path, tmp_path: Path) -> None:
    warehouse = Warehouse.open(warehouse_copy)
    build = warehouse.build()
    away = tmp_path / "away.gpkg"
    os.replace(warehouse_copy, away)
    for read in (warehouse.build, lambda: warehouse.layer("units_2025"), lambda: warehouse.build_info):
        with pytest.raises(WarehouseMissing, match=r"no warehouse at .*warehouse\.gpkg: run `atlas build`"):
            read()
    os.replace(away, warehouse_copy)
    assert warehouse.build() is build
    warehouse_copy.write_bytes(b"not a GeoPackage")
    with pytest.raises(WarehouseMissing, match="not a readable warehouse"):
        warehouse.build()
