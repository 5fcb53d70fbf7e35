"""Self-contained folium web maps of the province, a former district or a 2025 unit.

Every script and style sheet is inlined (from the folium-offline package's copies of the same files
folium links to), so a map opens from a USB stick with no internet. No basemap is needed: the
choropleths are the base layers; an OpenStreetMap background can be switched on where there is a
connection. Colours come from layers.palette, the same as the tiles' and the printed maps'.

The title, the legend and every unit popup say the policy period and the poverty standard of the figures
(MapData.edition); a unit's popup shows its region class of the period and its deprivation profile as a small
bar chart in plain HTML and CSS (no script library, about 1 KB a popup). The unit popups are written into the
page once and bound to each of the three choropleths.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import Element, MacroElement
from folium import plugins
from folium.elements import JSCSSMixin
from jinja2 import Template

from layers.catalog import get_layer
from layers.mapdata import Edition, MapData, MapError, Scope, series_text, to_geojson
from layers.palette import (
    CHOROPLETH_EDGE,
    DEPRIVATION_BAR,
    DEPRIVATION_TOP,
    DIFFICULT_VILLAGE,
    DISBURSEMENT_RATE,
    HIGHLIGHT,
    MINIMAP,
    POVERTY_RATE,
    PRIORITY_TIER,
    PROPOSED,
    REGION_CLASS,
    VILLAGE,
    ColourScale,
    colours_for,
)
from layers.profile import DeprivationProfile

# simplification of unit polygons by scope (degrees; about 80 m, 30 m, 10 m)
TOLERANCE = {"province": 0.0008, "district": 0.0003, "unit": 0.0001}
POINT_LAYERS: dict[str, tuple[str, str, str]] = {
    # layer: (Vietnamese title, English title, key column)
    "health_stations": ("Trạm y tế", "Health stations", "facility_id"),
    "schools": ("Trường học", "Schools", "facility_id"),
    "markets": ("Chợ", "Markets", "facility_id"),
    "bridges": ("Cầu, ngầm", "Bridges and fords", "bridge_id"),
}
DEMO_NOTICE = (
    "Dữ liệu minh họa (mô phỏng): số liệu nghèo, phân vùng và hạ tầng không phải số liệu chính thức. "
    "<br><i>Demo data (synthetic): poverty, region and infrastructure figures are not official.</i>"
)


def leaflet_colours(layer_id: str, properties: Mapping[str, Any] | None = None, fill: bool = True) -> dict[str, Any]:
    """Leaflet path options colouring a feature of a layer as the palette does, by the layer's geometry kind.

    Points and polygons are filled unless `fill` is false (polygon outlines over a choropleth); lines are strokes.
    """
    spec = get_layer(layer_id)
    symbol = colours_for(spec).symbol_for(properties or {})
    if spec.geometry_kind == "line":
        return {"color": symbol.colour}
    edge = symbol.edge or symbol.colour
    return {"color": edge, "fillColor": symbol.colour, "fill": True} if fill else {"color": edge, "fill": False}


def _fmt(value: Any, digits: int = 1, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, bool | np.bool_):
        return "có / yes" if value else "không / no"
    if isinstance(value, int | np.integer) or (isinstance(value, float) and digits == 0):
        return f"{round(float(value)):,}".replace(",", ".") + unit
    return f"{float(value):.{digits}f}".replace(".", ",") + unit


def _year(value: Any) -> str:
    """A year as written: 2026, not 2.026 ("–" when missing)."""
    return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else str(int(value))


def _table(rows: list[tuple[str, str]], title: str, note: str = "", extra: str = "") -> str:
    """A popup: bold title, an optional note line, a table of (label, value) rows, then `extra` HTML as is."""
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    line = f"<div>{html.escape(note)}</div>" if note else ""
    return f'<div class="atlas-popup"><b>{html.escape(title)}</b>{line}<table>{body}</table>{extra}</div>'


BAR_PX = 100  # the width of a bar at the end of the profile scale


def region_text(row: pd.Series | Mapping[str, Any]) -> str:
    """ "khu vực III / region III", with "(minh họa / demo)" when the class is the demo's, "–" without a class."""
    value = row.get("region_class")
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    k = int(REGION_CLASS.classify(np.array([float(value)]))[0])
    demo = " (minh họa / demo)" if str(row.get("classification_source") or "") == "demo" else ""
    return REGION_CLASS.labels()[k] + demo


def profile_bars(profile: DeprivationProfile, scale_max: float) -> str:
    """The profile as small horizontal bars in HTML and CSS: one row per indicator, the most lacked darker."""
    top = profile.top.indicator
    rows = []
    for bar in profile.bars:
        if np.isnan(bar.share):
            continue
        width = round(min(bar.share, scale_max) / scale_max * BAR_PX)
        mark = ' class="top"' if bar.indicator == top else ""
        rows.append(
            f'<tr{mark}><th>{html.escape(bar.label)}</th><td><i style="width:{width}px"></i>{_fmt(bar.share, 1, "%")}'
            "</td></tr>"
        )
    need = (
        f"<div>Nhu cầu nổi bật / need that stands out: <b>{html.escape(profile.top_need_label)}</b></div>"
        if profile.top_need_label
        else ""
    )
    scale = _fmt(scale_max, 0, "%")
    return (
        f'<div class="atlas-dp"><b>Hộ thiếu hụt {profile.year} ({html.escape(profile.standard.id)}), % số hộ / '
        f"households deprived, %</b><table>{''.join(rows)}</table>{need}<small>thang / scale 0–{scale}</small></div>"
    )


def unit_popup(
    row: pd.Series,
    synthetic: bool,
    ranked: int,
    edition: Edition | None = None,
    profile: DeprivationProfile | None = None,
    scale_max: float = 100.0,
) -> str:
    """Bilingual popup of a 2025 unit: figures, trend, region class of the period, priority, deprivation profile."""
    trend = series_text(row)
    period = edition.period.id if edition else "2026-2030"
    rows = [
        ("Mã / code", str(row["unit_code"])),
        ("Huyện cũ / former district", str(row.get("former_districts") or "–")),
        ("Số hộ / households", _fmt(row.get("households"), 0)),
        ("Hộ nghèo / poor households", _fmt(row.get("poor_households"), 0)),
        ("Tỷ lệ hộ nghèo / poverty rate", _fmt(row.get("poor_rate"), 2, "%")),
        ("Tỷ lệ cận nghèo / near-poverty rate", _fmt(row.get("near_poor_rate"), 2, "%")),
        ("Xu hướng / trend", trend or "–"),
        (
            f"Thay đổi {_year(row.get('trend_from'))}→{_year(row.get('trend_to'))} (cùng chuẩn nghèo) / change "
            "(one poverty standard)",
            _fmt(row.get("poor_rate_change_pp"), 2, " điểm % / pp"),
        ),
    ]
    breaks = edition.breaks_text() if edition else ""
    if breaks:
        rows.append(("‖ đổi chuẩn nghèo / change of poverty standard", breaks))
    rows += [
        ("Tụt lại / falling behind", _fmt(bool(row.get("falling_behind")))),
        (f"Khu vực {period} / region {period}", region_text(row)),
        (
            f"Thôn ĐBKK {period} / especially difficult villages {period}",
            _fmt(row.get("difficult_villages_2026_2030", row.get("n_especially_difficult_villages")), 0),
        ),
        ("Mức ưu tiên / priority tier", str(row.get("tier_label") or "–")),
        ("Thứ hạng / rank", f"{_fmt(row.get('rank'), 0)} / {ranked} (điểm / score {_fmt(row.get('score'), 1)})"),
        ("Độ ổn định / stability", str(row.get("stability") or "–")),
    ]
    rows += programme_rows(row)
    if synthetic:
        rows.append(("Dữ liệu / data", "minh họa / demo (synthetic)"))
    note = f"{edition.period.title_vi} · {edition.year} · {edition.standard.id}" if edition else ""
    extra = profile_bars(profile, scale_max) if profile is not None else ""
    return _table(rows, str(row.get("unit_name") or row["unit_code"]), note, extra)


def programme_rows(row: pd.Series | Mapping[str, Any]) -> list[tuple[str, str]]:
    """The programme section of a unit's popup: money approved and disbursed in the programme period to the latest
    quarter, the rate, VND per poor household, and the flag of a top-tier unit that received least."""
    quarter = row.get("programme_quarter")
    if not isinstance(quarter, str):
        return []
    since = f"{row.get('programme_since')}–{quarter}"
    flagged = bool(row.get("least_funded_top_tier"))
    return [
        (f"Vốn giao CT MTQG {since} / programme money approved", f"{_fmt(_bn(row.get('approved_vnd')), 1)} tỷ đồng"),
        (f"Đã giải ngân {since} / disbursed", f"{_fmt(_bn(row.get('disbursed_vnd')), 1)} tỷ đồng"),
        ("Tỷ lệ giải ngân / disbursement rate", _fmt(row.get("disbursement_rate"), 1, "%")),
        (
            "Giải ngân trên hộ nghèo / VND per poor household",
            f"{_fmt(_million(row.get('disbursed_per_poor_household')), 1)} triệu đồng / million",
        ),
        (
            "Ưu tiên cao nhưng nhận ít nhất / top tier, least funded",
            "CÓ – cần xem xét / YES – to review" if flagged else "không / no",
        ),
    ]


def _bn(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value) / 1e9


def _million(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value) / 1e6


# the register's sites: popups built in the page from the feature's properties
SITE_POPUP_ROWS: list[tuple[str, str, str]] = [
    ("Mã dự án / project", "project_id", "text"),
    ("Chương trình / programme", "programme", "text"),
    ("Hạng mục / component", "component_label", "text"),
    ("Trạng thái / status", "status_label", "text"),
    ("Tổng vốn (tỷ đồng) / budget (bn VND)", "budget_bn", "text"),
    ("Đã giải ngân / disbursed", "disbursement_rate", "pct"),
    ("Kế hoạch / plan", "plan_match_label", "text"),
]


# village popups are built in the page from the feature's properties (2,303 prepared popups weigh 3 MB)
VILLAGE_POPUP_ROWS: list[tuple[str, str, str]] = [
    ("Mã bản / village id", "village_id", "text"),
    ("Xã 2024 / commune 2024", "commune_2024_code", "text"),
    ("Số hộ 2025 / households", "households_2025", "int"),
    ("Tỷ lệ hộ nghèo 2026 / poverty rate", "poor_rate_2026", "pct"),
    ("Tỷ lệ hộ nghèo 2022 (cùng chuẩn) / poverty rate 2022 (same standard)", "poor_rate_2022", "pct"),
    ("Thôn ĐBKK 2026-2030 / especially difficult 2026-2030", "especially_difficult_2026_2030", "bool"),
    ("Bản ĐBKK 2021-2025 / especially difficult 2021-2025", "especially_difficult", "bool"),
    ("Đường cứng hóa đến trung tâm xã / paved road to centre", "paved_road_to_centre", "bool"),
    ("Điện lưới / grid power", "grid_power_pct", "pct"),
]


class Legend(MacroElement):
    """A fixed legend box with one section per colour scale and the point symbols."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <div class="atlas-legend" id="{{ this.get_name() }}">{{ this.body }}</div>
        {% endmacro %}
        """
    )

    def __init__(
        self,
        scales: list[ColourScale],
        symbols: list[tuple[str, str]],
        note: tuple[str, str] | None = None,
        titles: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._name = "Legend"
        parts = []
        if note is not None:  # (heading, text): the period and the poverty standard of the figures
            parts.append(f'<h4>{html.escape(note[0])}</h4><div class="note">{html.escape(note[1])}</div>')
        for scale in scales:
            items = "".join(
                f'<div><span class="sw" style="background:{c}"></span>{html.escape(label)}</div>'
                for c, label in zip(scale.colours, scale.labels(), strict=True)
            )
            title = (titles or {}).get(scale.id) or f"{scale.title_vi} / {scale.title_en}"
            parts.append(f"<h4>{html.escape(title)}</h4>{items}")
        dots = "".join(
            f'<div><span class="dot" style="background:{c}"></span>{html.escape(label)}</div>' for c, label in symbols
        )
        self.body = "".join(parts) + (f"<h4>Ký hiệu / symbols</h4>{dots}" if dots else "")


class GeoJsonMiniMap(JSCSSMixin, MacroElement):
    """leaflet-minimap showing the province's districts instead of a tile layer (works offline)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }}_layer = L.geoJson({{ this.data|tojson }}, {
                style: function () { return {{ this.style|tojson }}; }
            });
            var {{ this.get_name() }} = new L.Control.MiniMap({{ this.get_name() }}_layer, {
                toggleDisplay: false, position: "bottomright", zoomLevelOffset: -3, width: 160, height: 160
            }).addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )
    default_js = plugins.MiniMap.default_js
    default_css = plugins.MiniMap.default_css

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__()
        self._name = "GeoJsonMiniMap"
        self.data = data
        self.style = {"color": MINIMAP.edge, "weight": 1, "fillColor": MINIMAP.colour, "fillOpacity": 0.8}


STYLE = """
<style>
.atlas-title { position: absolute; top: 10px; left: 60px; z-index: 1000; background: rgba(255,255,255,.92);
  padding: 6px 10px; border-radius: 4px; font: 14px "DejaVu Sans", Arial, sans-serif; max-width: 60%; }
.atlas-title h1 { font-size: 17px; margin: 0 0 2px 0; } .atlas-title .en { color: #555; font-style: italic; }
.atlas-title .period { font-weight: bold; margin: 2px 0; }
.atlas-demo { margin-top: 4px; background: #fde2b8; border: 1px solid #d08c2a; padding: 3px 6px;
  border-radius: 3px; font-size: 12px; }
.atlas-legend { position: absolute; bottom: 24px; right: 180px; z-index: 1000; background: rgba(255,255,255,.92);
  padding: 6px 8px; border-radius: 4px; font: 11px "DejaVu Sans", Arial, sans-serif; max-height: 60%;
  overflow-y: auto; }
.atlas-legend h4 { margin: 4px 0 2px 0; font-size: 12px; }
.atlas-legend .sw { display: inline-block; width: 14px; height: 10px; margin-right: 5px; border: 1px solid #999; }
.atlas-legend .dot { display: inline-block; width: 9px; height: 9px; margin-right: 5px; border-radius: 50%; }
.atlas-sources { position: absolute; bottom: 4px; left: 110px; z-index: 1000; background: rgba(255,255,255,.9);
  font: 11px "DejaVu Sans", Arial, sans-serif; padding: 2px 6px; border-radius: 3px; max-width: 40%; }
.atlas-sources summary { cursor: pointer; }
.leaflet-control-layers { font: 12px "DejaVu Sans", Arial, sans-serif; }
.atlas-popup table { border-collapse: collapse; font-size: 12px; }
.atlas-popup th { text-align: left; font-weight: normal; color: #444; padding: 1px 6px 1px 0; }
.atlas-popup td { font-weight: bold; }
.atlas-legend .note { max-width: 18em; }
.atlas-dp { margin-top: 4px; font-size: 11px; } .atlas-dp table { font-size: 11px; }
.atlas-dp th { padding: 0 4px 0 0; } .atlas-dp td { font-weight: normal; white-space: nowrap; }
.atlas-dp i { display: inline-block; height: 8px; margin-right: 3px; background: BAR; }
.atlas-dp .top i { background: TOP; } .atlas-dp .top td { font-weight: bold; } .atlas-dp small { color: #666; }
</style>
""".replace("BAR", DEPRIVATION_BAR.colour).replace("TOP", DEPRIVATION_TOP.colour)


def script_json(value: Any) -> str:
    """JSON to write inside a <script> element: UTF-8 as is (not \\u escapes), "</" and "<!--" escaped, so the
    popups' HTML costs its own size rather than six bytes per angle bracket."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return text.replace("<!--", "<\\u0021--").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _programme_quarter(units: gpd.GeoDataFrame) -> str | None:
    """The latest quarter of the programme figures the units carry, or None."""
    quarters = units["programme_quarter"].dropna() if "programme_quarter" in units else pd.Series(dtype=object)
    return str(quarters.max()) if len(quarters) else None


def _style(scale: ColourScale) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def style(feature: dict[str, Any]) -> dict[str, Any]:
        value = feature["properties"].get(scale.field)
        return {"fillColor": scale.colour(value), "color": CHOROPLETH_EDGE, "weight": 0.8, "fillOpacity": 0.8}

    return style


def _add_units(
    fmap: folium.Map, units: gpd.GeoDataFrame, scale: ColourScale, name: str, show: bool, popups: _SharedPopups
) -> folium.FeatureGroup:
    """A choropleth of the units as a base layer, each unit bound to its popup of the shared list."""
    group = folium.FeatureGroup(name=name, overlay=False, show=show)
    data = to_geojson(units, ["unit_code", "unit_name", scale.field])
    layer = folium.GeoJson(
        data,
        name=name,
        style_function=_style(scale),
        highlight_function=lambda _: {"weight": 2.5, "color": HIGHLIGHT},
        tooltip=folium.GeoJsonTooltip(["unit_name"], aliases=[""], labels=False),
        zoom_on_click=False,
    )
    # one popup per feature, bound in the page by feature order
    layer.add_child(_PopupBinder(layer, popups))
    layer.add_to(group)
    group.add_to(fmap)
    return group


class _PopupTemplate(MacroElement):
    """Binds to each feature a bilingual popup table built in the page from its properties."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            (function () {
                var rows = {{ this.rows|tojson }};
                function fmt(v, kind) {
                    if (v === null || v === undefined) { return "–"; }
                    if (kind === "bool") { return v ? "có / yes" : "không / no"; }
                    if (kind === "int") { return Math.round(v).toLocaleString("vi-VN"); }
                    if (kind === "pct") { return v.toLocaleString("vi-VN", {maximumFractionDigits: 1}) + "%"; }
                    return String(v);
                }
                function esc(t) {
                    return String(t).replace(/[&<>"]/g, function (c) {
                        return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c];
                    });
                }
                {{ this.layer.get_name() }}.eachLayer(function (l) {
                    var p = l.feature.properties;
                    var body = rows.map(function (r) {
                        return "<tr><th>" + esc(r[0]) + "</th><td>" + esc(fmt(p[r[1]], r[2])) + "</td></tr>";
                    }).join("");
                    if (p.synthetic) { body += "<tr><th>Dữ liệu / data</th><td>minh họa / demo (synthetic)</td></tr>"; }
                    l.bindPopup('<div class="atlas-popup"><b>' + esc(p[{{ this.title|tojson }}]) + "</b><table>"
                        + body + "</table></div>", {maxWidth: 380});
                });
            })();
        {% endmacro %}
        """
    )

    def __init__(self, layer: folium.GeoJson, title: str, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self._name = "PopupTemplate"
        self.layer = layer
        self.title = title
        self.rows = [list(r) for r in rows]


class _SharedPopups(MacroElement):
    """Prepared HTML popups written into the page once, for several layers of the same features to bind."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = {{ this.data }};
        {% endmacro %}
        """
    )

    def __init__(self, popups: list[str]) -> None:
        super().__init__()
        self._name = "SharedPopups"
        self.popups = popups
        self.data = script_json(popups)


class _PopupBinder(MacroElement):
    """Binds a prepared HTML popup to each feature of a GeoJson layer, by feature order (a list, or a shared one)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            (function () {
                var popups = {% if this.shared %}{{ this.shared.get_name() }}
                    {%- else %}{{ this.popups|tojson }}{% endif %};
                var i = 0;
                {{ this.layer.get_name() }}.eachLayer(function (l) {
                    l.bindPopup(popups[i++], {maxWidth: 420});
                });
            })();
        {% endmacro %}
        """
    )

    def __init__(self, layer: folium.GeoJson, popups: list[str] | _SharedPopups) -> None:
        super().__init__()
        self._name = "PopupBinder"
        self.layer = layer
        self.shared = popups if isinstance(popups, _SharedPopups) else None
        self.popups = [] if isinstance(popups, _SharedPopups) else popups


def _dot(layer_id: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    colours = leaflet_colours(layer_id)

    def style(_: dict[str, Any]) -> dict[str, Any]:
        return {"radius": 4, **colours, "fillOpacity": 1.0}

    return style


def _points(
    group: folium.FeatureGroup,
    frame: gpd.GeoDataFrame,
    columns: list[str],
    style: Callable[[dict[str, Any]], dict[str, Any]],
    popups: list[str] | None,
    tooltip: str,
    template: tuple[str, list[tuple[str, str, str]]] | None = None,
) -> None:
    """One GeoJson layer of circle markers (fast to render), with prepared or templated popups."""
    if frame.empty:
        return
    layer = folium.GeoJson(
        to_geojson(frame, columns),
        marker=folium.CircleMarker(),
        style_function=style,
        tooltip=folium.GeoJsonTooltip([tooltip], aliases=[""], labels=False),
        zoom_on_click=False,
    )
    if popups is not None:
        layer.add_child(_PopupBinder(layer, popups))
    if template is not None:
        layer.add_child(_PopupTemplate(layer, *template))
    layer.add_to(group)


def build_web_map(data: MapData, scope: Scope, release: str = "") -> folium.Map:
    """The folium map of a scope: choropleths, both boundary vintages, villages, infrastructure, the plan;
    `release` names the release it shows (e.g. "7, 2026-12-03")."""
    units = data.simplified("map_units", scope, TOLERANCE[scope.kind])
    ranked = len(data.layers["map_units"])
    if units.empty:
        raise MapError(f"{scope.name}: no 2025 unit to draw")
    synthetic = data.synthetic("priority_units_2025", "indicators_units_2025", "demo_villages")
    west, south, east, north = units.total_bounds
    fmap = folium.Map(location=[(south + north) / 2, (west + east) / 2], tiles=None, control_scale=True, zoom_start=9)
    # Leaflet alone: the atlas uses no Bootstrap, jQuery or icon fonts (1 MB less in every page)
    fmap.default_js = [js for js in fmap.default_js if js[0] == "leaflet"]
    fmap.default_css = [css for css in fmap.default_css if css[0] == "leaflet_css"]
    fmap.fit_bounds([[south, west], [north, east]])
    root = fmap.get_root()
    root.header.add_child(Element(STYLE), name="atlas_style")  # type: ignore[attr-defined]

    edition = data.edition()
    profiles = data.unit_profiles()
    scale_max = data.profile_scale()
    unit_popups = _SharedPopups(
        [
            unit_popup(row, synthetic, ranked, edition, profiles.get(str(row["unit_code"])), scale_max)
            for _, row in units.iterrows()
        ]
    )
    fmap.add_child(unit_popups)
    year, period = edition.year, edition.period.id
    _add_units(fmap, units, POVERTY_RATE, f"Tỷ lệ hộ nghèo {year} / Poverty rate {year}", True, unit_popups)
    _add_units(fmap, units, PRIORITY_TIER, f"Mức ưu tiên {period} / Priority tier {period}", False, unit_popups)
    _add_units(fmap, units, REGION_CLASS, f"Khu vực {period} / Region class {period}", False, unit_popups)
    quarter = _programme_quarter(units)
    if quarter:
        _add_units(
            fmap, units, DISBURSEMENT_RATE, f"Tỷ lệ giải ngân đến {quarter} / Disbursement rate to {quarter}", False,
            unit_popups,
        )  # fmt: skip

    folium.TileLayer(
        "OpenStreetMap", name="Nền OpenStreetMap (cần internet) / OSM background (online)", overlay=True, show=False
    ).add_to(fmap)

    # boundaries of both vintages
    communes = data.simplified("map_communes", scope, TOLERANCE[scope.kind])
    group = folium.FeatureGroup(name="Ranh giới xã trước sáp nhập (2024) / pre-merger communes", show=False)
    folium.GeoJson(
        to_geojson(communes, ["code", "name", "poor_rate", "region_class"]),
        style_function=lambda _: {**leaflet_colours("communes_2024", fill=False), "weight": 1.2, "dashArray": "4 3"},
        tooltip=folium.GeoJsonTooltip(
            ["name", "poor_rate", "region_class"],
            aliases=["Xã 2024 / commune", "Tỷ lệ hộ nghèo / poverty rate %", "Khu vực / region"],
        ),
    ).add_to(group)
    group.add_to(fmap)
    group = folium.FeatureGroup(name="Ranh giới xã, phường 2025 / 2025 units", show=True)
    folium.GeoJson(
        to_geojson(units, ["unit_code", "unit_name"]),
        style_function=lambda _: {**leaflet_colours("units_2025", fill=False), "weight": 1.6},
        interactive=False,
    ).add_to(group)
    group.add_to(fmap)
    if scope.kind != "unit":
        districts = data.layers["districts_2024"]
        if scope.kind == "district":
            districts = districts[districts["code"] == scope.code]
        group = folium.FeatureGroup(name="Ranh giới huyện cũ / former districts", show=scope.kind == "province")
        folium.GeoJson(
            to_geojson(districts.assign(geometry=districts.geometry.simplify(0.0005)), ["code", "name"]),
            style_function=lambda _: {**leaflet_colours("districts_2024", fill=False), "weight": 2.5},
            interactive=False,
        ).add_to(group)
        group.add_to(fmap)

    # roads by surface
    roads = data.select("roads", scope)
    if len(roads):
        group = folium.FeatureGroup(name="Đường giao thông / roads", show=scope.kind != "province")
        folium.GeoJson(
            to_geojson(roads, ["road_id", "road_class", "surface", "length_km"]),
            style_function=lambda f: {**leaflet_colours("roads", f["properties"]), "weight": 1.5},
            tooltip=folium.GeoJsonTooltip(
                ["road_class", "surface", "length_km"], aliases=["Loại / class", "Mặt đường / surface", "km"]
            ),
        ).add_to(group)
        group.add_to(fmap)

    # villages, especially difficult ones in red
    villages = data.select("demo_villages", scope)
    group = folium.FeatureGroup(
        name=f"Thôn, bản (đỏ: ĐBKK {period}) / villages (red: especially difficult {period})", show=True
    )
    radius = 4 if scope.kind != "province" else 2.5
    _points(
        group,
        villages.assign(grid_power_pct=100 * villages["grid_power_share"].astype(float)),
        ["name", "synthetic", *(r[1] for r in VILLAGE_POPUP_ROWS)],
        lambda f: {
            "radius": radius,
            **leaflet_colours("demo_villages", f["properties"]),
            "weight": 0.8,
            "fillOpacity": 0.9,
        },
        None,
        "name",
        ("name", VILLAGE_POPUP_ROWS),
    )
    group.add_to(fmap)

    symbols = [
        (DIFFICULT_VILLAGE.colour, f"Thôn, bản ĐBKK {period} / especially difficult village {period}"),
        (VILLAGE.colour, "Thôn, bản / village"),
    ]
    for layer, (vi, en, key) in POINT_LAYERS.items():
        frame = data.select(layer, scope)
        if frame.empty:
            continue
        group = folium.FeatureGroup(name=f"{vi} / {en}", show=False)
        label_col = "name" if "name" in frame else "bridge_type"
        _points(
            group,
            frame.assign(label=f"{vi} / {en}: " + frame[label_col].astype(str)),
            [key, "label"],
            _dot(layer),
            None,
            "label",
        )
        group.add_to(fmap)
        symbols.append((leaflet_colours(layer)["fillColor"], f"{vi} / {en}"))

    # the investment plan
    plan = data.select("investment_plan", scope)
    plan_roads = data.select("investment_plan_roads", scope)
    if len(plan) or len(plan_roads):
        group = folium.FeatureGroup(name="Kế hoạch đầu tư (đề xuất) / investment plan (proposed)", show=True)
        if len(plan_roads):
            folium.GeoJson(
                to_geojson(plan_roads, ["project_id", "name_vi", "cost_vnd"]),
                style_function=lambda _: {**leaflet_colours("investment_plan_roads"), "weight": 4, "opacity": 0.9},
                tooltip=folium.GeoJsonTooltip(["name_vi"], aliases=[""], labels=False),
            ).add_to(group)
        popups = []
        for _, row in plan.iterrows():
            rows = [
                ("Loại / kind", str(row["kind_label"])),
                ("Chi phí / cost", f"{_fmt(row['cost_vnd'] / 1e9, 2)} tỷ đồng / billion VND"),
                (
                    "Hộ thiếu hụt được phục vụ / households served in what it addresses",
                    _fmt(row.get("households_served", row["poor_households_served"]), 1),
                ),
                ("Trong đó hộ nghèo / of which poor", _fmt(row["poor_households_served"], 1)),
                ("Người được tiếp cận / people reached", _fmt(row["people_reached"], 0)),
                ("Dữ liệu / data", "minh họa / demo (synthetic)" if row.get("synthetic") else "–"),
            ]
            popups.append(_table(rows, f"{row['name_vi']} / {row['name_en']}"))
        _points(
            group,
            plan,
            ["project_id", "name_vi"],
            lambda _: {"radius": 7, **leaflet_colours("investment_plan"), "weight": 2.5, "fillOpacity": 0.95},
            popups,
            "name_vi",
        )
        group.add_to(fmap)
        symbols.append((PROPOSED.colour, "Dự án đề xuất / proposed project"))

    sites = data.select("programme_sites", scope)
    if len(sites):
        group = folium.FeatureGroup(name=f"Dự án CT MTQG (sổ theo dõi) / programme projects to {quarter}", show=False)
        _points(
            group,
            sites.assign(budget_bn=(sites["budget_total"].astype(float) / 1e9).round(2).astype(str)),
            ["name", "synthetic", "status", *(r[1] for r in SITE_POPUP_ROWS)],
            lambda f: {"radius": 5, **leaflet_colours("programme_sites", f["properties"]), "weight": 1.2,
                       "fillOpacity": 0.9},
            None,
            "name",
            ("name", SITE_POPUP_ROWS),
        )  # fmt: skip
        group.add_to(fmap)
        symbols.append((leaflet_colours("programme_sites")["fillColor"], "Dự án CT MTQG / programme project"))
    demo = f'<div class="atlas-demo">{DEMO_NOTICE}</div>' if synthetic else ""
    title = (
        f'<div class="atlas-title"><h1>{html.escape(scope.label_vi)}</h1>'
        f'<div class="en">{html.escape(scope.label_en[:1].upper() + scope.label_en[1:])}</div>'
        f'<div class="period">{html.escape(edition.text_vi)}<br><span class="en">{html.escape(edition.text_en)}'
        "</span></div>"
        f"<div>Nghèo, ưu tiên và hạ tầng · poverty, priority and infrastructure · "
        f"dữ liệu / data {html.escape(data.built_at[:10])}"
        + (f" · bản phát hành / release {html.escape(release)}" if release else "")
        + f"</div>{demo}</div>"
    )
    root.html.add_child(Element(title), name="atlas_title")  # type: ignore[attr-defined]
    sources, licences = data.attributions(
        "units_2025", "communes_2024", "districts_2024", "demo_villages", "priority_units_2025"
    )
    items = "".join(f"<li>{html.escape(s)}</li>" for s in sources)
    footer = (
        "<details><summary>Nguồn và giấy phép / sources and licences</summary>"
        f"<ul>{items}</ul>Giấy phép / licences: {html.escape(', '.join(licences))}. "
        "Sơn La Poverty Atlas (MIT).</details>"
    )
    root.html.add_child(Element(f'<div class="atlas-sources">{footer}</div>'), name="atlas_sources")  # type: ignore[attr-defined]
    fmap.add_child(
        Legend(
            [POVERTY_RATE, PRIORITY_TIER, REGION_CLASS, *([DISBURSEMENT_RATE] if quarter else [])],
            symbols,
            note=(edition.period_label, f"{edition.text_vi} / {edition.text_en}"),
            titles={
                POVERTY_RATE.id: f"{POVERTY_RATE.title_vi} {year} / {POVERTY_RATE.title_en} {year}",
                REGION_CLASS.id: f"{REGION_CLASS.title_vi} {period} / {REGION_CLASS.title_en} {period}",
                DISBURSEMENT_RATE.id: f"{DISBURSEMENT_RATE.title_vi} đến {quarter} / {DISBURSEMENT_RATE.title_en} to "
                f"{quarter}",
            },
        )
    )
    folium.LayerControl(collapsed=False, position="topright").add_to(fmap)
    plugins.Fullscreen(title="Toàn màn hình / full screen", title_cancel="Thoát / exit").add_to(fmap)
    plugins.MeasureControl(
        position="topleft", primary_length_unit="kilometers", primary_area_unit="hectares", localization="en"
    ).add_to(fmap)
    districts = data.layers["districts_2024"]
    fmap.add_child(
        GeoJsonMiniMap(to_geojson(districts.assign(geometry=districts.geometry.simplify(0.003)), ["name"], 3))
    )
    return fmap


_SCRIPT = re.compile(r'<script src="(https?://[^"]+)"></script>')
_LINK = re.compile(r'<link rel="stylesheet" href="(https?://[^"]+)"\s*/?>')


def _offline_assets() -> dict[str, str]:
    from offlinefolium import elements

    return dict(elements._res)


def inline_assets(page: str, assets: dict[str, str] | None = None) -> str:
    """Replace every linked script and style sheet by its content, so the page needs no network."""
    assets = _offline_assets() if assets is None else assets

    def script(match: re.Match[str]) -> str:
        url = match.group(1)
        if url not in assets:
            raise MapError(f"no offline copy of {url}: the web map would need the internet")
        return "<script>" + assets[url].replace("</script", "<\\/script") + "</script>"

    def link(match: re.Match[str]) -> str:
        url = match.group(1)
        if url not in assets:
            raise MapError(f"no offline copy of {url}: the web map would need the internet")
        return "<style>" + assets[url] + "</style>"

    return _LINK.sub(link, _SCRIPT.sub(script, page))


def render_web_map(data: MapData, scope: Scope, release: str = "") -> bytes:
    """The scope's map as one self-contained HTML page (UTF-8)."""
    fmap = build_web_map(data, scope, release)
    page = fmap.get_root().render()
    page = page.replace("<head>", '<head>\n<meta charset="utf-8">', 1)
    page = page.replace("<html>", '<html lang="vi">', 1)
    page = re.sub(r"<title>.*?</title>", "", page, flags=re.S)
    page = page.replace("<head>", f"<head>\n<title>{html.escape(scope.label_vi)} – Atlas nghèo Sơn La</title>", 1)
    return inline_assets(page).encode("utf-8")
