"""The quarterly programme report (`atlas report programme --period 2026Q1`): the tables planners send each
quarter, as one XLSX with Vietnamese headers (English beside them), read from the warehouse's programme layers."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from geo.errors import GeoError
from geo.programme import COMPONENTS, OUTPUTS, PROGRAMMES, STATUS_LABELS, Quarter, output_column, spending_by
from layers.store import json_value

Tables = Callable[[str], pd.DataFrame]


class ReportError(GeoError):
    """The report cannot be made for what was asked (a quarter without figures)."""


@dataclass(frozen=True)
class Column:
    """One column of a report sheet: the layer's field and its header."""

    field: str
    vi: str
    en: str
    money: bool = False

    @property
    def header(self) -> str:
        """Vietnamese first, English beside it."""
        return f"{self.vi} / {self.en}"


UNIT_COLUMNS: tuple[Column, ...] = (
    Column("unit_code", "Mã xã, phường", "Unit code"),
    Column("unit_name", "Tên xã, phường", "Unit"),
    Column("approved_vnd", "Vốn được giao lũy kế (đồng)", "Approved, cumulative (VND)", True),
    Column("carried_over_vnd", "Trong đó vốn chuyển tiếp (đồng)", "of which carried over (VND)", True),
    Column("disbursed_vnd", "Giải ngân lũy kế (đồng)", "Disbursed, cumulative (VND)", True),
    Column("disbursed_in_quarter_vnd", "Giải ngân trong quý (đồng)", "Disbursed in the quarter (VND)", True),
    Column("disbursement_rate", "Tỷ lệ giải ngân (%)", "Disbursement rate (%)"),
    Column("poor_households", "Số hộ nghèo đầu giai đoạn", "Poor households, period start"),
    Column("disbursed_per_poor_household", "Giải ngân trên hộ nghèo (đồng)", "VND per poor household", True),
    Column("projects_approved", "Dự án được phê duyệt", "Projects approved"),
    Column("projects_completed", "Dự án hoàn thành", "Projects completed"),
    Column("tier", "Mức ưu tiên (0-3)", "Priority tier (0-3)"),
    Column("region_class", "Khu vực 2026-2030", "Region class 2026-2030"),
    Column("least_funded_top_tier", "Ưu tiên cao nhưng nhận ít nhất", "Top tier, least funded"),
)
EQUITY_COLUMNS: tuple[Column, ...] = (
    Column("disbursed_vnd", "Giải ngân lũy kế (đồng)", "Disbursed (VND)", True),
    Column("poor_households", "Số hộ nghèo", "Poor households"),
    Column("disbursed_per_poor_household", "Giải ngân trên hộ nghèo (đồng)", "VND per poor household", True),
)
PLAN_COLUMNS: tuple[Column, ...] = (
    Column("project_id", "Mã dự án đề xuất", "Plan project"),
    Column("name_vi", "Dự án", "Project"),
    Column("unit_2025_name", "Xã, phường", "Unit"),
    Column("cost_vnd", "Chi phí dự tính (đồng)", "Estimated cost (VND)", True),
    Column("programme_project_id", "Mã dự án trong sổ theo dõi", "Register project"),
    Column("programme_status", "Trạng thái", "Status"),
)
UNPLANNED_COLUMNS: tuple[Column, ...] = (
    Column("project_id", "Mã dự án", "Project"),
    Column("name", "Tên dự án", "Name"),
    Column("programme", "Chương trình", "Programme"),
    Column("component_label", "Hạng mục", "Component"),
    Column("unit_name", "Xã, phường", "Unit"),
    Column("budget_total", "Tổng vốn (đồng)", "Budget (VND)", True),
    Column("status_label", "Trạng thái", "Status"),
    Column("approved_date", "Ngày phê duyệt", "Approved on"),
)
TIER_NAMES = {0: "thấp / low", 1: "trung bình / medium", 2: "cao / high", 3: "rất cao / very high"}
SHEETS = {
    "units": "Theo xa",
    "outputs": "Ket qua",
    "equity": "Cong bang",
    "plan": "Ke hoach",
    "notes": "Ghi chu",
}
DEMO = "minh họa, không phải số liệu chính thức / synthetic demo data, not official figures"
FLAG_NOTE = (
    "mức ưu tiên cao, rất cao và giải ngân trên hộ nghèo thuộc 1/4 thấp nhất / tier high or very high and VND per "
    "poor household in the lowest quarter of all units"
)
BOLD = Font(bold=True)
FLAG = PatternFill("solid", fgColor="FDD0A2")


def quarter_rows(summary: pd.DataFrame, quarter: Quarter) -> pd.DataFrame:
    """The summary rows of one quarter (units, then the province); ReportError naming the quarters there are."""
    rows = summary[summary["period"] == str(quarter)]
    if rows.empty:
        have = sorted(summary["period"].unique())
        span = f"{have[0]} to {have[-1]}" if have else "none"
        raise ReportError(f"--period {quarter}: the register has no figures for that quarter (it has {span})")
    order = rows.assign(last=rows["scope"] == "province").sort_values(["last", "unit_code"])
    return order.drop(columns="last")


def _sheet(book: Workbook, title: str, heading: str, columns: Sequence[Column], rows: pd.DataFrame) -> int:
    """A sheet with a heading, one header row and the rows; returns the header's row number."""
    ws = book.create_sheet(title)
    ws["A1"] = heading
    ws["A1"].font = Font(bold=True, size=13)
    header = 3
    for col, column in enumerate(columns, start=1):
        cell = ws.cell(row=header, column=col, value=column.header)
        cell.font = BOLD
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.column_dimensions[get_column_letter(col)].width = 24 if col <= 2 else 17
    ws.row_dimensions[header].height = 45
    for r, rec in enumerate(rows.to_dict("records"), start=header + 1):
        for col, column in enumerate(columns, start=1):
            value = json_value(rec.get(column.field))
            cell = ws.cell(row=r, column=col, value=value)
            if column.money:
                cell.number_format = "#,##0"
        if rec.get("least_funded_top_tier") is True or rec.get("scope") == "province":
            for col in range(1, len(columns) + 1):
                ws.cell(row=r, column=col).fill = FLAG if rec.get("least_funded_top_tier") is True else PatternFill()
                ws.cell(row=r, column=col).font = BOLD if rec.get("scope") == "province" else Font()
    ws.freeze_panes = ws.cell(row=header + 1, column=3)
    return header


def programme_report(tables: Tables, quarter: Quarter, release: str = "") -> bytes:
    """The quarterly report of one quarter as XLSX bytes (sheets: by unit, outputs, equity, plan, notes)."""
    summary = tables("programme_unit_quarters")
    rows = quarter_rows(summary, quarter)
    units = rows[rows["scope"] == "unit"]
    province = rows[rows["scope"] == "province"].iloc[0]
    synthetic = bool(rows["synthetic"].any())
    mark = " (DỮ LIỆU MINH HỌA / DEMO DATA)" if synthetic else ""
    period, since = str(province["programme_period"]), str(province["since"])
    book = Workbook()
    default = book.active
    assert default is not None
    book.remove(default)
    _sheet(
        book,
        SHEETS["units"],
        f"Giải ngân theo xã, phường, lũy kế {since}–{quarter} (giai đoạn {period}) / Disbursement by unit, {since} to "
        f"{quarter}{mark}",
        UNIT_COLUMNS,
        rows,
    )
    outputs = pd.DataFrame(
        [
            {
                "component": f"{COMPONENTS[c][0]} / {COMPONENTS[c][1]}",
                "unit": u,
                "value": float(province[output_column(c, u)]),
            }
            for c, u in OUTPUTS
            if output_column(c, u) in province.index
        ]
    )
    published = _published(tables, period)
    outputs["published"] = [published.get((c, u)) for c, u in OUTPUTS if output_column(c, u) in province.index]
    _sheet(
        book,
        SHEETS["outputs"],
        f"Kết quả hoàn thành toàn tỉnh, {since}–{quarter} / Outputs completed in the province{mark}",
        (
            Column("component", "Hạng mục", "Component"),
            Column("unit", "Đơn vị tính", "Unit"),
            Column("value", "Hoàn thành lũy kế", "Completed, cumulative"),
            Column("published", "Số liệu công bố cả giai đoạn", "Published for the period"),
        ),
        outputs,
    )
    by_tier = spending_by(units, "tier").assign(group=lambda f: f["tier"].map(TIER_NAMES))
    by_region = spending_by(units, "region_class").assign(group=lambda f: "khu vực / region " + f["region_class"].map(
        {1: "I", 2: "II", 3: "III"}))  # fmt: skip
    equity = pd.concat([by_tier, by_region], ignore_index=True)
    header = _sheet(
        book,
        SHEETS["equity"],
        f"Giải ngân trên hộ nghèo theo mức ưu tiên và khu vực, {since}–{quarter} / Spending per poor household by "
        f"tier and region class{mark}",
        (Column("group", "Nhóm", "Group"), *EQUITY_COLUMNS),
        equity,
    )
    ws = book[SHEETS["equity"]]
    start = header + len(equity) + 3
    ws.cell(row=start, column=1, value="Xã ưu tiên cao nhận ít nhất / Top-tier units that received least").font = BOLD
    flagged = units[units["least_funded_top_tier"].astype(bool)]
    for i, rec in enumerate(flagged.to_dict("records"), start=start + 1):
        ws.cell(row=i, column=1, value=rec["unit_code"])
        ws.cell(row=i, column=2, value=rec["unit_name"])
        ws.cell(row=i, column=3, value=json_value(rec["disbursed_per_poor_household"])).number_format = "#,##0"
        ws.cell(row=i, column=4, value=TIER_NAMES.get(int(rec["tier"]), ""))
    plan = tables("investment_plan")
    plan = plan.assign(programme_status=plan["programme_status"].map(STATUS_LABELS).fillna("chưa / not yet"))
    header = _sheet(
        book,
        SHEETS["plan"],
        f"Danh mục đầu tư của atlas: đã phê duyệt, đã xây dựng / The atlas's investment plan: approved or built{mark}",
        PLAN_COLUMNS,
        plan,
    )
    projects = tables("programme_projects")
    unplanned = projects[(projects["plan_match"] == "none") & (projects["approved_date"] <= quarter.end.isoformat())]
    ws = book[SHEETS["plan"]]
    start = header + len(plan) + 3
    ws.cell(row=start, column=1, value="Dự án được cấp vốn không có trong kế hoạch nào / Funded projects in no plan")
    ws.cell(row=start, column=1).font = BOLD
    for col, column in enumerate(UNPLANNED_COLUMNS, start=1):
        ws.cell(row=start + 1, column=col, value=column.header).font = BOLD
    for r, rec in enumerate(unplanned.to_dict("records"), start=start + 2):
        for col, column in enumerate(UNPLANNED_COLUMNS, start=1):
            ws.cell(row=r, column=col, value=json_value(rec.get(column.field)))
    notes = book.create_sheet(SHEETS["notes"])
    for line in (
        ("Quý / quarter", str(quarter)),
        ("Giai đoạn / period", f"{period} (lũy kế từ / cumulative from {since})"),
        ("Dữ liệu / data", DEMO if synthetic else "sổ theo dõi đã nhập / imported register"),
        ("Chương trình / programmes", "; ".join(f"{k}: {vi}" for k, (vi, _) in PROGRAMMES.items())),
        ("Phiên bản dữ liệu / release", release),
        ("Cờ / flag", FLAG_NOTE),
    ):  # fmt: skip
        notes.append(list(line))
    notes.column_dimensions["A"].width = 28
    notes.column_dimensions["B"].width = 100
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _published(tables: Tables, period: str) -> dict[tuple[str, str], float]:
    """The published province outputs of the period (from the calibration layer), by component and unit."""
    if period != "2021-2025":
        return {}
    calibration = tables("calibration").set_index("target")["published"]
    keys = {
        ("housing_support", "houses"): "houses_built_for_poor",
        ("job_connection", "people"): "workers_job_connection",
        ("vocational_training", "people"): "poor_near_poor_vocational_training",
    }
    return {k: float(calibration[v]) for k, v in keys.items() if v in calibration.index}
