"""QGIS styles (QML) and OGC Symbology Encoding styles (SLD 1.1) of the warehouse layers, from the one palette.

A layer is drawn as on the tiles, web maps and printed sheets: a choropleth where it has a colour scale (one rule
per class, the same class bounds as layers.palette: a class holds values from its lower break up to, not
including, its upper one), else its symbol classes by the value of one property, else its plain symbol. Layers of
units, districts, communes and villages are labelled with their Vietnamese name. Rules are written as QGIS
expressions in the QML and as OGC filters in the SLD, so QGIS (QML) and other clients (SLD) draw the same
classes. QML is QGIS 3's format in its long-lived form (`<prop k= v=>` symbol properties), which QGIS 3.22
and later read. A layer with one feature per unit and year is drawn for its last year only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

import pandas as pd

from geo.programme import STATUS_LABELS
from layers.catalog import LayerSpec
from layers.palette import DIFFICULT_FIELD, ColourScale, Symbol, colours_for, hex_to_rgba, scale_for
from layers.styles import CIRCLE_RADIUS, FILL_OPACITY, LINE_WIDTH, OUTLINE_WIDTH, latest_year

LABEL_FIELDS = ("unit_name", "name", "full_name")  # the first of these a layer has labels it
LABELLED = {
    "province", "districts_2024", "communes_2009", "communes_2024", "units_2025", "indicators_units_2025",
    "indicators_communes_2024", "indicators_districts_2024", "priority_units_2025", "classification_2026_2030",
    "deprivations_units_2025", "programme_units_2025", "villages", "demo_villages", "priority_villages",
}  # fmt: skip
# legend labels of value classes without labels of their own in the palette, and of their default symbol
VALUE_LABELS: dict[tuple[str, object], str] = {
    (DIFFICULT_FIELD, True): "Thôn, bản ĐBKK 2026-2030 / especially difficult village 2026-2030",
    **{("status", status): label for status, label in STATUS_LABELS.items()},
}
DEFAULT_LABELS = {
    "demo_villages": "Thôn, bản / village",
    "priority_villages": "Thôn, bản / village",
    "programme_sites": "đã phê duyệt, đang thi công / approved, under construction",
}
VILLAGE_LABEL_SCALE = 150_000  # village names from this scale (1:150,000) in
PX_TO_MM = 0.26  # the MapLibre sizes are in pixels; QGIS's in millimetres at 96 dpi


@dataclass(frozen=True)
class Rule:
    """One class of a layer's style: its label, symbol and the features it holds (None: every feature)."""

    label: str
    symbol: Symbol
    lower: float | None = None  # a numeric class: lower <= field < upper
    upper: float | None = None
    field: str | None = None
    equals: object = None  # a value class: field = equals
    others: tuple[object, ...] = ()  # the default class of value classes: field not in others
    missing: bool = False  # the features without a value of field
    fill: str | None = None  # the fill where it differs from the symbol's colour (scale classes)

    def expression(self) -> str | None:
        """The QGIS expression selecting the rule's features."""
        if self.field is None:
            return None
        name = f'"{self.field}"'
        if self.missing:
            return f"{name} IS NULL"
        if self.others:
            return f"{name} IS NULL OR {name} NOT IN ({', '.join(_literal(v) for v in self.others)})"
        if self.equals is not None:
            return f"{name} = {_literal(self.equals)}"
        parts = []
        if self.lower is not None:
            parts.append(f"{name} >= {_number(self.lower)}")
        if self.upper is not None:
            parts.append(f"{name} < {_number(self.upper)}")
        return " AND ".join(parts) or f"{name} IS NOT NULL"


def _number(value: float) -> str:
    return f"{value:g}"


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(float(value))
    return "'" + str(value).replace("'", "''") + "'"


def _scale_rules(scale: ColourScale, symbol: Symbol) -> list[Rule]:
    labels = scale.labels()
    bounds = [-math.inf, *scale.breaks, math.inf]
    classes = [
        Rule(
            labels[k],
            symbol,
            None if math.isinf(bounds[k]) else bounds[k],
            None if math.isinf(bounds[k + 1]) else bounds[k + 1],
            scale.field,
            fill=colour,
        )
        for k, colour in enumerate(scale.colours)
    ]
    return [*classes, Rule("không có số liệu / no data", symbol, field=scale.field, missing=True, fill=scale.no_data)]


def rules(spec: LayerSpec, fields: Iterable[str]) -> list[Rule]:
    """The classes a layer is drawn with (the same as its MapLibre style's)."""
    present = set(fields)
    colours = colours_for(spec)
    scale = scale_for(present, spec.id)
    if scale is not None and scale.field in present:
        return _scale_rules(scale, colours.symbol)
    if colours.field is not None and colours.field in present and colours.classes:
        values = tuple(value for value, _ in colours.classes)
        labels = colours.labels or tuple(VALUE_LABELS.get((colours.field, v), str(v)) for v in values)
        other = DEFAULT_LABELS.get(spec.id, "khác / other")
        default = Rule(other, colours.symbol, field=colours.field, others=values)
        classes = [
            Rule(label, symbol, field=colours.field, equals=value)
            for (value, symbol), label in zip(colours.classes, labels, strict=True)
        ]
        return [default, *classes]
    return [Rule(f"{spec.title_vi} / {spec.title_en}", colours.symbol)]


def label_field(spec: LayerSpec, fields: Iterable[str]) -> str | None:
    """The field a layer is labelled with, or None."""
    present = set(fields)
    if spec.id not in LABELLED:
        return None
    return next((f for f in LABEL_FIELDS if f in present), None)


# ---------------------------------------------------------------------------------------------------- QML


def _rgba(colour: str, alpha: int = 255) -> str:
    r, g, b, a = hex_to_rgba(colour, alpha)
    return f"{r},{g},{b},{a}"


def _props(values: dict[str, str]) -> str:
    return "".join(f"<prop k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in values.items())


def _symbol(kind: str, layer_class: str, index: int, props: str) -> str:
    return (
        f'<symbol type="{kind}" name="{index}" alpha="1" clip_to_extent="1">'
        f'<layer class="{layer_class}" enabled="1" pass="0" locked="0">{props}</layer></symbol>'
    )


def _qml_symbol(kind: str, rule: Rule, index: int) -> str:
    symbol = rule.symbol
    fill = rule.fill or symbol.colour
    if kind == "polygon":
        layer = _props(
            {
                "color": _rgba(fill, round(255 * FILL_OPACITY)),
                "outline_color": _rgba(symbol.edge or symbol.colour),
                "outline_width": f"{OUTLINE_WIDTH * PX_TO_MM:.2f}",
                "outline_width_unit": "MM",
                "style": "solid",
                "outline_style": "solid",
            }
        )
        return _symbol("fill", "SimpleFill", index, layer)
    if kind == "line":
        layer = _props(
            {
                "line_color": _rgba(fill),
                "line_width": f"{LINE_WIDTH * PX_TO_MM:.2f}",
                "line_width_unit": "MM",
                "line_style": "solid",
                "capstyle": "round",
                "joinstyle": "round",
            }
        )
        return _symbol("line", "SimpleLine", index, layer)
    layer = _props(
        {
            "color": _rgba(fill),
            "outline_color": _rgba(symbol.edge or symbol.colour),
            "outline_width": "0.2",
            "outline_width_unit": "MM",
            "size": f"{2 * CIRCLE_RADIUS * PX_TO_MM:.2f}",
            "size_unit": "MM",
            "name": "circle",
        }
    )
    return _symbol("marker", "SimpleMarker", index, layer)


def qml(spec: LayerSpec, fields: Iterable[str]) -> str:
    """The QGIS style (QML) of a spatial layer: rule-based renderer in the palette's colours, Vietnamese labels."""
    kind = spec.geometry_kind
    if kind is None:
        raise ValueError(f"layer {spec.id} is a table: it has no style")
    present = set(fields)
    year = latest_year(spec, present)
    classes = rules(spec, present)
    items = []
    for k, rule in enumerate(classes):
        expression = rule.expression()
        if year is not None:
            expression = f'"year" = {year}' + (f" AND ({expression})" if expression else "")
        filter_attr = f" filter={quoteattr(expression)}" if expression else ""
        items.append(f'<rule key="r{k}" symbol="{k}" label={quoteattr(rule.label)}{filter_attr}/>')
    symbols = "".join(_qml_symbol(kind, rule, k) for k, rule in enumerate(classes))
    renderer = (
        '<renderer-v2 type="RuleRenderer" symbollevels="0" enableorderby="0" forceraster="0">'
        f'<rules key="root">{"".join(items)}</rules><symbols>{symbols}</symbols></renderer-v2>'
    )
    field = label_field(spec, present)
    labelling = ""
    if field is not None:
        size = "8" if kind == "polygon" else "7"
        placement = "0"  # around the centroid or the point: more room than over it
        # the unit type is left out of unit names on the map ("Mường Lèo", not "Xã Mường Lèo"), as on the sheets
        expression = f"regexp_replace(\"{field}\", '^(Xã|Phường|Thị trấn) ', '')" if kind == "polygon" else field
        # points (villages) are named from 1:150,000 in (QGIS reads scaleMax as the zoomed-out limit), and never
        # hide a unit's name
        rendering = (
            'obstacle="1" scaleVisibility="0"'
            if kind == "polygon"
            else f'obstacle="0" scaleVisibility="1" scaleMin="0" scaleMax="{VILLAGE_LABEL_SCALE}"'
        )
        labelling = (
            '<labeling type="simple"><settings calloutType="simple">'
            f'<text-style fieldName={quoteattr(expression)} fontFamily="DejaVu Sans" fontSize="{size}" '
            'fontSizeUnit="Point" '
            f'textColor="20,20,20,255" textOpacity="1" isExpression="{int(kind == "polygon")}" fontWeight="75">'
            '<text-buffer bufferDraw="1" bufferSize="0.8" bufferSizeUnits="MM" bufferColor="255,255,255,255" '
            'bufferOpacity="0.8"/></text-style>'
            f'<placement placement="{placement}" dist="1" distUnits="MM"/>'
            f"<rendering {rendering}/></settings></labeling>"
        )
    enabled = "1" if field is not None else "0"
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="3.22.0" styleCategories="Symbology|Labeling" labelsEnabled="{enabled}">'
        f"{renderer}{labelling}</qgis>\n"
    )


# ---------------------------------------------------------------------------------------------------- SLD


def _sld_filter(rule: Rule, year: int | None) -> str:
    parts = []
    if year is not None:
        parts.append(_compare("PropertyIsEqualTo", "year", year))
    if rule.field is not None:
        if rule.missing:
            parts.append(
                f"<ogc:PropertyIsNull><ogc:PropertyName>{escape(rule.field)}</ogc:PropertyName></ogc:PropertyIsNull>"
            )
        elif rule.others:
            parts.append(
                "<ogc:Or><ogc:PropertyIsNull><ogc:PropertyName>"
                f"{escape(rule.field)}</ogc:PropertyName></ogc:PropertyIsNull><ogc:Not>"
                + _any_of(rule.field, rule.others)
                + "</ogc:Not></ogc:Or>"
            )
        elif rule.equals is not None:
            parts.append(_compare("PropertyIsEqualTo", rule.field, rule.equals))
        else:
            if rule.lower is not None:
                parts.append(_compare("PropertyIsGreaterThanOrEqualTo", rule.field, rule.lower))
            if rule.upper is not None:
                parts.append(_compare("PropertyIsLessThan", rule.field, rule.upper))
    if not parts:
        return ""
    body = parts[0] if len(parts) == 1 else "<ogc:And>" + "".join(parts) + "</ogc:And>"
    return f"<ogc:Filter>{body}</ogc:Filter>"


def _compare(op: str, field: str, value: object) -> str:
    literal = _literal(value).strip("'") if not isinstance(value, bool) else ("true" if value else "false")
    return (
        f"<ogc:{op}><ogc:PropertyName>{escape(field)}</ogc:PropertyName>"
        f"<ogc:Literal>{escape(literal)}</ogc:Literal></ogc:{op}>"
    )


def _any_of(field: str, values: tuple[object, ...]) -> str:
    tests = [_compare("PropertyIsEqualTo", field, v) for v in values]
    return tests[0] if len(tests) == 1 else "<ogc:Or>" + "".join(tests) + "</ogc:Or>"


def _sld_symbolizer(kind: str, rule: Rule) -> str:
    symbol = rule.symbol
    fill = rule.fill or symbol.colour
    edge = symbol.edge or symbol.colour
    if kind == "polygon":
        return (
            "<se:PolygonSymbolizer><se:Fill>"
            f'<se:SvgParameter name="fill">{fill}</se:SvgParameter>'
            f'<se:SvgParameter name="fill-opacity">{FILL_OPACITY}</se:SvgParameter></se:Fill><se:Stroke>'
            f'<se:SvgParameter name="stroke">{edge}</se:SvgParameter>'
            f'<se:SvgParameter name="stroke-width">{OUTLINE_WIDTH}</se:SvgParameter>'
            "</se:Stroke></se:PolygonSymbolizer>"
        )
    if kind == "line":
        return (
            f'<se:LineSymbolizer><se:Stroke><se:SvgParameter name="stroke">{fill}</se:SvgParameter>'
            f'<se:SvgParameter name="stroke-width">{LINE_WIDTH}</se:SvgParameter></se:Stroke></se:LineSymbolizer>'
        )
    return (
        "<se:PointSymbolizer><se:Graphic><se:Mark><se:WellKnownName>circle</se:WellKnownName>"
        f'<se:Fill><se:SvgParameter name="fill">{fill}</se:SvgParameter></se:Fill>'
        f'<se:Stroke><se:SvgParameter name="stroke">{edge}</se:SvgParameter>'
        f'<se:SvgParameter name="stroke-width">{CIRCLE_STROKE}</se:SvgParameter></se:Stroke></se:Mark>'
        f"<se:Size>{2 * CIRCLE_RADIUS:g}</se:Size></se:Graphic></se:PointSymbolizer>"
    )


CIRCLE_STROKE = 0.5


def sld(spec: LayerSpec, fields: Iterable[str]) -> str:
    """The style of a spatial layer as an OGC SLD 1.1 document (Symbology Encoding), the same classes as its QML."""
    kind = spec.geometry_kind
    if kind is None:
        raise ValueError(f"layer {spec.id} is a table: it has no style")
    present = set(fields)
    year = latest_year(spec, present)
    body = []
    for rule in rules(spec, present):
        body.append(
            f"<se:Rule><se:Name>{escape(rule.label)}</se:Name><se:Description><se:Title>{escape(rule.label)}"
            f"</se:Title></se:Description>{_sld_filter(rule, year)}{_sld_symbolizer(kind, rule)}</se:Rule>"
        )
    field = label_field(spec, present)
    if field is not None:
        body.append(
            "<se:Rule><se:TextSymbolizer><se:Label>"
            f"<ogc:PropertyName>{escape(field)}</ogc:PropertyName></se:Label><se:Font>"
            '<se:SvgParameter name="font-family">DejaVu Sans</se:SvgParameter>'
            '<se:SvgParameter name="font-size">11</se:SvgParameter></se:Font>'
            '<se:Halo><se:Radius>1</se:Radius><se:Fill><se:SvgParameter name="fill">#ffffff</se:SvgParameter>'
            '</se:Fill></se:Halo><se:Fill><se:SvgParameter name="fill">#141414</se:SvgParameter></se:Fill>'
            "</se:TextSymbolizer></se:Rule>"
        )
    title = f"{spec.title_vi} / {spec.title_en}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<StyledLayerDescriptor version="1.1.0" xmlns="http://www.opengis.net/sld" '
        'xmlns:se="http://www.opengis.net/se" xmlns:ogc="http://www.opengis.net/ogc" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.opengis.net/sld http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd">'
        f"<NamedLayer><se:Name>{escape(spec.id)}</se:Name><UserStyle><se:Name>default</se:Name>"
        f"<se:Description><se:Title>{escape(title)}</se:Title></se:Description>"
        f"<se:FeatureTypeStyle>{''.join(body)}</se:FeatureTypeStyle></UserStyle></NamedLayer>"
        "</StyledLayerDescriptor>\n"
    )


STYLES_TABLE = "layer_styles"  # QGIS's table of styles in a GeoPackage: the default one is applied on opening


def style_table(fields: Mapping[str, Iterable[str]], catalog: Iterable[LayerSpec], updated: str) -> pd.DataFrame:
    """QGIS's `layer_styles` rows of the spatial layers (their fields by layer id): QML and SLD, flagged default."""
    rows = []
    for spec in catalog:
        if spec.geometry_kind is None or spec.id not in fields:
            continue
        present = list(fields[spec.id])
        rows.append(
            {
                "f_table_catalog": "",
                "f_table_schema": "",
                "f_table_name": spec.id,
                "f_geometry_column": GEOMETRY_COLUMN,
                "styleName": spec.id,
                "styleQML": qml(spec, present),
                "styleSLD": sld(spec, present),
                "useAsDefault": True,
                "description": f"{spec.title_vi} / {spec.title_en} (Sơn La Poverty Atlas)",
                "owner": "",
                "ui": "",
                "update_time": updated,
            }
        )
    return pd.DataFrame(rows)


GEOMETRY_COLUMN = "geom"  # the geometry column GDAL names in the GeoPackage layers pyogrio writes
