"""The register of national target programme projects, and what planners read from it each quarter.

A register row is a project or support package: its programme and component, the 2025 unit it is in (a
pre-merger commune code is carried to its 2025 unit through the crosswalk), its approved budget by source,
its status with dates, its outputs with their unit, its beneficiaries, and the `investment_candidates`
project it realises by a key that stays the same across rebuilds (kind, unit, rounded location). What was
disbursed is a second, long table: one amount per project and quarter.

`check_register` refuses a register with any bad row (every problem named by row and column, nothing kept);
`unit_quarters` sums approved and disbursed money, outputs and beneficiaries per unit and quarter (cumulative
to the end of the quarter); `equity` puts the spending per poor household beside the priority tier and region
class and flags the units of the top tiers that received least. No web code, no file access here.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.importing import ImportFailed, ImportReport

PROGRAMMES: dict[str, tuple[str, str]] = {
    "1719": (
        "CT MTQG phát triển KT-XH vùng đồng bào DTTS và miền núi",
        "NTP for ethnic-minority and mountainous areas",
    ),
    "GNBV": ("CT MTQG giảm nghèo bền vững", "NTP for sustainable poverty reduction"),
    "NTM": ("CT MTQG xây dựng nông thôn mới", "NTP for new rural development"),
    "MTQG-2026": ("CT MTQG hợp nhất giai đoạn 2026-2035", "merged NTP 2026-2035"),
}
# component: (Vietnamese, English, the units its outputs are counted in)
COMPONENTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "roads": ("Đường giao thông", "Roads", ("km",)),
    "bridges": ("Cầu, ngầm tràn", "Bridges and crossings", ("works",)),
    "electricity": ("Điện lưới", "Grid electricity", ("households", "km")),
    "water": ("Nước sinh hoạt", "Domestic water", ("households", "works")),
    "schools": ("Trường, lớp học", "Schools", ("classrooms", "works")),
    "health_stations": ("Trạm y tế", "Health stations", ("works",)),
    "housing_support": ("Hỗ trợ nhà ở", "Housing support", ("houses",)),
    "livelihoods": ("Hỗ trợ sinh kế, sản xuất", "Livelihoods", ("households",)),
    "vocational_training": ("Đào tạo nghề", "Vocational training", ("people",)),
    "job_connection": ("Kết nối việc làm", "Job connection", ("people",)),
}
OUTPUTS = tuple((component, unit_of) for component, (_, _, units) in COMPONENTS.items() for unit_of in units)
STATUSES = ("proposed", "approved", "under_construction", "completed", "cancelled")
STATUS_LABELS = {
    "proposed": "đề xuất / proposed",
    "approved": "đã phê duyệt / approved",
    "under_construction": "đang thi công / under construction",
    "completed": "hoàn thành / completed",
    "cancelled": "đã hủy / cancelled",
}
SPENT = ("approved", "under_construction", "completed")  # statuses whose budget counts as approved
BUDGET_COLUMNS = ("budget_central", "budget_provincial", "budget_other")
DATE_COLUMNS = ("proposed_date", "approved_date", "completed_date", "cancelled_date")
COUNT_COLUMNS = ("beneficiary_households", "beneficiary_poor", "beneficiary_near_poor")
TOP_TIERS = (2, 3)  # priority tiers "cao / high" and "rất cao / very high"
_QUARTER = re.compile(r"^\s*(?:(\d{4})\s*-?\s*Q([1-4])|Q([1-4])\s*[/-]\s*(\d{4}))\s*$", re.IGNORECASE)
KEY_GRID = 1e-3  # degrees (about 100 m): locations closer than this give the same candidate key


@dataclass(frozen=True, order=True)
class Quarter:
    """A calendar quarter, e.g. 2026Q1."""

    year: int
    quarter: int

    @classmethod
    def parse(cls, text: object) -> Quarter:
        """2026Q1, 2026-Q1 or Q1/2026 (ValueError otherwise)."""
        match = _QUARTER.match(str(text))
        if not match:
            raise ValueError(f"{str(text)[:20]!r} is not a quarter: write 2026Q1 (or Q1/2026)")
        year, quarter = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
        return cls(int(year), int(quarter))

    @classmethod
    def of(cls, day: dt.date) -> Quarter:
        """The quarter a day falls in."""
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def end(self) -> dt.date:
        """The quarter's last day."""
        month = 3 * self.quarter
        first_of_next = dt.date(self.year + month // 12, month % 12 + 1, 1)
        return first_of_next - dt.timedelta(days=1)

    def previous(self) -> Quarter:
        """The quarter before."""
        return Quarter(self.year, self.quarter - 1) if self.quarter > 1 else Quarter(self.year - 1, 4)

    def next(self) -> Quarter:
        """The quarter after."""
        return Quarter(self.year, self.quarter + 1) if self.quarter < 4 else Quarter(self.year + 1, 1)

    def __str__(self) -> str:
        return f"{self.year}Q{self.quarter}"


def candidate_key(kind: str, unit_code: str, lon: float | None, lat: float | None) -> str:
    """The key of an investment candidate that stays the same across rebuilds: kind, 2025 unit and its location
    rounded to about 100 m ("road:04240:103.286,20.842"); without a location, kind and unit only."""
    if lon is None or lat is None or (isinstance(lon, float) and math.isnan(lon)):
        return f"{kind}:{unit_code}"
    step = round(1 / KEY_GRID)
    return f"{kind}:{unit_code}:{round(lon * step) / step:.3f},{round(lat * step) / step:.3f}"


def output_column(component: str, unit_of: str) -> str:
    """The summary column of a component's output in one unit ("output_roads_km")."""
    return f"output_{component}_{unit_of}"


def _text(value: object) -> str:
    """A cell as stripped text ("" for an empty cell, None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _number(value: object) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return None
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"{str(value)[:30]!r} is not a number")


def _date(value: object) -> dt.date | None:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise ValueError(f"{text[:20]!r} is not a date: write 2026-03-31 or 31/03/2026")


def check_register(
    register: pd.DataFrame,
    disbursements: pd.DataFrame,
    units: Mapping[str, str],
    crosswalk: Mapping[str, str],
    file: str = "register",
    rows: Sequence[int] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The register and disbursements checked and normalised (ImportFailed naming every bad row and column).

    `units` maps 2025 unit codes to names, `crosswalk` pre-merger commune codes to their 2025 unit. Rows are
    numbered as in a spreadsheet with one header row (the first data row is row 2) unless `rows` gives each
    register row's number; a disbursement with a source_row is named by that row.
    """
    report = ImportReport(file, "programme_projects")
    out = register.copy()
    out["unit_2025_code"] = out.get("unit_2025_code", pd.Series([None] * len(out), index=out.index, dtype=object))
    seen: dict[str, int] = {}
    approved_total: dict[str, float] = {}
    for i, rec in enumerate(register.to_dict("records")):
        row = rows[i] if rows is not None else i + 2

        def bad(column: str, message: str, row: int = row) -> None:
            report.add(row, "error", f"column {column!r}: {message}")

        pid = _text(rec.get("project_id"))
        if not pid:
            bad("project_id", "every project needs an id")
        elif pid in seen:
            bad("project_id", f"{pid} is also on row {seen[pid]}")
        else:
            seen[pid] = row
        if rec.get("programme") not in PROGRAMMES:
            bad("programme", f"{rec.get('programme')!r} is not one of {', '.join(PROGRAMMES)}")
        component = rec.get("component")
        if component not in COMPONENTS:
            bad("component", f"{component!r} is not one of {', '.join(COMPONENTS)}")
        status = rec.get("status")
        if status not in STATUSES:
            bad("status", f"{status!r} is not one of {', '.join(STATUSES)}")
        unit, old = _text(rec.get("unit_2025_code")), _text(rec.get("commune_2024_code"))
        if unit:
            if unit not in units:
                bad("unit_2025_code", f"{unit} is not a 2025 unit of Sơn La")
        elif old:
            if old in crosswalk:
                out.at[register.index[i], "unit_2025_code"] = crosswalk[old]
            else:
                bad("commune_2024_code", f"{old} is not a pre-merger commune of Sơn La")
        else:
            bad("unit_2025_code", "give the 2025 unit (or the pre-merger commune code)")
        total = 0.0
        for column in (*BUDGET_COLUMNS, "output_value", *COUNT_COLUMNS):
            try:
                value = _number(rec.get(column))
            except ValueError as exc:
                bad(column, str(exc))
                continue
            if value is not None and value < 0:
                bad(column, f"{value:,.15g}{' VND' if column in BUDGET_COLUMNS else ''} is negative")
            if column in BUDGET_COLUMNS and value:
                total += value
        if pid:
            approved_total[pid] = total
        dates: dict[str, dt.date | None] = {}
        for column in DATE_COLUMNS:
            try:
                dates[column] = _date(rec.get(column))
            except ValueError as exc:
                bad(column, str(exc))
                dates[column] = None
        approved, completed = dates["approved_date"], dates["completed_date"]
        if approved and completed and completed < approved:
            bad("completed_date", f"completed on {completed} before it was approved on {approved}")
        if status in SPENT and approved is None:
            bad("approved_date", f"a project that is {status} needs the date it was approved")
        if status == "completed" and completed is None:
            bad("completed_date", "a completed project needs the date it was completed")
        output, unit_of = rec.get("output_value"), _text(rec.get("output_unit"))
        has_output = output is not None and not (isinstance(output, float) and math.isnan(output))
        if has_output and not unit_of:
            bad("output_unit", "an output needs its unit (km, houses, households, people…)")
        elif unit_of and component in COMPONENTS and unit_of not in COMPONENTS[component][2]:
            bad("output_unit", f"{unit_of!r}: {component} outputs are counted in {', '.join(COMPONENTS[component][2])}")
        try:
            households, poor, near = (_number(rec.get(c)) for c in COUNT_COLUMNS)
        except ValueError:
            households = poor = near = None
        if households is not None and (poor or 0) + (near or 0) > households:
            bad("beneficiary_poor", f"poor and near-poor ({(poor or 0) + (near or 0):g}) exceed households "
                f"({households:g})")  # fmt: skip
    disbursed = disbursements.copy()
    quarters: list[str | None] = []
    spent: dict[str, float] = {}
    paid_rows: dict[tuple[str, str], int] = {}
    for i, rec in enumerate(disbursements.to_dict("records")):
        source_row = rec.get("source_row")
        where: int | str = int(source_row) if source_row is not None else f"disbursements row {i + 2}"
        pid = _text(rec.get("project_id"))
        if pid not in seen:
            report.add(where, "error", f"column 'project_id': {pid or '(empty)'} is not in the register")
        try:
            quarter = str(Quarter.parse(rec.get("period")))
        except ValueError as exc:
            report.add(where, "error", f"column 'period': {exc}")
            quarter = None
        quarters.append(quarter)
        amount_column = f"disbursed_{quarter}" if source_row is not None and quarter else "amount"
        if quarter and (pid, quarter) in paid_rows:
            report.add(where, "error", f"column 'period': {pid} {quarter} is also on row {paid_rows[pid, quarter]}")
        elif quarter:
            paid_rows[pid, quarter] = i + 2
        try:
            amount = _number(rec.get("amount"))
        except ValueError as exc:
            report.add(where, "error", f"column '{amount_column}': {exc}")
            continue
        if amount is None:
            report.add(where, "error", f"column '{amount_column}': empty")
        elif amount < 0:
            report.add(where, "error", f"column '{amount_column}': {amount:,.15g} VND is negative")
        else:
            spent[pid] = spent.get(pid, 0.0) + amount
    for pid, amount in spent.items():
        if pid in approved_total and amount > approved_total[pid] + 0.5:
            report.add(
                seen[pid], "error",
                f"column 'budget_*': {amount:,.0f} VND disbursed is more than the {approved_total[pid]:,.0f} "
                f"approved for {pid}",
            )  # fmt: skip
    if report.errors:
        raise ImportFailed(report)
    disbursed["period"] = quarters
    for column in DATE_COLUMNS:
        out[column] = [_date(v) for v in register.get(column, pd.Series([None] * len(register)))]
    out["budget_total"] = out[[c for c in BUDGET_COLUMNS if c in out]].fillna(0).sum(axis=1)
    return out.reset_index(drop=True), disbursed.reset_index(drop=True)


def _on_or_after(day: dt.date | None, since: Quarter | None) -> bool:
    return since is None or (day is not None and day > since.previous().end)


def unit_quarters(
    register: pd.DataFrame,
    disbursements: pd.DataFrame,
    poor_households: Mapping[str, float],
    quarter: Quarter,
    since: Quarter | None = None,
) -> pd.DataFrame:
    """Per 2025 unit, from the start of quarter `since` (or the beginning) to the end of `quarter`: approved VND
    (with what earlier approvals had still to pay when `since` began, carried over), disbursed VND, the rate, VND
    disbursed in the quarter itself, spending per poor household, projects approved
    and completed, outputs by component and unit, beneficiaries (checked register and disbursements)."""
    end = quarter.end
    live = register[
        register["status"].isin(SPENT) & register["approved_date"].map(lambda d: d is not None and d <= end)
    ]
    fresh = live["approved_date"].map(lambda d: _on_or_after(d, since)).astype(bool)  # bool even when empty
    approved = live.loc[fresh]
    periods = disbursements["period"].map(Quarter.parse)
    upto = disbursements[(periods <= quarter) & ((periods >= since) if since else True)]
    spent = upto.merge(register[["project_id", "unit_2025_code"]], on="project_id")
    # what earlier approvals still had to pay when the period began is carried over into it
    before = disbursements[periods < since] if since else disbursements.iloc[:0]
    paid_before = live["project_id"].map(before.groupby("project_id")["amount"].sum()).fillna(0.0)
    carried = (live["budget_total"] - paid_before).clip(lower=0).where(~fresh, 0.0)
    money_in = live["budget_total"].where(fresh, carried)
    codes = sorted(set(poor_households) | set(register["unit_2025_code"]))
    table = pd.DataFrame({"unit_2025_code": codes})
    table["period"] = str(quarter)
    table["approved_vnd"] = table["unit_2025_code"].map(money_in.groupby(live["unit_2025_code"]).sum())
    table["carried_over_vnd"] = table["unit_2025_code"].map(carried.groupby(live["unit_2025_code"]).sum())
    table["disbursed_vnd"] = table["unit_2025_code"].map(spent.groupby("unit_2025_code")["amount"].sum())
    now = spent[spent["period"] == str(quarter)]
    table["disbursed_in_quarter_vnd"] = table["unit_2025_code"].map(now.groupby("unit_2025_code")["amount"].sum())
    money = ["approved_vnd", "carried_over_vnd", "disbursed_vnd", "disbursed_in_quarter_vnd"]
    table[money] = table[money].fillna(0.0)
    approved_some = table["approved_vnd"].where(table["approved_vnd"] > 0)  # no rate without approved money
    table["disbursement_rate"] = (100 * table["disbursed_vnd"] / approved_some).round(1)
    poor = table["unit_2025_code"].map(poor_households).astype(float)
    table["poor_households"] = poor
    table["disbursed_per_poor_household"] = np.where(poor > 0, np.round(table["disbursed_vnd"] / poor), np.nan)
    completed = live["completed_date"].map(lambda d: d is not None and d <= end and _on_or_after(d, since))
    done = live.loc[completed.astype(bool)]
    table["projects_approved"] = table["unit_2025_code"].map(approved.groupby("unit_2025_code").size()).fillna(0)
    table["projects_completed"] = table["unit_2025_code"].map(done.groupby("unit_2025_code").size()).fillna(0)
    for component, unit_of in OUTPUTS:  # every output column, whether or not this register has one
        group = done[(done["component"] == component) & (done["output_unit"] == unit_of)]
        table[output_column(component, unit_of)] = (
            table["unit_2025_code"].map(group.groupby("unit_2025_code")["output_value"].sum()).fillna(0.0)
        )
    for column in COUNT_COLUMNS:
        if column in done:
            table[column] = table["unit_2025_code"].map(done.groupby("unit_2025_code")[column].sum()).fillna(0.0)
    return table


def equity(summary: pd.DataFrame, tiers: Mapping[str, int], region_classes: Mapping[str, int]) -> pd.DataFrame:
    """Spending per poor household by priority tier and region class, and the units flagged: those in the top
    tiers (high, very high) whose spending per poor household is in the lowest quarter of all units'."""
    table = summary.copy()
    table["tier"] = table["unit_2025_code"].map(tiers)
    table["region_class"] = table["unit_2025_code"].map(region_classes)
    per = table["disbursed_per_poor_household"]
    low = float(np.nanpercentile(per, 25)) if per.notna().any() else math.nan
    table["least_funded_top_tier"] = table["tier"].isin(TOP_TIERS) & (per <= low)
    return table


def spending_by(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """Disbursed VND, poor households and VND per poor household grouped by a column (tier or region class)."""
    grouped = table.groupby(column, dropna=True)[["disbursed_vnd", "poor_households"]].sum().reset_index()
    grouped["disbursed_per_poor_household"] = np.where(
        grouped["poor_households"] > 0, np.round(grouped["disbursed_vnd"] / grouped["poor_households"]), np.nan
    )
    return grouped
