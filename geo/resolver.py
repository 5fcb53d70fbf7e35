"""One name resolver for every vintage: 2025 units, pre-merger communes, former districts and villages.

Search is accent-insensitive ("chieng noi" finds Xã Chiềng Nơi), knows the spelling variants of the sources and
the crosswalk, and says where a place is now: a pre-merger commune is "part of Xã Phiêng Cằm since 1 July 2025".
The command line (`atlas find`), the print routes and the browser workspace use this one piece.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.errors import GeoError
from geo.names import fold_ascii, match_key, nfc

KINDS = ("unit_2025", "commune_2024", "district_2024", "village")
KIND_LABELS = {
    "unit_2025": ("Xã, phường (từ 01/7/2025)", "2025 unit"),
    "commune_2024": ("Xã trước sáp nhập", "pre-merger commune"),
    "district_2024": ("Huyện cũ", "former district"),
    "village": ("Bản", "village"),
}
# unit-type words dropped from a folded name or query: "xa chieng noi" and "chieng noi" are one query
_TYPE_WORDS = re.compile(r"^(thi tran|thanh pho|thi xa|phuong|huyen|tinh|xa|ban|tt|tp)\s+")
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
MAX_QUERY = 100


class NameNotFound(GeoError):
    """No place matches a name."""


class AmbiguousName(GeoError):
    """A name matches several places equally well."""


def fold(text: str) -> str:
    """A search key: diacritics and the unit type dropped, punctuation as spaces ("Xã Chiềng Nơi" -> "chieng noi")."""
    folded = _NON_WORD.sub(" ", fold_ascii(text)).strip()
    return _TYPE_WORDS.sub("", folded)


@dataclass(frozen=True)
class Place:
    """A place found by name: what it is, where it is, and which 2025 unit holds it now."""

    kind: str
    code: str
    name: str
    unit_code: str
    unit_name: str
    district_name: str
    lon: float
    lat: float
    bbox: tuple[float, float, float, float]
    note_vi: str
    note_en: str
    synthetic: bool = False
    matched: str = ""
    score: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The place as JSON-ready values (with the kind's labels)."""
        out = asdict(self)
        out["bbox"] = list(self.bbox)
        out["kind_vi"], out["kind_en"] = KIND_LABELS[self.kind]
        return out


@dataclass
class _Entry:
    place: Place
    keys: tuple[str, ...]  # folded names (the name first, then variants)
    exact: tuple[str, ...] = field(default=())  # diacritic-keeping keys, for a bonus when the query has marks


def _box(geometry: Any) -> tuple[tuple[float, float, float, float], float, float]:
    minx, miny, maxx, maxy = (round(float(v), 5) for v in geometry.bounds)
    point = geometry.representative_point() if geometry.geom_type not in ("Point",) else geometry
    return (minx, miny, maxx, maxy), round(float(point.x), 5), round(float(point.y), 5)


def _variants(*values: object) -> list[str]:
    names: list[str] = []
    for value in values:
        if isinstance(value, str) and value.strip():
            names += [nfc(v) for v in re.split(r"[;,]", value) if v.strip()]
    return names


def _to_lonlat(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return frame.to_crs(4326) if frame.crs is not None and not frame.crs.equals("EPSG:4326") else frame


class NameResolver:
    """Finds places by name across the vintages of the warehouse."""

    def __init__(self, entries: Iterable[_Entry]) -> None:
        self._entries = list(entries)

    @classmethod
    def from_frames(
        cls,
        units: gpd.GeoDataFrame,
        communes: gpd.GeoDataFrame,
        districts: gpd.GeoDataFrame,
        villages: gpd.GeoDataFrame | None = None,
        demo_villages: gpd.GeoDataFrame | None = None,
    ) -> NameResolver:
        """The resolver of the warehouse layers units_2025, communes_2024, districts_2024 and the villages."""
        units, communes, districts = _to_lonlat(units), _to_lonlat(communes), _to_lonlat(districts)
        entries: list[_Entry] = []
        unit_names = dict(zip(units["code"], units["full_name"], strict=True))
        for row in units.itertuples():
            box, lon, lat = _box(row.geometry)
            names = [row.full_name, row.name, row.name_en, row.full_name_en]
            entries.append(
                _Entry(
                    Place(
                        "unit_2025", row.code, row.full_name, row.code, row.full_name,
                        str(row.former_districts or ""), lon, lat, box,
                        f"{row.full_name}: đơn vị hành chính cấp xã từ 01/7/2025",
                        f"{row.full_name}: a commune-level unit since 1 July 2025",
                    ),
                    tuple(dict.fromkeys(fold(n) for n in names if isinstance(n, str))),
                    (match_key(row.full_name),),
                )
            )  # fmt: skip
        for row in communes.itertuples():
            box, lon, lat = _box(row.geometry)
            same = fold(row.name) == fold(row.unit_2025_name)
            note_vi = (
                f"{row.name} ({row.district_name} cũ) nay là {row.unit_2025_name} từ 01/7/2025"
                if same
                else f"{row.name} ({row.district_name} cũ) là một phần của {row.unit_2025_name} từ 01/7/2025"
            )
            note_en = (
                f"{row.name} (former {row.district_name}) is {row.unit_2025_name} since 1 July 2025"
                if same
                else f"{row.name} (former {row.district_name}) is part of {row.unit_2025_name} since 1 July 2025"
            )
            names = [row.name, *_variants(row.name_variants)]
            entries.append(
                _Entry(
                    Place(
                        "commune_2024", row.code, row.name, row.unit_2025_code, row.unit_2025_name,
                        str(row.district_name), lon, lat, box, note_vi, note_en,
                    ),
                    tuple(dict.fromkeys(fold(n) for n in names)),
                    tuple(match_key(n) for n in names),
                )
            )  # fmt: skip
        for row in districts.itertuples():
            box, lon, lat = _box(row.geometry)
            codes = units["former_district_codes"].astype(str).str.replace(" ", "").str.split(",")
            inside = units[codes.map(lambda c, d=str(row.code): d in c)]
            now = ", ".join(inside["full_name"].head(4)) + (" …" if len(inside) > 4 else "")
            entries.append(
                _Entry(
                    Place(
                        "district_2024", row.code, row.name, "", "", row.name, lon, lat, box,
                        f"{row.name}: cấp huyện đã bãi bỏ từ 01/7/2025; nay gồm {len(inside)} xã, phường ({now})",
                        f"{row.name}: district level abolished on 1 July 2025; now {len(inside)} units ({now})",
                    ),
                    (fold(row.name),),
                    (match_key(row.name),),
                )
            )  # fmt: skip
        placed: set[str] = set()  # GeoNames points a demo village sits on: listed once, as the demo village
        if demo_villages is not None and "geonameid" in demo_villages:
            placed = {str(g) for g in demo_villages["geonameid"].dropna()}
        for frame, synthetic in ((demo_villages, True), (villages, False)):
            if frame is None:
                continue
            frame = _to_lonlat(frame)
            if not synthetic:
                frame = frame[~frame["geonameid"].astype(str).isin(placed)]
            for rec in frame.to_dict("records"):
                code = str(rec.get("village_id") or rec.get("geonameid"))
                unit_code = str(rec.get("unit_2025_code") or "")
                unit_name = str(unit_names.get(unit_code, rec.get("unit_2025_name") or ""))
                name = nfc(str(rec["name"]))
                geom = rec["geometry"]
                box, lon, lat = _box(geom)
                vi = f"{name} thuộc {unit_name}" + (" (bản minh họa)" if synthetic else " (GeoNames)")
                en = f"{name} is in {unit_name}" + (" (demo village)" if synthetic else " (GeoNames)")
                names = [name, *_variants(rec.get("name_ascii"), rec.get("alternate_names"))]
                entries.append(
                    _Entry(
                        Place(
                            "village", code, name, unit_code, unit_name, str(rec.get("district_name") or ""),
                            lon, lat, box, vi, en, synthetic,
                        ),
                        tuple(dict.fromkeys(fold(n) for n in names)),
                        (match_key(name),),
                    )
                )  # fmt: skip
        return cls(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def search(self, query: str, limit: int = 10, kinds: Iterable[str] | None = None) -> list[Place]:
        """The places best matching a query, best first (empty for a query with no letters)."""
        if len(query) > MAX_QUERY:
            raise GeoError(f"a name to search is at most {MAX_QUERY} characters, not {len(query)}")
        wanted = set(kinds or KINDS)
        unknown = wanted - set(KINDS)
        if unknown:
            raise GeoError(f"unknown kind of place {', '.join(sorted(unknown))}; known: {', '.join(KINDS)}")
        key = fold(query)
        if not key:
            return []
        marked = match_key(query) if fold_ascii(query) != nfc(query).casefold() else None
        words = key.split()
        found: list[tuple[int, int, str, Place]] = []
        for entry in self._entries:
            if entry.place.kind not in wanted:
                continue
            score, matched = 0, ""
            for i, name in enumerate(entry.keys):
                if name == key:
                    s = 100
                elif name.startswith(key):
                    s = 80
                elif all(any(w.startswith(q) for w in name.split()) for q in words):
                    s = 60
                elif key in name:
                    s = 40
                else:
                    continue
                s -= 5 if i else 0  # a variant matches a little less well than the name itself
                if s > score:
                    score, matched = s, name
            if not score:
                continue
            if marked is not None and any(marked == e or marked == e.split(" ", 1)[-1] for e in entry.exact):
                score += 10  # the query's diacritics match too
            order = KINDS.index(entry.place.kind)
            found.append((-score, order, entry.place.name, replace(entry.place, matched=matched, score=score)))
        found.sort(key=lambda item: item[:3])
        return [place for *_, place in found[:limit]]

    def by_code(self, code: str, kinds: Iterable[str] | None = None) -> Place | None:
        """The place with this code (a 2025 unit, pre-merger commune, former district or village), or None."""
        wanted = set(kinds or KINDS)
        key = code.strip()
        return next((e.place for e in self._entries if e.place.kind in wanted and e.place.code == key), None)

    def resolve(self, query: str, kinds: Iterable[str] | None = None) -> Place:
        """The one place a name means (NameNotFound, or AmbiguousName listing the candidates)."""
        places = self.search(query, limit=20, kinds=kinds)
        if not places:
            raise NameNotFound(f"no place is called {query!r} (không tìm thấy địa danh)")
        best = [p for p in places if p.score == places[0].score and p.kind == places[0].kind]
        if len(best) > 1:
            listed = "; ".join(f"{p.name} ({p.code}, {p.unit_name or p.district_name})" for p in best[:6])
            raise AmbiguousName(f"{query!r} matches {len(best)} places equally well: {listed}")
        return places[0]


def resolver_from_layers(frames: dict[str, pd.DataFrame]) -> NameResolver:
    """The resolver of a dict of warehouse layers (missing village layers are left out)."""
    for name in ("units_2025", "communes_2024", "districts_2024"):
        if name not in frames:
            raise GeoError(f"the warehouse has no layer {name}: the name resolver needs it")
    return NameResolver.from_frames(
        frames["units_2025"],
        frames["communes_2024"],
        frames["districts_2024"],
        frames.get("villages"),
        frames.get("demo_villages"),
    )
