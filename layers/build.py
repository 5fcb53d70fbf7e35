"""`atlas build`: fetch the sources, build every layer, write the warehouse unless it is up to date."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

import geo
import layers
from geo.boundaries import BoundaryInputs, build_boundaries
from geo.dataset import build_dataset
from geo.errors import InputDataError, WarehouseError
from geo.importing import ImportReport
from geo.population import PopulationGrid
from geo.settings import DataSettings
from geo.sources import Fetcher, FetchResult, Manifest
from layers.imports import ImportEntry, ImportStore
from layers.warehouse import quick_check, read_build_info, read_table, write_warehouse


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
    """sha256 over the source of the packages that shape the warehouse (geo, layers)."""
    digest = hashlib.sha256()
    for package in (geo, layers):
        root = Path(str(package.__file__)).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


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


def build_warehouse(
    settings: DataSettings,
    *,
    force: bool = False,
    on_step: Callable[[str], None] = lambda _: None,
    on_fetch: Callable[[FetchResult], None] | None = None,
) -> BuildOutcome:
    """Fetch sources and (re)build the warehouse; skip when the existing one has the same fingerprint."""
    start = time.perf_counter()
    manifest = Manifest.load(settings.manifest)
    fetcher = fetcher_for(settings, manifest)
    on_step("fetching sources")
    fetcher.fetch_all(on_fetch)
    target = settings.warehouse
    store = ImportStore(settings.imports_dir)
    fingerprint = input_fingerprint(manifest, settings.lineage, store, settings)
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
    )
    layers = {**result.layers, **dataset.layers}
    notes = result.notes + dataset.notes
    for kind, frame in store.vector_imports().items():
        layers[kind] = frame  # a real layer replaces the demo one
        notes.append(f"{kind}: imported layer ({len(frame)} features) replaces the demo data")
    notes += add_analysis(layers, settings, on_step)
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
    from geo.analysis import candidates, criteria_tables, plan_tables, priority_layers, unit_names
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
        f"{t['budget_vnd']:,.0f} VND, {t['poor_households_served']:,} poor households served ({t['status']})",
    ]


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
    on_step: Callable[[str], None] = lambda _: None,
) -> ImportOutcome:
    """Check a file, store its normalised copy and rebuild; on any failure nothing stays stored."""
    from geo.importing import VECTOR_KINDS, UnitIndex, import_indicators, import_vector

    opts = {k: v for k, v in (options or {}).items() if v is not None}
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
        )
    elif kind in VECTOR_KINDS:
        assert isinstance(communes, gpd.GeoDataFrame)
        frame, report = import_vector(
            path, kind, communes, crs=opts.get("crs"), layer=opts.get("layer"), encoding=opts.get("encoding")
        )
    else:
        raise InputDataError(
            path, f"unknown import kind {kind!r}; one of commune_indicators, " + ", ".join(VECTOR_KINDS)
        )
    store = ImportStore(settings.imports_dir)
    before = store.entries()
    entry = store.add(kind, Path(path), frame, {k: str(v) for k, v in opts.items()})
    try:
        build = build_warehouse(settings, force=True, on_step=on_step)
    except BaseException:
        store.restore(before)
        (store.root / entry.data).unlink(missing_ok=True)
        raise
    store.prune()
    return ImportOutcome(report, entry, build)
