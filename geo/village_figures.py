"""Village figures of the annual poverty review on the 2025 units: the template's columns, reading a filled
template back, and laying imported figures over the village rows of a year.

A commune office fills one row per village (thôn, bản): households, poor, near-poor and ethnic-minority
households, and the households deprived in each indicator of the poverty standard in force that year (the
indicator set changes in 2027). The unit's totals are the sums of its villages, so figures sent for some
units change those units' rows only. Counts only: a file with household-level columns (names, ID numbers,
dates of birth) is refused as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl.utils import get_column_letter

from geo.errors import InputDataError
from geo.importing import ImportFailed, ImportLimits, ImportReport
from geo.names import fold_ascii
from geo.policy import Standard
from geo.spreadsheets import Cell, read_grid

KIND = "village_figures"
COUNTS = ("households", "poor_households", "near_poor_households", "ethnic_minority_households")
KEY_COLUMNS = {  # field: (Vietnamese header, English header)
    "village_id": ("Mã thôn", "Village id"),
    "unit_code": ("Mã xã", "Unit code"),
    "unit_name": ("Tên xã", "Unit"),
    "village_name": ("Tên thôn, bản", "Village"),
}
COUNT_HEADERS = {
    "households": ("Tổng số hộ", "Households"),
    "poor_households": ("Số hộ nghèo", "Poor households"),
    "near_poor_households": ("Số hộ cận nghèo", "Near-poor households"),
    "ethnic_minority_households": ("Số hộ dân tộc thiểu số", "Ethnic-minority households"),
}
DEPRIVED_PREFIX = ("Số hộ thiếu hụt", "Households deprived")
# headers of household-level lists: the atlas holds counts only, never personal data
PERSONAL = (
    "ho va ten",
    "ho ten",
    "ten chu ho",
    "chu ho",
    "cccd",
    "cmnd",
    "can cuoc",
    "chung minh",
    "so dinh danh",
    "ngay sinh",
    "nam sinh",
    "so dien thoai",
    "full name",
    "head of household",
    "id number",
    "identity card",
    "date of birth",
    "phone",
)
HEADER_SCAN = 12


def header(vi: str, en: str) -> str:
    """A column header: Vietnamese first, English beside it."""
    return f"{vi} / {en}"


def deprived_column(indicator: str) -> str:
    """The field of the households deprived in an indicator."""
    return f"deprived_{indicator}"


def columns_for(standard: Standard) -> dict[str, str]:
    """Every field of the template of a standard with its header, in order."""
    out = {name: header(*pair) for name, pair in KEY_COLUMNS.items()}
    out |= {name: header(*pair) for name, pair in COUNT_HEADERS.items()}
    for ind in standard.indicators:
        out[deprived_column(ind.id)] = header(f"{DEPRIVED_PREFIX[0]}: {ind.vi}", f"{DEPRIVED_PREFIX[1]}: {ind.en}")
    return out


def template_rows(villages: pd.DataFrame, unit_names: pd.Series, units: list[str]) -> pd.DataFrame:
    """The villages of some 2025 units, listed for the template (village_id, unit_code, unit_name, village_name)."""
    chosen = villages[villages["unit_2025_code"].isin(units)]
    out = pd.DataFrame(
        {
            "village_id": chosen["village_id"].astype(str),
            "unit_code": chosen["unit_2025_code"].astype(str),
            "unit_name": chosen["unit_2025_code"].map(unit_names).fillna(""),
            "village_name": chosen["name"].astype(str),
        }
    )
    return out.sort_values(["unit_code", "village_name", "village_id"]).reset_index(drop=True)


@dataclass
class VillageFigures:
    """Figures of one year for some villages, from one file: what a submission holds and a build applies."""

    source: str
    year: int
    standard: str
    table: pd.DataFrame  # village_id, unit_code, the counts and deprived_<indicator> columns
    notes: list[str] = field(default_factory=list)


def _key(text: str) -> str:
    return " ".join(fold_ascii(text).replace("/", " / ").split())


def header_texts(rows: list[list[Cell]]) -> list[str]:
    """Texts of the cells that can be column headers: in rows of three or more cells, up to 80 characters."""
    out = []
    for row in rows[:HEADER_SCAN]:
        filled = [c.text.strip() for c in row if c.text.strip()]
        if len(filled) >= 3:
            out += [t for t in filled if len(t) <= 80]
    return out


def personal_columns(texts: list[str]) -> list[str]:
    """Header texts that look like household-level personal data."""
    found = []
    for text in texts:
        folded = _key(text)
        if any(term in folded for term in PERSONAL):
            found.append(text.strip())
    return found


def refuse_personal(name: str, rows: list[list[Cell]]) -> None:
    """InputDataError naming the columns when a file's headers look like a household-level list."""
    if personal := personal_columns(header_texts(rows)):
        raise InputDataError(
            name,
            "holds household-level columns (" + ", ".join(repr(p) for p in personal[:5]) + "); the atlas stores "
            "counts per village only / tệp có cột thông tin cá nhân của hộ, hệ thống chỉ nhận số lượng hộ theo thôn: "
            "remove those columns or use the template",
            column=personal[0],
        )


def _match_columns(row: list[Cell], fields: dict[str, str]) -> dict[int, str]:
    """Columns of a header row mapped to fields by their Vietnamese or English header."""
    by_text: dict[str, str] = {}
    for name, text in fields.items():
        vi, en = text.split(" / ", 1)
        by_text[_key(text)] = name
        by_text[_key(vi)] = name
        by_text[_key(en)] = name
        by_text[_key(name)] = name
    return {i: by_text[_key(c.text)] for i, c in enumerate(row) if c.text.strip() and _key(c.text) in by_text}


def _count(cell: Cell | None) -> int | str | None:
    """An integer count, None for an empty cell, or the reason it is not a count."""
    if cell is None or not cell.text.strip():
        return None
    value = cell.number
    if value is None:
        text = cell.text.strip().replace(".", "").replace(",", "").replace(" ", "")
        if not text.lstrip("-").isdigit():
            return f"{cell.text.strip()!r} is not a number"
        value = float(text)
    if value < 0:
        return f"{value:g} is negative"
    if not float(value).is_integer():
        return f"{value:g} is not a whole number of households"
    return int(value)


def read_village_figures(
    path: Path,
    standard: Standard,
    year: int,
    villages: pd.DataFrame,
    *,
    name: str | None = None,
    limits: ImportLimits | None = None,
) -> tuple[VillageFigures, ImportReport]:
    """Read a filled template (XLSX or CSV) for `year` into village rows; ImportFailed lists every problem.

    `villages` holds the known villages (village_id, unit_2025_code). Rows whose figure cells are all empty are
    left out (their published values stay); rows with some figures need all four counts.
    """
    path = Path(path)
    shown = name or path.name
    limits = limits or ImportLimits()
    limits.check_size(path)
    grid = read_grid(path, max_rows=limits.max_rows)
    fields = columns_for(standard)
    refuse_personal(shown, grid.rows)
    best: tuple[int, dict[int, str]] | None = None
    for i, row in enumerate(grid.rows[:HEADER_SCAN]):
        mapped = _match_columns(row, fields)
        if "village_id" in mapped.values() and (best is None or len(mapped) > len(best[1])):
            best = (i, mapped)
    if best is None:
        raise InputDataError(
            shown, "no 'Mã thôn / Village id' column in the first rows: use the template downloaded from the atlas"
        )
    header_row, columns = best
    report = ImportReport(shown, KIND)
    report.details["year"] = str(year)
    report.details["standard"] = standard.id
    report.details["columns"] = ", ".join(f"{c + 1}:{f}" for c, f in sorted(columns.items()))
    missing = [f for f in COUNTS if f not in columns.values()]
    if missing:
        raise InputDataError(
            shown, "missing column(s) " + ", ".join(repr(fields[f]) for f in missing) + ": use the template"
        )
    expected = [f for f in fields if f.startswith("deprived_")]
    absent = [f for f in expected if f not in columns.values()]
    if absent:
        report.add(
            "columns",
            "warning",
            f"thiếu cột của {len(absent)} chỉ số, giữ số đã công bố / no column for {len(absent)} indicator(s) of "
            f"{standard.id} ("
            + ", ".join(a.removeprefix("deprived_") for a in absent[:4])
            + "): the published deprivation counts of those indicators stay",
        )
    known = villages.set_index(villages["village_id"].astype(str))["unit_2025_code"].astype(str).to_dict()
    letters = {f: get_column_letter(c + 1) for c, f in columns.items()}
    records: list[dict[str, object]] = []
    seen: dict[str, int] = {}
    for offset, row in enumerate(grid.rows[header_row + 1 :]):
        line = header_row + offset + 2  # 1-based row number as the spreadsheet shows it
        cells = {f: (row[c] if c < len(row) else None) for c, f in columns.items()}
        vid_cell = cells.get("village_id")
        vid = (vid_cell.text.strip() if vid_cell else "").removesuffix(".0")
        figures = {f: _count(cells.get(f)) for f in fields if f in COUNTS or f.startswith("deprived_")}
        if not vid and all(v is None for v in figures.values()):
            continue  # an empty line
        if not vid:
            report.add(
                line,
                "error",
                f"cột {letters['village_id']} (Mã thôn) trống: chép dòng từ mẫu, không tự thêm thôn / "
                f"column {letters['village_id']} (Village id) is empty: copy the row from the template, do not type "
                "new villages",
            )
            continue
        if vid not in known:
            report.add(
                line,
                "error",
                f"cột {letters['village_id']}: mã thôn {vid!r} không có trong hệ thống, không sửa cột Mã thôn, tải mẫu "
                f"mới / column {letters['village_id']}: village id {vid!r} is not a village of the atlas: do not "
                "change the village ids; download a new template",
            )
            continue
        if vid in seen:
            report.add(
                line,
                "error",
                f"thôn {vid} đã có ở dòng {seen[vid]}, mỗi thôn một dòng / village {vid} is also on row {seen[vid]}: "
                "keep one row per village",
            )
            continue
        seen[vid] = line
        if all(v is None for v in figures.values()):
            report.add(line, "skipped", f"thôn {vid} để trống, giữ số đã công bố / no figures, published values stay")
            continue
        problems = False
        for f, value in figures.items():
            if isinstance(value, str):
                report.add(
                    line,
                    "error",
                    f"cột / column {letters.get(f, '?')} ({fields[f]}): {value}; ghi số hộ là số nguyên, 0 nếu không "
                    "có / write a whole number of households, 0 if none",
                )
                problems = True
            elif value is None and f in COUNTS:
                report.add(
                    line,
                    "error",
                    f"cột / column {letters.get(f, '?')} ({fields[f]}) trống, ghi 0 nếu không có / is empty: write 0 "
                    "if none",
                )
                problems = True
        if problems:
            continue
        hh, poor, near, em = (int(figures[f]) for f in COUNTS)  # type: ignore[arg-type]
        if poor > hh:
            report.add(
                line,
                "error",
                f"số hộ nghèo {poor} lớn hơn tổng số hộ {hh} (cột {letters['poor_households']}), kiểm tra hai ô / "
                f"poor households {poor} exceed households {hh} (column {letters['poor_households']}): check both "
                "cells",
            )
            continue
        if poor + near > hh:
            report.add(
                line,
                "error",
                f"hộ nghèo ({poor}) cộng cận nghèo ({near}) lớn hơn tổng số hộ {hh}, mỗi hộ chỉ tính một lần / "
                f"poor ({poor}) and near-poor ({near}) households exceed households {hh}: a household is counted "
                "in one of them at most",
            )
            continue
        if em > hh:
            report.add(
                line,
                "error",
                f"số hộ dân tộc thiểu số {em} lớn hơn tổng số hộ {hh} / ethnic-minority households {em} exceed "
                f"households {hh} (column {letters['ethnic_minority_households']})",
            )
            continue
        over = [f for f, v in figures.items() if f.startswith("deprived_") and isinstance(v, int) and v > hh]
        if over:
            report.add(
                line,
                "error",
                f"cột / column {letters[over[0]]} ({fields[over[0]]}): {figures[over[0]]} hộ thiếu hụt, nhiều hơn "
                f"{hh} hộ của thôn / households deprived, more than the {hh} households of the village",
            )
            continue
        records.append({"village_id": vid, "unit_code": known[vid], **figures})
    if report.errors:
        raise ImportFailed(report)
    if not records:
        report.add(
            "file",
            "error",
            "chưa thôn nào có số liệu / no village has figures: fill the counts of at least one village",
        )
        raise ImportFailed(report)
    table = pd.DataFrame(records)
    for f in table.columns:
        if f in COUNTS or f.startswith("deprived_"):
            table[f] = table[f].astype("Int64")
    for rec in records:
        report.add(seen[str(rec["village_id"])], "imported", f"village {rec['village_id']} ({rec['unit_code']})")
    return VillageFigures(f"intake: {shown}", year, standard.id, table), report


def apply_village_figures(
    village_years: pd.DataFrame, deprivations: pd.DataFrame, imports: list[VillageFigures]
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Lay imported village figures over the village rows and deprivation counts of their year (later imports win).

    Village rows gain `source`; imported rows are not synthetic. The deprived households of an indicator
    replace the demo count; its split into poor and near-poor households keeps the demo shares, capped by
    the village's poor and near-poor counts (an estimate, said in the notes).
    """
    years = village_years.copy()
    if "source" not in years:
        years["source"] = np.where(years["synthetic"].astype(bool), "demo", "")
    dep = deprivations.copy()
    notes: list[str] = []
    for imp in imports:
        rows = imp.table.set_index("village_id")
        target = years.index[(years["year"] == imp.year) & years["village_id"].astype(str).isin(rows.index)]
        if len(target) == 0:
            notes.append(f"{imp.source}: no village rows of {imp.year} to replace; not applied")
            continue
        ids = years.loc[target, "village_id"].astype(str)
        for f in COUNTS:
            years.loc[target, f] = rows.loc[ids, f].to_numpy(dtype="int64")
        years.loc[target, "synthetic"] = False
        years.loc[target, "source"] = imp.source
        deprived = [c for c in rows.columns if c.startswith("deprived_")]
        changed = 0
        for column in deprived:
            indicator = column.removeprefix("deprived_")
            given = rows[column].dropna()
            mask = (
                (dep["year"] == imp.year)
                & (dep["indicator"] == indicator)
                & dep["village_id"].astype(str).isin(given.index)
            )
            if not mask.any():
                continue
            at = dep.index[mask]
            vids = dep.loc[at, "village_id"].astype(str)
            new = given.loc[vids].to_numpy(dtype="int64")
            old = dep.loc[at, "households_deprived"].to_numpy(dtype="float64")
            share_poor = np.where(old > 0, dep.loc[at, "poor_households_deprived"].to_numpy() / np.maximum(old, 1), 0)
            share_near = np.where(
                old > 0, dep.loc[at, "near_poor_households_deprived"].to_numpy() / np.maximum(old, 1), 0
            )
            poor = rows.loc[vids, "poor_households"].to_numpy(dtype="int64")
            near = rows.loc[vids, "near_poor_households"].to_numpy(dtype="int64")
            poor_dep = np.minimum(np.round(new * share_poor), poor).astype("int64")
            near_dep = np.minimum(np.minimum(np.round(new * share_near), near), new - poor_dep).astype("int64")
            dep.loc[at, "households_deprived"] = new
            dep.loc[at, "poor_households_deprived"] = poor_dep
            dep.loc[at, "near_poor_households_deprived"] = near_dep
            changed += len(at)
        notes.append(
            f"{imp.source}: {len(target)} village row(s) of {imp.year} replace demo values"
            + (
                f"; {changed} deprivation count(s) replaced (their poor/near-poor split estimated from demo shares)"
                if changed
                else ""
            )
        )
    return years, dep, notes
