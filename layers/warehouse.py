"""The embedded GeoPackage warehouse: atomic writes, validation against the catalog, build metadata."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from geo.atomic import atomic_write, stale_temporaries
from geo.errors import WarehouseError
from geo.sources import Manifest
from layers.catalog import CATALOG, LayerSpec
from layers.qgis_styles import STYLES_TABLE, style_table

BUILD_TABLE = "atlas_build"
LAYERS_TABLE = "atlas_layers"
TILING_TOLERANCE_DEG2 = 1e-9  # about 10 m² of symmetric difference between a 2025 unit and its rebuilt communes
KILL_AT_ENV = "ATLAS_TEST_KILL_AT"
BUILDING = "building"  # tag of the warehouse's temporary file: .warehouse.<pid>.building.gpkg


class WarehouseBusy(WarehouseError):
    """Another build or import holds the warehouse lock."""


def checkpoint(stage: str) -> None:
    """Test hook: SIGKILL this process at a named stage when ATLAS_TEST_KILL_AT names it (crash-safety tests)."""
    if os.environ.get(KILL_AT_ENV) == stage:
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


def lock_path(target: Path) -> Path:
    """The lock file every build and import of a warehouse holds (beside it, never deleted)."""
    return Path(target).with_name(f".{Path(target).stem}.lock")


@contextmanager
def warehouse_lock(
    target: Path, timeout: float = 0.0, on_wait: Callable[[str], None] = lambda _: None
) -> Iterator[None]:
    """Hold the exclusive lock of a warehouse (fcntl.flock, released by the kernel if the process dies).

    Waits up to timeout seconds for another holder, then raises WarehouseBusy naming it.
    """
    path = lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(timeout, 0.0)
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = path.read_text(encoding="utf-8", errors="replace").strip() or "another process"
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(
                        f"another build or import ({holder}) holds the lock {path}"
                        + (f"; waited {timeout:g} s (ATLAS_LOCK_TIMEOUT)" if timeout > 0 else "")
                        + "; try again when it has finished"
                    ) from None
                if not waited:
                    on_wait(f"waiting for another build or import ({holder}) to finish")
                    waited = True
                time.sleep(0.2)
        started = datetime.now(UTC).replace(microsecond=0).isoformat()
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, `{' '.join(sys.argv[:3])}`, since {started}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Delete the temporary files of builds that died (call with the warehouse lock held); returns them.

    Every writer holds the lock while its temporary file exists, so under the lock any other one is stale.
    """
    removed = stale_temporaries(Path(target), BUILDING)
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def _write_layer(path: Path, spec: LayerSpec, frame: pd.DataFrame) -> None:
    options = {"IDENTIFIER": spec.title_en, "DESCRIPTION": spec.description_en}
    if spec.is_spatial:
        if not isinstance(frame, gpd.GeoDataFrame):
            raise WarehouseError(f"layer {spec.id} must be a GeoDataFrame")
        pyogrio.write_dataframe(
            frame.to_crs("EPSG:4326"),
            path,
            layer=spec.id,
            driver="GPKG",
            geometry_type=spec.geometry_type,
            promote_to_multi=str(spec.geometry_type).startswith("Multi"),
            layer_options=options,
        )
    else:
        pyogrio.write_dataframe(pd.DataFrame(frame), path, layer=spec.id, driver="GPKG", layer_options=options)


def _metadata_frames(
    layers: Mapping[str, pd.DataFrame],
    manifest: Manifest,
    fingerprint: str,
    notes: Iterable[str],
    built_at: str,
    catalog: Iterable[LayerSpec],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = []
    for spec in catalog:
        srcs = [manifest.get(s) for s in spec.sources]
        rows.append(
            {
                "layer": spec.id,
                "title_vi": spec.title_vi,
                "title_en": spec.title_en,
                "description_vi": spec.description_vi,
                "description_en": spec.description_en,
                "vintage": spec.vintage,
                "sources": ", ".join(spec.sources),
                "licences": "; ".join(sorted({s.licence for s in srcs})),
                "attribution": " | ".join(s.attribution for s in srcs),
                "synthetic": bool(layers[spec.id]["synthetic"].astype(bool).any())
                if "synthetic" in layers[spec.id]
                else spec.synthetic,
                "rows": len(layers[spec.id]),
                "built_at": built_at,
            }
        )
    build = {
        "built_at": built_at,
        "fingerprint": fingerprint,
        "notes": json.dumps(list(notes), ensure_ascii=False),
        "sources": json.dumps({k: s.sha256 for k, s in manifest.sources.items()}),
    }
    return pd.DataFrame(rows), pd.DataFrame({"key": list(build), "value": list(build.values())})


def write_warehouse(
    target: Path,
    layers: Mapping[str, pd.DataFrame],
    manifest: Manifest,
    fingerprint: str,
    notes: Iterable[str] = (),
    catalog: tuple[LayerSpec, ...] = CATALOG,
) -> Path:
    """Write every catalog layer to a temporary GeoPackage, validate it, then atomically replace target."""
    target = Path(target)
    built_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    with atomic_write(target, BUILDING, durable=True) as tmp:
        for spec in catalog:
            if spec.id not in layers:
                raise WarehouseError(f"the build produced no layer '{spec.id}'")
            _write_layer(tmp, spec, layers[spec.id])
            checkpoint("warehouse:writing")
        meta, build = _metadata_frames(layers, manifest, fingerprint, notes, built_at, catalog)
        pyogrio.write_dataframe(meta, tmp, layer=LAYERS_TABLE, driver="GPKG")
        pyogrio.write_dataframe(build, tmp, layer=BUILD_TABLE, driver="GPKG")
        fields = {name: [c for c in frame.columns if c != "geometry"] for name, frame in layers.items()}
        pyogrio.write_dataframe(style_table(fields, catalog, built_at), tmp, layer=STYLES_TABLE, driver="GPKG")
        problems = validate_warehouse(tmp, catalog)
        if problems:
            raise WarehouseError(
                f"the new warehouse failed validation, {target} was left unchanged: " + "; ".join(problems)
            )
        checkpoint("warehouse:validated")
    checkpoint("warehouse:replaced")
    return target


def _check_key(spec: LayerSpec, frame: pd.DataFrame) -> list[str]:
    problems: list[str] = []
    if spec.unique:
        clash = frame[frame.duplicated(list(spec.unique), keep=False)]
        if len(clash):
            first = ", ".join(f"{c}={clash.iloc[0][c]}" for c in spec.unique)
            problems.append(f"{spec.id}: {len(clash)} rows share their key ({first})")
    if spec.key is None:
        return problems
    values = frame[spec.key]
    if values.isna().any():
        problems.append(f"{spec.id}: {int(values.isna().sum())} row(s) without {spec.key}")
    text = values.dropna().astype(str)
    if not all(isinstance(v, str) for v in values.dropna()):
        problems.append(f"{spec.id}: {spec.key} is not stored as text")
    if spec.code_width is not None:
        bad = text[~text.str.fullmatch(rf"\d{{{spec.code_width}}}")]
        if len(bad):
            problems.append(f"{spec.id}: {spec.key} {bad.iloc[0]!r} is not a {spec.code_width}-digit code")
    dup = text[text.duplicated()]
    if len(dup):
        problems.append(f"{spec.id}: duplicate {spec.key} {dup.iloc[0]}")
    return problems


def _check_geometry(spec: LayerSpec, frame: gpd.GeoDataFrame) -> list[str]:
    problems = []
    if frame.crs is None or not frame.crs.equals("EPSG:4326"):
        problems.append(f"{spec.id}: CRS is {frame.crs}, expected EPSG:4326")
    geoms = frame.geometry.values
    missing = int(sum(g is None or g.is_empty for g in geoms))
    if missing:
        problems.append(f"{spec.id}: {missing} feature(s) without geometry")
    invalid = [i for i, g in enumerate(geoms) if g is not None and not g.is_valid]
    if invalid:
        problems.append(
            f"{spec.id}: feature {invalid[0] + 1} has invalid geometry ({shapely.is_valid_reason(geoms[invalid[0]])})"
        )
    wrong = {g.geom_type for g in geoms if g is not None} - {spec.geometry_type}
    if wrong:
        problems.append(f"{spec.id}: geometry types {sorted(wrong)}, expected {spec.geometry_type}")
    return problems


def validate_warehouse(path: Path, catalog: tuple[LayerSpec, ...] = CATALOG) -> list[str]:
    """Every problem found in a warehouse file: counts, codes, geometries and cross-layer consistency."""
    path = Path(path)
    if not path.is_file():
        return [f"{path} does not exist"]
    present = {name for name, _ in pyogrio.list_layers(path)}
    problems: list[str] = []
    frames: dict[str, pd.DataFrame] = {}
    for spec in catalog:
        if spec.id not in present:
            problems.append(f"layer {spec.id} is missing")
            continue
        frame = pyogrio.read_dataframe(path, layer=spec.id)
        frames[spec.id] = frame
        if spec.expected_count is not None and len(frame) != spec.expected_count:
            problems.append(f"{spec.id}: {len(frame)} rows, expected {spec.expected_count}")
        missing = [c for c in spec.required_columns if c not in frame]
        if missing:
            problems.append(f"{spec.id}: missing column(s) {', '.join(missing)}")
            continue
        problems += _check_key(spec, frame)
        if spec.is_spatial:
            problems += _check_geometry(spec, frame)
    if not problems:
        problems += _check_consistency(frames)
    return problems


def _check_consistency(frames: dict[str, pd.DataFrame]) -> list[str]:
    problems: list[str] = []
    units, communes = frames.get("units_2025"), frames.get("communes_2024")
    crosswalk, villages = frames.get("crosswalk_2025"), frames.get("villages")
    if units is not None and communes is not None:
        unit_geom = units.set_index("code").geometry
        unknown = set(communes["unit_2025_code"]) - set(unit_geom.index)
        if unknown:
            problems.append(f"communes_2024: unknown 2025 unit(s) {sorted(unknown)}")
        else:
            for code, group in communes.groupby("unit_2025_code"):
                diff = shapely.symmetric_difference(shapely.union_all(group.geometry.values), unit_geom[code])
                if diff.area > TILING_TOLERANCE_DEG2:
                    problems.append(f"communes_2024: the communes of {code} do not tile it ({diff.area:.2e} deg²)")
        n_types = units["unit_type"].value_counts().to_dict()
        if n_types != {"Xã": 67, "Phường": 8}:
            problems.append(f"units_2025: unit types {n_types}, expected 67 Xã and 8 Phường")
    if crosswalk is not None and communes is not None and units is not None:
        if set(crosswalk["old_code"]) != set(communes["code"]):
            problems.append("crosswalk_2025: old codes differ from the codes of communes_2024")
        if set(crosswalk["new_code"]) != set(units["code"]):
            problems.append("crosswalk_2025: new codes differ from the codes of units_2025")
    indicators = frames.get("commune_indicators")
    if indicators is not None and communes is not None and units is not None:
        for vintage, expected in (("2024", set(communes["code"])), ("2025", set(units["code"]))):
            rows = indicators[indicators["vintage"] == vintage]
            if set(rows["unit_code"]) != expected:
                problems.append(f"commune_indicators: vintage {vintage} codes differ from its boundary layer")
            elif rows.groupby("unit_code")["year"].nunique().min() != rows["year"].nunique():
                problems.append(f"commune_indicators: vintage {vintage} has units without every year")
        hh = indicators["households"].astype(float)
        recomputed = (100 * indicators["poor_households"] / hh.where(hh > 0)).round(2)
        if ((recomputed - indicators["poor_rate"]).abs() > 0.006).any():
            problems.append("commune_indicators: a poor_rate differs from poor_households / households")
        if (indicators["poor_households"] > indicators["households"]).any():
            problems.append("commune_indicators: more poor households than households")
    demo_villages = frames.get("demo_villages")
    if demo_villages is not None and communes is not None:
        parent = communes.set_index("code")["unit_2025_code"]
        codes = demo_villages["commune_2024_code"]
        if not set(codes).issubset(parent.index):
            problems.append("demo_villages: some villages have no known 2024 commune")
        elif (demo_villages["unit_2025_code"].to_numpy() != parent.loc[codes].to_numpy()).any():
            problems.append("demo_villages: 2025 unit disagrees with the 2024 commune's parent")
    if villages is not None and communes is not None:
        parent = communes.set_index("code")["unit_2025_code"]
        codes = villages["commune_2024_code"]
        if codes.isna().any() or not set(codes).issubset(parent.index):
            problems.append("villages: some villages have no known 2024 commune")
        elif (villages["unit_2025_code"].to_numpy() != parent.loc[codes].to_numpy()).any():
            problems.append("villages: 2025 unit disagrees with the 2024 commune's parent")
    return problems


def quick_check(path: Path, catalog: tuple[LayerSpec, ...] = CATALOG) -> list[str]:
    """Cheap integrity check of a warehouse validated when it was written: layers present, row counts."""
    try:
        counts = layer_counts(path)
    except Exception as exc:  # any GDAL failure means the file is not usable
        return [f"{path} cannot be read: {exc}"]
    problems = []
    for spec in catalog:
        if spec.id not in counts:
            problems.append(f"layer {spec.id} is missing")
        elif spec.expected_count is not None and counts[spec.id] != spec.expected_count:
            problems.append(f"{spec.id}: {counts[spec.id]} rows, expected {spec.expected_count}")
    return problems


def read_build_info(path: Path) -> dict[str, str] | None:
    """Key/value build metadata of a warehouse, or None if the file is absent or not a warehouse."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            rows = con.execute(f"SELECT key, value FROM {BUILD_TABLE}").fetchall()
    except sqlite3.Error:
        return None
    return {str(k): str(v) for k, v in rows}


def read_table(path: Path, layer: str) -> pd.DataFrame:
    """One layer of the warehouse as a (Geo)DataFrame."""
    return pyogrio.read_dataframe(path, layer=layer)


def layer_counts(path: Path) -> dict[str, int]:
    """Feature counts of every layer in a GeoPackage."""
    return {name: int(pyogrio.read_info(path, layer=name)["features"]) for name, _ in pyogrio.list_layers(path)}
