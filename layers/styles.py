"""Colour scales shared by the raster tiles, the MapLibre styles, the web maps and the printed maps."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


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

    def maplibre_fill_layers(self, source: str, source_layer: str, opacity: float = 0.85) -> list[dict[str, object]]:
        """One MapLibre fill layer per class, selected by a filter on the class property.

        Filters with constant colours are the form both MapLibre and QGIS's style converter (3.22 and
        later) read; QGIS 3.22 does not evaluate data-driven fill colours on vector tiles.
        """
        layers: list[dict[str, object]] = []
        for k, colour in enumerate(self.colours):
            layers.append(
                {
                    "id": f"{source_layer}-{self.id}-{k}",
                    "type": "fill",
                    "source": source,
                    "source-layer": source_layer,
                    "filter": ["==", self.class_field, str(k)],
                    "paint": {"fill-color": colour, "fill-opacity": opacity},
                }
            )
        return layers


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

SCALES = {POVERTY_RATE.id: POVERTY_RATE, PRIORITY_TIER.id: PRIORITY_TIER}


def scale_for(fields: Iterable[str]) -> ColourScale | None:
    """The scale a layer with these properties is drawn with: priority tier first, then poverty rate."""
    present = set(fields)
    for scale in (PRIORITY_TIER, POVERTY_RATE):
        if scale.field in present or scale.class_field in present:
            return scale
    return None


def hex_to_rgba(colour: str, alpha: int = 255) -> tuple[int, int, int, int]:
    """'#rrggbb' as an RGBA tuple."""
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16), alpha
