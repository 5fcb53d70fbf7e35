"""Importers of the files planners receive: commune tables (CSV/XLSX) and infrastructure layers (vector).

An import either succeeds entirely or raises ImportFailed with a report listing every problem by row;
nothing is stored in between (the caller stores the normalised result only after success).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from pydantic_settings import BaseSettings, SettingsConfigDict
from pyproj import CRS
from shapely.errors import GEOSException

from geo.crs import is_vn2000, normalise, parse_crs
from geo.errors import InputDataError
from geo.frames import rows
from geo.names import fold_ascii, match_key, nfc, normalize_code
from geo.spreadsheets import COUNT_FIELDS, RATE_FIELDS, Cell, parse_count, parse_rate, parse_table, read_grid

YEARS = range(2015, 2031)
RATE_CHECK_PP = 0.15  # a rate written in the file may differ this much from the counts (rounding)


class ImportLimits(BaseSettings):
    """Bounds on an imported file, checked before and while it is parsed (ATLAS_IMPORT_MAX_BYTES, _MAX_ROWS)."""

    model_config = SettingsConfigDict(env_prefix="ATLAS_IMPORT_", env_file=".env", extra="ignore")

    max_bytes: int = 100_000_000
    max_rows: int = 100_000

    def check_size(self, path: Path) -> None:
        """Refuse a file larger than max_bytes before reading it."""
        size = Path(path).stat().st_size
        if size > self.max_bytes:
            raise InputDataError(
                path,
                f"is {size:,} bytes, more than the import limit of {self.max_bytes:,} (ATLAS_IMPORT_MAX_BYTES); "
                "split the file or raise the limit",
            )


@dataclass
class ReportLine:
    """What happened to one row of the file."""

    row: int | str
    status: str  # imported, skipped, warning, error
    message: str


@dataclass
class ImportReport:
    """Everything an import noticed, row by row."""

    file: str
    kind: str
    details: dict[str, str] = field(default_factory=dict)
    lines: list[ReportLine] = field(default_factory=list)

    def add(self, row: int | str, status: str, message: str) -> None:
        """Record one observation."""
        self.lines.append(ReportLine(row, status, message))

    @property
    def errors(self) -> list[ReportLine]:
        """The observations that stop the import."""
        return [line for line in self.lines if line.status == "error"]

    def count(self, status: str) -> int:
        """Number of observations with a status."""
        return sum(1 for line in self.lines if line.status == status)


class ImportFailed(InputDataError):
    """The file cannot be imported; the report lists every problem."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        shown = "; ".join(
            f"row {e.row}: {e.message}" if isinstance(e.row, int) else f"{e.row}: {e.message}"
            for e in report.errors[:8]
        )
        more = f" (and {len(report.errors) - 8} more)" if len(report.errors) > 8 else ""
        super().__init__(report.file, f"{len(report.errors)} problem(s), nothing was imported: {shown}{more}")


class UnitIndex:
    """The pre-merger communes, for matching rows by code, then by name within the former district."""

    def __init__(self, communes: pd.DataFrame, districts: pd.DataFrame) -> None:
        self.codes = set(communes["code"])
        self.names = communes.set_index("code")["name"].to_dict()
        self.district_of = communes.set_index("code")["district_code"].to_dict()
        self.district_keys: dict[str, str] = {}
        for code, name in zip(districts["code"], districts["name"], strict=True):
            self.district_keys[match_key(name)] = code
            self.district_keys[fold_ascii(match_key(name))] = code
        self.by_name: dict[str, set[str]] = {}
        for rec in rows(communes):
            spellings = [str(rec.name), *[v for v in str(rec.name_variants or "").split("; ") if v]]
            for spelling in spellings:
                for key in (match_key(spelling), fold_ascii(match_key(spelling))):
                    self.by_name.setdefault(key, set()).add(str(rec.code))

    def district(self, text: str | None) -> str | None:
        """District code of a district name or code, or None."""
        if not text:
            return None
        text = text.strip()
        if text.isdigit() and text.zfill(3) in set(self.district_of.values()):
            return text.zfill(3)
        key = match_key(text)
        return self.district_keys.get(key) or self.district_keys.get(fold_ascii(key))

    def match(self, code: str | None, name: str | None, district: str | None) -> tuple[str | None, str]:
        """(code, how) for a row; code None with the reason when the row cannot be placed."""
        if code:
            if code in self.codes:
                return code, "code"
            return None, f"unknown code {code}" + (f" ({name})" if name else "")
        if not name:
            return None, "neither a code nor a name"
        key = match_key(name)
        candidates = self.by_name.get(key) or self.by_name.get(fold_ascii(key), set())
        if district:
            candidates = {c for c in candidates if self.district_of[c] == district}
        if len(candidates) == 1:
            return next(iter(candidates)), "name"
        if not candidates:
            where = f" in district {district}" if district else ""
            return None, f"no commune named {name!r}{where}"
        listed = ", ".join(f"{c} {self.names[c]}" for c in sorted(candidates))
        return None, f"ambiguous name {name!r}: {listed}; add a district column or --district"


def import_indicators(
    path: Path,
    index: UnitIndex,
    *,
    year: int | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    district: str | None = None,
    limits: ImportLimits | None = None,
) -> tuple[pd.DataFrame, ImportReport]:
    """Read a commune table into rows (unit_code, year, indicators...) keyed to the pre-merger communes."""
    path = Path(path)
    limits = limits or ImportLimits()
    if path.is_file():
        limits.check_size(path)
    grid = read_grid(path, encoding=encoding, sheet=sheet, max_rows=limits.max_rows)
    table = parse_table(grid, path)
    report = ImportReport(str(path), "commune_indicators")
    report.details["encoding"] = table.encoding
    report.details["header rows"] = ", ".join(str(r) for r in table.header_rows)
    report.details["columns"] = ", ".join(f"{c + 1}:{f}" for c, f in sorted(table.columns.items()))
    fields = set(table.columns.values())
    if not fields & {"unit_code", "unit_name"}:
        raise InputDataError(path, "no column identifies the commune (expected 'Mã xã' or 'Tên đơn vị')")
    indicator_fields = fields & {*COUNT_FIELDS, *RATE_FIELDS, "new_rural", "region_class"}
    if not indicator_fields:
        raise InputDataError(path, "no indicator column (expected e.g. 'Tổng số hộ', 'Số hộ nghèo')")
    default_year = year or table.title_year
    fixed_district = index.district(district) if district else None
    if district and fixed_district is None:
        raise InputDataError(path, f"--district {district!r} is not a former district of Sơn La")
    for line, reason in table.skipped:
        report.add(line, "skipped", reason)
    records: list[dict[str, object]] = []
    accepted: list[tuple[int, str, int, str]] = []
    for raw in table.rows:
        try:
            who, figures = _indicator_row(raw.values, default_year, report, raw.line)
        except ValueError as exc:
            report.add(raw.line, "error", str(exc))
            continue
        row_district = index.district(who.district) or index.district(raw.section_district) or fixed_district
        unit, how = index.match(who.code, who.name, row_district)
        if unit is None:
            report.add(raw.line, "error", how)
            continue
        records.append({"unit_code": unit, **figures})
        accepted.append((raw.line, unit, int(str(figures["year"])), how))
    frame = pd.DataFrame(records)
    seen: dict[tuple[str, int], list[int]] = {}
    for line, unit, yr, _ in accepted:
        seen.setdefault((unit, yr), []).append(line)
    for (unit, yr), lines in seen.items():
        if len(lines) > 1:
            listed = ", ".join(str(x) for x in lines)
            report.add(lines[-1], "error", f"duplicate row: {unit} {index.names[unit]} for {yr} on rows {listed}")
    if report.errors:
        raise ImportFailed(report)
    if frame.empty:
        report.add("file", "error", "no data rows")
        raise ImportFailed(report)
    for line, unit, yr, how in accepted:
        report.add(line, "imported", f"{unit} {index.names[unit]} ({yr}), matched by {how}")
    return frame.reset_index(drop=True), report


@dataclass(frozen=True)
class RowIdentity:
    """What a row says about its unit."""

    code: str | None
    name: str | None
    district: str | None


def _indicator_row(
    values: dict[str, Cell], default_year: int | None, report: ImportReport, line: int
) -> tuple[RowIdentity, dict[str, object]]:
    rec: dict[str, object] = {}
    code_cell, name_cell, district_cell = values.get("unit_code"), values.get("unit_name"), values.get("district")
    code_text = code_cell.text.strip() if code_cell else ""
    if code_cell is not None and code_cell.number is not None:
        code_text = str(int(code_cell.number))
    who = RowIdentity(
        normalize_code(code_text, 5) if code_text else None,
        nfc(name_cell.text) if name_cell and name_cell.text.strip() else None,
        district_cell.text if district_cell and district_cell.text.strip() else None,
    )
    year_cell = values.get("year")
    year = parse_count(year_cell) if year_cell else default_year
    if year is None:
        raise ValueError("no year: add a 'Năm' column, a year in the title, or pass --year")
    if year not in YEARS:
        raise ValueError(f"year {year} is outside {YEARS.start}-{YEARS.stop - 1}")
    rec["year"] = int(year)
    for name in COUNT_FIELDS:
        if name in values:
            value = parse_count(values[name])
            if value is not None:
                rec[name] = value
    rates = {name: parse_rate(values[name]) for name in RATE_FIELDS if name in values}
    hh = rec.get("households")
    for count, rate_name in (("poor_households", "poor_rate"), ("near_poor_households", "near_poor_rate")):
        rate = rates.get(rate_name)
        if rate is not None and not 0 <= rate <= 100:
            raise ValueError(f"{rate_name} {rate:g}% is not a percentage")
        if isinstance(hh, int) and hh > 0 and rate is not None:
            if count in rec:
                computed = 100 * int(str(rec[count])) / hh
                if abs(computed - rate) > RATE_CHECK_PP:
                    report.add(
                        line,
                        "warning",
                        f"{rate_name} written {rate:g}% but the counts give {computed:.2f}%; counts kept",
                    )
            else:
                rec[count] = round(rate / 100 * hh)
                report.add(line, "warning", f"{count} derived from {rate_name} {rate:g}% of {hh} households")
    poor, near = rec.get("poor_households"), rec.get("near_poor_households")
    if isinstance(hh, int):
        if isinstance(poor, int) and poor > hh:
            raise ValueError(f"poor households {poor} exceed households {hh}")
        if isinstance(near, int) and isinstance(poor, int) and poor + near > hh:
            raise ValueError(f"poor ({poor}) and near-poor ({near}) households exceed households {hh}")
    dtts = rec.get("ethnic_minority_households")
    if isinstance(hh, int) and isinstance(dtts, int) and dtts > hh:
        raise ValueError(f"ethnic-minority households {dtts} exceed households {hh}")
    if "new_rural" in values and values["new_rural"].text.strip():
        rec["new_rural"] = fold_ascii(values["new_rural"].text).strip() in ("x", "co", "dat", "yes", "1", "true")
    if "region_class" in values and values["region_class"].text.strip():
        text = fold_ascii(values["region_class"].text).strip().upper().replace("KV", "").replace("KHU VUC", "").strip()
        roman = {"I": 1, "II": 2, "III": 3, "1": 1, "2": 2, "3": 3, "1.0": 1, "2.0": 2, "3.0": 3}
        if text not in roman:
            raise ValueError(f"region class {values['region_class'].text!r} is not I, II or III")
        rec["region_class"] = roman[text]
    if not any(k in rec for k in (*COUNT_FIELDS, "new_rural", "region_class")):
        raise ValueError("no figure on this row")
    return who, rec


# ----------------------------------------------------------------------------------------------------
# Vector layers
# ----------------------------------------------------------------------------------------------------

VECTOR_KINDS: dict[str, tuple[str, str]] = {
    "health_stations": ("Point", "trạm y tế xã / commune health station"),
    "schools": ("Point", "trường học / school"),
    "markets": ("Point", "chợ / market"),
    "bridges": ("Point", "cầu / bridge"),
    "roads": ("LineString", ""),
}
NAME_COLUMNS = ("ten", "name", "ten_truong", "ten_tram", "ten_cho", "ten_cau", "tên", "ten_duong")
TYPE_COLUMNS = ("loai", "cap_hoc", "type", "facility_type", "loai_hinh", "cap")
SURFACE_COLUMNS = ("mat_duong", "ket_cau", "surface", "loai_mat", "ketcau")
SURFACES = (
    ("nhua", "nhựa / asphalt"),
    ("be tong", "bê tông / concrete"),
    ("betong", "bê tông / concrete"),
    ("cap phoi", "cấp phối / gravel"),
    ("soi", "cấp phối / gravel"),
    ("dat", "đất / earth"),
)
SCHOOL_TYPES = (
    ("thcs", "trung học cơ sở / lower secondary"),
    ("trung hoc co so", "trung học cơ sở / lower secondary"),
    ("diem", "điểm trường tiểu học / primary site"),
    ("tieu hoc", "tiểu học / primary"),
    ("mam non", "mầm non / pre-school"),
)
PROVINCE_MARGIN_DEG = 0.1


def _column(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    folded = {fold_ascii(c).replace(" ", "_"): c for c in frame.columns if c != "geometry"}
    return next((folded[n] for n in names if n in folded), None)


def import_vector(
    path: Path,
    kind: str,
    communes: gpd.GeoDataFrame,
    *,
    crs: str | None = None,
    layer: str | None = None,
    encoding: str | None = None,
    limits: ImportLimits | None = None,
) -> tuple[gpd.GeoDataFrame, ImportReport]:
    """Read an infrastructure layer (Shapefile, GeoPackage, GeoJSON) into EPSG:4326 with commune codes."""
    path = Path(path)
    if kind not in VECTOR_KINDS:
        raise InputDataError(path, f"unknown layer kind {kind!r}; one of {', '.join(VECTOR_KINDS)}")
    geom_type, default_type = VECTOR_KINDS[kind]
    report = ImportReport(str(path), kind)
    if not path.exists():
        raise InputDataError(path, "file does not exist")
    frame = _read_features(path, layer, encoding, limits or ImportLimits(), report)
    if not isinstance(frame, gpd.GeoDataFrame) or frame.empty:
        raise InputDataError(path, "has no features with geometry")
    declared = frame.crs
    if crs is not None:
        try:
            source_crs = parse_crs(crs)
        except ValueError as exc:
            raise InputDataError(path, str(exc)) from None
        frame = frame.set_crs(source_crs, allow_override=True)
    elif declared is None:
        raise InputDataError(
            path,
            "declares no coordinate reference system; pass --crs (e.g. vn2000-104 for "
            "VN-2000 / TM-3 104-00, EPSG:3405 for VN-2000 / UTM 48N)",
        )
    else:
        frame = frame.set_crs(normalise(CRS.from_user_input(declared)), allow_override=True)
    report.details["source CRS"] = f"{frame.crs.name} (EPSG:{frame.crs.to_epsg()})" + (
        " – VN-2000, 7-parameter transformation to WGS 84" if is_vn2000(frame.crs) else ""
    )
    for i, geom in enumerate(frame.geometry):
        if geom is None or geom.is_empty:
            report.add(i + 1, "error", "missing geometry")
        elif not geom.geom_type.endswith(geom_type):
            report.add(i + 1, "error", f"geometry is {geom.geom_type}, a {kind} layer needs {geom_type}s")
        elif not geom.is_valid:
            report.add(i + 1, "error", f"invalid geometry ({shapely.is_valid_reason(geom)})")
    if report.errors:
        raise ImportFailed(report)
    frame, rows_of = _single_parts(frame.to_crs("EPSG:4326"), kind, report)
    province = shapely.union_all(communes.geometry.values).buffer(PROVINCE_MARGIN_DEG)
    outside = sorted({rows_of[i] for i, g in enumerate(frame.geometry) if not g.intersects(province)})
    if len(outside) == len(set(rows_of)):
        minx, miny, maxx, maxy = frame.total_bounds
        raise InputDataError(
            path,
            f"no feature falls in Sơn La after reprojecting from {frame.crs and declared}: bounds {minx:.4f}, "
            f"{miny:.4f}, {maxx:.4f}, {maxy:.4f}. The declared CRS is probably wrong; pass --crs",
        )
    for row in outside:
        report.add(row, "error", "outside Sơn La")
    if report.errors:
        raise ImportFailed(report)
    anchors = gpd.GeoSeries(
        [g if geom_type == "Point" else g.interpolate(0.5, normalized=True) for g in frame.geometry], crs="EPSG:4326"
    )
    cols = ["code", "unit_2025_code", "district_code", "geometry"]
    placed = gpd.sjoin(gpd.GeoDataFrame(geometry=anchors), communes[cols], how="left", predicate="intersects")
    placed = placed[~placed.index.duplicated(keep="first")]
    if placed["code"].isna().any():
        near = gpd.sjoin_nearest(
            gpd.GeoDataFrame(geometry=anchors[placed["code"].isna()]).to_crs(3405),
            communes[cols].to_crs(3405),
            how="left",
        )
        near = near[~near.index.duplicated(keep="first")]
        placed.loc[near.index, ["code", "unit_2025_code", "district_code"]] = near[
            ["code", "unit_2025_code", "district_code"]
        ].to_numpy()
    name_col = _column(frame, NAME_COLUMNS)
    type_col = _column(frame, TYPE_COLUMNS)
    source = f"import: {path.name}"
    out = gpd.GeoDataFrame(
        {
            "name": frame[name_col].astype(str).map(nfc) if name_col else None,
            "commune_2024_code": placed["code"].to_numpy(),
            "unit_2025_code": placed["unit_2025_code"].to_numpy(),
            "district_code": placed["district_code"].to_numpy(),
            "source": source,
            "synthetic": False,
        },
        geometry=frame.geometry.values,
        crs="EPSG:4326",
    )
    prefix = {"health_stations": "TYT", "schools": "SCH", "markets": "CHO", "bridges": "B", "roads": "R"}[kind]
    id_name = {"roads": "road_id", "bridges": "bridge_id"}.get(kind, "facility_id")
    out.insert(0, id_name, [f"{prefix}-IMP-{i + 1:05d}" for i in range(len(out))])
    if kind == "roads":
        surface_col = _column(frame, SURFACE_COLUMNS)
        surfaces = frame[surface_col].astype(str) if surface_col else pd.Series([""] * len(frame))
        out["surface"] = [
            next((label for key, label in SURFACES if key in fold_ascii(s)), "không rõ / unknown") for s in surfaces
        ]
        out["road_class"] = frame[type_col].astype(str).map(nfc).to_numpy() if type_col else "không rõ / unknown"
        out["length_km"] = (out.to_crs(3405).length / 1000).round(3)
    elif kind == "bridges":
        out["bridge_type"] = frame[type_col].astype(str).map(nfc).to_numpy() if type_col else "cầu / bridge"
        out["road_id"] = None
    else:
        types = frame[type_col].astype(str) if type_col else pd.Series([""] * len(frame))
        if kind == "schools":
            out["facility_type"] = [
                next((label for key, label in SCHOOL_TYPES if key in fold_ascii(t)), default_type) for t in types
            ]
        else:
            out["facility_type"] = [nfc(t) if t.strip() and t != "None" else default_type for t in types]
    report.details["features"] = str(len(out))
    for i in range(len(out)):
        report.add(rows_of[i], "imported", f"in commune {out['commune_2024_code'].iloc[i]}")
    return out.reset_index(drop=True), report


def _read_features(
    path: Path, layer: str | None, encoding: str | None, limits: ImportLimits, report: ImportReport
) -> pd.DataFrame:
    """The features of a vector file within the limits; a geometry GEOS cannot build is refused with its row."""
    limits.check_size(path)
    try:
        features = int(pyogrio.read_info(path, layer=layer, encoding=encoding, force_feature_count=True)["features"])
    except Exception as exc:  # pyogrio raises several DataSourceError flavours
        raise InputDataError(path, f"cannot be read as a vector layer: {exc}") from exc
    if features > limits.max_rows:
        raise InputDataError(
            path,
            f"has {features:,} features, more than the import limit of {limits.max_rows:,} "
            "(ATLAS_IMPORT_MAX_ROWS); split the file or raise the limit",
        )
    try:
        return pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    except GEOSException:
        pass  # one geometry is malformed (e.g. a one-point line): find which, below
    except Exception as exc:  # pyogrio raises several DataSourceError flavours
        raise InputDataError(path, f"cannot be read as a vector layer: {exc}") from exc
    _, _, wkb, _ = pyogrio.raw.read(path, layer=layer, encoding=encoding, columns=[])
    for i, item in enumerate(wkb):
        try:
            shapely.from_wkb(item)
        except GEOSException as exc:
            report.add(i + 1, "error", f"malformed geometry: {_geos_message(exc)}")
    if not report.errors:
        raise InputDataError(path, "cannot be read as a vector layer: a geometry is malformed")
    raise ImportFailed(report)


def _geos_message(exc: GEOSException) -> str:
    text = str(exc).split(": ", 1)[-1]
    if "point array must contain 0 or >1 elements" in text:
        return "a line with a single point (a line needs at least two)"
    if "Points of LinearRing do not form a closed linestring" in text:
        return "a polygon ring that is not closed"
    return text


def _single_parts(frame: gpd.GeoDataFrame, kind: str, report: ImportReport) -> tuple[gpd.GeoDataFrame, list[int]]:
    """One feature per part: a multi-part geometry becomes several features (lines merged where they join).

    Returns the frame and, for each of its features, the 1-based row of the file it comes from.
    """
    keep: list[int] = []
    geoms: list[shapely.Geometry] = []
    for i, geom in enumerate(frame.geometry):
        if not geom.geom_type.startswith("Multi"):
            keep.append(i)
            geoms.append(geom)
            continue
        merged = shapely.line_merge(geom) if geom.geom_type == "MultiLineString" else geom
        parts = [p for p in shapely.get_parts(merged) if not p.is_empty]
        if len(parts) > 1:
            report.add(i + 1, "warning", f"{geom.geom_type} of {len(parts)} parts stored as {len(parts)} {kind}")
        keep += [i] * len(parts)
        geoms += parts
    out = gpd.GeoDataFrame(frame.drop(columns=frame.geometry.name).iloc[keep], geometry=geoms, crs=frame.crs)
    return out.reset_index(drop=True), [i + 1 for i in keep]
