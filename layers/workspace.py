"""What the browser workspace reads: one compact document of the 2025 units (figures, series, rank, criteria,
pre-merger communes), the villages of a unit, and the files it exports (XLSX, CSV, GeoPackage, GeoJSON).

Made once per warehouse build; no web code here (api/workspace.py serves it).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import brotli
import geopandas as gpd
import pandas as pd
import shapely
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from pydantic import BaseModel, Field, field_validator

from geo.priority import Profile
from layers.errors import LayersError
from layers.palette import POVERTY_RATE, PRIORITY_TIER, REGION_CLASS, SURFACES
from layers.store import Build, Warehouse, json_value

YEARS = (2021, 2022, 2023, 2024, 2025, 2026)
MAX_EXPORT_ROWS = 20_000
MAX_EXPORT_COLUMNS = 80

# Indicators the map can colour the 2025 units by: (id, field or field template with {year}, years, labels,
# unit, breaks, colours, class labels for categories). Breaks follow layers.palette where it has a scale.
Indicator = dict[str, Any]
_COUNT_BREAKS = [50, 100, 200, 400, 800, 1600]
_MINUTE_BREAKS = [15, 30, 60, 90, 120]


def _ind(
    id_: str, field: str, vi: str, en: str, unit: str, breaks: Sequence[float], colours: list[str], **extra: Any
) -> Indicator:
    return {"id": id_, "field": field, "label_vi": vi, "label_en": en, "unit": unit, "breaks": list(breaks),
            "colours": colours, **extra}  # fmt: skip


INDICATORS: list[Indicator] = [
    _ind("poor_rate", "poor_rate_{year}", "Tỷ lệ hộ nghèo", "Poverty rate", "%", list(POVERTY_RATE.breaks),
         list(POVERTY_RATE.colours), years=list(YEARS)),
    _ind("near_poor_rate", "near_poor_rate_{year}", "Tỷ lệ hộ cận nghèo", "Near-poverty rate", "%",
         [3, 5, 7.5, 10, 15, 20], ["#f2f0f7", "#dadaeb", "#bcbddc", "#9e9ac8", "#807dba", "#6a51a3", "#4a1486"],
         years=list(YEARS)),
    _ind("poor_households", "poor_households_{year}", "Số hộ nghèo", "Poor households", "hộ / hh", _COUNT_BREAKS,
         ["#fff5eb", "#fee6ce", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603"], years=list(YEARS)),
    _ind("near_poor_households", "near_poor_households_{year}", "Số hộ cận nghèo", "Near-poor households",
         "hộ / hh", _COUNT_BREAKS, ["#fcfbfd", "#efedf5", "#dadaeb", "#bcbddc", "#9e9ac8", "#756bb1", "#54278f"],
         years=list(YEARS)),
    _ind("region_class", "region_class", "Khu vực 2026-2030", "Region class 2026-2030", "",
         list(REGION_CLASS.breaks), list(REGION_CLASS.colours), classes=list(REGION_CLASS.class_labels)),
    _ind("score", "score", "Điểm ưu tiên", "Priority score", "/100", [20, 40, 60, 80],
         ["#feebe2", "#fbb4b9", "#f768a1", "#c51b8a", "#7a0177"]),
    _ind("tier", "tier", "Mức ưu tiên", "Priority tier", "", list(PRIORITY_TIER.breaks),
         list(PRIORITY_TIER.colours), classes=list(PRIORITY_TIER.class_labels)),
    _ind("deprivation_intensity", "deprivation_intensity", "Số chỉ số thiếu hụt bình quân mỗi hộ",
         "Indicators lacked per household", "", [0.5, 1, 1.5, 2, 3],
         ["#fcfbfd", "#dadaeb", "#bcbddc", "#9e9ac8", "#756bb1", "#54278f"]),
    _ind("minutes_health", "mean_minutes_to_health_stations", "Thời gian đến trạm y tế", "Travel time to a health "
         "station", "phút / min", _MINUTE_BREAKS, ["#f7fbff", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"]),
    _ind("minutes_school", "mean_minutes_to_schools", "Thời gian đến trường", "Travel time to a school",
         "phút / min", _MINUTE_BREAKS, ["#f7fbff", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"]),
    _ind("minutes_market", "mean_minutes_to_markets", "Thời gian đến chợ", "Travel time to a market",
         "phút / min", _MINUTE_BREAKS, ["#f7fbff", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"]),
    _ind("difficult_villages", "share_especially_difficult_villages", "Tỷ lệ thôn ĐBKK 2026-2030",
         "Share of especially difficult villages 2026-2030", "%", [10, 25, 50, 75, 90],
         ["#fff5f0", "#fcbba1", "#fc9272", "#fb6a4a", "#de2d26", "#a50f15"]),
    _ind("ethnic_minority_share", "ethnic_minority_share", "Tỷ lệ hộ dân tộc thiểu số", "Ethnic-minority share",
         "%", [25, 50, 75, 90], ["#f7fcf5", "#c7e9c0", "#74c476", "#31a354", "#006d2c"]),
]  # fmt: skip

UNIT_FIELDS = (
    "households", "persons", "poor_households", "near_poor_households", "poor_rate", "near_poor_rate",
    "ethnic_minority_share", "n_villages", "n_especially_difficult_villages", "latest_year", "period", "standard",
)  # fmt: skip
PRIORITY_FIELDS = (
    "score", "rank", "tier", "tier_label", "deprivation_intensity", "region_iii_household_share",
    "share_especially_difficult_villages", "share_villages_without_paved_road", "share_households_without_grid",
    "mean_minutes_to_health_stations", "mean_minutes_to_schools", "mean_minutes_to_markets",
)  # fmt: skip
EXPORT_FORMATS = ("xlsx", "csv", "gpkg", "geojson")
MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
    "gpkg": "application/geopackage+sqlite3",
    "geojson": "application/geo+json",
}


class WorkspaceError(LayersError):
    """A request of the workspace that cannot be answered as asked."""


class UnknownUnit(WorkspaceError):
    """No 2025 unit has this code."""


def _clean(value: Any) -> Any:
    """JSON-ready scalars (layers.store.json_value), floats to 3 decimals."""
    value = json_value(value)
    return round(value, 3) if isinstance(value, float) else value


def compress_at_most(body: bytes, coding: str | None) -> bytes:
    """A body in a content coding at its highest level, for what is compressed once and sent often: "br"
    (Brotli 11), "gzip" (level 9) or None (as it is)."""
    if coding == "br":
        return brotli.compress(body, quality=11)
    if coding == "gzip":
        return gzip.compress(body, compresslevel=9, mtime=0)
    return body


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict("records")]


class WorkspaceData:
    """The workspace's documents of one warehouse build."""

    def __init__(self, build: Build, profile: Profile) -> None:
        units = build.frame("units_2025")
        series = pd.DataFrame(build.frame("indicators_units_2025")).drop(columns="geometry")
        ranked = pd.DataFrame(build.frame("priority_units_2025")).drop(columns="geometry", errors="ignore")
        classes = pd.DataFrame(build.frame("classification_2026_2030")).drop(columns="geometry")
        communes = pd.DataFrame(build.frame("communes_2024")).drop(columns="geometry")
        commune_figures = pd.DataFrame(build.frame("indicators_communes_2024")).drop(columns="geometry")
        self.synthetic = bool(series["synthetic"].any())
        self.profile = profile
        wanted = [
            "unit_code", *UNIT_FIELDS,
            *(f"{m}_{y}" for m in ("poor_rate", "near_poor_rate", "poor_households", "near_poor_households",
                                   "households") for y in YEARS),
        ]  # fmt: skip
        table = series[[c for c in wanted if c in series]]
        pri = ranked[["unit_code", *PRIORITY_FIELDS, *(c for c in ranked if c.startswith(("c_", "pct_")))]]
        table = table.merge(pri, on="unit_code", how="left")
        table = table.merge(
            classes[["unit_code", "region_class", "region_label", "source", "document"]].rename(
                columns={"source": "region_source", "document": "region_document"}
            ),
            on="unit_code",
            how="left",
        )
        lonlat = units.to_crs(4326) if units.crs is not None and not units.crs.equals("EPSG:4326") else units
        geo = pd.DataFrame(
            {
                "unit_code": lonlat["code"],
                "name": lonlat["full_name"],
                "name_en": lonlat["full_name_en"],
                "former_districts": lonlat["former_districts"],
                "bbox": [[round(float(v), 5) for v in g.bounds] for g in lonlat.geometry],
                "centre": [
                    [round(float(p.x), 5), round(float(p.y), 5)] for p in lonlat.geometry.representative_point()
                ],
            }
        )
        table = geo.merge(table, on="unit_code", how="left").sort_values("unit_code")
        latest = commune_figures[["unit_code", "poor_rate", "households", "poor_households", "latest_year"]]
        olds = communes[["code", "name", "district_name", "unit_2025_code"]].merge(
            latest.rename(columns={"unit_code": "code"}), on="code", how="left"
        )
        self.units = table.reset_index(drop=True)
        self.communes = olds.sort_values(["unit_2025_code", "name"]).reset_index(drop=True)
        self.village_points = build.frame("priority_villages")
        self.built_at = build.built_at
        self.fingerprint = build.fingerprint
        self._encoded: dict[str | None, bytes] = {}
        self._lock = threading.Lock()
        districts = build.frame("districts_2024")
        self.overview = {
            "units": _overview(lonlat["code"], lonlat["full_name"], lonlat.geometry),
            "districts": _overview(districts["code"], districts["name"], districts.geometry.boundary),
        }

    def document(self) -> dict[str, Any]:
        """Everything the page needs to draw and explain the units, in one JSON document."""
        communes: dict[str, list[dict[str, Any]]] = {}
        for rec in _records(self.communes):
            communes.setdefault(str(rec.pop("unit_2025_code")), []).append(rec)
        units = _records(self.units)
        for unit in units:
            unit["communes_2024"] = communes.get(unit["unit_code"], [])
        criteria = [
            {"id": c.id, "column": c.column, "weight": c.weight, "label_vi": c.label_vi, "label_en": c.label_en}
            for c in self.profile.units
        ]
        return {
            "built_at": self.built_at,
            "synthetic": self.synthetic,
            "years": list(YEARS),
            "profile": {"id": self.profile.profile, "version": self.profile.version, "period": self.profile.period},
            "criteria": criteria,
            "indicators": INDICATORS,
            "units": units,
            "overview": self.overview,
            "surfaces": [[label, symbol.colour] for label, symbol in SURFACES],
        }

    def encoded(self, coding: str | None) -> bytes:
        """The document as JSON bytes, compressed once at the highest level ("br", "gzip" or None)."""
        with self._lock:
            if coding not in self._encoded:
                body = json.dumps(self.document(), ensure_ascii=False, separators=(",", ":")).encode()
                self._encoded[coding] = compress_at_most(body, coding)
            return self._encoded[coding]

    def etag(self, coding: str | None) -> str:
        """The document's entity tag: the build's and the coding's."""
        return f'"{self.fingerprint[:24]}-{coding or "identity"}"'

    def unit(self, code: str) -> dict[str, Any]:
        """One unit's villages (ranked within the unit) and pre-merger communes (UnknownUnit if none)."""
        if code not in set(self.units["unit_code"]):
            raise UnknownUnit(f"no 2025 unit has the code {code!r} (không có xã, phường mã {code!r})")
        mine = self.village_points[self.village_points["unit_2025_code"] == code].sort_values("rank_in_unit")
        columns = [
            "village_id", "name", "households_latest", "poor_households_latest", "poor_rate_2026",
            "especially_difficult_2026_2030", "score", "rank_in_unit", "tier_label",
            "minutes_to_health_stations", "synthetic",
        ]  # fmt: skip
        rows = _records(pd.DataFrame(mine[[c for c in columns if c in mine]]))
        for rec, point in zip(rows, mine.geometry, strict=True):
            rec["lon"], rec["lat"] = round(float(point.x), 5), round(float(point.y), 5)
        olds = self.communes[self.communes["unit_2025_code"] == code].drop(columns="unit_2025_code")
        return {"unit_code": code, "villages": rows, "communes_2024": _records(olds)}


OVERVIEW_TOLERANCE = 0.0015  # degrees (about 150 m, under a pixel up to zoom 9): the map's first view
OVERVIEW_GRID = 1e-4  # degrees (about 11 m) to which the overview's coordinates are rounded


def _overview(codes: pd.Series, names: pd.Series, geometries: gpd.GeoSeries) -> dict[str, Any]:
    """Simplified shapes for the map's first view (up to zoom 9), so it draws without a tile request."""
    simple = shapely.set_precision(
        shapely.simplify(geometries.to_crs(4326).values, OVERVIEW_TOLERANCE, preserve_topology=True), OVERVIEW_GRID
    )
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": str(c), "name": str(n)}, "geometry": json.loads(g)}
            for c, n, g in zip(codes, names, shapely.to_geojson(simple), strict=True)
        ],
    }


def workspace_for(warehouse: Warehouse, profile_path: Path) -> WorkspaceData:
    """The workspace data of the warehouse's current build (made once per build)."""
    return warehouse.derived(
        ("workspace", str(profile_path)), lambda build: WorkspaceData(build, Profile.load(profile_path))
    )


# ----------------------------------------------------------------------------------------------------
# exports
# ----------------------------------------------------------------------------------------------------


class Column(BaseModel):
    """A column of an exported table: its key in the rows and its Vietnamese and English headers."""

    key: str = Field(min_length=1, max_length=100)
    vi: str = Field(min_length=1, max_length=200)
    en: str = Field(default="", max_length=200)


Cell = str | float | int | bool | None


class TableExport(BaseModel):
    """A table as shown on screen, to write as XLSX or CSV."""

    name: str = Field(default="atlas", pattern=r"^[\w\-]{1,60}$")
    title: str = Field(default="", max_length=300)
    columns: list[Column] = Field(min_length=1, max_length=MAX_EXPORT_COLUMNS)
    rows: list[dict[str, Cell]] = Field(max_length=MAX_EXPORT_ROWS)
    notes: list[str] = Field(default_factory=list, max_length=20)

    @field_validator("notes")
    @classmethod
    def _short(cls, notes: list[str]) -> list[str]:
        if any(len(n) > 1000 for n in notes):
            raise ValueError("a note is at most 1000 characters")
        return notes


class FeatureExport(BaseModel):
    """Features (GeoJSON, EPSG:4326) to write as GeoPackage or GeoJSON."""

    name: str = Field(default="atlas", pattern=r"^[\w\-]{1,60}$")
    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_EXPORT_ROWS)


def _cell(value: Cell) -> Cell:
    """A value a worksheet can hold (control characters, which XLSX cannot store, removed)."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value


def export_table(table: TableExport, fmt: Literal["xlsx", "csv"]) -> bytes:
    """The table as an XLSX workbook (Vietnamese headers, English in a notes sheet) or a UTF-8 CSV with BOM."""
    keys = [c.key for c in table.columns]
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow([c.vi for c in table.columns])
        for row in table.rows:
            writer.writerow(["" if row.get(k) is None else row.get(k) for k in keys])
        return ("\ufeff" + text.getvalue()).encode("utf-8")  # the BOM: Excel opens Vietnamese text right
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = table.name[:31]
    sheet.append([_cell(c.vi) for c in table.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    for row in table.rows:
        sheet.append([_cell(row.get(k)) for k in keys])
    sheet.freeze_panes = "A2"
    for i, column in enumerate(table.columns, start=1):
        width = max(len(column.vi), *(len(str(r.get(column.key) or "")) for r in table.rows[:200]), 6)
        sheet.column_dimensions[sheet.cell(1, i).column_letter].width = min(width + 2, 50)
    notes = book.create_sheet("Ghi chú - Notes")
    notes.append(["Cột / column", "Tiếng Việt", "English"])
    for c in table.columns:
        notes.append([_cell(c.key), _cell(c.vi), _cell(c.en)])
    notes.append([])
    for line in [table.title, *table.notes]:
        if line:
            notes.append([_cell(line)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def export_features(features: FeatureExport, fmt: Literal["gpkg", "geojson"]) -> bytes:
    """The features as a GeoPackage layer or a GeoJSON file (WorkspaceError when they are not readable)."""
    try:
        frame = gpd.GeoDataFrame.from_features(features.features, crs="EPSG:4326")
    except Exception as exc:  # shapely/geopandas raise several kinds on bad GeoJSON
        raise WorkspaceError(f"the features are not readable GeoJSON: {exc}") from exc
    if "geometry" not in frame or frame.geometry.isna().any() or frame.geometry.is_empty.any():
        raise WorkspaceError("every feature needs a geometry")
    try:
        if fmt == "geojson":
            return json.dumps(json.loads(frame.to_json(drop_id=True)), ensure_ascii=False).encode()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"{features.name}.gpkg"
            frame.to_file(path, layer=features.name, driver="GPKG", engine="pyogrio")
            return path.read_bytes()
    except Exception as exc:  # property names or values GDAL cannot store
        raise WorkspaceError(f"the features cannot be written as {fmt}: {exc}") from exc
