"""MapLibre styles of the vector tiles: pure functions from a layer's spec and tile fields to a style document.

A layer is drawn as its geometry kind (fills and outlines, lines, or circles) in the colours of layers.palette:
a choropleth where it carries a colour scale's class property, else its own symbols. Classes are told apart
by filters with constant colours, the form both MapLibre and QGIS's style converter (3.22 and later) read;
QGIS 3.22 does not evaluate data-driven colours on vector tiles. A layer with one feature per unit and year
(deprivations_units_2025) is drawn for the last year of its vintage only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from layers.catalog import LayerSpec
from layers.palette import (
    POVERTY_RATE,
    PRIORITY_TIER,
    REGION_CLASS,
    SCALES,
    ColourScale,
    LayerColours,
    Symbol,
    colours_for,
    hex_to_rgba,
    scale_for,
)

# names the colour scales were imported by from here before layers.palette held them
__all__ = [
    "POVERTY_RATE",
    "PRIORITY_TIER",
    "REGION_CLASS",
    "SCALES",
    "ColourScale",
    "hex_to_rgba",
    "maplibre_layers",
    "maplibre_style",
    "scale_for",
]

FILL_OPACITY = 0.85
OUTLINE_WIDTH = 0.6
LINE_WIDTH = 1.2
CIRCLE_RADIUS = 3.5
CIRCLE_STROKE_WIDTH = 0.5

Layer = dict[str, Any]
Filter = list[Any] | None


def _classes(colours: LayerColours, fields: set[str]) -> list[tuple[Filter, Symbol]]:
    """(filter, symbol) pairs: the default symbol for features matching no class, then one per class."""
    if colours.field is None or colours.field not in fields or not colours.classes:
        return [(None, colours.symbol)]
    values = [value for value, _ in colours.classes]
    return [
        (["!in", colours.field, *values], colours.symbol),
        *((["==", colours.field, value], symbol) for value, symbol in colours.classes),
    ]


def _layer(name: str, kind: str, source: str, source_layer: str, paint: dict[str, Any], filter_: Filter) -> Layer:
    layer: Layer = {"id": name, "type": kind, "source": source, "source-layer": source_layer}
    if filter_ is not None:
        layer["filter"] = filter_
    layer["paint"] = paint
    return layer


def latest_year(spec: LayerSpec, fields: Iterable[str]) -> int | None:
    """The year a layer with one feature per unit and year is drawn for: the last of its vintage ("2022-2026")."""
    match = re.fullmatch(r"\d{4}-(\d{4})", spec.vintage or "")
    return int(match.group(1)) if "year" in set(fields) and match else None


def _only(year: int | None, layers: list[Layer]) -> list[Layer]:
    """The style layers restricted to the features of one year (all features where year is None)."""
    if year is None:
        return layers
    for layer in layers:
        own = layer.get("filter")
        layer["filter"] = ["==", "year", year] if own is None else ["all", ["==", "year", year], own]
        layer["paint"] = layer.pop("paint")  # keep the filter before the paint, as _layer writes them
    return layers


def _name(source_layer: str, suffix: str, k: int) -> str:
    """`{layer}-{suffix}` for the default symbol, `{layer}-{suffix}-{k}` for the k-th class."""
    return f"{source_layer}-{suffix}" + (f"-{k}" if k else "")


def _polygons(
    layer_id: str, source: str, colours: LayerColours, scale: ColourScale | None, fields: set[str]
) -> list[Layer]:
    layers: list[Layer] = []
    if scale is not None:  # one fill per class of the scale; features without a class are left unfilled
        for k, colour in enumerate(scale.colours):
            paint = {"fill-color": colour, "fill-opacity": FILL_OPACITY}
            layers.append(
                _layer(f"{layer_id}-{scale.id}-{k}", "fill", source, layer_id, paint, ["==", scale.class_field, str(k)])
            )
    else:
        for k, (filter_, symbol) in enumerate(_classes(colours, fields)):
            paint = {"fill-color": symbol.colour, "fill-opacity": FILL_OPACITY}
            layers.append(_layer(_name(layer_id, "fill", k), "fill", source, layer_id, paint, filter_))
    outline = {"line-color": colours.symbol.edge or colours.symbol.colour, "line-width": OUTLINE_WIDTH}
    layers.append(_layer(f"{layer_id}-line", "line", source, layer_id, outline, None))
    return layers


def _lines(
    layer_id: str, source: str, colours: LayerColours, scale: ColourScale | None, fields: set[str]
) -> list[Layer]:
    return [
        _layer(
            _name(layer_id, "line", k),
            "line",
            source,
            layer_id,
            {"line-color": symbol.colour, "line-width": LINE_WIDTH},
            filter_,
        )
        for k, (filter_, symbol) in enumerate(_classes(colours, fields))
    ]


def _circle(symbol: Symbol, fill: str | None = None) -> dict[str, Any]:
    return {
        "circle-radius": CIRCLE_RADIUS,
        "circle-stroke-width": CIRCLE_STROKE_WIDTH,
        "circle-stroke-color": symbol.edge or symbol.colour,
        "circle-color": fill or symbol.colour,
    }


def _points(
    layer_id: str, source: str, colours: LayerColours, scale: ColourScale | None, fields: set[str]
) -> list[Layer]:
    if scale is not None:  # coloured by the scale's class; features without a class in its no-data colour
        field = scale.class_field
        no_class = _circle(colours.symbol, scale.no_data)
        layers = [_layer(f"{layer_id}-{scale.id}-none", "circle", source, layer_id, no_class, ["!has", field])]
        for k, colour in enumerate(scale.colours):
            paint = _circle(colours.symbol, colour)
            layers.append(
                _layer(f"{layer_id}-{scale.id}-{k}", "circle", source, layer_id, paint, ["==", field, str(k)])
            )
        return layers
    return [
        _layer(_name(layer_id, "point", k), "circle", source, layer_id, _circle(symbol), filter_)
        for k, (filter_, symbol) in enumerate(_classes(colours, fields))
    ]


_BUILDERS = {"polygon": _polygons, "line": _lines, "point": _points}


def maplibre_layers(spec: LayerSpec, fields: Iterable[str], source: str = "atlas") -> list[Layer]:
    """The style layers drawing one layer's vector tiles (source-layer = the layer id) as its geometry kind."""
    kind = spec.geometry_kind
    if kind is None:
        raise ValueError(f"layer {spec.id} is a table: it has no tiles to style")
    present = set(fields)
    layers = _BUILDERS[kind](spec.id, source, colours_for(spec), scale_for(present, spec.id), present)
    return _only(latest_year(spec, present), layers)


def legend(spec: LayerSpec, fields: Iterable[str]) -> dict[str, Any] | None:
    """The legend of a layer's style: its colour scale's classes, or its symbol classes where they are its subject."""
    present = set(fields)
    scale = scale_for(present, spec.id)
    if scale is not None:
        # region classes are a period's: the classification layer's vintage names it (2026-2030)
        when = f" {spec.vintage}" if scale is REGION_CLASS and re.fullmatch(r"\d{4}-\d{4}", spec.vintage or "") else ""
        return {
            "title": f"{scale.title_vi}{when} / {scale.title_en}{when}",
            "labels": scale.labels(),
            "colours": list(scale.colours),
        }
    if spec.geometry_kind is None:
        return None
    colours = colours_for(spec)
    if colours.labels and colours.field in present:
        out: dict[str, Any] = {
            "title": f"{colours.title_vi} / {colours.title_en}",
            "labels": list(colours.labels),
            "colours": [symbol.colour for _, symbol in colours.classes],
            "field": colours.field,
            "values": [value for value, _ in colours.classes],
        }
        year = latest_year(spec, present)
        if year is not None:
            out["year"] = year
        return out
    return None


def maplibre_style(spec: LayerSpec, fields: Iterable[str], tilejson_url: str) -> dict[str, Any]:
    """A MapLibre style (version 8) of one layer's vector tiles, with its legend in the metadata."""
    present = set(fields)
    return {
        "version": 8,
        "name": f"{spec.title_vi} / {spec.title_en}",
        # no "background" layer: QGIS 3.22 turns it into a style for every source layer, after which the
        # filters of the other styles no longer see their attributes
        "sources": {"atlas": {"type": "vector", "url": tilejson_url}},
        "layers": maplibre_layers(spec, present, "atlas"),
        "metadata": {
            "legend": legend(spec, present),
            "synthetic": spec.synthetic,
        },
    }
