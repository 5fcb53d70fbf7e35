"""The `atlas` command line."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from fastapi import FastAPI

    from layers.publish import Publish, Publisher

from geo.atomic import atomic_write
from geo.errors import GeoError, validation_problem
from geo.frames import rows
from geo.settings import DataSettings
from geo.sources import FetchResult, Manifest
from scripts.accounts_cli import ACTOR, backup_command, releases_app, restore_command, users_app

app = typer.Typer(
    help="Sơn La Poverty Atlas: boundaries of every vintage, the 2025 crosswalk and a GeoPackage warehouse.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(width=max(Console().width, 140))
err = Console(stderr=True, soft_wrap=True, highlight=False)

WarehouseOpt = Annotated[Path | None, typer.Option("--warehouse", "-w", help="GeoPackage path (ATLAS_WAREHOUSE).")]


def _settings(warehouse: Path | None = None, mirror: Path | None = None) -> DataSettings:
    overrides: dict[str, object] = {}
    if warehouse is not None:
        overrides["warehouse"] = warehouse
    if mirror is not None:
        overrides["mirror"] = mirror
    return DataSettings(**overrides)  # type: ignore[arg-type]


@app.command()
def sources() -> None:
    """List the declared sources with licence, vintage and whether a verified copy is cached."""
    settings = _settings()
    manifest = Manifest.load(settings.manifest)
    table = Table(title=f"Sources ({settings.manifest})")
    for col in ("id", "vintage", "licence", "cached", "upstream"):
        table.add_column(col)
    for sid, src in manifest.sources.items():
        cached = (settings.sources_dir / src.path).is_file()
        table.add_row(sid, src.vintage, src.licence, "yes" if cached else "no", src.upstream)
    console.print(table)


@app.command()
def fetch(
    mirror: Annotated[Path | None, typer.Option(help="Mirror folder to copy from (ATLAS_MIRROR).")] = None,
) -> None:
    """Put a checksum-verified copy of every source in the cache (from cache, mirror folder or download)."""
    from layers.build import fetcher_for

    settings = _settings(mirror=mirror)
    fetcher = fetcher_for(settings)
    with _progress() as progress:
        task = progress.add_task("fetching", total=len(fetcher.manifest.sources))

        def done(result: FetchResult) -> None:
            origin = "already cached" if result.cached else f"from {result.origin}"
            progress.console.print(f"[green]✓[/] {result.source_id} {origin}")
            progress.advance(task)

        fetcher.fetch_all(done)
    console.print(f"Sources verified in {settings.sources_dir}")


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@app.command()
def build(
    warehouse: WarehouseOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if inputs did not change.")] = False,
) -> None:
    """Fetch sources, rebuild every layer and replace the warehouse atomically once it validates."""
    from layers.build import build_warehouse

    settings = _settings(warehouse)
    with _progress() as progress:
        task = progress.add_task("starting", total=None)
        outcome = build_warehouse(
            settings, force=force, on_step=lambda s: progress.update(task, description=s), on_wait=_waiting
        )
    where = escape(str(outcome.warehouse))
    if outcome.skipped:
        console.print(f"[green]Warehouse {where} is up to date[/] (inputs unchanged; --force rebuilds).")
    else:
        console.print(f"[green]Built {where}[/] in {outcome.seconds:.1f} s")
    for note in outcome.notes:
        console.print(f"  · {escape(note)}")
    _print_quality(outcome.quality, limit=10)
    if outcome.calibration is not None:
        _print_calibration(outcome.calibration)
    _publish_build(outcome.warehouse)


def _publisher(warehouse: Path) -> Publisher:
    from layers.build import LockSettings
    from layers.publish import publisher_for

    return publisher_for(warehouse, lock_timeout=LockSettings().lock_timeout)


def _publish_build(warehouse: Path, force: bool = False, action: str = "build", summary: str = "atlas build") -> None:
    """Number the build (GeoPackage), or publish it to ATLAS_DATABASE_URL unless the database serves it already;
    either way it is recorded as a release (who, what, checksum)."""
    from layers.publish import GeoPackagePublisher
    from layers.warehouse import read_build_info

    publisher = _publisher(warehouse)
    fingerprint = (read_build_info(warehouse) or {}).get("fingerprint")
    serving = publisher.current()
    where = escape(publisher.where)
    if serving is not None and serving.fingerprint == fingerprint and not force:
        console.print(f"Build {serving.number} ({where}) is this build.")
        return
    if isinstance(publisher, GeoPackagePublisher):
        done = publisher.publish(warehouse)
        console.print(
            f"Kept as build {done.number} in {where} (the last {publisher.keep} are kept); release {done.number}."
        )
    else:
        with _progress() as progress:
            task = progress.add_task("publishing", total=None)
            started = time.perf_counter()
            done = publisher.publish(warehouse, on_step=lambda s: progress.update(task, description=s))
        seconds = time.perf_counter() - started
        console.print(
            f"[green]Published build as number {done.number}[/] to {where} in {seconds:.1f} s (release {done.number})"
        )
    _record_release(warehouse, done, action, summary)


def _record_release(warehouse: Path, done: Publish, action: str, summary: str) -> None:
    """Record a publish as a release in the intake's shared store."""
    from layers.intake import accounts_for, record_release

    record_release(accounts_for(_settings(warehouse)), done, warehouse, username=ACTOR, action=action, summary=summary)


@app.command("publish")
def publish_command(
    warehouse: WarehouseOpt = None,
    list_: Annotated[bool, typer.Option("--list", help="List the kept publishes, newest first.")] = False,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Serve the build before the current one again (or --to N's).")
    ] = False,
    to: Annotated[int | None, typer.Option("--to", help="With --rollback: the publish number to serve again.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Publish even if this build is the current one.")] = False,
) -> None:
    """Publish the warehouse (to ATLAS_DATABASE_URL, else number it beside the GeoPackage), list, or roll back."""
    if to is not None and not rollback:
        raise GeoError("--to goes with --rollback")
    path = _settings(warehouse).warehouse
    publisher = _publisher(path)
    if list_:
        table = Table(title=f"Publishes in {publisher.where}")
        for column in ("number", "stored as", "fingerprint", "built at", "published at", "note"):
            table.add_column(column)
        for item in publisher.publishes():
            notes = ["current"] if item.current else []
            if item.rollback_of is not None:
                notes.append(f"rollback to {item.rollback_of}")
            published = f"{item.published_at:%Y-%m-%d %H:%M:%S}"
            table.add_row(
                str(item.number), item.schema, item.fingerprint[:12], item.built_at, published, ", ".join(notes)
            )
        console.print(table)
        return
    if rollback:
        done = publisher.rollback(to)
        _record_release(path, done, "rollback", f"rollback to release {done.rollback_of}")
        console.print(f"[green]Publish {done.number} serves the build of publish {done.rollback_of}[/] ({done.schema})")
        return
    _require_warehouse(path)
    _publish_build(path, force)


@app.command("import")
def import_(
    kind: Annotated[
        str,
        typer.Argument(
            help="commune_indicators, official_list, programme_register, health_stations, schools, markets, bridges, "
            "roads"
        ),
    ],
    file: Annotated[Path, typer.Argument(help="CSV/XLSX table, or Shapefile/GeoPackage/GeoJSON layer")],
    year: Annotated[int | None, typer.Option(help="Year of the figures when the file has no 'Năm' column.")] = None,
    district: Annotated[str | None, typer.Option(help="Former district of every row, for matching by name.")] = None,
    encoding: Annotated[str | None, typer.Option(help="utf-8, tcvn3, vni, cp1258… (detected when omitted).")] = None,
    sheet: Annotated[str | None, typer.Option(help="Worksheet of an XLSX file (the first when omitted).")] = None,
    crs: Annotated[
        str | None, typer.Option(help="CRS of a vector file lacking one, e.g. vn2000-104, EPSG:3405.")
    ] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a multi-layer vector file.")] = None,
    period: Annotated[
        str | None, typer.Option(help="Policy period of an official list: 2021-2025 or 2026-2030.")
    ] = None,
    document: Annotated[
        str | None, typer.Option(help="Document of an official list, e.g. 60/QĐ-BDTTG (read from its title).")
    ] = None,
    date: Annotated[
        str | None, typer.Option(help="Date of an official list, e.g. 2026-01-29 (read from its title).")
    ] = None,
    allow_unmatched: Annotated[
        bool,
        typer.Option("--allow-unmatched", help="Leave out (with a warning) list names the atlas has no unit for."),
    ] = False,
    allow_shrink: Annotated[
        bool,
        typer.Option("--allow-shrink", help="Accept a layer with fewer than half the rows of the one it replaces."),
    ] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Import a commune table, an official list of classifications or an infrastructure layer, then rebuild;
    a bad file changes nothing."""
    from geo.importing import ImportFailed
    from layers.build import import_file

    settings = _settings(warehouse)
    options = {
        "year": str(year) if year else None,
        "district": district,
        "encoding": encoding,
        "sheet": sheet,
        "crs": crs,
        "layer": layer,
        "period": period,
        "document": document,
        "date": date,
        "allow_unmatched": "true" if allow_unmatched else None,
    }
    try:
        with _progress() as progress:
            task = progress.add_task("starting", total=None)
            outcome = import_file(
                settings,
                kind,
                file,
                options=options,
                allow_shrink=allow_shrink,
                on_step=lambda s: progress.update(task, description=escape(s)),
                on_wait=_waiting,
            )
    except ImportFailed as exc:
        _print_report(exc.report)
        raise
    _print_report(outcome.report)
    console.print(
        f"[green]Imported {outcome.entry.rows} row(s) from {escape(file.name)}[/] as {outcome.entry.id}; "
        f"warehouse rebuilt in {outcome.build.seconds:.1f} s"
    )
    summary = f"atlas import {kind} {file.name}: {outcome.entry.rows} row(s) ({outcome.entry.id})"
    _publish_build(settings.warehouse, action="import", summary=summary)


@app.command()
def imports(
    remove: Annotated[str | None, typer.Option(help="Id of a stored import to remove (then rebuild).")] = None,
) -> None:
    """List stored imports, or remove one and rebuild."""
    from layers.build import remove_import
    from layers.imports import ImportStore

    settings = _settings()
    store = ImportStore(settings.imports_dir)
    if remove:
        with _progress() as progress:
            task = progress.add_task("starting", total=None)
            gone, _ = remove_import(
                settings, remove, on_step=lambda s: progress.update(task, description=escape(s)), on_wait=_waiting
            )
        console.print(f"Removed {gone.id} ({escape(gone.file)}) and rebuilt the warehouse")
        _publish_build(settings.warehouse, action="import", summary=f"atlas imports --remove {gone.id} ({gone.file})")
        return
    table = Table(title=escape(f"Stored imports ({settings.imports_dir})"))
    for col in ("id", "kind", "file", "rows", "imported_at", "sha256"):
        table.add_column(col)
    for e in store.entries():
        table.add_row(e.id, e.kind, escape(e.file), str(e.rows), e.imported_at, e.sha256[:12])
    if store.pending() is not None:
        console.print("[yellow]An import or removal is in progress or was interrupted[/]; the next build settles it.")
    console.print(table)


def _waiting(message: str) -> None:
    err.print(f"… {escape(message)} (ATLAS_LOCK_TIMEOUT)")


def _print_report(report: object) -> None:
    from geo.importing import ImportReport

    assert isinstance(report, ImportReport)
    for key, value in report.details.items():
        console.print(f"  {key}: {escape(value)}")
    shown = [line for line in report.lines if line.status != "imported"]
    if shown:
        table = Table(title=f"import report: {escape(Path(report.file).name)}")
        for col in ("row", "status", "message"):
            table.add_column(col)
        colour = {"error": "red", "warning": "yellow", "skipped": "cyan"}
        for line in shown:
            table.add_row(
                escape(str(line.row)), f"[{colour.get(line.status, 'white')}]{line.status}[/]", escape(line.message)
            )
        console.print(table)
    console.print(
        f"  {report.count('imported')} row(s) accepted, {report.count('skipped')} skipped, "
        f"{report.count('warning')} warning(s), {len(report.errors)} error(s)"
    )


@app.command()
def calibration(warehouse: WarehouseOpt = None) -> None:
    """Print each published figure beside the value the demo dataset reproduces."""
    from layers.warehouse import read_table

    settings = _settings(warehouse)
    _require_warehouse(settings.warehouse)
    _print_calibration(read_table(settings.warehouse, "calibration"))


def _num(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.2f}"


def _print_calibration(frame: pd.DataFrame) -> None:
    table = Table(title="calibration: published figures and the demo dataset (synthetic)")
    for col, header in {
        "target": "target",
        "scope": "scope",
        "when": "when",
        "published": "published",
        "reproduced": "demo",
        "difference": "Δ",
        "tolerance": "tolerance",
        "status": "status",
    }.items():
        table.add_column(header, justify="right" if col in ("published", "reproduced", "difference") else "left")
    for rec in rows(frame):
        status = "[green]ok[/]" if rec.status == "ok" else f"[red]{rec.status}[/]"
        table.add_row(
            rec.target,
            rec.scope,
            rec.when,
            _num(rec.published),
            _num(rec.reproduced),
            f"{rec.difference:+g}",
            rec.tolerance,
            status,
        )
    console.print(table)


def _out_dir(out: Path | None) -> Path:
    from geo.settings import PROJECT_ROOT

    return out if out is not None else PROJECT_ROOT / "data" / "out"


@app.command()
def priority(
    profile: Annotated[
        Path | None, typer.Option(help="Priority profile YAML (default: ATLAS_PROFILE, data/profiles/default.yaml).")
    ] = None,
    top: Annotated[int, typer.Option(help="How many units to list.")] = 15,
    draws: Annotated[int, typer.Option(help="Monte-Carlo weight draws for the sensitivity report.", min=10)] = 500,
    out: Annotated[Path | None, typer.Option(help="Folder for priority.gpkg and the CSVs (default data/out).")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Rank the 2025 units and the villages by a priority profile; write the layers and a sensitivity report."""
    from geo.priority import Profile
    from layers.analysis import analysis_for, write_outputs
    from layers.store import Warehouse

    settings = _settings(warehouse)
    chosen = Profile.load(profile or settings.profile)
    with _progress() as progress:
        progress.add_task("travel times and criteria", total=None)
        analysis = analysis_for(Warehouse.open(settings.warehouse))
        ranked = analysis.rank(chosen, draws=draws)
    summary = ranked.summary()
    console.print(f"[bold]{chosen.title_vi}[/] / {chosen.title_en} (profile {chosen.profile} {chosen.version})")
    if analysis.criteria.synthetic:
        console.print("[yellow]Dữ liệu minh họa (mô phỏng) / synthetic demo data[/]")
    for scope, filled in summary["missing_values_filled"].items():
        gaps = {k: v for k, v in filled.items() if v}
        console.print(
            f"missing values in {scope}: " + (f"{gaps} filled by the {chosen.missing} rule" if gaps else "none")
        )
    units = ranked.units
    contrib = [c for c in units.columns if c.startswith("c_")]
    table = Table(title=f"Priority of the 2025 units (top {top} of {len(units)})")
    start, end = int(units["trend_from"].iloc[0]), int(units["trend_to"].iloc[0])
    for col in (
        "rank",
        "unit",
        "score",
        "tier",
        "largest contributions",
        "rank 5–95% (MC)",
        "tier kept",
        f"{start}→{end}",
    ):
        table.add_column(col, justify="right" if col in ("rank", "score", "tier kept") else "left")
    for rec in units.head(top).to_dict("records"):
        largest = sorted(contrib, key=lambda c: -rec[c])[:3]
        table.add_row(
            str(rec["rank"]),
            f"{rec['unit_name']} ({rec['unit_code']})",
            f"{rec['score']:.1f}",
            rec["tier_label"],
            ", ".join(f"{c[2:]} {rec[c]:.1f}" for c in largest),
            f"{rec['rank_p05_mc']}–{rec['rank_p95_mc']}",
            f"{100 * rec['tier_share_mc']:.0f}%",
            f"{rec[f'poor_rate_{start}']:.1f}→{rec[f'poor_rate_{end}']:.1f}%"
            + (" [red]behind[/]" if rec["falling_behind"] else ""),
        )
    console.print(table)
    shaky = units[units["tier_share_mc"] < 0.8]
    console.print(
        f"{summary['units_stable']} of {len(units)} units keep their tier in at least 80% of {draws} random "
        "weightings; tier depends on the weights for: " + (", ".join(shaky["unit_name"]) or "none")
    )
    behind = units[units["falling_behind"]]
    console.print(
        "falling behind (poverty fell by less than half the province's relative fall, still above it): "
        + (", ".join(behind["unit_name"]) or "none")
    )
    paths = write_outputs(
        _out_dir(out), "priority", {"priority_units_2025": ranked.units, "priority_villages": ranked.villages}
    )
    console.print("wrote " + ", ".join(str(p) for p in paths))


@app.command()
def plan(
    budget: Annotated[float, typer.Option(help="Budget in VND, e.g. 50e9 (50 billion đồng).")],
    min_region_iii_share: Annotated[
        float | None, typer.Option(help="Minimum share of the spending in region III communes (0-1).")
    ] = None,
    max_per_unit: Annotated[int | None, typer.Option(help="At most this many projects per 2025 unit.")] = None,
    candidates: Annotated[
        list[Path] | None, typer.Option(help="Extra candidate projects (CSV with lon/lat or wkt, GeoJSON, GPKG).")
    ] = None,
    costs: Annotated[Path | None, typer.Option(help="Unit costs YAML (default data/profiles/costs.yaml).")] = None,
    solver: Annotated[str, typer.Option(help="highs or cbc.")] = "highs",
    next_best: Annotated[int, typer.Option("--next", help="How many next-best unfunded projects to list.")] = 10,
    out: Annotated[
        Path | None, typer.Option(help="Folder for investment_plan.gpkg and CSVs (default data/out).")
    ] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Pick the projects that serve the most poor households within the budget (MILP)."""
    import json

    from pydantic import ValidationError

    from geo.plan import Costs, PlanOptions, read_candidate_file
    from layers.analysis import analysis_for, write_outputs
    from layers.store import Warehouse

    settings = _settings(warehouse)
    unit_costs = Costs.load(costs or settings.costs)
    try:
        options = PlanOptions.model_validate(
            {
                "budget": budget,
                "min_region_iii_share": min_region_iii_share,
                "max_projects_per_unit": max_per_unit,
                "solver": solver,
                "next_best": next_best,
            }
        )
    except ValidationError as exc:
        raise GeoError(f"invalid plan option {validation_problem(exc.errors())}") from exc
    imported = [(read_candidate_file(path), str(path)) for path in candidates or []]
    with _progress() as progress:
        progress.add_task("candidates and the MILP", total=None)
        analysis = analysis_for(Warehouse.open(settings.warehouse))
        result = analysis.plan(unit_costs, options, imported)
    t = result.totals
    if analysis.criteria.synthetic:
        console.print("[yellow]Dữ liệu minh họa (mô phỏng) / synthetic demo data[/]")
    console.print(
        f"[bold]{t['projects']}[/] projects for {t['cost_vnd'] / 1e9:,.2f} of {t['budget_vnd'] / 1e9:,.2f} billion VND "
        f"serve {t['households_served']:,} households lacking what they address ({t['poor_households_served']:,} "
        f"poor; needs met: {t['needs_met']} of {t['needs_total']}); "
        f"{t['poor_households_reached']:,} distinct poor households and {t['people_reached']:,} people reached; "
        f"{100 * t['region_iii_cost_share']:.0f}% of the spending in region III communes "
        f"({t['solver']}, {t['status']}, {t['seconds']} s)"
    )
    _print_projects(result.chosen, "Chosen projects", "cost_vnd", "households_served", "poor_households_served")
    if len(result.next_best):
        _print_projects(
            result.next_best,
            "Next best unfunded projects (added to this plan)",
            "added_cost_vnd",
            "added_households_served",
            "added_poor_households_served",
        )
    points, lines = analysis.plan_layers(result, unit_costs)
    folder = _out_dir(out)
    paths = write_outputs(
        folder,
        "investment_plan",
        {"investment_plan": points, "investment_plan_roads": lines, "investment_next_best": result.next_best},
    )
    totals_path = folder / "investment_plan_totals.json"
    with atomic_write(totals_path) as tmp:
        tmp.write_text(json.dumps(t, ensure_ascii=False, indent=2), encoding="utf-8")
    console.print("wrote " + ", ".join(str(p) for p in [*paths, totals_path]))


def _print_projects(frame: pd.DataFrame, title: str, cost: str, served: str, poor: str) -> None:
    table = Table(title=title)
    for col in ("project", "kind", "unit", "cost (billion VND)", "households served", "poor households"):
        table.add_column(col, justify="right" if col.startswith(("cost", "households", "poor")) else "left")
    for rec in frame.to_dict("records"):
        table.add_row(
            rec["name_vi"],
            rec["kind"],
            rec.get("unit_2025_name") or rec["unit_2025_code"],
            f"{rec[cost] / 1e9:,.2f}",
            f"{rec[served]:,.1f}",
            f"{rec[poor]:,.1f}",
        )
    console.print(table)


@app.command()
def maps(
    only: Annotated[
        str, typer.Option(help="province, districts, units or all (province + 12 districts + 75 units).")
    ] = "all",
    out: Annotated[Path | None, typer.Option(help="Folder for the HTML maps (default data/out/maps).")] = None,
    workers: Annotated[int | None, typer.Option(help="Parallel processes (default: every core).", min=1)] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Write self-contained web maps (folium, work offline) of the province, districts and 2025 units."""
    from layers.mapdata import MapError, map_data_for
    from layers.maps import index_page, write_maps
    from layers.store import Warehouse

    settings = _settings(warehouse)
    data = map_data_for(Warehouse.open(settings.warehouse))
    groups = {"province": data.scopes()[:1], "districts": data.districts(), "units": data.units()}
    if only not in (*groups, "all"):
        raise MapError(f"--only {only!r}: use province, districts, units or all")
    scopes = data.scopes() if only == "all" else groups[only]
    folder = out or _out_dir(None) / "maps"
    with _progress() as progress:
        task = progress.add_task("web maps", total=len(scopes))
        written = write_maps(
            settings.warehouse, folder, [(s, None) for s in scopes], workers, lambda _: progress.advance(task)
        )
    index = folder / "index.html"
    names = dict(zip(scopes, written, strict=True))
    page = index_page(scopes, lambda s: names[s].name, lambda s: [], data.synthetic("priority_units_2025"))
    with atomic_write(index) as tmp:
        tmp.write_text(page, encoding="utf-8")
    console.print(f"wrote {len(written)} web maps and {index}")


@app.command()
def find(
    name: Annotated[str, typer.Argument(help='A name, with or without accents: "chieng noi", "Mường La".')],
    kind: Annotated[
        list[str] | None, typer.Option(help="unit_2025, commune_2024, district_2024 or village; repeatable.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many places to list.", min=1, max=100)] = 10,
    warehouse: WarehouseOpt = None,
) -> None:
    """Find a 2025 unit, pre-merger commune, former district or village by name, and say where it is now."""
    from layers.places import resolver_for
    from layers.store import Warehouse

    settings = _settings(warehouse)
    _require_warehouse(settings.warehouse)
    places = resolver_for(Warehouse.open(settings.warehouse)).search(name, limit=limit, kinds=kind)
    if not places:
        raise GeoError(f"no place is called {name!r} (không tìm thấy địa danh)")
    table = Table("kind", "code", "name", "2025 unit", "now / hiện nay")
    for p in places:
        table.add_row(p.kind, p.code, p.name, p.unit_name or "–", f"{p.note_vi}\n[dim]{p.note_en}[/]")
    console.print(table)


@app.command("print")
def print_maps(
    district: Annotated[
        list[str] | None, typer.Option(help='Former district, by name or code (e.g. "Mai Sơn"); repeatable.')
    ] = None,
    unit: Annotated[list[str] | None, typer.Option(help="2025 unit, by name or code; repeatable.")] = None,
    province: Annotated[bool, typer.Option("--province", help="The province overview.")] = False,
    all_maps: Annotated[
        bool, typer.Option("--all", help="Province, the 12 former districts and the 75 units.")
    ] = False,
    districts: Annotated[bool, typer.Option("--districts", help="The 12 former districts.")] = False,
    paper: Annotated[str, typer.Option(help="A4 or A3.")] = "A3",
    orientation: Annotated[str, typer.Option(help="portrait or landscape.")] = "landscape",
    fmt: Annotated[str, typer.Option("--format", help="pdf, png or both.")] = "pdf",
    indicator: Annotated[
        str, typer.Option(help="poverty (rate, latest year), priority (tier) or disbursement (programmes).")
    ] = "poverty",
    out: Annotated[Path | None, typer.Option(help="Folder for the sheets (default data/out/print).")] = None,
    former_area: Annotated[
        bool,
        typer.Option(
            "--former-area",
            help="For a --unit given by a pre-merger commune's name or code: print that commune's area only.",
        ),
    ] = False,
    workers: Annotated[int | None, typer.Option(help="Parallel processes (default: every core).", min=1)] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Write printable maps (vector PDF and/or PNG) with legend, scale, grid, inset and priority table."""
    from geo.resolver import Place
    from layers.mapdata import MapError, Scope, map_data_for
    from layers.maps import write_maps
    from layers.printmap import PrintOptions, former_area_options
    from layers.store import Warehouse

    settings = _settings(warehouse)
    data = map_data_for(Warehouse.open(settings.warehouse))
    scopes = []
    if all_maps or province:
        scopes.append(data.scopes()[0])
    if all_maps or districts:
        scopes += data.districts()
    scopes += [data.scope("district", d) for d in district or []]
    if all_maps:
        scopes += data.units()
    areas: dict[Scope, Place] = {}  # units asked for by a pre-merger commune's name, printed as its area
    for name in unit or []:
        scope, place = data.resolve("unit", name)
        scopes.append(scope)
        if place is not None:
            console.print(f"{escape(name)}: {escape(place.note_vi)}\n  {escape(place.note_en)}")
            if place.kind == "commune_2024" and not former_area:
                console.print(
                    f"  in tờ bản đồ của {escape(scope.name)}; thêm --former-area để in riêng vùng xã cũ / printing "
                    f"{escape(scope.name)}'s sheet; add --former-area for the former commune's area only"
                )
            if place.kind == "commune_2024" and former_area:
                areas[scope] = place
    if not scopes:
        raise MapError("say which map: --district NAME, --unit NAME, --province, --districts or --all")
    if fmt not in ("pdf", "png", "both"):
        raise MapError(f"--format {fmt!r}: use pdf, png or both")
    formats = ["pdf", "png"] if fmt == "both" else [fmt]

    def options_for(scope: Scope) -> list[PrintOptions]:
        place = areas.get(scope)
        framed = {} if place is None else former_area_options(place)
        return [
            PrintOptions(paper=paper, orientation=orientation, indicator=indicator, format=f, **framed)  # type: ignore[arg-type]
            for f in formats
        ]

    jobs = [(s, o) for s in dict.fromkeys(scopes) for o in options_for(s)]
    folder = out or _out_dir(None) / "print"
    with _progress() as progress:
        task = progress.add_task("printed maps", total=len(jobs))
        written = write_maps(settings.warehouse, folder, jobs, workers, lambda _: progress.advance(task))
    for path in written:
        console.print(f"wrote {path}")


report_app = typer.Typer(help="Reports planners send: the quarterly programme tables.", no_args_is_help=True)
template_app = typer.Typer(help="Spreadsheet templates offices fill in.", no_args_is_help=True)


@report_app.command("programme")
def report_programme(
    period: Annotated[str, typer.Option(help="The quarter, e.g. 2026Q1 (or Q1/2026).")],
    out: Annotated[Path | None, typer.Option(help="XLSX file to write (data/out/programme-<quarter>.xlsx).")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Write the quarterly programme report as XLSX: by unit, outputs, equity, planned vs done, notes."""
    from geo.errors import WarehouseError
    from geo.programme import Quarter
    from layers.intake import file_tables
    from layers.programme_report import programme_report
    from layers.warehouse import layer_counts, read_build_info

    try:
        quarter = Quarter.parse(period)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--period") from None
    settings = _settings(warehouse)
    _require_warehouse(settings.warehouse)
    if "programme_unit_quarters" not in layer_counts(settings.warehouse):
        raise WarehouseError(f"{settings.warehouse} has no programme layers: rebuild it with `atlas build`")
    info = read_build_info(settings.warehouse) or {}
    release = f"build {info.get('built_at', '?')}, fingerprint {info.get('fingerprint', '?')[:12]}"
    data = programme_report(file_tables(settings.warehouse), quarter, release)
    target = out or _out_dir(None) / f"programme-{quarter}.xlsx"
    with atomic_write(target) as tmp:
        tmp.write_bytes(data)
    console.print(f"wrote {target}")


@template_app.command("programme")
def template_programme(
    out: Annotated[Path, typer.Option(help="XLSX file to write.")] = Path("so-theo-doi-du-an.xlsx"),
    first: Annotated[str, typer.Option(help="First quarter with a disbursement column.")] = "2026Q1",
    last: Annotated[str, typer.Option(help="Last quarter with a disbursement column.")] = "2026Q4",
) -> None:
    """Write the programme register template (import it with `atlas import programme_register FILE`)."""
    from geo.programme import Quarter
    from geo.programme_import import template_workbook

    try:
        quarters = Quarter.parse(first), Quarter.parse(last)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--first/--last") from None
    if quarters[1] < quarters[0]:
        raise typer.BadParameter(f"{last} is before {first}", param_hint="--last")
    with atomic_write(out) as tmp:
        tmp.write_bytes(template_workbook(*quarters))
    console.print(f"wrote {out}")


tiles_app = typer.Typer(help="Map tiles: offline packages for QGIS.", no_args_is_help=True)
app.add_typer(tiles_app, name="tiles")
app.add_typer(report_app, name="report")
app.add_typer(template_app, name="template")
app.add_typer(users_app, name="users")
app.add_typer(releases_app, name="releases")
app.command("backup")(backup_command)
app.command("restore")(restore_command)


@tiles_app.command("seed")
def tiles_seed(
    zoom: Annotated[str, typer.Option(help="Zoom range, e.g. 6-13.")] = "6-13",
    layer: Annotated[
        list[str] | None, typer.Option(help="Layer to seed (repeatable); all tiled layers if omitted.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the .mbtiles and .pmtiles files (default data/tiles).")
    ] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Write an MBTiles package and a PMTiles archive per layer with the province's tiles, for QGIS and MapLibre
    without internet."""
    from geo.settings import PROJECT_ROOT
    from layers.store import Warehouse
    from layers.tiles import Tiler, seed

    settings = _settings(warehouse)
    _require_warehouse(settings.warehouse)
    try:
        low, high = (int(v) for v in zoom.split("-")) if "-" in zoom else (int(zoom), int(zoom))
    except ValueError:
        raise typer.BadParameter(f"--zoom {zoom!r}: expected a range such as 6-13") from None
    if not 0 <= low <= high <= 18:
        raise typer.BadParameter(f"--zoom {zoom!r}: zooms run from 0 to 18")
    manifest = Manifest.load(settings.manifest)
    population = settings.sources_dir / manifest.get("worldpop_2020").path
    tiler = Tiler(
        Warehouse.open(settings.warehouse),
        settings.cache_dir / "tiles",
        population if population.is_file() else None,
    )
    target = out or PROJECT_ROOT / "data" / "tiles"
    with _progress() as progress:
        task = progress.add_task("seeding", total=None)
        results = seed(
            tiler,
            range(low, high + 1),
            target,
            layer or None,
            lambda name, k, n: progress.update(task, description=f"{name} {k}/{n}", completed=k, total=n),
        )
    table = Table(title=f"MBTiles and PMTiles packages in {target} (zoom {low}-{high})")
    for col in ("layer", "tiles", "MBTiles MB", "seconds", "PMTiles MB", "+ seconds"):
        table.add_column(col, justify="left" if col == "layer" else "right")
    for r in results:
        pm = f"{r.pmtiles.stat().st_size / 1e6:.1f}" if r.pmtiles else "–"
        row = (f"{r.path.stat().st_size / 1e6:.1f}", f"{r.seconds:.1f}", pm, f"{r.pmtiles_seconds:.1f}")
        table.add_row(r.layer, str(r.tiles), *row)
    console.print(table)


@app.command()
def quality(
    warehouse: WarehouseOpt = None,
    all_rows: Annotated[bool, typer.Option("--all", help="Show every 2025 unit, not only the 10 worst.")] = False,
) -> None:
    """Print the boundary_quality report of the warehouse."""
    from layers.warehouse import read_table

    settings = _settings(warehouse)
    _require_warehouse(settings.warehouse)
    _print_quality(read_table(settings.warehouse, "boundary_quality"), limit=None if all_rows else 10)


@app.command()
def info(warehouse: WarehouseOpt = None) -> None:
    """Show the warehouse's layers, row counts and build metadata."""
    from layers.warehouse import layer_counts, read_build_info

    settings = _settings(warehouse)
    _require_warehouse(settings.warehouse)
    build_info = read_build_info(settings.warehouse) or {}
    table = Table(title=str(settings.warehouse))
    table.add_column("layer")
    table.add_column("rows", justify="right")
    for name, count in layer_counts(settings.warehouse).items():
        table.add_row(name, str(count))
    console.print(table)
    console.print(f"built at {build_info.get('built_at', '?')}, fingerprint {build_info.get('fingerprint', '?')[:12]}")


@app.command()
def serve(
    warehouse: WarehouseOpt = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on (ATLAS_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (ATLAS_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Server processes (ATLAS_WORKERS; default: one per core).", min=1)
    ] = None,
) -> None:
    """Serve the warehouse over HTTP: OGC API, tiles, maps, landing page, health, downloads."""
    import os

    import uvicorn

    from api.settings import ServerSettings

    # each worker builds its app from the environment (serve_factory): pass the options on through it
    for name, value in (("WAREHOUSE", warehouse), ("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"ATLAS_{name}"] = str(value)
    settings = ServerSettings()
    if settings.database_url:  # served from the database's current publish: it must have one
        from layers.publish import check_serving, redact

        serving = check_serving(settings.database_url)
        console.print(
            f"Serving publish {serving.number} (built {serving.built_at}) from {redact(settings.database_url)}"
        )
    else:
        _require_warehouse(settings.warehouse)
    uvicorn.run(
        "scripts.cli:serve_factory",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_keep_alive=settings.keep_alive,
    )


def serve_factory() -> FastAPI:
    """The app of one server worker, from the ATLAS_* settings as they are when the worker starts."""
    from api.app import create_app
    from api.settings import ServerSettings

    tune_malloc()
    return create_app(ServerSettings())


def tune_malloc(arenas: int = 2, trim_every: float = 30.0) -> None:
    """Fewer glibc malloc arenas, and freed memory handed back to the system every trim_every seconds.

    Request threads free large bodies (4 MB pages, web maps, process results) in per-thread arenas, which
    glibc keeps: without this a worker's memory stays at its peak after a burst of load.
    """
    import ctypes
    import ctypes.util
    import threading
    import time

    name = ctypes.util.find_library("c")
    if name is None or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has neither): nothing to tune
        return

    def trimmer() -> None:
        while True:
            time.sleep(trim_every)
            trim(0)

    threading.Thread(target=trimmer, name="malloc-trim", daemon=True).start()


def _require_warehouse(path: Path) -> None:
    from layers.errors import WarehouseMissing

    if not path.is_file():
        raise WarehouseMissing(f"no warehouse at {path}: run `atlas build` first")


def _print_quality(frame: pd.DataFrame, limit: int | None) -> None:
    iou = pd.to_numeric(frame["iou_sources"], errors="coerce")
    console.print(
        f"Boundary quality of the rebuilt 2024 communes: {int(frame['n_exact'].sum())} exact, "
        f"{int(frame['n_derived'].sum())} derived, {int(frame['n_approximate'].sum())} approximate; "
        f"IoU of 2009 sources with the 2025 units: median {iou.median():.3f}, min {iou.min():.3f}; "
        f"largest tiling error {frame['tiling_error_m2'].max():.3f} m²"
    )
    shown = frame.assign(_iou=iou).sort_values("_iou", na_position="first")
    if limit is not None:
        shown = shown.head(limit)
    table = Table(title="boundary_quality" + ("" if limit is None else f" (the {limit} lowest IoU)"))
    columns = {
        "unit_2025_code": "code",
        "unit_2025_name": "2025 unit",
        "n_communes_2024": "2024",
        "n_exact": "ex",
        "n_derived": "der",
        "n_approximate": "apx",
        "area_km2": "km²",
        "area_diff_pct": "Δ%",
        "iou_sources": "IoU",
        "gap_km2": "gap km²",
        "spill_km2": "spill km²",
        "tiling_error_m2": "tiling m²",
    }
    for col, header in columns.items():
        table.add_column(header, justify="left" if col.endswith(("name", "code")) else "right", no_wrap=True)
    for rec in rows(shown[list(columns)]):
        table.add_row(*["–" if pd.isna(v) else f"{v:g}" if isinstance(v, float) else str(v) for v in rec])
    console.print(table)


def main() -> None:
    """Entry point of the `atlas` command: errors are printed without a traceback."""
    try:
        app()
    except GeoError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        sys.exit(1)


if __name__ == "__main__":
    main()
