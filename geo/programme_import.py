"""Reading a programme register as offices keep it (CSV or XLSX): one row per project, one column per quarter of
disbursement, Vietnamese headers with the money unit in them, and the template such a file starts from."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from geo.errors import InputDataError
from geo.importing import ImportFailed, ImportLimits, ImportReport
from geo.names import fold_ascii
from geo.programme import COMPONENTS, PROGRAMMES, STATUSES, Quarter, check_register
from geo.spreadsheets import Cell, parse_table, read_grid

# field: (Vietnamese header, English header), in the template's order; money in million VND (triệu đồng)
HEADERS: dict[str, tuple[str, str]] = {
    "project_id": ("Mã dự án", "Project id"),
    "name": ("Tên dự án, gói hỗ trợ", "Project or package"),
    "programme": ("Chương trình (1719, GNBV, NTM, MTQG-2026)", "Programme"),
    "component": ("Hạng mục", "Component"),
    "unit_2025_code": ("Mã xã, phường 2025", "2025 unit code"),
    "commune_2024_code": ("Mã xã cũ (trước 01/7/2025)", "Pre-merger commune code"),
    "village_name": ("Thôn, bản", "Village"),
    "lon": ("Kinh độ", "Longitude"),
    "lat": ("Vĩ độ", "Latitude"),
    "budget_central": ("Vốn trung ương (triệu đồng)", "Central budget (million VND)"),
    "budget_provincial": ("Vốn địa phương (triệu đồng)", "Provincial budget (million VND)"),
    "budget_other": ("Vốn khác (triệu đồng)", "Other sources (million VND)"),
    "status": ("Trạng thái", "Status"),
    "proposed_date": ("Ngày đề xuất", "Proposed on"),
    "approved_date": ("Ngày phê duyệt", "Approved on"),
    "completed_date": ("Ngày hoàn thành", "Completed on"),
    "cancelled_date": ("Ngày hủy", "Cancelled on"),
    "output_value": ("Khối lượng hoàn thành", "Output"),
    "output_unit": ("Đơn vị tính", "Output unit"),
    "beneficiary_households": ("Số hộ hưởng lợi", "Beneficiary households"),
    "beneficiary_poor": ("Trong đó hộ nghèo", "of which poor"),
    "beneficiary_near_poor": ("Trong đó hộ cận nghèo", "of which near-poor"),
    "candidate_key": ("Mã dự án đề xuất (atlas)", "Atlas candidate key"),
    "note": ("Ghi chú", "Note"),
}
MONEY = ("budget_central", "budget_provincial", "budget_other")
NUMBERS = ("lon", "lat", "output_value", "beneficiary_households", "beneficiary_poor", "beneficiary_near_poor")
NUMERIC_FIELDS = (*MONEY, *NUMBERS)
DATES = ("proposed_date", "approved_date", "completed_date", "cancelled_date")
# (field, patterns on the accent-free, lower-case header), first match wins
PATTERNS: tuple[tuple[str, str], ...] = (
    ("ignore", r"^(stt|tt|ghi chu|note)\b"),
    ("candidate_key", r"de xuat \(?atlas|candidate key"),
    ("project_id", r"^ma du an|^project id"),
    ("name", r"^ten du an|^project or package|^ten\b|^name$"),
    ("programme", r"^chuong trinh|^programme"),
    ("component", r"^hang muc|^linh vuc|^component"),
    ("commune_2024_code", r"^ma xa cu|truoc (sap nhap|01 7 2025)|pre merger"),
    ("unit_2025_code", r"^ma (xa|dvhc|don vi)|unit code"),
    ("village_name", r"^thon|^ban\b|^village"),
    ("lon", r"^kinh do|^longitude|^lon$"),
    ("lat", r"^vi do|^latitude|^lat$"),
    ("budget_central", r"trung uong|central"),
    ("budget_provincial", r"dia phuong|ngan sach tinh|provincial"),
    ("budget_other", r"von khac|huy dong|other source"),
    ("status", r"^trang thai|^tinh trang|^status"),
    ("proposed_date", r"ngay de xuat|proposed on"),
    ("approved_date", r"ngay (phe )?duyet|approved on"),
    ("completed_date", r"ngay hoan thanh|completed on"),
    ("cancelled_date", r"ngay (huy|dung)|cancelled on"),
    ("output_unit", r"^don vi tinh|^dvt\b|output unit"),
    ("output_value", r"khoi luong|^output"),
    ("beneficiary_near_poor", r"can ngheo|near poor"),
    ("beneficiary_poor", r"ho ngheo|of which poor"),
    ("beneficiary_households", r"ho huong loi|beneficiar"),
)
_QUARTER_IN_HEADER = re.compile(r"(?:q\s*([1-4])\s*(?:nam\s*)?(20\d\d))|(?:(20\d\d)\s*q\s*([1-4]))")
SCALES = ((r"trieu dong|trieu vnd|million", 1e6), (r"ty dong|ti dong|billion|\bty\b", 1e9), (r"\bdong\b|\bvnd\b", 1.0))
PROGRAMME_ALIASES = ((r"1719|dan toc|dtts", "1719"), (r"gnbv|giam ngheo", "GNBV"), (r"ntm|nong thon moi", "NTM"),
                     (r"mtqg 2026|2026 2035|hop nhat|merged", "MTQG-2026"))  # fmt: skip
STATUS_ALIASES = (
    (r"^(proposed|de xuat)", "proposed"),
    (r"^(approved|(da )?phe duyet|(da )?duyet)", "approved"),
    (r"^(under construction|dang (thi cong|trien khai|thuc hien))", "under_construction"),
    (r"^(completed|(da )?hoan thanh)", "completed"),
    (r"^(cancelled|(da )?huy|dung)", "cancelled"),
)
UNIT_ALIASES = (
    (r"^km$|^kilomet", "km"),
    (r"^(houses?|nha|can( nha)?)$", "houses"),
    (r"^(households?|ho)$", "households"),
    (r"^(people|persons?|nguoi|lao dong|hoc vien)$", "people"),
    (r"^(classrooms?|phong( hoc)?|lop( hoc)?)$", "classrooms"),
    (r"^(works?|cong trinh|cai|chiec)$", "works"),
)


def _key(text: str) -> str:
    return " ".join(re.sub(r"[()%:,/\-.;]", " ", fold_ascii(text)).split())


def disbursed_field(quarter: Quarter) -> str:
    """The field of what was disbursed in a quarter ("disbursed_2026Q1")."""
    return f"disbursed_{quarter}"


def header_of(text: str) -> str | None:
    """The field a register header names: a register field or the disbursement of a quarter."""
    key = _key(text)
    if re.search(r"giai ngan|disburs", key):
        m = _QUARTER_IN_HEADER.search(key)
        if m:
            year, q = (m.group(2), m.group(1)) if m.group(1) else (m.group(3), m.group(4))
            return disbursed_field(Quarter(int(year), int(q)))
        return None
    for field, pattern in PATTERNS:
        if re.search(pattern, key):
            return field
    return None


def _alias(text: str, aliases: tuple[tuple[str, str], ...], codes: tuple[str, ...] | Mapping[str, object]) -> str:
    """A code from a cell: the code itself (any case) or a Vietnamese or English name; the text if unknown."""
    stripped = text.strip()
    for code in codes:
        if stripped.lower() == code.lower():
            return code
    key = _key(stripped)
    for pattern, code in aliases:
        if re.search(pattern, key):
            return code
    return stripped


def _component(text: str) -> str:
    key = _key(text)
    for code, (vi, en, _) in COMPONENTS.items():
        if key in (_key(code), _key(vi), _key(en), _key(code.replace("_", " "))):
            return code
    return text.strip()


def _amount(cell: Cell, what: str) -> float | None:
    """A number from a cell: 1234.5, '1.234.567', '1,234,567', '1 234', '12,5'; '' and '-' are None."""
    if cell.number is not None:
        return float(cell.number)
    text = cell.text.replace("\u00a0", " ").strip()
    if text in ("", "-", "–"):
        return None
    compact = text.replace(" ", "")
    if re.fullmatch(r"[+-]?\d{1,3}([.,]\d{3}){2,}", compact) or re.fullmatch(r"[+-]?\d{1,3}\.\d{3}", compact):
        compact = re.sub(r"[.,]", "", compact)  # thousands separators ("1.234" is 1234 in Vietnamese)
    elif re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", compact):
        compact = compact.replace(",", "")
    elif compact.count(",") == 1 and "." not in compact:
        compact = compact.replace(",", ".")
    try:
        return float(compact)
    except ValueError:
        raise ValueError(f"{text[:30]!r} is not {what}") from None


def _scale(texts: list[str]) -> float | None:
    """VND per unit written in a money header (or its parent header cell), None when it names no unit."""
    for text in texts:
        key = _key(text)
        for pattern, scale in SCALES:
            if re.search(pattern, key):
                return scale
    return None


def read_register(
    path: Path,
    units: Mapping[str, str],
    crosswalk: Mapping[str, str],
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    limits: ImportLimits | None = None,
) -> tuple[pd.DataFrame, ImportReport]:
    """A register file read, normalised (money in VND, one disbursed_<quarter> column per quarter) and checked;
    ImportFailed lists every bad row with its spreadsheet row and column, and nothing is kept."""
    path = Path(path)
    limits = limits or ImportLimits()
    limits.check_size(path)
    grid = read_grid(path, encoding=encoding, sheet=sheet, max_rows=limits.max_rows)
    table = parse_table(
        grid, path, header_of, expected="'Mã dự án', 'Chương trình', 'Hạng mục', 'Mã xã, phường 2025', 'Trạng thái'"
    )
    shown = path.name
    report = ImportReport(shown, "programme_register")
    fields = set(table.columns.values())
    missing = [f for f in ("project_id", "programme", "component", "status") if f not in fields]
    if "unit_2025_code" not in fields and "commune_2024_code" not in fields:
        missing.append("unit_2025_code")
    if missing:
        raise InputDataError(
            shown, "missing column(s) " + ", ".join(repr(HEADERS[f][0]) for f in missing) + ": use the template"
        )
    heads = [grid.rows[r - 1] for r in table.header_rows]
    letters: dict[str, str] = {}
    scales: dict[str, float] = {}
    for col, field in table.columns.items():
        texts = [row[col].text for row in heads if col < len(row)]
        letters[field] = f"{get_column_letter(col + 1)} '{' '.join(t for t in texts if t)}'"
        if field in MONEY or field.startswith("disbursed_"):
            parents = [next((row[c].text for c in range(col, -1, -1) if c < len(row) and row[c].text), "")
                       for row in heads[:-1]]  # fmt: skip
            scale = _scale([*texts, *parents])
            if scale is None:
                raise InputDataError(
                    shown,
                    f"column {letters[field]}: say the unit of the amounts in the header: (triệu đồng), (tỷ đồng) "
                    "or (đồng)",
                )
            scales[field] = scale
    quarters = sorted(f for f in fields if f.startswith("disbursed_"))
    records: list[dict[str, object]] = []
    lines: list[int] = []
    for raw in table.rows:
        rec: dict[str, object] = {}
        for field, cell in raw.values.items():
            try:
                if field in MONEY or field.startswith("disbursed_"):
                    value = _amount(cell, "an amount")
                    rec[field] = None if value is None else round(value * scales[field])
                elif field in NUMBERS:
                    rec[field] = _amount(cell, "a number")
                elif field in DATES:
                    rec[field] = cell.text.strip() or None
                elif field == "programme":
                    rec[field] = _alias(cell.text, PROGRAMME_ALIASES, PROGRAMMES)
                elif field == "status":
                    rec[field] = _alias(cell.text, STATUS_ALIASES, STATUSES)
                elif field == "component":
                    rec[field] = _component(cell.text)
                elif field == "output_unit":
                    rec[field] = _alias(cell.text, UNIT_ALIASES, ()) or None
                else:
                    rec[field] = cell.text.strip() or None
            except ValueError as exc:
                report.add(raw.line, "error", f"column {letters[field]}: {exc}")
        if any(v not in (None, "") for v in rec.values()):
            records.append(rec)
            lines.append(raw.line)
    if not records:
        raise InputDataError(shown, "holds no project rows under the header")
    frame = pd.DataFrame(records).reindex(columns=[*HEADERS, *quarters])
    frame["source_row"] = lines
    frame["source"] = f"{shown} row " + frame["source_row"].astype(str)
    register, disbursements = split_register(frame)
    try:
        check_register(register, disbursements, units, crosswalk, file=shown, rows=lines)
    except ImportFailed as failed:
        for line in failed.report.lines:
            line.message = re.sub(r"column '([A-Za-z_0-9*]+)'", lambda m: _named(m.group(1), letters), line.message)
        report.lines += failed.report.lines
    if report.errors:
        report.lines.sort(key=lambda line: (str(type(line.row)), line.row))
        raise ImportFailed(report)
    report.add("file", "ok", f"{len(frame)} project(s), {len(disbursements)} quarterly disbursement(s)")
    for number, why in table.skipped:
        report.add(number, "skipped", why)
    return frame, report


def _named(field: str, letters: Mapping[str, str]) -> str:
    if field in letters:
        return f"column {letters[field]}"
    if field == "budget_*":
        named = [letters[f] for f in MONEY if f in letters]
        return ("columns " if len(named) > 1 else "column ") + ", ".join(named)
    return f"column {field!r}"


def split_register(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A wide register (disbursed_<quarter> columns) as the register and its long disbursements table."""
    quarters = [c for c in frame.columns if c.startswith("disbursed_")]
    register = frame.drop(columns=quarters)
    long = frame.melt(id_vars=["project_id", "source_row"], value_vars=quarters, var_name="period", value_name="amount")
    long = long[long["amount"].notna()]
    long["period"] = long["period"].str.removeprefix("disbursed_")
    return register, long.reset_index(drop=True)


def template_workbook(first: Quarter, last: Quarter) -> bytes:
    """An XLSX register template: bilingual headers, money in million VND, one disbursement column per quarter,
    lists for programme, component, status and output unit."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "So theo doi"
    ws["A1"] = "Sổ theo dõi dự án các chương trình MTQG / Register of national target programme projects"
    ws["A1"].font = Font(bold=True, size=13)
    ws["A2"] = (
        "Mỗi dự án một dòng; số tiền bằng triệu đồng; ngày dạng 31/03/2026; mã xã 2025 hoặc mã xã cũ. / One project "
        "per row; amounts in million VND; dates as 31/03/2026; the 2025 unit code or the pre-merger commune code."
    )
    header = 4
    quarters = [first]
    while quarters[-1] < last:
        quarters.append(quarters[-1].next())
    names = [f"{vi} / {en}" for vi, en in HEADERS.values()]
    names += [f"Giải ngân Q{q.quarter}/{q.year} (triệu đồng) / Disbursed {q} (million VND)" for q in quarters]
    for col, text in enumerate(names, start=1):
        cell = ws.cell(row=header, column=col, value=text)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[cell.column_letter].width = 16
    ws.row_dimensions[header].height = 60
    lists = {
        "programme": ",".join(PROGRAMMES),
        "component": ",".join(COMPONENTS),
        "status": ",".join(STATUSES),
        "output_unit": ",".join(sorted({u for _, _, units in COMPONENTS.values() for u in units})),
    }
    fields = list(HEADERS)
    for field, options in lists.items():
        letter = get_column_letter(fields.index(field) + 1)
        rule = DataValidation(type="list", formula1=f'"{options}"', allow_blank=True)
        rule.add(f"{letter}{header + 1}:{letter}{header + 2000}")
        ws.add_data_validation(rule)
    ws.freeze_panes = ws.cell(row=header + 1, column=3)
    notes = wb.create_sheet("Huong dan")
    notes.append(["Cột / column", "Giá trị / values"])
    notes.append(["Chương trình / programme", "; ".join(f"{k}: {vi} / {en}" for k, (vi, en) in PROGRAMMES.items())])
    for code, (vi, en, units) in COMPONENTS.items():
        notes.append([f"Hạng mục / component {code}", f"{vi} / {en}; đơn vị tính / output unit: {', '.join(units)}"])
    notes.append(["Trạng thái / status", ", ".join(STATUSES)])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
