"""What the web maps and the printed maps show: warehouse layers made into map data once per build, cut to a scope.

A scope is the province, one former district (12) or one 2025 unit (75). Districts were abolished on
1 July 2025, but planners still meet by them: a district's map shows the 2025 units that took in at
least one of its communes.

The units carry their figures and priority (priority_units_2025), their poverty series, and their class of the
current policy period (classification_2026_2030: `region_class`, `region_label`, `classification_source`,
`difficult_villages_2026_2030`); the deprivation profiles come from the latest year of deprivations_units_2025.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.names import fold_ascii
from geo.policy import Period, Periods, Standard, Standards
from geo.resolver import AmbiguousName, NameNotFound, NameResolver, Place, resolver_from_layers
from layers.errors import LayerMissing, LayersError
from layers.profile import DeprivationProfile, deprivation_profile, nice_ceiling
from layers.store import Build, Warehouse

ScopeKind = Literal["province", "district", "unit"]
POLYGON_LAYERS = ("province", "districts_2024", "communes_2024", "units_2025")
POINT_LAYERS = (
    "demo_villages", "health_stations", "schools", "markets", "bridges", "investment_plan", "programme_sites",
)  # fmt: skip
PROGRAMME = "programme_units_2025"
# the programme summary of the latest quarter carried by the map's units, renamed where a name is taken
PROGRAMME_COLUMNS = {
    "period": "programme_quarter",
    "programme_period": "programme_period",
    "since": "programme_since",
    "approved_vnd": "approved_vnd",
    "disbursed_vnd": "disbursed_vnd",
    "disbursement_rate": "disbursement_rate",
    "disbursed_per_poor_household": "disbursed_per_poor_household",
    "projects_completed": "projects_completed",
    "least_funded_top_tier": "least_funded_top_tier",
}
LINE_LAYERS = ("roads", "investment_plan_roads")
SERIES_YEARS = (2021, 2022, 2023, 2024, 2025, 2026)
UNIT_PREFIXES = ("Thành phố", "Thị xã", "Huyện", "Phường", "Xã")
CLASSIFICATION = "classification_2026_2030"  # the current period's classification of the 2025 units
DEPRIVATIONS = "deprivations_units_2025"
# classification_2026_2030 columns as the map units carry them
CLASS_COLUMNS = {
    "region_class": "region_class",
    "region_label": "region_label",
    "source": "classification_source",
    "document": "classification_document",
    "n_especially_difficult_villages": "difficult_villages_2026_2030",
}
DOCUMENT_KINDS_EN = {"Nghị định": "Decree", "Quyết định": "Decision", "Thông tư": "Circular"}


class MapError(LayersError):
    """A map cannot be made: unknown scope, paper or indicator."""


class UnknownMapError(MapError):
    """No such map (scope)."""


class AmbiguousScope(MapError):
    """A name that several units (or communes, villages) share equally: the message lists them."""


@dataclass(frozen=True)
class Scope:
    """The province, a former district or a 2025 unit."""

    kind: ScopeKind
    code: str
    name: str  # Vietnamese full name: "Huyện Mai Sơn", "Xã Chiềng Mung"

    @property
    def slug(self) -> str:
        """File-name stem: province, district-118, unit-03646."""
        return "province" if self.kind == "province" else f"{self.kind}-{self.code}"

    @property
    def short(self) -> str:
        """The name without its unit type: "Mai Sơn", "Chiềng Mung"."""
        for prefix in UNIT_PREFIXES:
            if self.name.startswith(prefix + " "):
                return self.name[len(prefix) + 1 :]
        return self.name

    @property
    def label_vi(self) -> str:
        """'Tỉnh Sơn La', 'Huyện Mai Sơn (cũ)', 'Xã Chiềng Mung'."""
        return {"province": "Tỉnh Sơn La", "district": f"{self.name} (cũ)", "unit": self.name}[self.kind]

    @property
    def label_en(self) -> str:
        """'Sơn La province', 'former Mai Sơn district', 'Chiềng Mung commune (2025)'."""
        kind = {"Phường": "ward", "Thành phố": "city", "Thị xã": "town"}.get(self.name[: -len(self.short) - 1], "")
        return {
            "province": "Sơn La province",
            "district": f"former {self.short} {kind or 'district'}",
            "unit": f"{self.short} {kind or 'commune'} (2025)",
        }[self.kind]


@dataclass(frozen=True)
class Edition:
    """What the maps' figures are: the policy period, the year of the latest figures and its poverty standard."""

    period: Period
    year: int
    standard: Standard
    series_breaks: tuple[tuple[int, int], ...]  # consecutive years of the series between which the standard changes

    @property
    def period_label(self) -> str:
        """ "Giai đoạn 2026-2030 / Period 2026-2030"."""
        return self.period.label

    @property
    def standard_vi(self) -> str:
        """ "Nghị định 07/2021/NĐ-CP": the standard's document without its date."""
        return self.standard.document.split(" (")[0]

    @property
    def standard_en(self) -> str:
        """ "Decree 07/2021/NĐ-CP"."""
        text = self.standard_vi
        for vi, en in DOCUMENT_KINDS_EN.items():
            text = text.replace(vi, en)
        return text

    @property
    def text_vi(self) -> str:
        """ "Giai đoạn 2026-2030 · số liệu năm 2026, chuẩn nghèo Nghị định 07/2021/NĐ-CP"."""
        return f"{self.period.title_vi} · số liệu năm {self.year}, chuẩn nghèo {self.standard_vi}"

    @property
    def text_en(self) -> str:
        """ "Period 2026-2030 · 2026 figures, poverty standard Decree 07/2021/NĐ-CP"."""
        return f"{self.period.title_en} · {self.year} figures, poverty standard {self.standard_en}"

    def breaks_text(self, standards: Standards | None = None) -> str:
        """ "QD59-2015 → ND07-2021 (2021 → 2022)": each change of standard within the series, or ""."""
        standards = standards or Standards.load()
        return "; ".join(
            f"{standards.for_year(a).id} → {standards.for_year(b).id} ({a} → {b})" for a, b in self.series_breaks
        )


@dataclass
class MapData:
    """The layers of one warehouse build that maps draw, with the build's date and attribution."""

    layers: dict[str, gpd.GeoDataFrame]
    metadata: pd.DataFrame  # one row per layer: title, licences, attribution, synthetic
    built_at: str
    fingerprint: str
    deprivations: pd.DataFrame = field(default_factory=pd.DataFrame)  # deprivations_units_2025, latest year
    _simplified: dict[tuple[str, float], gpd.GeoSeries] = field(default_factory=dict)
    _projected: dict[tuple[str, str], gpd.GeoDataFrame] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _resolver: NameResolver | None = None

    @classmethod
    def load(cls, build: Build) -> MapData:
        """Make the map data from the layers of a warehouse build (shared with its other readers, not modified)."""
        needed = (*POLYGON_LAYERS, *POINT_LAYERS, *LINE_LAYERS, "priority_units_2025", "indicators_communes_2024")
        missing = [
            n
            for n in (*needed, "indicators_units_2025", CLASSIFICATION, DEPRIVATIONS, PROGRAMME)
            if n not in build.names
        ]
        if missing:
            raise LayerMissing(f"the warehouse lacks layer(s) {', '.join(missing)}: rebuild it with `atlas build`")
        layers = {name: build.frame(name) for name in needed}
        series = build.frame("indicators_units_2025")
        units = layers["units_2025"][["code", "unit_type", "former_district_codes", "former_districts", "geometry"]]
        ranked = pd.DataFrame(layers["priority_units_2025"].drop(columns="geometry"))
        extra = [f"poor_rate_{y}" for y in SERIES_YEARS if f"poor_rate_{y}" not in ranked]
        ranked = ranked.merge(series[["unit_code", "latest_year", *extra]], on="unit_code", how="left")
        classes = pd.DataFrame(build.frame(CLASSIFICATION)).drop(columns="geometry")
        classes = classes[["unit_code", *CLASS_COLUMNS]].rename(columns=CLASS_COLUMNS)
        ranked = ranked.drop(columns=[c for c in classes if c != "unit_code" and c in ranked])
        ranked = ranked.merge(classes, on="unit_code", how="left")
        programme = pd.DataFrame(build.frame(PROGRAMME)).drop(columns="geometry")
        outputs = [c for c in programme if c.startswith("output_")]
        programme = programme[["unit_code", *PROGRAMME_COLUMNS, *outputs]].rename(columns=PROGRAMME_COLUMNS)
        ranked = ranked.merge(programme, on="unit_code", how="left")
        layers["map_units"] = gpd.GeoDataFrame(
            units.rename(columns={"code": "unit_code"}).merge(ranked, on="unit_code"), geometry="geometry", crs=4326
        )
        communes = layers["communes_2024"][["code", "name", "unit_type", "district_code", "unit_2025_code", "geometry"]]
        figures = pd.DataFrame(layers["indicators_communes_2024"].drop(columns="geometry"))
        layers["map_communes"] = gpd.GeoDataFrame(
            communes.merge(
                figures[["unit_code", "poor_rate", "poor_households", "households", "region_class", "synthetic"]],
                left_on="code",
                right_on="unit_code",
                how="left",
            ),
            geometry="geometry",
            crs=4326,
        )
        deprivations = pd.DataFrame(build.frame(DEPRIVATIONS)).drop(columns="geometry")
        latest = deprivations[deprivations["year"] == deprivations["year"].max()].reset_index(drop=True)
        return cls(layers, build.metadata, build.built_at, build.fingerprint, latest)

    # ------------------------------------------------------------------------------------------------
    def districts(self) -> list[Scope]:
        """The 12 former districts, by code."""
        d = self.layers["districts_2024"].sort_values("code")
        return [Scope("district", str(c), str(n)) for c, n in zip(d["code"], d["name"], strict=True)]

    def units(self) -> list[Scope]:
        """The 75 units of 2025, by code."""
        u = self.layers["units_2025"].sort_values("code")
        return [Scope("unit", str(c), str(n)) for c, n in zip(u["code"], u["full_name"], strict=True)]

    def scopes(self) -> list[Scope]:
        """Province, districts and units: every map the atlas makes."""
        return [Scope("province", "14", "Sơn La"), *self.districts(), *self.units()]

    def scope(self, kind: ScopeKind, key: str) -> Scope:
        """A scope by code or by name (diacritics and case ignored; 'Xã', 'Phường' optional for units)."""
        return self.resolve(kind, key)[0]

    def resolve(self, kind: ScopeKind, key: str) -> tuple[Scope, Place | None]:
        """The scope a name means, with the place it was found through when that is not the scope itself (a
        pre-merger commune, a variant spelling, a village): 2025 units and pre-merger communes first, villages
        only when no unit or commune has the name. A name several places share equally is a MapError listing
        them; an unknown one lists the scopes."""
        if kind == "province":
            return self.scopes()[0], None
        options = self.districts() if kind == "district" else self.units()
        wanted = fold_ascii(" ".join(str(key).split()))
        for s in options:
            if wanted in (s.code, fold_ascii(s.name), fold_ascii(s.short)):
                return s, None
        tiers = [("district_2024",)] if kind == "district" else [("unit_2025", "commune_2024"), ("village",)]
        place = self.resolver().by_code(str(key), kinds=tiers[0]) if str(key).strip().isdigit() else None
        for kinds in tiers if place is None else []:
            try:
                place = self.resolver().resolve(str(key), kinds=kinds)
                break
            except NameNotFound:
                continue
            except AmbiguousName as exc:
                raise AmbiguousScope(f"{kind} {key!r} is ambiguous: {exc}; give its code or its full name") from exc
        if place is None:
            names = ", ".join(s.name for s in options)
            raise MapError(f"unknown {kind} {key!r} (không tìm thấy); the {kind}s are {names}")
        code = place.code if kind == "district" else place.unit_code
        scope = next(s for s in options if s.code == code)
        return scope, None if place.kind in ("unit_2025", "district_2024") and place.code == scope.code else place

    def resolver(self) -> NameResolver:
        """The name resolver of the map's layers (units, pre-merger communes, former districts, villages)."""
        with self._lock:
            if self._resolver is None:
                self._resolver = resolver_from_layers(self.layers)
            return self._resolver

    def by_slug(self, slug: str) -> Scope:
        """A scope from its file-name stem (province, district-118, unit-03646)."""
        return self.resolve_slug(slug)[0]

    def resolve_slug(self, slug: str) -> tuple[Scope, Place | None]:
        """A scope from a file-name stem, with the place it was found through: province, district-118,
        unit-03646, or a name or pre-merger code resolved like `atlas print --unit` (unit-chieng-noi,
        unit-04141). UnknownMapError (404) when nothing matches; AmbiguousScope (400) listing the choices."""
        if slug == "province":
            return self.scopes()[0], None
        kind, _, code = slug.partition("-")
        if kind in ("district", "unit") and code:
            for s in self.districts() if kind == "district" else self.units():
                if s.code == code:
                    return s, None
            try:
                return self.resolve(kind, code.replace("-", " "))  # type: ignore[arg-type]
            except AmbiguousScope:
                raise  # 400 with the choices, not 404
            except MapError:
                pass
        raise UnknownMapError(f"no map {slug!r}: province, district-<code> or unit-<code>")

    # ------------------------------------------------------------------------------------------------
    def units_in(self, scope: Scope) -> gpd.GeoDataFrame:
        """The 2025 units of a scope, with their figures, priority and poverty series."""
        u = self.layers["map_units"]
        if scope.kind == "district":
            codes = u["former_district_codes"].fillna("").str.split(", ")
            return u[codes.map(lambda c: scope.code in c)].reset_index(drop=True)
        if scope.kind == "unit":
            return u[u["unit_code"] == scope.code].reset_index(drop=True)
        return u.reset_index(drop=True)

    def select(self, name: str, scope: Scope) -> gpd.GeoDataFrame:
        """Rows of a layer that belong to the scope (by district or 2025 unit code)."""
        frame = self.layers[name]
        if scope.kind == "province" or name in ("province", "districts_2024"):
            return frame
        if scope.kind == "district":
            if "district_code" in frame:
                return frame[frame["district_code"] == scope.code].reset_index(drop=True)
            units = set(self.units_in(scope)["unit_code"])
            return frame[frame["unit_2025_code"].isin(units)].reset_index(drop=True)
        return frame[frame["unit_2025_code"] == scope.code].reset_index(drop=True)

    def outline(self, scope: Scope) -> shapely.Geometry:
        """The scope's own boundary: the province, the former district, or the unit."""
        if scope.kind == "province":
            return self.layers["province"].geometry.iloc[0]
        if scope.kind == "district":
            d = self.layers["districts_2024"]
            return d.geometry[d["code"] == scope.code].iloc[0]
        u = self.layers["units_2025"]
        return u.geometry[u["code"] == scope.code].iloc[0]

    def simplified(self, name: str, scope: Scope, tolerance: float) -> gpd.GeoDataFrame:
        """The scope's rows of a polygon layer, simplified as one coverage (shared edges stay shared)."""
        with self._lock:
            if (name, tolerance) not in self._simplified:
                frame = self.layers[name]
                geoms = shapely.coverage_simplify(frame.geometry.values, tolerance)
                self._simplified[(name, tolerance)] = gpd.GeoSeries(geoms, index=frame.index, crs=4326)
            simple = self._simplified[(name, tolerance)]
        if name == "map_units":
            rows = self.units_in(scope)
            key = "unit_code"
        else:
            rows = self.select(name, scope)
            key = "code"
        lookup = dict(zip(self.layers[name][key], simple.values, strict=True))
        return rows.set_geometry([lookup[k] for k in rows[key]], crs=4326)

    def projected(self, name: str, crs: str) -> gpd.GeoDataFrame:
        """A whole layer in another CRS (kept)."""
        with self._lock:
            if (name, crs) not in self._projected:
                self._projected[(name, crs)] = self.layers[name].to_crs(crs)
            return self._projected[(name, crs)]

    # ------------------------------------------------------------------------------------------------
    def edition(self) -> Edition:
        """The period, year and poverty standard of the units' figures (the latest year of their series)."""
        units = self.layers["map_units"]
        periods = Periods.load()
        period_ids = units["period"].dropna().unique() if "period" in units else []
        period = periods.get(str(period_ids[0])) if len(period_ids) == 1 else periods.get(periods.current)
        years = units["latest_year"].dropna()
        year = int(years.max()) if len(years) else max(y for y in SERIES_YEARS if f"poor_rate_{y}" in units)
        standards = Standards.load()
        held = [y for y in SERIES_YEARS if y <= year and f"poor_rate_{y}" in units]
        return Edition(period, year, standards.for_year(year), tuple(standards.breaks(held)))

    def profile(self, scope: Scope) -> DeprivationProfile | None:
        """The deprivation profile of the scope's households in the latest year (None without deprivation rows)."""
        codes = set(self.units_in(scope)["unit_code"])
        rows = self.deprivations[self.deprivations["unit_code"].isin(codes)]
        if rows.empty:
            return None
        need = str(rows["top_need_label"].iloc[0] or "") if scope.kind == "unit" and "top_need_label" in rows else ""
        return deprivation_profile(rows, Standards.load(), need)

    def unit_profiles(self) -> dict[str, DeprivationProfile]:
        """Each 2025 unit's deprivation profile in the latest year, by unit code."""
        standards = Standards.load()
        return {
            str(code): deprivation_profile(rows, standards, str(rows["top_need_label"].iloc[0] or ""))
            for code, rows in self.deprivations.groupby("unit_code", sort=False)
        }

    def profile_scale(self) -> float:
        """The end of the bar scale of the units' profiles: a round percentage above every unit's largest share."""
        shares = self.deprivations.filter(like="pct_").to_numpy(dtype=float)
        top = float(np.nanmax(shares)) if shares.size and not np.isnan(shares).all() else 10.0
        return nice_ceiling(top)

    def synthetic(self, *names: str) -> bool:
        """Whether any of these layers holds synthetic (demo) rows."""
        meta = self.metadata.set_index("layer")
        return any(bool(meta.loc[n, "synthetic"]) for n in names if n in meta.index)

    def attributions(self, *names: str) -> tuple[list[str], list[str]]:
        """The sources behind these layers and their licences, each once, in order."""
        meta = self.metadata.set_index("layer")
        sources: dict[str, None] = {}
        licences: dict[str, None] = {}
        for n in names:
            if n in meta.index:
                for part in str(meta.loc[n, "attribution"]).split(" | "):
                    sources.setdefault(part.strip(), None)
                for part in str(meta.loc[n, "licences"]).split("; "):
                    licences.setdefault(part.strip(), None)
        return [s for s in sources if s], [x for x in licences if x]


def series_text(row: pd.Series) -> str:
    """ "2021: 21,7% ‖ 2022: 17,8% → …": the poverty series, "‖" where the poverty standard changes."""
    standards = Standards.load()
    parts: list[str] = []
    previous: int | None = None
    for year, rate in series(row):
        if previous is not None:
            parts.append(" ‖ " if not standards.same_standard(previous, year) else " → ")
        parts.append(f"{year}: {rate:.1f}%".replace(".", ","))
        previous = year
    return "".join(parts)


def series(row: pd.Series) -> list[tuple[int, float]]:
    """(year, poverty rate) pairs of a unit row that has them."""
    out = []
    for year in SERIES_YEARS:
        value = row.get(f"poor_rate_{year}")
        if value is not None and not (isinstance(value, float) and np.isnan(value)):
            out.append((year, float(value)))
    return out


def map_data_for(warehouse: Warehouse) -> MapData:
    """The map data of the warehouse's current build (made once per build)."""
    return warehouse.derived(MapData, MapData.load)


def to_geojson(frame: gpd.GeoDataFrame, columns: list[str], precision: int = 5) -> dict[str, object]:
    """A compact GeoJSON FeatureCollection of some columns (coordinates rounded)."""
    keep = [c for c in columns if c in frame.columns]
    out = frame[[*keep, "geometry"]].copy()
    out["geometry"] = shapely.set_precision(out.geometry.values, 10**-precision)
    text = out.to_json(na="null", drop_id=True)
    result: dict[str, object] = json.loads(text)
    return result
