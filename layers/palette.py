"""The one palette of the atlas: every colour the tiles, MapLibre styles, web maps and printed maps draw layers in.

Colour scales (poverty rate, priority tier) classify a value; symbols colour the features of a layer that is
not a choropleth, by the layer and, for some layers, by the value of one property (especially difficult
villages, road surface). Renderers take their colours from here and never write one of their own, so a layer
looks the same in QGIS on the vector tiles, in the folium page and on the printed sheet.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from geo.policy import Needs
from layers.catalog import GeometryKind, LayerSpec

# ----------------------------------------------------------------------------------------------------
# colour scales
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColourScale:
    """Class breaks (upper bounds, exclusive) and one colour per class, with bilingual labels."""

    id: str
    field: str
    title_vi: str
    title_en: str
    breaks: tuple[float, ...]  # n - 1 inner breaks for n classes
    colours: tuple[str, ...]
    no_data: str = "#cccccc"
    class_labels: tuple[str, ...] = ()  # legend labels of categorical scales (tiers) instead of ranges

    def __post_init__(self) -> None:
        if len(self.colours) != len(self.breaks) + 1:
            raise ValueError(f"{self.id}: {len(self.breaks)} breaks need {len(self.breaks) + 1} colours")
        if self.class_labels and len(self.class_labels) != len(self.colours):
            raise ValueError(f"{self.id}: {len(self.colours)} classes need {len(self.colours)} labels")

    def classify(self, values: np.ndarray) -> np.ndarray:
        """Class index of each value (0 .. n-1), -1 where the value is missing."""
        values = np.asarray(values, dtype="float64")
        index = np.searchsorted(np.asarray(self.breaks), values, side="right")
        return np.where(np.isnan(values), -1, index)

    def colour(self, value: float | None) -> str:
        """Hex colour of one value."""
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return self.no_data
        return self.colours[int(self.classify(np.array([value]))[0])]

    def labels(self, unit: str = "%") -> list[str]:
        """Legend labels: "< 5%", "5-10%", …, "≥ 50%" (or the class labels of a categorical scale)."""
        if self.class_labels:
            return list(self.class_labels)
        edges = [f"{b:g}" for b in self.breaks]
        out = [f"< {edges[0]}{unit}"]
        out += [f"{a}–{b}{unit}" for a, b in itertools.pairwise(edges)]
        out.append(f"≥ {edges[-1]}{unit}")
        return out

    @property
    def class_field(self) -> str:
        """The tile property holding each feature's class index as text, "0" … "6" (added by layers.tiles)."""
        return f"{self.field}_class"


# Breaks at the thresholds planners use: 10% (region I), 15% and 20% (region III, especially difficult
# villages, Decision 33/2020), plus 5%, 30% and 50% for spread. ColorBrewer YlOrRd, 7 classes.
POVERTY_RATE = ColourScale(
    id="poverty_rate",
    field="poor_rate",
    title_vi="Tỷ lệ hộ nghèo",
    title_en="Poverty rate",
    breaks=(5, 10, 15, 20, 30, 50),
    colours=("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#b10026"),
)

# Priority tiers of geo.priority (0 low … 3 very high), ColorBrewer RdPu, 4 classes.
PRIORITY_TIER = ColourScale(
    id="priority_tier",
    field="tier",
    title_vi="Mức ưu tiên",
    title_en="Priority tier",
    breaks=(1, 2, 3),
    colours=("#feebe2", "#fbb4b9", "#f768a1", "#ae017e"),
    class_labels=("thấp / low", "trung bình / medium", "cao / high", "rất cao / very high"),
)

# Region class (khu vực) I, II, III of the current period's classification (classification_2026_2030), and of
# the pre-merger communes for 2021-2025: region III (especially difficult) darkest. ColorBrewer BuGn, 3 classes.
REGION_CLASS = ColourScale(
    id="region_class",
    field="region_class",
    title_vi="Khu vực",
    title_en="Region class",
    breaks=(2, 3),
    colours=("#e5f5f9", "#99d8c9", "#2ca25f"),
    class_labels=("khu vực I / region I", "khu vực II / region II", "khu vực III / region III"),
)

# Share of the approved money disbursed (programme tracking): red where money is slow to leave, green where most
# of it has been paid. ColorBrewer RdYlGn, 5 classes.
DISBURSEMENT_RATE = ColourScale(
    id="disbursement_rate",
    field="disbursement_rate",
    title_vi="Tỷ lệ giải ngân",
    title_en="Disbursement rate",
    breaks=(25, 50, 75, 90),
    colours=("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641"),
)

SCALES = {
    POVERTY_RATE.id: POVERTY_RATE,
    PRIORITY_TIER.id: PRIORITY_TIER,
    REGION_CLASS.id: REGION_CLASS,
    DISBURSEMENT_RATE.id: DISBURSEMENT_RATE,
}
# layers drawn with another scale than their fields would choose, or (None) with their own symbols
LAYER_SCALES: dict[str, ColourScale | None] = {
    "programme_units_2025": DISBURSEMENT_RATE,
    "classification_2026_2030": REGION_CLASS,
    "deprivations_units_2025": None,  # coloured by top_need, not by its poverty rate
}

# WorldPop persons per ~1 km cell on a log scale, 1 … 10,000 (ColorBrewer Greens, 5 classes): raster tiles only
POPULATION_COLOURS = ("#f7fcf5", "#c7e9c0", "#74c476", "#238b45", "#00441b")


def scale_for(fields: Iterable[str], layer_id: str | None = None) -> ColourScale | None:
    """The scale a layer with these properties is drawn with: the layer's own (LAYER_SCALES), else priority tier,
    then poverty rate, then region class."""
    present = set(fields)
    if layer_id in LAYER_SCALES:
        scale = LAYER_SCALES[layer_id]
        return scale if scale is not None and scale.field in present else None
    for scale in (PRIORITY_TIER, POVERTY_RATE, REGION_CLASS):
        if scale.field in present or scale.class_field in present:
            return scale
    return None


def hex_to_rgba(colour: str, alpha: int = 255) -> tuple[int, int, int, int]:
    """'#rrggbb' as an RGBA tuple."""
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16), alpha


# ----------------------------------------------------------------------------------------------------
# symbols of layers
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Symbol:
    """The colours of a feature: its fill (points, polygons) or stroke (lines), and its outline."""

    colour: str  # fill of points and polygons, the stroke of lines
    edge: str | None = None  # outline of points and polygons


@dataclass(frozen=True)
class LayerColours:
    """A layer's symbol, or a symbol chosen by the value of one property (the default where no value matches)."""

    symbol: Symbol
    field: str | None = None
    classes: tuple[tuple[Any, Symbol], ...] = ()  # (value of `field`, its symbol)
    title_vi: str = ""  # a legend of the classes, where the classes are a map's subject (top need)
    title_en: str = ""
    labels: tuple[str, ...] = ()  # one per class

    def symbol_for(self, properties: Mapping[str, Any]) -> Symbol:
        """The symbol of a feature with these properties."""
        if self.field is not None:
            value = properties.get(self.field)
            for match, symbol in self.classes:
                if value is not None and value == match:
                    return symbol
        return self.symbol


CHOROPLETH_EDGE = "#3c3c3c"  # outlines of choropleth polygons, on vector and raster tiles and web maps
# the plain symbol of each geometry kind, for layers without colours of their own
POINT = Symbol("#2b8cbe", "#ffffff")
LINE = Symbol("#777777")
POLYGON = Symbol("#b3b3d9", CHOROPLETH_EDGE)
DEFAULT_SYMBOLS: dict[GeometryKind, Symbol] = {"point": POINT, "line": LINE, "polygon": POLYGON}

VILLAGE = Symbol("#6baed6", "#08519c")
DIFFICULT_VILLAGE = Symbol("#d7301f", "#7f0000")  # bản đặc biệt khó khăn
PROPOSED = Symbol("#ff7f00", "#7f2704")  # projects of the investment plan
UNIT_2025 = Symbol(POLYGON.colour, "#111111")
COMMUNE_2024 = Symbol(POLYGON.colour, "#2b5d8a")
DISTRICT_2024 = Symbol(POLYGON.colour, "#6a3d9a")
# the labels geo.demo and geo.importing write in roads.surface ("không rõ / unknown" and others: LINE)
SURFACES: tuple[tuple[str, Symbol], ...] = (
    ("nhựa / asphalt", Symbol("#404040")),
    ("bê tông / concrete", Symbol("#1b7837")),
    ("cấp phối / gravel", Symbol("#bf812d")),
    ("đất / earth", Symbol("#8c510a")),
)
FACILITIES = {
    "health_stations": Symbol("#e7298a", "#e7298a"),
    "schools": Symbol("#7570b3", "#7570b3"),
    "markets": Symbol("#66a61e", "#66a61e"),
    "bridges": Symbol("#1f78b4", "#1f78b4"),
}

# villages are marked especially difficult by the current period's list (2026-2030; 2021-2025 in the popups)
DIFFICULT_FIELD = "especially_difficult_2026_2030"
_VILLAGES = LayerColours(VILLAGE, DIFFICULT_FIELD, ((True, DIFFICULT_VILLAGE),))

# deprivation profiles: the bars of the shares of households lacking each indicator, the most lacked darker
DEPRIVATION_BAR = Symbol("#9e9ac8", "#54278f")
DEPRIVATION_TOP = Symbol("#54278f", "#3f007d")
# the kinds of project of data/profiles/needs.yaml (top_need of deprivations_units_2025); others: NEED_OTHERS
NEED_COLOURS = {
    "water_sanitation": "#1f78b4",
    "housing_support": "#b15928",
    "school": "#6a3d9a",
    "health_station": "#e31a1c",
    "connectivity": "#33a02c",
}
NEED_OTHERS = ("#ff7f00", "#a6cee3", "#fb9a99", "#cab2d6", "#ffff99")


@functools.cache
def need_colours() -> LayerColours:
    """Units coloured by the need that stands out (top_need), one colour per kind of project in needs.yaml."""
    needs = Needs.load()
    spare = itertools.cycle(NEED_OTHERS)
    classes = tuple((kind, Symbol(NEED_COLOURS.get(kind) or next(spare), CHOROPLETH_EDGE)) for kind in needs.kinds)
    return LayerColours(
        Symbol(POLYGON.colour, CHOROPLETH_EDGE),
        "top_need",
        classes,
        title_vi="Nhu cầu nổi bật",
        title_en="Need that stands out",
        labels=tuple(f"{k.vi} / {k.en}" for k in needs.kinds.values()),
    )


CHOROPLETH = LayerColours(Symbol(POLYGON.colour, CHOROPLETH_EDGE))
LAYER_COLOURS: dict[str, LayerColours] = {
    "units_2025": LayerColours(UNIT_2025),
    "communes_2024": LayerColours(COMMUNE_2024),
    "districts_2024": LayerColours(DISTRICT_2024),
    "indicators_units_2025": CHOROPLETH,
    "indicators_communes_2024": CHOROPLETH,
    "indicators_districts_2024": CHOROPLETH,
    "priority_units_2025": CHOROPLETH,
    "classification_2026_2030": CHOROPLETH,
    "villages": LayerColours(VILLAGE),
    "demo_villages": _VILLAGES,
    "priority_villages": _VILLAGES,
    **{layer: LayerColours(symbol) for layer, symbol in FACILITIES.items()},
    "roads": LayerColours(LINE, "surface", SURFACES),
    "investment_plan": LayerColours(PROPOSED),
    "investment_plan_roads": LayerColours(Symbol(PROPOSED.colour)),
    "programme_units_2025": CHOROPLETH,
    "programme_sites": LayerColours(
        Symbol("#fdae61", "#7f2704"),  # approved, under construction
        "status",
        (
            ("completed", Symbol("#1a9641", "#00441b")),
            ("proposed", Symbol("#bdbdbd", "#525252")),
            ("cancelled", Symbol("#ffffff", "#525252")),
        ),
    ),
}

# drawn on the maps only
NEIGHBOUR = Symbol("#f2f2f2", "#b0b0b0")  # 2025 units outside a printed sheet's scope
INSET = Symbol("#e6e6e6", "#888888")  # former districts in a sheet's locator inset
LOCATED = DIFFICULT_VILLAGE  # the sheet's scope in its locator inset
MINIMAP = Symbol("#dddddd", "#555555")  # former districts in the web map's overview
HIGHLIGHT = "#000000"  # outline of the unit under the pointer on a web map


def colours_for(spec: LayerSpec) -> LayerColours:
    """The colours of a spatial layer: its own, or the plain symbol of its geometry kind."""
    kind = spec.geometry_kind
    if kind is None:
        raise ValueError(f"layer {spec.id} is a table: it is not drawn")
    if spec.id == "deprivations_units_2025":
        return need_colours()
    return LAYER_COLOURS.get(spec.id) or LayerColours(DEFAULT_SYMBOLS[kind])
