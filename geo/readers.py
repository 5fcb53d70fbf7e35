"""Readers of the raw sources: each returns a normalised frame or raises InputDataError naming file and row."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.errors import CrosswalkError, InputDataError
from geo.names import clean_name, normalize_code

WGS84 = "EPSG:4326"


def read_vector(path: Path, *, geometry_types: tuple[str, ...], label: str = "feature") -> gpd.GeoDataFrame:
    """Read a vector file, reproject to EPSG:4326 and reject null, empty or invalid geometries."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(path, "file does not exist")
    try:
        gdf = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises several DataSourceError flavours
        raise InputDataError(path, f"cannot be read as a vector file: {exc}") from exc
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf:
        raise InputDataError(path, "has no geometry column")
    if gdf.crs is None:
        raise InputDataError(path, "declares no coordinate reference system")
    geoms = gdf.geometry.values
    for i, geom in enumerate(geoms):
        where = f"{label} {i + 1}"
        if geom is None or geom.is_empty:
            raise InputDataError(path, "geometry is missing or empty", row=where, column="geometry")
        if geom.geom_type not in geometry_types:
            raise InputDataError(
                path, f"geometry is {geom.geom_type}, expected {' or '.join(geometry_types)}", row=where
            )
        if not geom.is_valid:
            raise InputDataError(
                path, f"invalid geometry ({shapely.is_valid_reason(geom)})", row=where, column="geometry"
            )
    if not gdf.crs.equals(WGS84):
        gdf = gdf.to_crs(WGS84)
    return gdf


def _codes(frame: pd.DataFrame, column: str, width: int, path: Path, label: str, offset: int = 1) -> pd.Series:
    """Normalise a code column to zero-padded text; reject malformed and duplicate codes."""
    if column not in frame:
        raise InputDataError(path, f"column '{column}' is missing")
    out = []
    for i, value in enumerate(frame[column].tolist()):
        try:
            out.append(normalize_code(None if pd.isna(value) else value, width))
        except ValueError as exc:
            raise InputDataError(path, str(exc), row=f"{label} {i + offset}", column=column) from None
    codes = pd.Series(out, index=frame.index, dtype=object)
    dup = codes[codes.duplicated(keep=False)]
    if not dup.empty:
        first = dup.iloc[0]
        rows = [str(i + offset) for i, c in enumerate(codes) if c == first]
        raise InputDataError(path, f"duplicate code {first} in {label}s {', '.join(rows)}", column=column)
    return codes


def _require(frame: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise InputDataError(path, f"missing column(s): {', '.join(missing)}")


def read_units_2025(path: Path) -> gpd.GeoDataFrame:
    """The 75 units of 2025: code, name, type and English names, MultiPolygons in EPSG:4326."""
    gdf = read_vector(path, geometry_types=("Polygon", "MultiPolygon"))
    _require(gdf, ["code", "name", "fullName", "loai"], path)
    out = gpd.GeoDataFrame(
        {
            "code": _codes(gdf, "code", 5, path, "feature"),
            "name": [clean_name(n) for n in gdf["name"]],
            "full_name": [clean_name(n) for n in gdf["fullName"]],
            "unit_type": [clean_name(t) for t in gdf["loai"]],
            "name_en": gdf.get("nameEn", pd.Series([None] * len(gdf))).tolist(),
            "full_name_en": gdf.get("fullNameEn", pd.Series([None] * len(gdf))).tolist(),
            "area_km2_published": pd.to_numeric(gdf.get("areaKm2"), errors="coerce"),
        },
        geometry=gdf.geometry.values,
        crs=WGS84,
    )
    bad = out[~out["unit_type"].isin(["Xã", "Phường"])]
    if not bad.empty:
        i = int(bad.index[0])
        raise InputDataError(
            path,
            f"unit type {bad.iloc[0]['unit_type']!r} is neither Xã nor Phường",
            row=f"feature {i + 1}",
            column="loai",
        )
    return out


def read_communes_2009(path: Path) -> gpd.GeoDataFrame:
    """The 204 communes of the 2009 census with their census id, district and 2009 population."""
    gdf = read_vector(path, geometry_types=("Polygon", "MultiPolygon"))
    _require(gdf, ["commune_id", "commune_vn", "district_vn", "population"], path)
    return gpd.GeoDataFrame(
        {
            "census_id": _codes(gdf, "commune_id", 7, path, "feature"),
            "name": [clean_name(n) for n in gdf["commune_vn"]],
            "district_name": [clean_name(n) for n in gdf["district_vn"]],
            "population_2009": pd.to_numeric(gdf["population"], errors="coerce").astype("Int64"),
        },
        geometry=gdf.geometry.values,
        crs=WGS84,
    )


def read_districts(path: Path) -> gpd.GeoDataFrame:
    """The 12 former districts with their 3-digit statistics-office codes."""
    gdf = read_vector(path, geometry_types=("Polygon", "MultiPolygon"))
    _require(gdf, ["district_code", "name"], path)
    return gpd.GeoDataFrame(
        {"code": _codes(gdf, "district_code", 3, path, "feature"), "name": [clean_name(n) for n in gdf["name"]]},
        geometry=gdf.geometry.values,
        crs=WGS84,
    )


def read_admin_list(path: Path) -> pd.DataFrame:
    """Districts and communes in force on 1 March 2025 (dvhcvn JSON): one row per commune."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        rows = [
            {
                "code": c["level3_id"],
                "name": clean_name(c["name"]),
                "unit_type": clean_name(c["type"]),
                "district_code": d["level2_id"],
                "district_name": clean_name(d["name"]),
                "district_type": clean_name(d["type"]),
            }
            for d in doc["level2s"]
            for c in d["level3s"]
        ]
    except FileNotFoundError:
        raise InputDataError(path, "file does not exist") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputDataError(path, f"is not a dvhcvn unit list: {exc!r}") from exc
    frame = pd.DataFrame(rows)
    frame["code"] = _codes(frame, "code", 5, path, "commune")
    frame["district_code"] = [normalize_code(c, 3) for c in frame["district_code"]]
    return frame


_CLAUSE = re.compile(r"^(\d+)\.\s")


def read_crosswalk(path: Path) -> pd.DataFrame:
    """The merger crosswalk CSV; adds `line` (the CSV line number) and `clause` (the cited clause)."""
    path = Path(path)
    if not path.is_file():
        raise CrosswalkError(path, "file does not exist")
    required = ["old_code", "old_district_code", "old_district", "old_name", "new_code", "new_name", "citation"]
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise CrosswalkError(path, f"missing column(s): {', '.join(missing)}")
        rows = []
        for line, rec in enumerate(reader, start=2):
            for col in required:
                if not (rec.get(col) or "").strip():
                    raise CrosswalkError(path, "empty value", row=line, column=col)
            try:
                old_code = normalize_code(rec["old_code"], 5)
                new_code = normalize_code(rec["new_code"], 5)
                district_code = normalize_code(rec["old_district_code"], 3)
            except ValueError as exc:
                raise CrosswalkError(path, str(exc), row=line) from None
            m = _CLAUSE.match(rec["citation"].strip())
            if not m:
                raise CrosswalkError(path, "citation does not start with a clause number", row=line, column="citation")
            rows.append(
                {
                    "line": line,
                    "old_code": old_code,
                    "old_district_code": district_code,
                    "old_district": clean_name(rec["old_district"]),
                    "old_name_source": rec["old_name"],
                    "old_name": clean_name(rec["old_name"]),
                    "new_code": new_code,
                    "new_name": clean_name(rec["new_name"]),
                    "confidence": (rec.get("confidence") or "").strip(),
                    "clause": int(m.group(1)),
                }
            )
    frame = pd.DataFrame(rows)
    if frame.empty:
        raise CrosswalkError(path, "has no rows")
    dup = frame[frame["old_code"].duplicated(keep=False)]
    if not dup.empty:
        lines = ", ".join(str(x) for x in dup["line"])
        raise CrosswalkError(
            path, f"old code {dup.iloc[0]['old_code']} appears more than once (lines {lines})", column="old_code"
        )
    return frame


def read_resolution(path: Path) -> dict[int, str]:
    """The numbered clauses of Article 1 of Resolution 1681 (markdown text), as plain text."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(path, "file does not exist")
    text = path.read_text(encoding="utf-8")
    start = text.find("Điều 1.")
    end = text.find("Điều 2.")
    if start < 0 or end < 0:
        raise InputDataError(path, "does not contain Article 1 (Điều 1) and Article 2 (Điều 2)")
    body = text[start:end].replace("\\.", ".").replace("**", "").replace("\\", "")
    clauses: dict[int, str] = {}
    for block in re.split(r"\n\s*\n", body):
        flat = " ".join(block.split())
        m = _CLAUSE.match(flat)
        if m:
            clauses[int(m.group(1))] = flat
    if not clauses:
        raise InputDataError(path, "no numbered clauses found in Article 1")
    return clauses


def read_places(path: Path) -> gpd.GeoDataFrame:
    """GeoNames populated places: id, names, feature code and point geometry."""
    gdf = read_vector(path, geometry_types=("Point",))
    _require(gdf, ["geonameid", "name", "fcode"], path)
    ids = _codes(gdf, "geonameid", 12, path, "feature")
    names = [clean_name(n) for n in gdf["name"]]
    lon = gdf.geometry.x.to_numpy() * 60.0
    lat = gdf.geometry.y.to_numpy() * 60.0
    on_grid = (np.abs(lon - np.round(lon)) < 1e-3) & (np.abs(lat - np.round(lat)) < 1e-3)
    return gpd.GeoDataFrame(
        {
            "geonameid": [i.lstrip("0") for i in ids],
            "name": names,
            "name_ascii": gdf.get("asciiname", pd.Series([None] * len(gdf))).tolist(),
            "alternate_names": gdf.get("alternatenames", pd.Series([None] * len(gdf))).fillna("").tolist(),
            "feature_code": gdf["fcode"].astype(str).tolist(),
            "is_ban": [n.startswith("Bản ") for n in names],
            "location_precision": np.where(on_grid, "1-arc-minute grid (±1 km)", "point"),
        },
        geometry=gdf.geometry.values,
        crs=WGS84,
    )
