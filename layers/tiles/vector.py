"""Mapbox vector tiles of one warehouse layer: projected once, simplified per zoom, clipped and encoded.

Each layer's geometries are projected to EPSG:3857 once; lines and polygons are simplified per zoom to about
one tile unit (layers.tiles.simplify), clipped with a 64-unit buffer and encoded with mapbox-vector-tile.
Tiles carry the properties styling, labels and a click need, and the class index of each shared colour scale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import mapbox_vector_tile
import morecantile
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from layers.catalog import LayerSpec
from layers.palette import SCALES
from layers.store import Build
from layers.tiles.cache import MB
from layers.tiles.grid import BUFFER, EXTENT, TMS
from layers.tiles.simplify import SIMPLIFY_MAX_ZOOM, SimplifiedGeometries

INDICATOR_TILE_FIELDS = (
    "unit_code",
    "unit_name",
    "latest_year",
    "households",
    "poor_households",
    "poor_rate",
    "near_poor_households",
    "near_poor_rate",
    "poor_rate_change",
    "region_class",
    "n_region_iii_communes",
    "n_especially_difficult_villages",
    "synthetic",
)
# The properties tiles carry: what styling, labels and a click need, not every column (those are in the OGC API).
TILE_FIELDS: dict[str, tuple[str, ...]] = {
    "province": ("code", "name"),
    "districts_2024": ("code", "name", "unit_type"),
    "communes_2009": ("census_id", "name", "district_name", "population_2009"),
    "communes_2024": ("code", "name", "unit_type", "district_name", "unit_2025_code", "geometry_quality"),
    "units_2025": ("code", "name", "full_name", "unit_type", "n_communes_2024"),
    "villages": ("geonameid", "name", "is_ban", "commune_2024_code", "unit_2025_code"),
    "demo_villages": (
        "village_id",
        "name",
        "households",
        "poor_rate_2025",
        "poor_rate_2026",
        "especially_difficult",
        "especially_difficult_2026_2030",
        "paved_road_to_centre",
        "all_season_road",
        "is_commune_centre",
        "synthetic",
    ),
    "health_stations": ("facility_id", "name", "facility_type", "synthetic"),
    "schools": ("facility_id", "name", "facility_type", "synthetic"),
    "markets": ("facility_id", "name", "facility_type", "synthetic"),
    "roads": ("road_id", "road_class", "surface", "synthetic"),
    "bridges": ("bridge_id", "bridge_type", "synthetic"),
    "indicators_units_2025": INDICATOR_TILE_FIELDS,
    "priority_units_2025": (
        "unit_code",
        "unit_name",
        "score",
        "rank",
        "tier",
        "tier_label",
        "poor_rate",
        "poor_households",
        "stability",
        "falling_behind",
        "synthetic",
    ),
    "priority_villages": (
        "village_id",
        "name",
        "unit_2025_code",
        "score",
        "rank",
        "rank_in_unit",
        "tier",
        "tier_label",
        "poor_rate_2025",
        "especially_difficult",
        "especially_difficult_2026_2030",
        "synthetic",
    ),
    "investment_plan": (
        "project_id",
        "kind",
        "name_vi",
        "name_en",
        "cost_vnd",
        "poor_households_served",
        "programme_status",
        "synthetic",
    ),
    "investment_plan_roads": ("project_id", "name_vi", "length_km", "cost_vnd", "synthetic"),
    "programme_units_2025": (
        "unit_code",
        "unit_name",
        "period",
        "approved_vnd",
        "disbursed_vnd",
        "disbursement_rate",
        "disbursed_per_poor_household",
        "projects_completed",
        "tier",
        "region_class",
        "least_funded_top_tier",
        "synthetic",
    ),
    "programme_sites": (
        "project_id",
        "name",
        "programme",
        "component",
        "component_label",
        "status",
        "status_label",
        "budget_total",
        "disbursed_vnd",
        "disbursement_rate",
        "plan_match",
        "synthetic",
    ),
    "indicators_communes_2024": INDICATOR_TILE_FIELDS,
    "indicators_districts_2024": INDICATOR_TILE_FIELDS,
    "classification_2026_2030": (
        "unit_code",
        "unit_name",
        "unit_type",
        "period",
        "region_class",
        "region_label",
        "ethnic_minority",
        "mountainous",
        "n_especially_difficult_villages",
        "source",
        "document",
        "document_date",
        "synthetic",
    ),
    "deprivations_units_2025": (
        "unit_code",
        "unit_name",
        "year",
        "standard",
        "households",
        "top_indicator",
        "top_need",
        "top_need_label",
        "pct_*",  # the share of households lacking each indicator, every indicator the layer has
        "synthetic",
    ),
}


def tile_columns(spec: LayerSpec, present: Iterable[str]) -> list[str]:
    """The fields of a layer its tiles carry (those of TILE_FIELDS it has, "prefix_*" standing for every field of
    the layer that starts with the prefix, in the layer's order; else its key and name)."""
    wanted = TILE_FIELDS.get(spec.id, tuple(c for c in (spec.key, "name") if c))
    have = list(present)
    out: list[str] = []
    for c in wanted:
        if c.endswith("*"):
            out += [h for h in have if h.startswith(c[:-1]) and h not in out]
        elif c in have and c not in out:
            out.append(c)
    return out


def tile_field_types(spec: LayerSpec, types: dict[str, str]) -> dict[str, str]:
    """JSON type of each tile property: the carried fields, then the class index of each colour scale they feed."""
    fields = {k: types[k] for k in tile_columns(spec, types)}
    for scale in SCALES.values():
        if scale.field in fields:
            fields[scale.class_field] = "string"
    return fields


@dataclass
class VectorLayer:
    """One warehouse layer ready for tiling."""

    spec: LayerSpec
    geometries: np.ndarray  # EPSG:3857
    properties: list[dict[str, Any]]
    fields: dict[str, str]
    tree: shapely.STRtree
    polygonal: bool
    simplified: SimplifiedGeometries = field(default_factory=lambda: SimplifiedGeometries(160 * MB))
    digest: str = ""  # of the set of geometries: layers sharing their geometries share their simplifications
    order: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.intp))  # canonical order of the set
    rank: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.intp))  # each feature's canonical place

    @classmethod
    def load(cls, build: Build, spec: LayerSpec, simplified: SimplifiedGeometries | None = None) -> VectorLayer:
        """Project and index a layer of the warehouse."""
        loaded = build.layer(spec.id)
        frame = loaded.frame
        assert isinstance(frame, gpd.GeoDataFrame)
        geoms = frame.geometry.to_crs("EPSG:3857").values
        fields = tile_field_types(spec, {k: v["type"] for k, v in loaded.fields.items()})
        columns = tile_columns(spec, loaded.fields)
        # the loaded layer's properties are JSON-ready already (NaN → None, numpy scalars → Python)
        props = [{k: rec[k] for k in columns if rec.get(k) is not None} for rec in loaded.properties]
        for scale in SCALES.values():  # the class index each shared colour scale gives each feature
            if scale.field not in columns:
                continue
            classes = scale.classify(np.array([p.get(scale.field, np.nan) for p in props], dtype=float))
            for p, c in zip(props, classes, strict=True):
                if c >= 0:
                    p[scale.class_field] = str(int(c))
        polygonal = spec.geometry_kind == "polygon"
        geometries = np.asarray(geoms)
        wkb = np.asarray(shapely.to_wkb(geometries), dtype=object)
        order = np.argsort(wkb, kind="stable") if len(wkb) else np.empty(0, dtype=np.intp)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        digest = hashlib.sha256(b"".join(w or b"" for w in wkb[order])).hexdigest()[:24]
        layer = cls(spec, geometries, props, fields, shapely.STRtree(geoms), polygonal, digest=digest, order=order)
        layer.rank = rank
        if simplified is not None:
            layer.simplified = simplified
        return layer

    def geometries_at(self, z: int) -> np.ndarray:
        """Geometries simplified to about one tile unit at zoom z (shared polygon edges kept shared)."""
        if self.spec.geometry_kind == "point":
            return self.geometries
        z = min(z, SIMPLIFY_MAX_ZOOM)
        canonical = self.simplified.get(self.digest, z, lambda: self.geometries[self.order], self.polygonal)
        return canonical[self.rank]

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        """The Mapbox vector tile, or None when no feature touches the tile."""
        bounds = TMS.xy_bounds(morecantile.Tile(x, y, z))
        pad = (bounds.right - bounds.left) * BUFFER / EXTENT
        box = (bounds.left - pad, bounds.bottom - pad, bounds.right + pad, bounds.top + pad)
        hits = self.tree.query(shapely.box(*box))
        if len(hits) == 0:
            return None
        geoms = self.geometries_at(z)
        scale_x = EXTENT / (bounds.right - bounds.left)
        scale_y = EXTENT / (bounds.top - bounds.bottom)

        def to_tile(coords: np.ndarray) -> np.ndarray:
            return np.round(
                np.column_stack([(coords[:, 0] - bounds.left) * scale_x, (coords[:, 1] - bounds.bottom) * scale_y])
            )

        features = []
        for i in np.sort(hits):
            geom: BaseGeometry = geoms[i]
            if geom is None or geom.is_empty:
                continue
            if self.spec.geometry_kind != "point":
                geom = shapely.clip_by_rect(geom, *box)
                if geom.is_empty:
                    continue
            elif not shapely.intersects(geom, shapely.box(*box)):
                continue
            features.append(
                {"geometry": shapely.transform(geom, to_tile), "properties": self.properties[i], "id": int(i) + 1}
            )
        if not features:
            return None
        # coordinates are already tile units (y up; the encoder flips them): no per-coordinate Python work
        encoded = mapbox_vector_tile.encode(
            [{"name": self.spec.id, "features": features}], default_options={"extents": EXTENT, "y_coord_down": False}
        )
        return bytes(encoded)

    def warm(self, zooms: range) -> None:
        """Simplify ahead for the zooms that will be asked."""
        for z in zooms:
            if z <= SIMPLIFY_MAX_ZOOM:
                self.geometries_at(z)


def tilejson_fields(fields: dict[str, str]) -> dict[str, str]:
    """TileJSON `vector_layers` field descriptions of tile properties and their JSON types."""
    kinds = {"integer": "Number", "number": "Number", "boolean": "Boolean"}
    return {name: kinds.get(kind, "String") for name, kind in fields.items()}


def metadata_json(layer: VectorLayer) -> str:
    """The MBTiles `json` metadata entry describing the vector layer."""
    return json.dumps(
        {
            "vector_layers": [
                {"id": layer.spec.id, "fields": tilejson_fields(layer.fields), "description": layer.spec.title_en}
            ]
        },
        ensure_ascii=False,
    )
