"""`atlas build`: fetch the sources, build every layer, write the warehouse unless it is up to date."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
from pydantic_settings import BaseSettings, SettingsConfigDict

import geo
import layers
from geo.boundaries import BoundaryInputs, build_boundaries
from geo.dataset import build_dataset
from geo.digest import code_digest as source_digest
from geo.errors import InputDataError, WarehouseError
from geo.importing import ImportReport
from geo.population import PopulationGrid
from geo.settings import DataSettings
from geo.sources import Fetcher, FetchResult, Manifest
from layers.imports import Change, ImportEntry, ImportStore
from layers.warehouse import (
    checkpoint,
    quick_check,
    read_build_info,
    read_table,
    remove_stale_temporaries,
    warehouse_lock,
    write_warehouse,
)

SHRINK_LIMIT = 0.5  # an import leaving fewer than this share of a layer's rows needs allow_shrink


class LockSettings(BaseSettings):
    """How long a build or import waits for another one that holds the warehouse lock (ATLAS_LOCK_TIMEOUT, s)."""

    model_config = SettingsConfigDict(env_prefix="ATLAS_", env_file=".env", extra="ignore")

    lock_timeout: float = 600.0


@dataclass
class BuildOutcome:
    """What a build did."""

    warehouse: Path
    skipped: bool
    fingerprint: str
    seconds: float
    quality: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    calibration: pd.DataFrame | None = None


def fetcher_for(settings: DataSettings, manifest: Manifest | None = None) -> Fetcher:
    """A fetcher configured from the settings."""
    return Fetcher(
        manifest or Manifest.load(settings.manifest),
        settings.sources_dir,
        mirrors=settings.mirrors(),
        mirror_url=settings.mirror_url,
        timeout=settings.download_timeout,
    )


def code_digest() -> str:
    """sha256 over the source of the packages that shape the warehouse: every .py of geo and layers."""
    return source_digest(*(Path(str(package.__file__)).parent for package in (geo, layers)))


def input_fingerprint(
    manifest: Manifest, lineage: Path, store: ImportStore, settings: DataSettings | None = None
) -> str:
    """Fingerprint of everything a build reads: sources, lineage rules, imports, profile, costs, budget, code."""
    payload: dict[str, object] = {
        "sources": {k: s.sha256 for k, s in sorted(manifest.sources.items())},
        "lineage": hashlib.sha256(Path(lineage).read_bytes()).hexdigest(),
        "imports": store.digest(),
        "code": code_digest(),
    }
    if settings is not None:
        payload["analysis"] = {
            "profile": hashlib.sha256(settings.profile.read_bytes()).hexdigest() if settings.profile.is_file() else "",
            "costs": hashlib.sha256(settings.costs.read_bytes()).hexdigest() if settings.costs.is_file() else "",
            "budget": settings.plan_budget,
        }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@contextmanager
def exclusive(settings: DataSettings, on_wait: Callable[[str], None] | None = None) -> Iterator[list[str]]:
    """Hold the warehouse lock; finish or undo an interrupted import and delete stale temporaries first.

    on_wait hears once that another build or import holds the lock; yields notes on what was cleaned up.
    """
    with warehouse_lock(settings.warehouse, LockSettings().lock_timeout, on_wait or (lambda _: None)):
        notes = [f"removed {p.name}, left by a build that died" for p in remove_stale_temporaries(settings.warehouse)]
        info = read_build_info(settings.warehouse)
        done = ImportStore(settings.imports_dir).recover(info.get("fingerprint") if info else None)
        if done:
            notes.append(done)
        yield notes


def build_warehouse(
    settings: DataSettings,
    *,
    force: bool = False,
    on_step: Callable[[str], None] = lambda _: None,
    on_fetch: Callable[[FetchResult], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> BuildOutcome:
    """Fetch sources and (re)build the warehouse; skip when the existing one has the same fingerprint."""
    with exclusive(settings, on_wait or on_step) as cleaned:
        outcome = _build(settings, ImportStore(settings.imports_dir), force=force, on_step=on_step, on_fetch=on_fetch)
    outcome.notes[:0] = cleaned
    return outcome


def _build(
    settings: DataSettings,
    store: ImportStore,
    *,
    force: bool = False,
    on_step: Callable[[str], None] = lambda _: None,
    on_fetch: Callable[[FetchResult], None] | None = None,
    on_fingerprint: Callable[[str], None] = lambda _: None,
) -> BuildOutcome:
    """build_warehouse with the lock held, applying `store`; on_fingerprint hears the fingerprint before any write."""
    start = time.perf_counter()
    manifest = Manifest.load(settings.manifest)
    fetcher = fetcher_for(settings, manifest)
    on_step("fetching sources")
    fetcher.fetch_all(on_fetch)
    checkpoint("build:fetched")
    target = settings.warehouse
    fingerprint = input_fingerprint(manifest, settings.lineage, store, settings)
    on_fingerprint(fingerprint)
    info = read_build_info(target)
    if not force and info is not None and info.get("fingerprint") == fingerprint:
        on_step("checking the existing warehouse")
        if not quick_check(target):
            return BuildOutcome(
                target,
                True,
                fingerprint,
                time.perf_counter() - start,
                read_table(target, "boundary_quality"),
                json.loads(info.get("notes", "[]")),
            )
    inputs = BoundaryInputs(
        units_2025=fetcher.path("units_2025"),
        communes_2009=fetcher.path("communes_2009"),
        districts_2024=fetcher.path("districts_2024"),
        units_2025_03=fetcher.path("units_2025_03"),
        crosswalk=fetcher.path("crosswalk_2025"),
        resolution=fetcher.path("resolution_1681"),
        places=fetcher.path("places"),
        population=fetcher.path("worldpop_2020"),
        lineage=settings.lineage,
    )
    result = build_boundaries(inputs, on_step)
    dataset = build_dataset(
        result.layers,
        facts=(fetcher.path("published_aggregates"), fetcher.path("seed_figures")),
        raster=inputs.population,
        grid=PopulationGrid.read(inputs.population),
        imports=store.indicator_imports(),
        step=on_step,
        policy_facts=fetcher.path("policy_facts_2026"),
        official_lists=store.official_lists(),
        village_figures=store.village_figures(),
    )
    layers = {**result.layers, **dataset.layers}
    notes = result.notes + dataset.notes
    for imported in store.vector_imports():  # a real layer replaces the demo one; a unit's features, its own
        current = layers.get(imported.kind)
        layers[imported.kind], note = imported.apply(current if isinstance(current, gpd.GeoDataFrame) else None)
        notes.append(note)
    notes += add_analysis(layers, settings, on_step)
    notes += add_programme(layers, fetcher, store, on_step)
    checkpoint("build:layers")
    on_step("writing and validating the warehouse")
    write_warehouse(target, layers, manifest, fingerprint, notes)
    return BuildOutcome(
        target,
        False,
        fingerprint,
        time.perf_counter() - start,
        layers["boundary_quality"],
        notes,
        layers["calibration"],
    )


def add_analysis(
    layers: dict[str, pd.DataFrame], settings: DataSettings, on_step: Callable[[str], None] = lambda _: None
) -> list[str]:
    """Add the priority layers (settings.profile) and the investment plan (settings.costs, plan_budget)."""
    from geo.analysis_layers import candidates, criteria_tables, plan_tables, priority_layers, unit_names
    from geo.plan import Costs, PlanOptions, plan
    from geo.priority import Profile

    profile, costs = Profile.load(settings.profile), Costs.load(settings.costs)
    on_step("travel time to services and the priority index")
    criteria = criteria_tables(layers)
    ranked = priority_layers(criteria, profile)
    layers["priority_units_2025"] = ranked.units
    layers["priority_villages"] = ranked.villages
    on_step(f"investment plan for a budget of {settings.plan_budget:,.0f} VND")
    cand = candidates(layers, costs)
    table = cand.table()
    layers["investment_candidates"] = gpd.GeoDataFrame(
        table.assign(synthetic=criteria.synthetic, costs_version=costs.version),
        geometry=[cand.projects[p].point for p in table["project_id"]],
        crs="EPSG:4326",
    )
    result = plan(cand, PlanOptions(budget=settings.plan_budget), unit_names(layers))
    layers["investment_plan"], layers["investment_plan_roads"] = plan_tables(result, criteria.synthetic, costs)
    summary = ranked.summary()
    filled = {k: v for part in summary["missing_values_filled"].values() for k, v in part.items() if v}
    t = result.totals
    return [
        *cand.notes,
        f"priority: profile {profile.profile} {profile.version}; {summary['units_stable']} of {summary['units']} units "
        f"keep their tier under random weights, {summary['units_falling_behind']} falling behind"
        + (f"; missing values filled: {filled}" if filled else "; no missing values"),
        f"investment plan: {t['projects']} of {t['candidates']} candidate projects, {t['cost_vnd']:,} of "
        f"{t['budget_vnd']:,.0f} VND, {t['households_served']:,} households served in what the projects address "
        f"({t['poor_households_served']:,} poor; {t['status']})",
    ]


def add_programme(
    layers: dict[str, pd.DataFrame], fetcher: Fetcher, store: ImportStore, on_step: Callable[[str], None]
) -> list[str]:
    """Add the programme layers: the imported register, or the demo one calibrated to the published figures."""
    from geo.alloc import CalibrationError
    from geo.facts import read_facts, resolve_programme_targets
    from geo.policy import read_policy_facts
    from geo.programme_layers import programme_layers

    on_step("programme register, disbursement and outputs by unit and quarter")
    policy = fetcher.path("policy_facts_2026")
    resolved = resolve_programme_targets(read_facts(fetcher.path("seed_figures")), read_policy_facts(policy), policy)
    result = programme_layers(layers, resolved, store.programme_register())
    if result.calibration is not None:
        missed = result.calibration[result.calibration["status"] != "ok"]
        if not missed.empty:
            raise CalibrationError(
                "the demo programme register misses published figures: "
                + "; ".join(
                    f"{r.target} published {r.published} reproduced {r.reproduced}" for r in missed.itertuples()
                )
            )
        layers["calibration"] = pd.concat([layers["calibration"], result.calibration], ignore_index=True)
    layers.update(result.layers)
    return result.notes


@dataclass
class ImportOutcome:
    """A stored import and the rebuild that applied it."""

    report: ImportReport
    entry: ImportEntry
    build: BuildOutcome


def import_file(
    settings: DataSettings,
    kind: str,
    path: Path,
    *,
    options: dict[str, str | None] | None = None,
    allow_shrink: bool = False,
    on_step: Callable[[str], None] = lambda _: None,
    on_wait: Callable[[str], None] | None = None,
) -> ImportOutcome:
    """Check a file, store its normalised copy and rebuild, all or nothing even if the process is killed.

    A vector import that would leave fewer than SHRINK_LIMIT of the layer's rows needs allow_shrink.
    """
    from geo.importing import VECTOR_KINDS, ImportLimits, UnitIndex, import_indicators, import_vector
    from geo.official_lists import ListUnits, import_official_list

    opts = {k: v for k, v in (options or {}).items() if v is not None}
    limits = ImportLimits()
    with exclusive(settings, on_wait or on_step):
        if not settings.warehouse.is_file():
            raise WarehouseError(f"no warehouse at {settings.warehouse}: run `atlas build` before importing")
        communes = read_table(settings.warehouse, "communes_2024")
        on_step(f"checking {Path(path).name}")
        frame: pd.DataFrame
        if kind == "commune_indicators":
            index = UnitIndex(communes, read_table(settings.warehouse, "districts_2024"))
            year = opts.get("year")
            frame, report = import_indicators(
                path,
                index,
                year=int(year) if year else None,
                encoding=opts.get("encoding"),
                sheet=opts.get("sheet"),
                district=opts.get("district"),
                limits=limits,
            )
        elif kind == "official_list":
            period = opts.get("period")
            if not period:
                raise InputDataError(path, "an official list needs its period: --period 2021-2025 or 2026-2030")
            needed = ("units_2025", "communes_2024", "districts_2024", "crosswalk_2025", "demo_villages")
            units = ListUnits.from_layers(period, {n: read_table(settings.warehouse, n) for n in needed})
            listed, report = import_official_list(
                path,
                units,
                document=opts.get("document"),
                date=opts.get("date"),
                encoding=opts.get("encoding"),
                sheet=opts.get("sheet"),
                allow_unmatched=opts.get("allow_unmatched") == "true",
                limits=limits,
            )
            frame = listed.to_table()
        elif kind == "programme_register":
            from geo.programme_import import read_register

            units = read_table(settings.warehouse, "units_2025")
            crosswalk = read_table(settings.warehouse, "crosswalk_2025")
            frame, report = read_register(
                path,
                dict(zip(units["code"], units["full_name"], strict=True)),
                dict(zip(crosswalk["old_code"], crosswalk["new_code"], strict=True)),
                encoding=opts.get("encoding"),
                sheet=opts.get("sheet"),
                limits=limits,
            )
        elif kind in VECTOR_KINDS:
            assert isinstance(communes, gpd.GeoDataFrame)
            frame, report = import_vector(
                path,
                kind,
                communes,
                crs=opts.get("crs"),
                layer=opts.get("layer"),
                encoding=opts.get("encoding"),
                limits=limits,
            )
        else:
            raise InputDataError(
                path,
                f"unknown import kind {kind!r}; one of commune_indicators, official_list, programme_register, "
                + ", ".join(VECTOR_KINDS),
            )
        report.details["replaces"], entry, build = _store_and_rebuild(
            settings, kind, Path(path), frame, {k: str(v) for k, v in opts.items()}, allow_shrink, on_step
        )
    return ImportOutcome(report, entry, build)


def import_rows(
    settings: DataSettings,
    kind: str,
    source: Path,
    frame: pd.DataFrame,
    options: dict[str, str],
    *,
    on_step: Callable[[str], None] = lambda _: None,
    on_wait: Callable[[str], None] | None = None,
) -> tuple[str, ImportEntry, BuildOutcome]:
    """Store rows already checked (an approved submission) as an import and rebuild, all or nothing."""
    with exclusive(settings, on_wait or on_step):
        if not settings.warehouse.is_file():
            raise WarehouseError(f"no warehouse at {settings.warehouse}: run `atlas build` first")
        return _store_and_rebuild(settings, kind, source, frame, options, False, on_step)


def _store_and_rebuild(
    settings: DataSettings,
    kind: str,
    source: Path,
    frame: pd.DataFrame,
    options: dict[str, str],
    allow_shrink: bool,
    on_step: Callable[[str], None],
) -> tuple[str, ImportEntry, BuildOutcome]:
    store = ImportStore(settings.imports_dir)
    replaces = _replacement(settings.warehouse, store, kind, source, frame, allow_shrink)
    change = store.stage_add(kind, source, frame, options)
    checkpoint("import:staged")
    build = _apply(settings, change, on_step)
    return replaces, change.entry, build


def remove_import(
    settings: DataSettings,
    entry_id: str,
    on_step: Callable[[str], None] = lambda _: None,
    on_wait: Callable[[str], None] | None = None,
) -> tuple[ImportEntry, BuildOutcome]:
    """Forget a stored import and rebuild without it, all or nothing."""
    with exclusive(settings, on_wait or on_step):
        change = ImportStore(settings.imports_dir).stage_remove(entry_id)
        return change.entry, _apply(settings, change, on_step)


def _apply(settings: DataSettings, change: Change, on_step: Callable[[str], None]) -> BuildOutcome:
    """Rebuild with a staged change and commit it; on failure keep whichever state the warehouse has."""
    try:
        build = _build(settings, change.view(), force=True, on_step=on_step, on_fingerprint=change.prepare)
        change.commit()
    except BaseException:
        info = read_build_info(settings.warehouse)
        change.store.recover(info.get("fingerprint") if info else None)
        raise
    return build


def _replacement(
    warehouse: Path, store: ImportStore, kind: str, path: Path, frame: pd.DataFrame, allow_shrink: bool
) -> str:
    """What the import replaces, as one line; refuses an empty import, or one removing most of a layer."""
    if frame.empty:
        raise InputDataError(path, "holds no rows to import")
    if kind == "commune_indicators":
        return (
            f"commune_indicators: {len(frame):,} commune-year row(s) of the 2024 communes replace earlier "
            "values cell by cell; other rows are unchanged"
        )
    if kind == "village_figures":
        units = sorted(set(frame["unit_code"].astype(str)))
        return (
            f"village_indicators: {len(frame):,} village row(s) of {frame.attrs.get('year', 'the review year')} in "
            f"unit(s) {', '.join(units)} replace earlier values; other villages and units are unchanged"
        )
    if kind == "official_list":
        period = str(frame["period"].iloc[0])
        target = "classification_2026_2030" if period == "2026-2030" else "commune_indicators (2021-2025)"
        return (
            f"{target}: the {int((frame['kind'] == 'commune').sum())} listed unit(s) and "
            f"{int((frame['kind'] == 'village').sum())} listed village(s) replace the demo values of the units "
            "they name; other units are unchanged"
        )
    if kind == "programme_register":
        earlier = [e for e in store.entries() if e.kind == kind]
        what = "projects with the same id in earlier imports" if earlier else "the demo register"
        return f"programme_projects: {len(frame):,} project(s) from {path.name} replace {what}"
    units = frame.attrs.get("units")
    if units:
        return f"{kind}: {len(frame):,} feature(s) replace those of unit(s) {', '.join(units)}; other units unchanged"
    layers = {name for name, _ in pyogrio.list_layers(warehouse)}
    before = int(pyogrio.read_info(warehouse, layer=kind)["features"]) if kind in layers else 0
    previous = [e for e in store.entries() if e.kind == kind]
    origin = f"import {previous[-1].id} of {previous[-1].file}" if previous else "demo data"
    line = f"{kind}: {before:,} rows ({origin}) → {len(frame):,} rows from {path.name}"
    if len(frame) < SHRINK_LIMIT * before and not allow_shrink:
        raise InputDataError(
            path,
            f"would remove most of the {kind} layer ({line}); pass --allow-shrink if the file really "
            f"replaces the whole layer (refused below {SHRINK_LIMIT:.0%} of the current rows)",
        )
    return line
