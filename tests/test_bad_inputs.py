"""Bad inputs give a clear error naming file, row or source, and the existing warehouse is left unchanged."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyogrio
import pytest
from shapely.geometry import Polygon

from geo.errors import ChecksumError, CrosswalkError, GeoError, InputDataError, SourceError, WarehouseError
from geo.settings import PROJECT_ROOT
from geo.sources import Manifest, sha256_file
from layers.build import build_warehouse
from layers.warehouse import lock_path, read_table, write_warehouse
from tests.conftest import settings_for


def _mirror_with(tmp: Path, shared: Path, source_path: str, write: Callable[[Path], None] | None) -> Path:
    """A mirror linking every real source except one, which `write` replaces (or None removes)."""
    mirror = tmp / "mirror"
    for src in shared.rglob("*"):
        if src.is_file():
            dst = mirror / src.relative_to(shared)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.relative_to(shared).as_posix() != source_path:
                dst.symlink_to(src)
    if write is not None:
        write(mirror / source_path)
    return mirror


def _manifest_trusting(tmp: Path, mirror: Path, source_id: str) -> Path:
    """A copy of the real manifest whose checksum for one source matches the altered file."""
    text = (PROJECT_ROOT / "data" / "sources.toml").read_text(encoding="utf-8")
    src = Manifest.load(PROJECT_ROOT / "data" / "sources.toml").get(source_id)
    text = text.replace(src.sha256, sha256_file(mirror / src.path))
    out = tmp / "sources.toml"
    out.write_text(text, encoding="utf-8")
    tomllib.loads(text)
    return out


def _run_failing_build(tmp: Path, mirror: Path, warehouse: Path, manifest: Path | None = None) -> GeoError:
    overrides: dict[str, object] = {"warehouse": warehouse}
    if manifest is not None:
        overrides["manifest"] = manifest
    settings = settings_for(tmp, mirror, **overrides)
    before = sha256_file(warehouse)
    with pytest.raises(GeoError) as caught:
        build_warehouse(settings, force=True)
    assert sha256_file(warehouse) == before, "the existing warehouse was modified"
    left = [p for p in warehouse.parent.iterdir() if p not in (warehouse, lock_path(warehouse))]
    assert not left, "temporary files left behind"
    return caught.value


def test_missing_source_file(tmp_path: Path, shared_data: Path, warehouse_copy: Path) -> None:
    mirror = _mirror_with(tmp_path, shared_data, "villages/sonla_geonames_places.geojson", None)
    error = _run_failing_build(tmp_path, mirror, warehouse_copy)
    assert isinstance(error, SourceError)
    assert "villages/sonla_geonames_places.geojson" in str(error) and "ATLAS_MIRROR" in str(error)


def test_wrong_checksum(tmp_path: Path, shared_data: Path, warehouse_copy: Path) -> None:
    def tamper(dst: Path) -> None:
        dst.write_bytes((shared_data / "crosswalk/sonla_merger_2025.csv").read_bytes().replace(b"03646", b"03647", 1))

    mirror = _mirror_with(tmp_path, shared_data, "crosswalk/sonla_merger_2025.csv", tamper)
    error = _run_failing_build(tmp_path, mirror, warehouse_copy)
    assert isinstance(error, ChecksumError)
    assert "crosswalk_2025" in str(error) and "sonla_merger_2025.csv" in str(error)


def _units_with(shared: Path, change: Callable[[Any], None]) -> Callable[[Path], None]:
    def write(dst: Path) -> None:
        frame = pyogrio.read_dataframe(shared / "boundaries/sonla_units_2025.gpkg")
        change(frame)
        pyogrio.write_dataframe(frame, dst, layer="wards_2025", driver="GPKG")

    return write


def test_invalid_geometry(tmp_path: Path, shared_data: Path, warehouse_copy: Path) -> None:
    def bowtie(frame: Any) -> None:
        frame.loc[4, "geometry"] = Polygon([(104, 21), (104.1, 21.1), (104.1, 21), (104, 21.1), (104, 21)])

    path = "boundaries/sonla_units_2025.gpkg"
    mirror = _mirror_with(tmp_path, shared_data, path, _units_with(shared_data, bowtie))
    error = _run_failing_build(tmp_path, mirror, warehouse_copy, _manifest_trusting(tmp_path, mirror, "units_2025"))
    assert isinstance(error, InputDataError)
    assert re.search(
        r"sonla_units_2025\.gpkg, feature 5, column 'geometry': invalid geometry \(Self-intersection", str(error)
    )


def test_duplicate_code(tmp_path: Path, shared_data: Path, warehouse_copy: Path) -> None:
    def duplicate(frame: Any) -> None:
        frame.loc[10, "code"] = frame.loc[3, "code"]

    path = "boundaries/sonla_units_2025.gpkg"
    mirror = _mirror_with(tmp_path, shared_data, path, _units_with(shared_data, duplicate))
    error = _run_failing_build(tmp_path, mirror, warehouse_copy, _manifest_trusting(tmp_path, mirror, "units_2025"))
    assert isinstance(error, InputDataError)
    assert re.search(r"duplicate code \d{5} in features 4, 11", str(error))


def test_unknown_crosswalk_code(tmp_path: Path, shared_data: Path, warehouse_copy: Path) -> None:
    def unknown(dst: Path) -> None:
        lines = (shared_data / "crosswalk/sonla_merger_2025.csv").read_text(encoding="utf-8").splitlines(True)
        fields = lines[9].split(",", 5)  # CSV line 10; no comma before the citation
        fields[4] = "09999"
        lines[9] = ",".join(fields)
        dst.write_text("".join(lines), encoding="utf-8")

    path = "crosswalk/sonla_merger_2025.csv"
    mirror = _mirror_with(tmp_path, shared_data, path, unknown)
    error = _run_failing_build(tmp_path, mirror, warehouse_copy, _manifest_trusting(tmp_path, mirror, "crosswalk_2025"))
    assert isinstance(error, CrosswalkError)
    assert "sonla_merger_2025.csv, row 10, column 'new_code': unknown new code 09999" in str(error)


def test_failed_validation_keeps_previous_warehouse(built: object, warehouse_copy: Path) -> None:
    from layers.catalog import CATALOG

    layers = {spec.id: read_table(warehouse_copy, spec.id) for spec in CATALOG}
    layers["units_2025"] = layers["units_2025"].iloc[:74]
    manifest = Manifest.load(PROJECT_ROOT / "data" / "sources.toml")
    before = sha256_file(warehouse_copy)
    with pytest.raises(WarehouseError, match=r"units_2025: 74 rows, expected 75.*left unchanged|left unchanged.*74"):
        write_warehouse(warehouse_copy, layers, manifest, "f" * 64)
    assert sha256_file(warehouse_copy) == before
    assert [p.name for p in warehouse_copy.parent.iterdir()] == ["warehouse.gpkg"]
