"""The web intake without the web: templates, checking uploads, comparing with what is published, approving
a submission into a new release, releases and their files.

Figures arrive as submissions (pending) in the shared store (layers.accounts); nothing changes the warehouse
until a reviewer approves one. Approval stores the submission's rows as an import of its own (the import
store's journal makes the rebuild all or nothing), rebuilds the warehouse, publishes it as a numbered
release and marks the submission approved. `reconcile` finishes that last step when a process died after the
rebuild committed: an approved submission is never lost and never half-applied.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.worksheet.datavalidation import DataValidation
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.errors import InputDataError
from geo.importing import VECTOR_KINDS, ImportLimits, ImportReport, UnitIndex, import_indicators, import_vector
from geo.policy import Standard, Standards
from geo.settings import DataSettings
from geo.sources import sha256_file
from geo.spreadsheets import read_grid
from geo.village_figures import (
    COUNT_HEADERS,
    COUNTS,
    KIND,
    columns_for,
    header_texts,
    read_village_figures,
    refuse_personal,
    template_rows,
)
from layers.accounts import AccountError, AccountStore, Release, Submission, User, default_address, now_text
from layers.imports import ImportStore
from layers.publish import Publish, Publisher, publisher_for
from layers.warehouse import checkpoint, read_build_info, read_table

TABLE_SUFFIXES = (".xlsx", ".csv")
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".zip")  # a zip holds a Shapefile
SUFFIXES = TABLE_SUFFIXES + VECTOR_SUFFIXES  # what the intake reads; the stored name never comes from the upload
GEOMETRY = "geometry_wkt"  # infrastructure submissions keep each feature's geometry as WKT
TEMPLATE_SHEET = "Số liệu thôn bản"
META_SHEET = "_atlas"
FIRST_DATA_ROW = 5
FIRST_UNIT_YEAR = 2026  # village figures on the 2025 units start with the 2026 review
PROGRAMME_KIND = "programme_register"  # a register of national target programme projects


class IntakeSettings(BaseSettings):
    """Bounds and checks of the web intake (ATLAS_INTAKE_*)."""

    model_config = SettingsConfigDict(env_prefix="ATLAS_INTAKE_", env_file=".env", extra="ignore")

    review_year: int | None = None  # the year whose figures are collected; default: the annual review in force
    review_opens: int = Field(default=9, ge=1, le=12)  # month the review of a year opens (it runs into the next)
    max_rate_change: float = Field(default=10.0, gt=0)  # poverty rate moves more than this (points): flagged
    max_rows: int = Field(default=5_000, ge=1)  # rows of one upload
    max_bytes: int = Field(default=5_000_000, ge=1)  # bytes of one upload (the server's body limit also applies)


class UnitForbidden(AccountError):
    """An upload names 2025 units the account is not assigned to."""


@dataclass(frozen=True)
class Checked:
    """A valid upload, ready to become a submission."""

    kind: str
    year: int
    standard: str
    units: list[str]
    rows: list[dict[str, Any]]
    report: ImportReport


def review_year(settings: IntakeSettings, today: date | None = None) -> int:
    """The year whose figures the annual review collects now: ATLAS_INTAKE_REVIEW_YEAR, else by the date
    (the review of a year opens in ATLAS_INTAKE_REVIEW_OPENS and runs into the next year)."""
    if settings.review_year is not None:
        return settings.review_year
    today = today or datetime.now(UTC).date()
    return today.year if today.month >= settings.review_opens else today.year - 1


def accounts_for(settings: DataSettings) -> AccountStore:
    """The shared store of a deployment (ATLAS_ACCOUNTS_DB, the database, or accounts.sqlite by the warehouse)."""
    return AccountStore(default_address(settings.warehouse, settings.database_url, settings.accounts_db))


# ---------------------------------------------------------------------------------------------- templates


Tables = Callable[[str], pd.DataFrame]  # a layer by name: the served build's (shared, never modified) or a file's


def file_tables(warehouse: Path) -> Tables:
    """The layers of a warehouse file, read on each call."""
    return lambda name: read_table(warehouse, name)


def unit_names(tables: Tables) -> pd.Series:
    """Full names of the 2025 units by code."""
    units = tables("units_2025")
    return units.set_index(units["code"].astype(str))["full_name"]


def template_workbook(tables: Tables, units: list[str], year: int, standard: Standard) -> bytes:
    """An XLSX template for the villages of some 2025 units: keys filled and locked, counts validated."""
    rows = template_rows(tables("demo_villages"), unit_names(tables), units)
    fields = columns_for(standard)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = TEMPLATE_SHEET
    ws["A1"] = (
        f"Rà soát hộ nghèo, hộ cận nghèo năm {year} theo chuẩn {standard.id} / "
        f"Annual poverty review {year}, standard {standard.id}"
    )
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = (
        "Điền số hộ vào các ô trắng (số nguyên, 0 nếu không có); không sửa cột Mã thôn; không ghi họ tên, số CCCD "
        "của hộ. / Fill the white cells with whole numbers of households (0 if none); do not change the village "
        "ids; no household names or ID numbers."
    )
    ws["A3"] = f"{standard.document} — {standard.title_vi} / {standard.title_en}"
    header_row = FIRST_DATA_ROW - 1
    names = list(fields)
    for col, name in enumerate(names, start=1):
        cell = ws.cell(row=header_row, column=col, value=fields[name])
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[cell.column_letter].width = 14 if col > 4 else 22
    ws.row_dimensions[header_row].height = 75
    grey = PatternFill("solid", fgColor="DDDDDD")
    last = FIRST_DATA_ROW + max(len(rows), 1) - 1
    for i, rec in enumerate(rows.itertuples(index=False)):
        r = FIRST_DATA_ROW + i
        for col, value in enumerate((rec.village_id, rec.unit_code, rec.unit_name, rec.village_name), start=1):
            cell = ws.cell(row=r, column=col, value=value)
            cell.fill = grey
        for col in range(5, len(names) + 1):
            ws.cell(row=r, column=col).protection = Protection(locked=False)
    letter = {name: ws.cell(row=1, column=i).column_letter for i, name in enumerate(names, start=1)}
    hh, poor, near = letter["households"], letter["poor_households"], letter["near_poor_households"]
    first = FIRST_DATA_ROW
    _validate(
        ws,
        f"{hh}{first}:{letter['ethnic_minority_households']}{last}",
        "Số hộ / Households",
        "Nhập số nguyên không âm / Enter a whole number, 0 or more",
        whole=True,
    )
    _validate(
        ws,
        f"{poor}{first}:{poor}{last}",
        "Hộ nghèo / Poor households",
        "Hộ nghèo + cận nghèo không vượt tổng số hộ / Poor plus near-poor cannot exceed households",
        formula=f"=AND(ISNUMBER({poor}{first}),{poor}{first}>=0,{poor}{first}+{near}{first}<={hh}{first})",
    )
    deprived = [letter[n] for n in names if n.startswith("deprived_")]
    if deprived:
        d = deprived[0]
        _validate(
            ws,
            f"{d}{first}:{deprived[-1]}{last}",
            "Số hộ thiếu hụt / Households deprived",
            "Không vượt tổng số hộ của thôn / Cannot exceed the village's households",
            formula=f"=AND(ISNUMBER({d}{first}),{d}{first}>=0,{d}{first}<=${hh}{first})",
        )
    ws.freeze_panes = ws.cell(row=FIRST_DATA_ROW, column=5)
    ws.protection.sheet = True  # keys locked (no password: the office can still unlock it if it must)
    meta = wb.create_sheet(META_SHEET)
    for i, (key, value) in enumerate(
        (("year", year), ("standard", standard.id), ("units", ",".join(units)), ("made", now_text())), start=1
    ):
        meta.cell(row=i, column=1, value=key)
        meta.cell(row=i, column=2, value=str(value))
    meta.sheet_state = "hidden"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _validate(ws: Any, cells: str, title: str, error: str, *, whole: bool = False, formula: str = "") -> None:
    """Data validation on a range: whole numbers from 0, or a custom formula; the message says why."""
    rule = (
        DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0")
        if whole
        else DataValidation(type="custom", formula1=formula)
    )
    rule.showErrorMessage, rule.errorTitle, rule.error = True, title, error
    rule.add(cells)
    ws.add_data_validation(rule)


def _template_meta(path: Path) -> dict[str, str]:
    """The hidden facts of an atlas template (year, standard, units); empty for other files."""
    if path.suffix.lower() != ".xlsx":
        return {}
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception:  # not a workbook: read_grid reports it with the file's name
        return {}
    try:
        if META_SHEET not in wb.sheetnames:
            return {}
        sheet = wb[META_SHEET]
        return {str(r[0]): str(r[1]) for r in sheet.iter_rows(min_row=1, max_col=2, values_only=True) if r[0]}
    finally:
        wb.close()


# ---------------------------------------------------------------------------------------------- uploads


def check_upload(
    tables: Tables,
    user: User,
    data: bytes,
    file_name: str,
    year: int,
    standards: Standards,
    limits: IntakeSettings,
    kind: str | None = None,
) -> Checked:
    """Check an uploaded file for a user: personal data (InputDataError), the user's units (UnitForbidden), every
    row (ImportFailed with the report). The file goes to a private temporary name; its own name is only shown."""
    suffix = Path(file_name).suffix.lower()
    if suffix not in SUFFIXES:
        raise InputDataError(
            file_name, f"is a {suffix or 'file without extension'}: send the template (.xlsx) or a CSV"
        )
    if len(data) > limits.max_bytes:
        raise InputDataError(
            file_name,
            f"is {len(data):,} bytes, more than the intake limit of {limits.max_bytes:,} (ATLAS_INTAKE_MAX_BYTES)",
        )
    import_limits = ImportLimits(max_bytes=limits.max_bytes, max_rows=limits.max_rows)
    with tempfile.TemporaryDirectory(prefix="atlas-intake-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        if suffix in VECTOR_SUFFIXES:
            return _check_vector(tables, user, path, file_name, kind, year, import_limits)
        grid = read_grid(path, max_rows=limits.max_rows)
        refuse_personal(file_name, grid.rows)
        texts = header_texts(grid.rows)
        meta = _template_meta(path)
        if meta.get("year") and int(meta["year"]) != year:
            raise InputDataError(
                file_name,
                f"is the template of {meta['year']}, and the review now collects {year}: download the {year} template",
            )
        folded = " ".join(t.lower() for t in texts)
        if "mã dự án" in folded or "project id" in folded:
            return _check_register(tables, user, path, file_name, year, import_limits)
        if meta or "mã thôn" in folded or "village id" in folded:
            standard = standards.for_year(year)
            held = sorted({int(y) for y in tables("village_indicators")["year"]})
            if year not in held or year < FIRST_UNIT_YEAR:
                span = f"{FIRST_UNIT_YEAR}-{held[-1]}" if held[-1] > FIRST_UNIT_YEAR else str(FIRST_UNIT_YEAR)
                raise InputDataError(
                    file_name,
                    f"carries figures of {year}, and the atlas holds village rows on the 2025 units for {span} only "
                    f"/ hệ thống chưa có số liệu thôn bản năm {year}: send them when the warehouse has that year "
                    "(the demo dataset is extended one year at a time)",
                )
            villages = tables("demo_villages")
            figures, report = read_village_figures(path, standard, year, villages, name=file_name, limits=import_limits)
            units = sorted(set(figures.table["unit_code"]))
            _check_units(user, units)
            rows = json.loads(figures.table.to_json(orient="records", force_ascii=False))
            return Checked(KIND, year, standard.id, units, rows, report)
        communes = tables("communes_2024")
        index = UnitIndex(communes, tables("districts_2024"))
        frame, report = import_indicators(path, index, limits=import_limits)
        report.file = file_name
        parent = communes.set_index(communes["code"].astype(str))["unit_2025_code"].astype(str)
        units = sorted(set(frame["unit_code"].astype(str).map(parent)))
        _check_units(user, units)
        years = sorted({int(y) for y in frame["year"]})
        standard_ids = sorted({standards.for_year(y).id for y in years})
        rows = json.loads(frame.to_json(orient="records", force_ascii=False))
        return Checked("commune_indicators", max(years), ", ".join(standard_ids), units, rows, report)


def _check_vector(
    tables: Tables, user: User, path: Path, file_name: str, kind: str | None, year: int, limits: ImportLimits
) -> Checked:
    """An infrastructure layer of the account's units: its features replace theirs in that layer."""
    if kind not in VECTOR_KINDS:
        raise InputDataError(
            file_name, f"an infrastructure layer needs its kind (field 'kind'): one of {', '.join(VECTOR_KINDS)}"
        )
    communes = tables("communes_2024")
    assert isinstance(communes, gpd.GeoDataFrame)
    frame, report = import_vector(path, kind, communes, limits=limits)
    report.file = file_name
    units = sorted(set(frame["unit_2025_code"].astype(str)))
    _check_units(user, units)
    table = pd.DataFrame(frame.drop(columns=frame.geometry.name)).assign(**{GEOMETRY: frame.geometry.to_wkt()})
    rows = json.loads(table.to_json(orient="records", force_ascii=False))
    return Checked(kind, year, "", units, rows, report)


def _check_register(tables: Tables, user: User, path: Path, file_name: str, year: int, limits: ImportLimits) -> Checked:
    """A programme register of the account's units: its projects replace those with the same ids (and the demo)."""
    from geo.programme_import import read_register

    crosswalk = tables("crosswalk_2025")
    to_2025 = dict(zip(crosswalk["old_code"].astype(str), crosswalk["new_code"].astype(str), strict=True))
    frame, report = read_register(path, unit_names(tables).to_dict(), to_2025, limits=limits)
    report.file = file_name
    frame["source"] = frame["source"].str.replace(path.name, Path(file_name).name, regex=False)
    unit = frame["unit_2025_code"].where(frame["unit_2025_code"].notna(), frame["commune_2024_code"].map(to_2025))
    units = sorted(set(unit.astype(str)))
    _check_units(user, units)
    rows = json.loads(frame.to_json(orient="records", force_ascii=False))
    return Checked(PROGRAMME_KIND, year, "", units, rows, report)


def submission_frame(submission: Submission) -> pd.DataFrame:
    """A submission's rows as the frame its import stores (a GeoDataFrame for infrastructure)."""
    frame = pd.DataFrame(submission.rows)
    for column in ("unit_code", "village_id", "unit_2025_code", "commune_2024_code"):
        if column in frame:  # codes as text; a missing code stays missing (a register row may name either)
            frame[column] = frame[column].map(lambda v: None if v is None or v != v else str(v))
    if GEOMETRY in frame:
        geometry = gpd.GeoSeries.from_wkt(frame.pop(GEOMETRY), crs="EPSG:4326")
        frame = gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")
        frame.attrs["units"] = list(submission.units)
    frame.attrs["year"] = submission.year
    return frame


def _check_units(user: User, units: list[str]) -> None:
    foreign = [u for u in units if not user.may_send(u)]
    if foreign:
        mine = ", ".join(user.units) or "none"
        raise UnitForbidden(
            f"account {user.username!r} may not send figures for unit(s) {', '.join(foreign)} "
            f"(assigned: {mine}) / tài khoản không được giao đơn vị {', '.join(foreign)}"
        )


def report_json(report: ImportReport) -> dict[str, Any]:
    """A validation report as JSON: details and one line per observation (row, status, message)."""
    return {
        "file": report.file,
        "details": report.details,
        "errors": len(report.errors),
        "lines": [{"row": line.row, "status": line.status, "message": line.message} for line in report.lines],
    }


def submit(store: AccountStore, user: User, checked: Checked, file_name: str, data: bytes, address: str) -> Submission:
    """Store a checked upload as a pending submission and record it in the audit log."""
    submission = store.add_submission(
        user,
        kind=checked.kind,
        year=checked.year,
        standard=checked.standard,
        units=checked.units,
        file_name=Path(file_name).name[:200],
        original=data,
        rows=checked.rows,
        report=report_json(checked.report),
    )
    store.record(
        user.username,
        "upload",
        f"submission {submission.id}",
        f"{file_name}: {checked.kind} {checked.year}, units {', '.join(checked.units)}, {len(checked.rows)} row(s)",
        address,
    )
    return submission


# ---------------------------------------------------------------------------------------------- review


def comparison(tables: Tables, submission: Submission, max_rate_change: float) -> list[dict[str, Any]]:
    """Per unit and indicator: the published value, the value once approved, the difference, and a flag when
    the poverty rate would move more than max_rate_change points from the published year before (or this year)."""
    if submission.kind in VECTOR_KINDS:
        layer = tables(submission.kind)
        names = unit_names(tables)
        sent = pd.DataFrame(submission.rows)
        return [
            _line(
                unit,
                names.get(unit, ""),
                submission.kind,
                int((layer["unit_2025_code"].astype(str) == unit).sum()),
                int((sent["unit_2025_code"].astype(str) == unit).sum()),
            )
            for unit in submission.units
        ]
    if submission.kind == PROGRAMME_KIND:
        return _register_comparison(tables, submission)
    if submission.kind != KIND:
        return _commune_comparison(tables, submission, max_rate_change)
    years = tables("village_indicators")
    villages = tables("demo_villages")[["village_id", "unit_2025_code"]]
    current = years[years["year"] == submission.year].merge(villages, on="village_id")
    sent = pd.DataFrame(submission.rows).astype({"village_id": str})
    names = unit_names(tables)
    published = tables("commune_indicators")
    before = published[(published["vintage"] == "2025") & (published["year"] == submission.year - 1)]
    before_rate = before.set_index(before["unit_code"].astype(str))["poor_rate"]
    deprived = tables("village_deprivations")
    deprived = deprived[deprived["year"] == submission.year]
    out = []
    for unit in submission.units:
        old = current[current["unit_2025_code"] == unit]
        new = old.set_index("village_id")[list(COUNTS)].copy()
        mine = sent[sent["unit_code"] == unit].set_index("village_id")
        new.loc[mine.index.intersection(new.index), list(COUNTS)] = mine[list(COUNTS)].astype("int64")
        old_sums, new_sums = old[list(COUNTS)].sum(), new.sum()
        for indicator in COUNTS:
            out.append(_line(unit, names.get(unit, ""), indicator, old_sums[indicator], new_sums[indicator]))
        old_rate = _rate(old_sums["poor_households"], old_sums["households"])
        new_rate = _rate(new_sums["poor_households"], new_sums["households"])
        line = _line(unit, names.get(unit, ""), "poor_rate", old_rate, new_rate)
        prior = before_rate.get(unit)
        line["previous_year"] = None if prior is None or pd.isna(prior) else round(float(prior), 2)
        line["flag"] = _flag(new_rate, old_rate, line["previous_year"], max_rate_change, submission.year)
        out.append(line)
        line["villages"] = len(mine)
        out += _deprivation_lines(deprived, submission, unit, names.get(unit, ""), old["village_id"], mine)
    return out


def _deprivation_lines(
    published: pd.DataFrame, submission: Submission, unit: str, name: str, villages: pd.Series, sent: pd.DataFrame
) -> list[dict[str, Any]]:
    """Households deprived in each indicator of the unit: published against once approved (sent indicators)."""
    columns = [c for c in sent.columns if c.startswith("deprived_") and sent[c].notna().any()]
    if not columns:
        return []
    mine = published[published["village_id"].isin(set(villages))]
    labels = {
        ind.id: f"Thiếu hụt: {ind.vi} / Deprived: {ind.en}"
        for ind in Standards.load().get(submission.standard).indicators
    }
    out = []
    for column in columns:
        indicator = column.removeprefix("deprived_")
        rows = mine[mine["indicator"] == indicator].set_index("village_id")["households_deprived"].astype("float64")
        given = sent[column].dropna().astype("float64")
        after = rows.copy()
        after.loc[given.index.intersection(after.index)] = given
        line = _line(unit, name, column, rows.sum() if len(rows) else None, after.sum() if len(after) else given.sum())
        line["label"] = labels.get(indicator, column)
        out.append(line)
    return out


def _register_comparison(tables: Tables, submission: Submission) -> list[dict[str, Any]]:
    """Per unit: projects, approved and disbursed VND in the register now and once approved (the demo register,
    flagged synthetic, is replaced whole by the first real one; a real one keeps the projects not sent again)."""
    from geo.programme_import import split_register

    published = tables("programme_projects")
    sent = submission_frame(submission)
    register, paid = split_register(sent)
    crosswalk = tables("crosswalk_2025")
    to_2025 = dict(zip(crosswalk["old_code"].astype(str), crosswalk["new_code"].astype(str), strict=True))
    register["unit"] = register["unit_2025_code"].where(
        register["unit_2025_code"].notna(), register["commune_2024_code"].map(to_2025)
    )
    register["budget"] = register[["budget_central", "budget_provincial", "budget_other"]].astype(float).sum(axis=1)
    register["paid"] = register["project_id"].map(paid.groupby("project_id")["amount"].sum()).fillna(0.0)
    kept = published.iloc[:0] if published["synthetic"].astype(bool).all() else published
    kept = kept[~kept["project_id"].isin(register["project_id"])]
    names = unit_names(tables)
    out = []
    for unit in submission.units:
        old = published[published["unit_2025_code"] == unit]
        new_kept, new_sent = kept[kept["unit_2025_code"] == unit], register[register["unit"] == unit]
        for indicator, before, after in (
            ("programme_projects", len(old), len(new_kept) + len(new_sent)),
            ("budget_total", old["budget_total"].sum(), new_kept["budget_total"].sum() + new_sent["budget"].sum()),
            ("disbursed_vnd", old["disbursed_vnd"].sum(), new_kept["disbursed_vnd"].sum() + new_sent["paid"].sum()),
        ):
            out.append(_line(unit, names.get(unit, ""), indicator, before, after))
    return out


def _commune_comparison(tables: Tables, submission: Submission, max_rate_change: float) -> list[dict[str, Any]]:
    published = tables("commune_indicators")
    mine = published[published["vintage"] == "2024"].copy()
    mine["unit_code"] = mine["unit_code"].astype(str)
    index = mine.set_index(["unit_code", "year"])
    out = []
    for row in submission.rows:
        key = (str(row["unit_code"]), int(row["year"]))
        old = index.loc[key] if key in index.index else None
        for indicator in ("households", "poor_households", "near_poor_households"):
            if row.get(indicator) is None:
                continue
            before = None if old is None else old[indicator]
            line = _line(
                f"{key[0]} ({key[1]})",
                str(old["unit_name"]) if old is not None else "",
                indicator,
                before,
                row[indicator],
            )
            out.append(line)
        if row.get("households") and row.get("poor_households") is not None and old is not None:
            new_rate = _rate(row["poor_households"], row["households"])
            line = _line(f"{key[0]} ({key[1]})", str(old["unit_name"]), "poor_rate", old["poor_rate"], new_rate)
            line["flag"] = _flag(new_rate, old["poor_rate"], None, max_rate_change, key[1])
            out.append(line)
    return out


def _rate(poor: float, households: float) -> float | None:
    return round(100 * float(poor) / float(households), 2) if households else None


def _number(value: Any) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return float(value)


LABELS = {
    **{name: f"{vi} / {en}" for name, (vi, en) in COUNT_HEADERS.items()},
    **{kind: f"Số đối tượng {kind} / {kind} features" for kind in VECTOR_KINDS},
    "poor_rate": "Tỷ lệ hộ nghèo (%) / Poverty rate (%)",
    "programme_projects": "Số dự án CT MTQG / programme projects",
    "budget_total": "Tổng vốn (đồng) / budget (VND)",
    "disbursed_vnd": "Đã giải ngân (đồng) / disbursed (VND)",
}


def _line(unit: str, name: str, indicator: str, old: Any, new: Any) -> dict[str, Any]:
    o, n = _number(old), _number(new)
    return {
        "unit_code": unit,
        "unit_name": name,
        "indicator": indicator,
        "label": LABELS.get(indicator, indicator),
        "published": o,
        "submitted": n,
        "difference": None if o is None or n is None else round(n - o, 2),
        "flag": "",
    }


def _flag(new: float | None, same_year: Any, previous: float | None, limit: float, year: int) -> str:
    if new is None:
        return ""
    if previous is not None and abs(new - previous) > limit:
        moved = f"{new - previous:+.2f}"
        return f"tỷ lệ nghèo đổi {moved} điểm so với {year - 1} / poverty rate moves {moved} points from {year - 1}"
    same = _number(same_year)
    if same is not None and abs(new - same) > limit:
        moved = f"{new - same:+.2f}"
        return f"tỷ lệ nghèo đổi {moved} điểm so với số đã công bố / moves {moved} points from the published {year}"
    return ""


# ---------------------------------------------------------------------------------------------- releases


def record_release(
    store: AccountStore,
    published: Publish,
    warehouse: Path,
    *,
    username: str,
    action: str,
    summary: str,
    submission_id: int | None = None,
) -> Release:
    """Record who made a publish and why, with the file's checksum; the audit log gets a line too."""
    path = Path(warehouse)
    release = Release(
        number=published.number,
        published_at=published.published_at.astimezone(UTC).replace(microsecond=0).isoformat(),
        username=username,
        action=action,
        summary=summary,
        submission_id=submission_id,
        rollback_of=published.rollback_of,
        fingerprint=published.fingerprint,
        built_at=published.built_at,
        sha256=sha256_file(path) if path.is_file() else "",
        size=path.stat().st_size if path.is_file() else 0,
    )
    kept = store.add_release(release)
    store.record(username, "release", f"release {published.number}", f"{action}: {summary}")
    return kept


@dataclass(frozen=True)
class ReleaseView(Release):
    """A release as listed: its record (or what the publish says, for builds made before releases existed)."""

    current: bool
    kept: bool  # its file can still be downloaded (ATLAS_KEEP_PUBLISHES)

    def as_json(self, base: str) -> dict[str, Any]:
        """JSON of the release with its download link when kept."""
        out = dict(self.__dict__)
        out["download"] = f"{base}/releases/{self.number}/warehouse.gpkg" if self.kept else None
        return out


def release_views(store: AccountStore, publisher: Publisher) -> list[ReleaseView]:
    """Every release, newest first: recorded ones and publishes made before releases were recorded."""
    recorded = store.releases_by_number()
    kept = {p.number: p for p in publisher.publishes()}
    out = []
    for number in sorted(set(recorded) | set(kept), reverse=True):
        pub = kept.get(number)
        rec = recorded.get(number)
        if rec is not None:
            out.append(ReleaseView(**rec.__dict__, current=bool(pub and pub.current), kept=pub is not None))
        elif pub is not None:
            out.append(
                ReleaseView(
                    number=number,
                    published_at=pub.published_at.astimezone(UTC).replace(microsecond=0).isoformat(),
                    username="atlas build",
                    action="rollback" if pub.rollback_of else "build",
                    summary="built before releases were recorded"
                    if not pub.rollback_of
                    else f"rollback to {pub.rollback_of}",
                    submission_id=None,
                    rollback_of=pub.rollback_of,
                    fingerprint=pub.fingerprint,
                    built_at=pub.built_at,
                    sha256="",
                    size=0,
                    current=pub.current,
                    kept=True,
                )
            )
    return out


def serving_release(store: AccountStore, publisher: Publisher, info: dict[str, str]) -> dict[str, Any] | None:
    """The release a build is (number and date), matched by fingerprint and build time; None if unpublished."""
    current = publisher.current()
    if current is None or (current.fingerprint, current.built_at) != (info.get("fingerprint"), info.get("built_at")):
        for pub in publisher.publishes():
            if (pub.fingerprint, pub.built_at) == (info.get("fingerprint"), info.get("built_at")):
                current = pub
                break
        else:
            return None
    return {
        "number": current.number,
        "published_at": current.published_at.astimezone(UTC).replace(microsecond=0).isoformat(),
    }


# ---------------------------------------------------------------------------------------------- approval


def approve(
    settings: DataSettings,
    store: AccountStore,
    number: int,
    reviewer: User,
    address: str = "",
    on_step: Callable[[str], None] = lambda _: None,
) -> tuple[Submission, Release]:
    """Apply a pending submission: import its rows (its own units only), rebuild, publish, mark it approved."""
    from layers.build import import_rows

    submission = store.submission(number)
    if submission.status != "pending":
        raise AccountError(f"submission {number} is {submission.status}, not pending")
    frame = submission_frame(submission)
    store.record(reviewer.username, "approve", f"submission {number}", "rebuilding the warehouse", address)
    with tempfile.TemporaryDirectory(prefix="atlas-approve-") as folder:
        suffix = Path(submission.file_name).suffix.lower()
        source = Path(folder) / f"submission-{number}{suffix if suffix in SUFFIXES else '.csv'}"
        source.write_bytes(store.original(number))
        options = {"submission": str(number), "year": str(submission.year), "standard": submission.standard}
        if submission.kind in VECTOR_KINDS:
            options = {"submission": str(number), "units": ",".join(submission.units)}
        import_rows(settings, submission.kind, source, frame, options, on_step=on_step, on_wait=on_step)
    return _finish(settings, store, submission, reviewer)


def _finish(
    settings: DataSettings, store: AccountStore, submission: Submission, reviewer: User
) -> tuple[Submission, Release]:
    publisher = publisher_for(settings.warehouse, settings)
    published = _publish(publisher, settings.warehouse)
    checkpoint("intake:published")
    summary = (
        f"submission {submission.id} by {submission.username}: {submission.kind} {submission.year} for unit(s) "
        f"{', '.join(submission.units)} ({len(submission.rows)} row(s)), approved by {reviewer.username}"
    )
    release = record_release(
        store,
        published,
        settings.warehouse,
        username=reviewer.username,
        action="submission",
        summary=summary,
        submission_id=submission.id,
    )
    decided = store.decide(submission.id, "approved", reviewer, "", release.number)
    return decided, release


def _publish(publisher: Publisher, warehouse: Path) -> Publish:
    info = read_build_info(warehouse) or {}
    current = publisher.current()
    if current is not None and current.fingerprint == info.get("fingerprint"):
        return current
    return publisher.publish(warehouse)


def reject(store: AccountStore, number: int, reviewer: User, reason: str, address: str = "") -> Submission:
    """Reject a pending submission with a reason the officer sees."""
    if not reason.strip():
        raise AccountError("a rejection needs a reason the officer can act on")
    done = store.decide(number, "rejected", reviewer, reason.strip())
    store.record(reviewer.username, "reject", f"submission {number}", reason.strip(), address)
    return done


def reconcile(settings: DataSettings, store: AccountStore) -> list[str]:
    """Finish approvals a dead process left half-recorded: a pending submission whose rows the warehouse already
    applied (its import is stored) is published and marked approved. Says what it did."""
    done = []
    stored = {e.options.get("submission"): e for e in ImportStore(settings.imports_dir).entries()}
    for submission in store.submissions("pending"):
        if str(submission.id) not in stored:
            continue
        approving = [
            a for a in store.audit_log(limit=200, action="approve") if a.target == f"submission {submission.id}"
        ]
        reviewer = store.user(approving[0].username) if approving else store.user(submission.username)
        _finish(settings, store, submission, reviewer)
        done.append(f"submission {submission.id}: its rebuild had committed; published and marked approved")
    return done


def rollback(settings: DataSettings, store: AccountStore, to: int, username: str, address: str = "") -> Release:
    """Serve release `to` again as a new release (history is never deleted)."""
    publisher = publisher_for(settings.warehouse, settings)
    published = publisher.rollback(to)
    store.record(username, "rollback", f"release {to}", f"served again as release {published.number}", address)
    return record_release(
        store, published, settings.warehouse, username=username, action="rollback", summary=f"rollback to release {to}"
    )


def release_file(settings: DataSettings, publisher: Publisher, number: int, cache: Path) -> Path:
    """The GeoPackage of a kept release (LookupError when it was not kept)."""
    from layers.publish import GeoPackagePublisher, download_schema

    found = [p for p in publisher.publishes() if p.number == number]
    if not found:
        raise LookupError(number)
    if isinstance(publisher, GeoPackagePublisher):
        return publisher.folder / found[0].schema
    assert settings.database_url
    return download_schema(settings.database_url, found[0].schema, cache)
