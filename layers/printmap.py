"""Printable maps (vector PDF or PNG) of the province, a former district or a 2025 unit, for meetings.

Drawn with matplotlib in VN-2000 / UTM zone 48N (EPSG:3405), the national grid planners use, with
DejaVu Sans (shipped inside matplotlib) embedded as TrueType so Vietnamese text prints and can be
searched and copied. Each sheet has: title and subtitle (indicator and year, the policy period and the
poverty standard of the figures, the 2025 units), the choropleth of the scope's 2025 units with their
neighbours greyed, villages (those especially difficult in the current period marked), the proposed
projects, unit labels placed so that they do not collide, a legend with the class breaks, a scale bar, a
north arrow, a longitude/latitude grid, an inset locating the scope in the province, a bar chart of the
scope's deprivation profile (household-weighted, latest year), a table of the top priority units, sources
and licences, the data date and the print date. The panels are laid out in boxes that do not overlap, each
shrinking its type to fit its box (`panel_overlaps` checks a sheet).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import shapely
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from matplotlib_scalebar.scalebar import ScaleBar

from geo.programme import COMPONENTS, OUTPUTS, output_column
from geo.resolver import Place
from layers.catalog import get_layer
from layers.mapdata import Edition, MapData, MapError, Scope
from layers.palette import (
    DEPRIVATION_BAR,
    DEPRIVATION_TOP,
    DIFFICULT_FIELD,
    DISBURSEMENT_RATE,
    INSET,
    LOCATED,
    NEIGHBOUR,
    POVERTY_RATE,
    PRIORITY_TIER,
    ColourScale,
    Symbol,
    colours_for,
)
from layers.profile import DeprivationProfile

PRINT_CRS = "EPSG:3405"  # VN-2000 / UTM zone 48N
MM = 1 / 25.4
PAPER_MM = {"A4": (210, 297), "A3": (297, 420)}
Paper = Literal["A4", "A3"]
Orientation = Literal["portrait", "landscape"]
Indicator = Literal["poverty", "priority", "disbursement"]
Format = Literal["pdf", "png"]
FONT = "DejaVu Sans"


def symbol(layer_id: str, **properties: object) -> Symbol:
    """The palette's symbol of a feature of a layer with these properties."""
    return colours_for(get_layer(layer_id)).symbol_for(properties)


VILLAGE = symbol("demo_villages", **{DIFFICULT_FIELD: False})
DIFFICULT_VILLAGE = symbol("demo_villages", **{DIFFICULT_FIELD: True})  # especially difficult, current period
PROPOSED = symbol("investment_plan")
PROPOSED_ROAD = symbol("investment_plan_roads")
UNIT_EDGE = symbol("units_2025").edge
COMMUNE_EDGE = symbol("communes_2024").edge
DISTRICT_EDGE = symbol("districts_2024").edge
# indicator: (scale, Vietnamese title, English title); {year} and {period} are the edition's
INDICATORS: dict[str, tuple[ColourScale, str, str]] = {
    "poverty": (POVERTY_RATE, "Tỷ lệ hộ nghèo năm {year}", "Poverty rate, {year}"),
    "priority": (PRIORITY_TIER, "Mức ưu tiên đầu tư", "Investment priority tier"),
    "disbursement": (
        DISBURSEMENT_RATE,
        "Tỷ lệ giải ngân các CT MTQG, {since}–{quarter}",
        "National target programmes: disbursement rate, {since} to {quarter}",
    ),
}
# the named panels of a sheet (axes labels), checked by panel_overlaps
PANELS = ("map", "legend", "inset", "profile", "table")


@dataclass(frozen=True)
class PrintOptions:
    """Paper, orientation, indicator and file format of a printed map."""

    paper: Paper = "A3"
    orientation: Orientation = "landscape"
    indicator: Indicator = "poverty"
    format: Format = "pdf"
    dpi: int = 150
    bbox: tuple[float, float, float, float] | None = None  # lon/lat view to print instead of the scope's extent
    area_id: str = ""  # what bbox frames, when it is a named area (a pre-merger commune): "former-04141"
    area_vi: str = ""  # … its title: "vùng Xã Chiềng Nơi cũ"
    area_en: str = ""  # … "area of the former Xã Chiềng Nơi"

    def __post_init__(self) -> None:
        if self.bbox is not None:
            minx, miny, maxx, maxy = self.bbox
            if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
                raise MapError(
                    f"bbox {','.join(f'{v:g}' for v in self.bbox)}: give west,south,east,north in degrees, "
                    "west below east and south below north"
                )
        if self.paper not in PAPER_MM:
            raise MapError(f"paper {self.paper!r}: use A4 or A3")
        if self.orientation not in ("portrait", "landscape"):
            raise MapError(f"orientation {self.orientation!r}: use portrait or landscape")
        if self.indicator not in INDICATORS:
            raise MapError(f"indicator {self.indicator!r}: use {' or '.join(INDICATORS)}")
        if self.format not in ("pdf", "png"):
            raise MapError(f"format {self.format!r}: use pdf or png")

    @property
    def size_inches(self) -> tuple[float, float]:
        """Figure size (width, height) in inches."""
        short, long = PAPER_MM[self.paper]
        w, h = (long, short) if self.orientation == "landscape" else (short, long)
        return w * MM, h * MM

    @property
    def scale(self) -> float:
        """Font scale: A3 text is larger than A4 text."""
        return 1.25 if self.paper == "A3" else 1.0


# ----------------------------------------------------------------------------------------------------
# labels that do not collide
# ----------------------------------------------------------------------------------------------------

# candidate positions of a label around its point (in steps of 0.9 × its type size), nearest first
OFFSETS = (
    (0, 0), (0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1), (0, 2), (0, -2),
    (1, 2), (-1, 2), (1, -2), (-1, -2), (0, 3), (0, -3), (2, 1), (-2, 1), (2, -1), (-2, -1),
)  # fmt: skip


def place_labels(
    ax: Axes, items: list[tuple[float, float, str, float, str]], avoid: list[Bbox] | None = None
) -> list[Text]:
    """Place labels (x, y, text, fontsize, weight) in order; each takes the first offset at which it
    overlaps nothing placed before it (nor the `avoid` boxes) and stays inside the axes, or is left out.
    Bold labels (areas) may sit on their point; normal ones (villages) go beside their dot."""
    fig = ax.figure
    assert isinstance(fig, Figure)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    frame = ax.get_window_extent(renderer)
    points = fig.dpi / 72
    taken = np.zeros((len(items) + len(avoid or []), 4))  # x0, y0, x1, y1 of every box placed
    for n, b in enumerate(avoid or []):
        taken[n] = (b.x0, b.y0, b.x1, b.y1)
    count = len(avoid or [])
    placed: list[Text] = []
    for x, y, text, size, weight in items:
        label = ax.annotate(
            text,
            (x, y),
            xytext=(0, 0),
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize=size,
            fontweight=weight,
            fontfamily=FONT,
            color="#111",
            zorder=20,
            bbox={"boxstyle": "round,pad=0.12", "fc": (1, 1, 1, 0.65), "ec": "none"},
        )
        # the text's size is measured once; candidate positions are shifted copies of that box
        box = label.get_window_extent(renderer).expanded(1.04, 1.08)
        ax_x, ax_y = ax.transData.transform((x, y))
        w, h = box.width, box.height
        for dx, dy in OFFSETS if weight == "bold" else OFFSETS[1:]:
            shift = size * 0.9 * points
            cx = ax_x + dx * shift + (dx > 0) * w / 2 - (dx < 0) * w / 2
            cy = ax_y + dy * shift
            x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
            inside = frame.x0 <= x0 and x1 <= frame.x1 and frame.y0 <= y0 and y1 <= frame.y1
            t = taken[:count]
            if inside and not ((t[:, 0] < x1) & (x0 < t[:, 2]) & (t[:, 1] < y1) & (y0 < t[:, 3])).any():
                label.xyann = (dx * size * 0.9, dy * size * 0.9)
                label.set_horizontalalignment("center" if dx == 0 else ("left" if dx > 0 else "right"))
                taken[count] = (x0, y0, x1, y1)
                count += 1
                placed.append(label)
                break
        else:
            label.remove()
    return placed


def overlapping_pairs(texts: list[Text]) -> int:
    """How many pairs of these texts overlap on the page (0 after place_labels)."""
    if not texts:
        return 0
    fig = texts[0].figure
    assert isinstance(fig, Figure)
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [t.get_window_extent(renderer) for t in texts]
    return sum(boxes[i].overlaps(boxes[j]) for i in range(len(boxes)) for j in range(i + 1, len(boxes)))


# ----------------------------------------------------------------------------------------------------
# furniture
# ----------------------------------------------------------------------------------------------------


def _graticule(ax: Axes, bounds: tuple[float, float, float, float], size: float) -> None:
    """Longitude/latitude lines every 0.05°-0.5°, labelled on the frame (degrees and minutes)."""
    x0, y0, x1, y1 = bounds
    corners = gpd.GeoSeries(shapely.points([x0, x1, x0, x1], [y0, y0, y1, y1]), crs=PRINT_CRS).to_crs(4326)
    lon0, lon1 = float(corners.x.min()), float(corners.x.max())
    lat0, lat1 = float(corners.y.min()), float(corners.y.max())
    span = max(lon1 - lon0, lat1 - lat0)
    step = next(s for s in (0.05, 0.1, 0.25, 0.5, 1.0) if span / s <= 6)

    def dm(value: float, pos: str, neg: str) -> str:
        d = int(abs(value))
        m = round((abs(value) - d) * 60)
        if m == 60:
            d, m = d + 1, 0
        return f"{d}°{m:02d}′{pos if value >= 0 else neg}"

    frame = shapely.box(x0, y0, x1, y1)
    for kind, start, stop in (("lon", lon0, lon1), ("lat", lat0, lat1)):
        for value in np.arange(np.ceil(start / step) * step, stop, step):
            if kind == "lon":
                line = shapely.LineString([(value, lat) for lat in np.linspace(lat0 - 0.1, lat1 + 0.1, 30)])
            else:
                line = shapely.LineString([(lon, value) for lon in np.linspace(lon0 - 0.1, lon1 + 0.1, 30)])
            projected = gpd.GeoSeries([line], crs=4326).to_crs(PRINT_CRS).iloc[0]
            clipped = projected.intersection(frame)
            if clipped.is_empty:
                continue
            xs, ys = np.asarray(clipped.coords).T if clipped.geom_type == "LineString" else ([], [])
            ax.plot(xs, ys, color="#7a7a7a", lw=0.4, ls=(0, (4, 3)), zorder=15)
            if len(xs) == 0:
                continue
            if kind == "lon":
                bottom = int(np.argmin(ys))
                ax.annotate(
                    dm(value, "E", "W"),
                    (xs[bottom], y0),
                    xytext=(0, -2),
                    textcoords="offset points",
                    ha="center",
                    va="top",
                    fontsize=size,
                    fontfamily=FONT,
                    color="#444",
                    annotation_clip=False,
                )
            else:
                left = int(np.argmin(xs))
                ax.annotate(
                    dm(value, "N", "S"),
                    (x0, ys[left]),
                    xytext=(-2, 0),
                    textcoords="offset points",
                    ha="right",
                    va="center",
                    rotation=90,
                    fontsize=size,
                    fontfamily=FONT,
                    color="#444",
                    annotation_clip=False,
                )


def _north_arrow(ax: Axes, size: float) -> None:
    ax.annotate(
        "",
        xy=(0.955, 0.96),
        xytext=(0.955, 0.86),
        xycoords="axes fraction",
        arrowprops={"arrowstyle": "-|>,head_width=0.5,head_length=1.0", "color": "#111", "lw": 1.6},
        zorder=30,
    )
    ax.text(
        0.955,
        0.965,
        "B / N",
        transform=ax.transAxes,
        ha="center",
        va="bottom",
        fontsize=size,
        fontweight="bold",
        fontfamily=FONT,
        zorder=30,
    )


def _fmt_int(value: float) -> str:
    return f"{round(float(value)):,}".replace(",", ".")


def _fmt_dec(value: float, digits: int = 1) -> str:
    return f"{float(value):.{digits}f}".replace(".", ",")


def _trend_rate(row: pd.Series, which: str) -> float:
    """The poverty rate of the trend's first (`trend_from`) or last (`trend_to`) year."""
    return float(row[f"poor_rate_{int(row[which])}"])


def _top_table(ax: Axes, units: pd.DataFrame, size: float, rows: int) -> None:
    """The top priority units of the scope with their key figures, in rows as high as the type (shrunk to fit)."""
    top = units.sort_values("rank").head(rows)
    cells = [
        [
            str(int(r["rank"])),
            str(r["unit_name"]),
            _fmt_dec(r["poor_rate"], 2),
            _fmt_int(r["poor_households"]),
            f"{_fmt_dec(_trend_rate(r, 'trend_from'))}→{_fmt_dec(_trend_rate(r, 'trend_to'))}",
            str(r["tier_label"]).split(" / ")[0],
        ]
        for _, r in top.iterrows()
    ]
    years = f"{int(top['trend_from'].iloc[0])}→{int(top['trend_to'].iloc[0])} %" if len(top) else "%"
    header = ["Hạng\nrank", "Xã, phường\nunit", "Hộ nghèo %\npoor %", "Hộ nghèo\npoor hh", years, "Mức\ntier"]
    title = "Các xã, phường ưu tiên cao nhất / highest priority units"
    _table_panel(ax, title, header, cells, [0.08, 0.34, 0.14, 0.13, 0.19, 0.14], size)


def _table_panel(
    ax: Axes, title: str, header: list[str], cells: list[list[str]], widths: list[float], size: float
) -> None:
    """A titled table filling the top of a panel, in rows as high as the type (shrunk to fit), header of 2 lines."""
    ax.set_axis_off()
    fig = ax.figure
    assert isinstance(fig, Figure)
    height_pt = ax.get_position().height * fig.get_figheight() * 72
    title_pt = size * 1.15 * 1.6
    size = min(size, (height_pt - title_pt) / (1.75 * (len(cells) + 1.9)))
    row = size * 1.75 / height_pt
    total = row * (len(cells) + 1.9)
    table = ax.table(
        cellText=cells or [["–"] * len(header)],
        colLabels=header,
        cellLoc="left",
        colWidths=widths,
        bbox=Bbox.from_bounds(0, 1 - title_pt / height_pt - total, 1, total),
    )
    table.auto_set_font_size(False)
    table.set_fontsize(size)
    for (r, _), cell in table.get_celld().items():
        cell.set_edgecolor("#bbbbbb")
        cell.set_linewidth(0.4)
        cell.get_text().set_fontfamily(FONT)
        if r == 0:
            cell.set_facecolor("#eeeeee")
            cell.set_height(cell.get_height() * 1.9)
            cell.get_text().set_fontweight("bold")
    ax.text(0, 1, title, transform=ax.transAxes, fontsize=size * 1.15, fontweight="bold", fontfamily=FONT, va="top")


def _disbursement_table(ax: Axes, units: pd.DataFrame, size: float, rows: int) -> None:
    """The scope's units with the slowest disbursement first: money approved and paid, rate, VND per poor household,
    and the flag of a top-tier unit that received least."""
    slow = units.sort_values(["disbursement_rate", "unit_code"], na_position="first").head(rows)
    cells = [
        [
            str(r["unit_name"]),
            _fmt_dec(float(r["approved_vnd"]) / 1e9),
            _fmt_dec(float(r["disbursed_vnd"]) / 1e9),
            "–" if pd.isna(r["disbursement_rate"]) else _fmt_dec(r["disbursement_rate"]),
            "–" if pd.isna(r["disbursed_per_poor_household"]) else _fmt_dec(r["disbursed_per_poor_household"] / 1e6),
            "CÓ / YES" if bool(r["least_funded_top_tier"]) else "",
        ]
        for _, r in slow.iterrows()
    ]
    header = ["Xã, phường\nunit", "Giao, tỷ đ\napproved bn", "Giải ngân, tỷ\npaid bn", "Tỷ lệ %\nrate %",
              "Tr.đ/hộ nghèo\nm/poor hh", "Ưu tiên, ít vốn\ntop tier, least"]  # fmt: skip
    title = "Giải ngân chậm nhất / slowest disbursement"
    _table_panel(ax, title, header, cells, [0.24, 0.15, 0.16, 0.1, 0.16, 0.19], size)


def _outputs_table(ax: Axes, units: pd.DataFrame, size: float, span: str) -> None:
    """The outputs completed in the scope's units in the programme period, by component."""
    cells = []
    for component, unit_of in OUTPUTS:
        column = output_column(component, unit_of)
        total = float(units[column].sum()) if column in units else 0.0
        if total > 0:
            vi, en, _ = COMPONENTS[component]
            value = _fmt_int(total) if float(total).is_integer() else _fmt_dec(total)
            cells.append([f"{vi} / {en}", unit_of, value])
    header = ["Hạng mục\ncomponent", "Đơn vị\nunit", "Hoàn thành\ncompleted"]
    _table_panel(ax, f"Kết quả hoàn thành {span} / outputs completed", header, cells, [0.62, 0.18, 0.2], size)


def _fits(fig: Figure, extent: Bbox, box: tuple[float, float, float, float]) -> bool:
    """Whether a drawn extent (pixels) lies inside a box of the figure (fractions: x, y, width, height)."""
    x, y, w, h = box
    W, H = fig.bbox.width, fig.bbox.height
    eps = 0.5
    return bool(
        extent.x0 >= x * W - eps and extent.x1 <= (x + w) * W + eps and extent.y0 >= y * H - eps
        and extent.y1 <= (y + h) * H + eps
    )  # fmt: skip


def _legend(
    ax: Axes, scale: ColourScale, counts: list[int], size: float, has_plan: bool, title: str, period: str
) -> None:
    """The classes with their number of units and the map's symbols; the type shrinks until it fits the axes."""
    ax.set_axis_off()
    handles: list[Patch | Line2D] = [
        Patch(facecolor=c, edgecolor="#555", lw=0.4, label=f"{label}  ({n})")
        for c, label, n in zip(scale.colours, scale.labels(), counts, strict=True)
    ]
    handles += [
        Line2D(
            [], [], marker="o", ls="", mfc=DIFFICULT_VILLAGE.colour, mec=DIFFICULT_VILLAGE.edge, ms=5,
            label=f"Thôn, bản ĐBKK {period}\nespecially difficult village {period}",
        ),
        Line2D([], [], marker="o", ls="", mfc=VILLAGE.colour, mec=VILLAGE.edge, ms=4, label="Thôn, bản / village"),
        Line2D([], [], color=UNIT_EDGE, lw=1.4, label="Ranh giới xã, phường 2025 / 2025 unit"),
        Line2D([], [], color=DISTRICT_EDGE, lw=2.4, label="Ranh giới huyện cũ / former district"),
    ]  # fmt: skip
    if has_plan:
        handles.append(
            Line2D(
                [],
                [],
                marker="D",
                ls="",
                mfc=PROPOSED.colour,
                mec=PROPOSED.edge,
                ms=6,
                label="Dự án đề xuất / proposed",
            )
        )
    fig = ax.figure
    assert isinstance(fig, Figure)
    box = ax.get_position().bounds
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for shrink in (1.0, 0.92, 0.84, 0.76, 0.68, 0.6):
        legend = ax.legend(
            handles=handles,
            loc="upper left",
            title=title,
            fontsize=size * shrink,
            title_fontsize=size * shrink * 1.1,
            frameon=False,
            borderaxespad=0,
            labelspacing=0.45,
            prop={"family": FONT, "size": size * shrink},
        )
        legend.get_title().set_fontfamily(FONT)
        legend.get_title().set_fontweight("bold")
        legend._legend_box.align = "left"  # type: ignore[attr-defined]  # the title over the handles, not centred
        if _fits(fig, legend.get_window_extent(renderer), box):
            break


def _inset(ax: Axes, data: MapData, outline: gpd.GeoSeries) -> None:
    ax.set_axis_off()
    districts = data.projected("districts_2024", PRINT_CRS)
    districts.plot(ax=ax, color=INSET.colour, edgecolor=INSET.edge, lw=0.3)
    outline.plot(ax=ax, color=LOCATED.colour, edgecolor=LOCATED.edge, lw=0.6, alpha=0.9)
    ax.set_aspect("equal")
    ax.set_title("Vị trí / location", fontsize=7, fontfamily=FONT, loc="left", pad=2)


def text_width(fig: Figure, text: str, size: float, weight: str = "normal") -> float:
    """The width of one line of text on the sheet, as a fraction of the figure's width."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    font = FontProperties(family=FONT, size=size, weight=weight)
    width, _, _ = renderer.get_text_width_height_descent(text, font, ismath=False)
    return float(width) / fig.bbox.width


def _wrap(fig: Figure, text: str, size: float, width: float) -> str:
    """The text with line breaks so that no line is wider than `width` (figure fraction); its own breaks kept."""
    out: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and text_width(fig, candidate, size) > width:
                out.append(line)
                line = word
            else:
                line = candidate
        out.append(line)
    return "\n".join(out)


def _fit(fig: Figure, lines: list[str], size: float, width: float, weight: str = "normal") -> float:
    """The type size at most `size` at which every line is at most `width` wide (figure fraction)."""
    widest = max(text_width(fig, line, size, weight) for line in lines)
    return size if widest <= width else size * width / widest


def _profile_panel(
    fig: Figure, box: tuple[float, float, float, float], profile: DeprivationProfile, size: float
) -> Axes:
    """The scope's deprivation profile: a bar per indicator of the year's standard (the share of households lacking
    it), the most lacked darker and named, under a bilingual heading; the type shrinks until all fits the box."""
    x, y, w, h = box
    height_pt = h * fig.get_figheight() * 72
    bars = [b for b in profile.bars if not np.isnan(b.share)]
    top = profile.top
    heading = [
        f"Hộ thiếu hụt theo chỉ số, {profile.year} / households deprived by indicator, {profile.year}",
        f"% số hộ · chuẩn nghèo / poverty standard {profile.standard.id} · % of households",
        f"Thiếu nhiều nhất / most lacked: {top.label}",
    ]
    if profile.top_need_label:
        heading.append(f"Nhu cầu nổi bật / need that stands out: {profile.top_need_label}")
    # heights: heading lines of 1.3 × the type, bars of 1.45 × the type
    size = min(size, height_pt / (1.3 * (len(heading) + 0.4) + 1.45 * len(bars)))
    size = _fit(fig, heading[:1], size, w, "bold")
    size = _fit(fig, heading[1:], size, w)
    values = [_fmt_dec(b.share) + "%" for b in bars]
    label_w = max(text_width(fig, b.label, size * 0.95) for b in bars) + 0.006
    value_w = max(text_width(fig, v, size * 0.95) for v in values) + 0.006
    line = size * 1.3 / 72 / fig.get_figheight()  # one heading line, figure fraction
    ax = fig.add_axes((x + label_w, y, max(w - label_w - value_w, 0.02), h - line * (len(heading) + 0.4)))
    ax.set_label("profile")
    for n, text in enumerate(heading):
        ax.text(
            x,
            y + h - n * line,
            text,
            transform=fig.transFigure,
            fontsize=size,
            fontweight="bold" if n == 0 else "normal",
            fontfamily=FONT,
            color="#111" if n == 0 else "#333",
            ha="left",
            va="top",
        )
    shares = [b.share for b in bars]
    colours = [DEPRIVATION_TOP.colour if b.indicator == top.indicator else DEPRIVATION_BAR.colour for b in bars]
    ax.barh(range(len(bars)), shares, height=0.72, color=colours, gid="deprivation_profile")
    ax.set_yticks(range(len(bars)), [b.label for b in bars], fontsize=size * 0.95, fontfamily=FONT)
    ax.set_ylim(len(bars) - 0.5, -0.5)
    ax.set_xlim(0, max(max(shares), 1.0))
    ax.tick_params(axis="y", length=0, pad=2)
    ax.set_xticks([])
    for name, spine in ax.spines.items():
        spine.set_visible(name == "left")
        spine.set_linewidth(0.5)
    for n, (share, value) in enumerate(zip(shares, values, strict=True)):
        ax.text(share, n, " " + value, va="center", ha="left", fontsize=size * 0.95, fontfamily=FONT, clip_on=False)
    return ax


def panel_overlaps(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of the sheet's panels (map, legend, inset, profile, table) and texts (title, subtitle, footer) that
    overlap on the page, and (name, "page") for any that reaches beyond it: [] on a well laid out sheet."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes: list[tuple[str, Bbox]] = []
    for ax in fig.axes:
        extent = ax.get_tightbbox(renderer) if ax.get_label() in PANELS else None
        if extent is not None:
            boxes.append((str(ax.get_label()), extent))
    boxes += [(str(t.get_gid()), t.get_window_extent(renderer)) for t in fig.texts if t.get_gid()]
    found = [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1 :] if box_a.overlaps(box_b)]
    page = fig.bbox
    found += [
        (name, "page")
        for name, box in boxes
        if box.x0 < page.x0 or box.y0 < page.y0 or box.x1 > page.x1 or box.y1 > page.y1
    ]
    return found


# ----------------------------------------------------------------------------------------------------
# the sheet
# ----------------------------------------------------------------------------------------------------


def _header(
    fig: Figure,
    scope: Scope,
    edition: Edition,
    title_vi: str,
    title_en: str,
    k: float,
    view: tuple[float, float, float, float] | None = None,
    area: tuple[str, str] = ("", ""),
) -> float:
    """Title and subtitle (indicator, place, period, poverty standard, units) at the top; the bottom of the header
    (figure fraction). A view is named as the area it frames (vi, en), else as the current view."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    width = 1 - 2 * 0.035
    area_vi, area_en = area if area[0] else ("vùng đang xem", "current view")
    title = f"{title_vi.upper()} – {scope.label_vi.upper()}" + (f" – {area_vi.upper()}" if view else "")
    size = _fit(fig, [title], 15 * k, width, "bold")
    heading = fig.text(0.035, 0.965, title, fontsize=size, fontweight="bold", fontfamily=FONT, va="top", gid="title")
    place = scope.label_en[:1].upper() + scope.label_en[1:]
    where = ""
    if view:
        where = f" – {area_en} ({view[0]:.3f}°E–{view[2]:.3f}°E, {view[1]:.3f}°N–{view[3]:.3f}°N)"
    lines = [
        f"{title_en} – {place}{where}",
        f"{edition.period_label} · năm số liệu / data year {edition.year} · chuẩn nghèo / poverty standard: "
        f"{edition.standard_vi} ({edition.standard.id})",
        "Đơn vị hành chính sau sáp nhập (1/7/2025, NQ 1681/NQ-UBTVQH15) / 2025 administrative units",
    ]
    size = _fit(fig, lines, 8 * k, width)
    y = heading.get_window_extent(renderer).y0 / fig.bbox.height - 0.006
    subtitle = fig.text(
        0.035, y, "\n".join(lines), fontsize=size, fontfamily=FONT, va="top", color="#333", linespacing=1.4,
        gid="subtitle",
    )  # fmt: skip
    return float(subtitle.get_window_extent(renderer).y0 / fig.bbox.height)


def _footer(fig: Figure, data: MapData, k: float, printed: dt.date, release: str = "") -> float:
    """Sources, licences, CRS and dates at the bottom, wrapped to the page; the top of the footer (figure fraction)."""
    sources, licences = data.attributions(
        "units_2025", "communes_2024", "districts_2024", "demo_villages", "classification_2026_2030",
        "deprivations_units_2025",
    )  # fmt: skip
    text = (
        "Nguồn / sources: " + "; ".join(sources) + "\nGiấy phép / licences: " + ", ".join(licences)
        + f" · Hệ tọa độ / CRS: VN-2000 / UTM 48N (EPSG:3405) · Dữ liệu / data: {data.built_at[:10]}"
        + (f" · Bản phát hành / release {release}" if release else "")
        + f" · Ngày in / printed: {printed.isoformat()} · Sơn La Poverty Atlas"
    )  # fmt: skip
    size = 5.2 * k
    footer = fig.text(
        0.035, 0.012, _wrap(fig, text, size, 1 - 2 * 0.035), fontsize=size, fontfamily=FONT, color="#444",
        va="bottom", gid="footer",
    )  # fmt: skip
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    return float(footer.get_window_extent(renderer).y1 / fig.bbox.height)


def build_print_map(
    data: MapData, scope: Scope, options: PrintOptions, printed: dt.date | None = None, release: str = ""
) -> tuple[Figure, list[Text]]:
    """The sheet as a matplotlib figure, and the labels placed on the map."""
    edition = data.edition()
    scale, title_vi, title_en = INDICATORS[options.indicator]
    quarters = data.layers["map_units"]["programme_quarter"].dropna()
    if scale is DISBURSEMENT_RATE and quarters.empty:
        raise MapError("indicator disbursement: the warehouse has no programme figures; rebuild it with `atlas build`")
    quarter = str(quarters.max()) if len(quarters) else ""
    since = str(data.layers["map_units"]["programme_since"].dropna().max()) if quarter else ""
    fields = {"year": edition.year, "period": edition.period.id, "quarter": quarter, "since": since}
    title_vi, title_en = title_vi.format(**fields), title_en.format(**fields)
    k = options.scale
    units = data.units_in(scope)
    if units.empty:
        raise MapError(f"{scope.name}: no 2025 unit to draw")
    all_units = data.projected("map_units", PRINT_CRS)
    mine = all_units[all_units["unit_code"].isin(units["unit_code"])]
    outline = gpd.GeoSeries([data.outline(scope)], crs=4326).to_crs(PRINT_CRS)
    minx, miny, maxx, maxy = pd.concat([mine.geometry, outline]).total_bounds
    pad = 0.04 * max(maxx - minx, maxy - miny)
    if options.bbox is not None:  # the view of the workspace: the scope's units in it, framed by it
        box = gpd.GeoSeries([shapely.box(*options.bbox)], crs=4326).to_crs(PRINT_CRS)
        mine = mine[mine.intersects(box.iloc[0])]
        if mine.empty:
            raise MapError(f"bbox {','.join(f'{v:g}' for v in options.bbox)}: no 2025 unit of {scope.name} is in it")
        units = units[units["unit_code"].isin(mine["unit_code"])].reset_index(drop=True)
        minx, miny, maxx, maxy = box.total_bounds
        pad = 0.0

    # text is measured as it will be drawn: a PNG at its own resolution (Agg draws small text wider at 150 dpi
    # than at 100, so a footer wrapped at 100 dpi ran off the page), a PDF at 100 dpi (close to its font metrics)
    dpi = options.dpi if options.format == "png" else 100
    fig = Figure(figsize=options.size_inches, dpi=dpi)  # no pyplot: figures are safe to make in server threads
    canvas = FigureCanvasAgg(fig)
    canvas.draw_idle = lambda *args, **kwargs: None  # type: ignore[method-assign]  # geopandas redraws per layer
    landscape = options.orientation == "landscape"
    # the header and the footer first: the panels take the room between them
    header_bottom = _header(
        fig, scope, edition, title_vi, title_en, k, options.bbox, (options.area_vi, options.area_en)
    )
    footer_top = _footer(fig, data, k, printed or dt.date.today(), release)
    gap = 0.012
    below = 6 * k * 1.5 / 72 / options.size_inches[1]  # the longitude labels under the map's frame
    bottom = footer_top + gap
    if landscape:
        top = min(0.86, header_bottom - gap)
        map_box = (0.035, bottom + below, 0.60, top - bottom - below)
        side = (0.66, bottom, 0.32, top - bottom)
    else:
        top = min(0.85, header_bottom - gap)
        side_top = 0.39
        map_box = (0.06, side_top + below + gap, 0.90, top - side_top - below - gap)
        side = (0.06, bottom, 0.90, side_top - bottom)
    ax = fig.add_axes(map_box, label="map")
    # frame with the map's aspect (metres are equal in x and y)
    box_w, box_h = map_box[2] * options.size_inches[0], map_box[3] * options.size_inches[1]
    width, height = maxx - minx + 2 * pad, maxy - miny + 2 * pad
    if width / height > box_w / box_h:
        extra = (width * box_h / box_w - height) / 2
        x0, x1, y0, y1 = minx - pad, maxx + pad, miny - pad - extra, maxy + pad + extra
    else:
        extra = (height * box_w / box_h - width) / 2
        x0, x1, y0, y1 = minx - pad - extra, maxx + pad + extra, miny - pad, maxy + pad
    view = shapely.box(x0, y0, x1, y1)

    others = all_units[~all_units["unit_code"].isin(units["unit_code"]) & all_units.intersects(view)]
    if len(others):
        others.plot(ax=ax, color=NEIGHBOUR.colour, edgecolor=NEIGHBOUR.edge, lw=0.4, zorder=1, gid="neighbours")
    values = mine[scale.field].to_numpy(dtype=float)
    mine.plot(ax=ax, color=[scale.colour(v) for v in values], edgecolor=UNIT_EDGE, lw=0.9 * k, zorder=2, gid=scale.id)
    communes = data.select("map_communes", scope).to_crs(PRINT_CRS)
    communes.boundary.plot(ax=ax, color=COMMUNE_EDGE, lw=0.35 * k, ls="--", zorder=3, gid="communes_2024")
    if options.area_id.startswith("former-"):  # the pre-merger commune whose area the sheet frames, outlined
        former = communes[communes["code"] == options.area_id.removeprefix("former-")]
        former.boundary.plot(ax=ax, color=LOCATED.edge, lw=2.4 * k, zorder=5, gid="former_commune")
    if scope.kind != "unit":
        districts = data.projected("districts_2024", PRINT_CRS)
        shown = districts[districts.intersects(view)]
        shown.boundary.plot(ax=ax, color=DISTRICT_EDGE, lw=1.8 * k, zorder=4, gid="districts_2024")
    villages = data.select("demo_villages", scope).to_crs(PRINT_CRS)
    difficult = villages[DIFFICULT_FIELD].fillna(False).astype(bool)  # the current period's list
    dot = 9 if scope.kind == "province" else 16
    ax.scatter(
        villages.geometry.x[~difficult], villages.geometry.y[~difficult], s=dot * k, c=VILLAGE.colour,
        ec=VILLAGE.edge, lw=0.3, zorder=6, gid="demo_villages",
    )  # fmt: skip
    ax.scatter(
        villages.geometry.x[difficult], villages.geometry.y[difficult], s=dot * k * 1.3, c=DIFFICULT_VILLAGE.colour,
        ec=DIFFICULT_VILLAGE.edge, lw=0.3, zorder=7, gid="demo_villages/especially_difficult",
    )  # fmt: skip
    plan = data.select("investment_plan", scope).to_crs(PRINT_CRS)
    plan_roads = data.select("investment_plan_roads", scope).to_crs(PRINT_CRS)
    if len(plan_roads):
        plan_roads.plot(ax=ax, color=PROPOSED_ROAD.colour, lw=2.2 * k, zorder=8, gid="investment_plan_roads")
    if len(plan):
        ax.scatter(
            plan.geometry.x, plan.geometry.y, s=38 * k, marker="D", c=PROPOSED.colour, ec=PROPOSED.edge, lw=0.8,
            zorder=9, gid="investment_plan",
        )  # fmt: skip
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    for spine in ax.spines.values():
        spine.set_linewidth(0.8)
    _graticule(ax, (x0, y0, x1, y1), 6 * k)
    ax.add_artist(
        ScaleBar(
            1,
            units="m",
            location="lower left",
            length_fraction=0.22,
            box_alpha=0.8,
            font_properties={"family": FONT, "size": 7 * k},
            scale_loc="top",
        )
    )
    _north_arrow(ax, 8 * k)

    # the demo-data notice sits on the map, top left; labels keep clear of it and of the north arrow
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    avoid = [a.get_window_extent(renderer) for a in [*ax.texts, *ax.artists]]
    synthetic = data.synthetic("priority_units_2025", "indicators_units_2025", "demo_villages")
    if synthetic:
        notice = ax.text(
            0.012,
            0.988,
            "DỮ LIỆU MINH HỌA (MÔ PHỎNG) – KHÔNG PHẢI SỐ LIỆU CHÍNH THỨC\nDEMO DATA (SYNTHETIC) – NOT OFFICIAL FIGURES",
            transform=ax.transAxes,
            fontsize=6.5 * k,
            fontweight="bold",
            fontfamily=FONT,
            color="#b30000",
            ha="left",
            va="top",
            zorder=40,
            bbox={"boxstyle": "round,pad=0.3", "fc": "#fde2b8", "ec": "#d08c2a"},
        )
        avoid.append(notice.get_window_extent(renderer).expanded(1.05, 1.2))

    # labels: unit names first (larger, clear of the proposed projects), then villages, clear of every dot
    def dots(xs: np.ndarray, ys: np.ndarray, points: float) -> list[Bbox]:
        centres = ax.transData.transform(np.column_stack([xs, ys])) if len(xs) else np.zeros((0, 2))
        r = points * fig.dpi / 72 / 2
        return [Bbox.from_extents(x - r, y - r, x + r, y + r) for x, y in centres]

    projects = dots(plan.geometry.x.to_numpy(), plan.geometry.y.to_numpy(), 9 * k)
    reps = mine.geometry.representative_point()
    # the province's 75 names: smaller type where the larger leaves more than 1 in 20 unnamed (portrait sheets)
    sizes = (7.5 * k, 6.8 * k, 6.2 * k) if scope.kind == "province" else (7.5 * k,)
    for size in sizes:
        units_labels = place_labels(
            ax,
            [
                (p.x, p.y, str(name).replace("Phường ", "P. ").replace("Xã ", ""), size, "bold")
                for p, name in zip(reps, mine["unit_name"], strict=True)
            ],
            avoid + projects,
        )
        if len(units_labels) >= 0.95 * len(mine) or size == sizes[-1]:
            break
        for label in units_labels:
            label.remove()
    labels = list(units_labels)
    if scope.kind != "province":  # especially difficult villages first; every village on a unit's sheet
        shown = villages[difficult] if scope.kind == "district" else villages.sort_values(DIFFICULT_FIELD)[::-1]
        obstacles = [t.get_window_extent(renderer) for t in units_labels] + avoid + projects
        obstacles += dots(villages.geometry.x.to_numpy(), villages.geometry.y.to_numpy(), 5 * k)
        items = [(v.geometry.x, v.geometry.y, str(v["name"]), 5.2 * k, "normal") for _, v in shown.iterrows()]
        labels += place_labels(ax, items, obstacles)

    # side panel: legend, inset, deprivation profile, table
    sx, sy, sw, sh = side
    counts = [int((mine[scale.field].pipe(scale.classify) == c).sum()) for c in range(len(scale.colours))]
    inset_title = 7 * 1.6 / 72 / options.size_inches[1]  # room for the inset's title above its axes
    if landscape:
        legend_box = (sx, sy + sh * 0.63, sw * 0.60, sh * 0.37)
        inset_box = (sx + sw * 0.63, sy + sh * 0.70, sw * 0.37, sh * 0.30 - inset_title)
        profile_box = (sx, sy + sh * 0.325, sw, sh * 0.285)
        table_box = (sx, sy, sw, sh * 0.30)
    else:
        legend_box = (sx, sy + sh * 0.52, sw * 0.33, sh * 0.48)
        profile_box = (sx + sw * 0.355, sy + sh * 0.52, sw * 0.45, sh * 0.48)
        inset_box = (sx + sw * 0.83, sy + sh * 0.52, sw * 0.17, sh * 0.48 - inset_title)
        table_box = (sx, sy, sw, sh * 0.48)
    # figures of a year, tiers of a period, disbursement to a quarter
    when = edition.year if scale is POVERTY_RATE else quarter if scale is DISBURSEMENT_RATE else edition.period.id
    legend_title = f"{scale.title_vi} {when} / {scale.title_en} {when}"
    _legend(
        fig.add_axes(legend_box, label="legend"),
        scale,
        counts,
        6.5 * k,
        bool(len(plan)),
        legend_title,
        edition.period.id,
    )
    _inset(fig.add_axes(inset_box, label="inset"), data, outline)
    rows = 10 if scope.kind == "province" else 8
    if scale is DISBURSEMENT_RATE:
        _outputs_table(fig.add_axes(profile_box, label="profile"), units, 6.2 * k, f"{since}–{quarter}")
        _disbursement_table(fig.add_axes(table_box, label="table"), units, 6.2 * k, rows)
        return fig, labels
    profile = data.profile(scope)
    if profile is not None:
        _profile_panel(fig, profile_box, profile, 6.2 * k)
    _top_table(fig.add_axes(table_box, label="table"), units, 6.2 * k, rows)
    return fig, labels


FORMER = "former"  # PrintOptions.area_id asking for the area of the pre-merger commune a unit was named by


def former_area_options(place: Place) -> dict[str, Any]:
    """PrintOptions fields framing a pre-merger commune's area (its extent, its title and file name)."""
    return {
        "bbox": tuple(round(v, 5) for v in place.bbox),
        "area_id": f"former-{place.code}",
        "area_vi": f"vùng {place.name} cũ",
        "area_en": f"area of the former {place.name}",
    }


def render_print_map(
    data: MapData, scope: Scope, options: PrintOptions, printed: dt.date | None = None, release: str = ""
) -> bytes:
    """The sheet as PDF (vector, fonts embedded) or PNG bytes; `release` names the release it shows."""
    fig, _ = build_print_map(data, scope, options, printed, release)
    buffer = io.BytesIO()
    with matplotlib.rc_context({"pdf.fonttype": 42, "svg.fonttype": "none"}):
        fig.savefig(
            buffer,
            format=options.format,
            dpi=options.dpi,
            metadata={"Title": f"{scope.label_vi} – Atlas nghèo Sơn La", "Creator": "sonla-atlas"}
            if options.format == "pdf"
            else None,
        )
    return buffer.getvalue()
