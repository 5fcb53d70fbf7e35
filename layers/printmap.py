"""Printable maps (vector PDF or PNG) of the province, a former district or a 2025 unit, for meetings.

Drawn with matplotlib in VN-2000 / UTM zone 48N (EPSG:3405), the national grid planners use, with
DejaVu Sans (shipped inside matplotlib) embedded as TrueType so Vietnamese text prints and can be
searched and copied. Each sheet has: title and subtitle (vintage, year, indicator), the choropleth of
the scope's 2025 units with their neighbours greyed, villages (especially difficult ones marked), the
proposed projects, unit labels placed so that they do not collide, a legend with the class breaks, a
scale bar, a north arrow, a longitude/latitude grid, an inset locating the scope in the province, a
table of the top priority units, sources and licences, the data date and the print date.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
import shapely
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from matplotlib_scalebar.scalebar import ScaleBar

from layers.catalog import get_layer
from layers.mapdata import MapData, MapError, Scope
from layers.palette import INSET, LOCATED, NEIGHBOUR, POVERTY_RATE, PRIORITY_TIER, ColourScale, Symbol, colours_for

PRINT_CRS = "EPSG:3405"  # VN-2000 / UTM zone 48N
MM = 1 / 25.4
PAPER_MM = {"A4": (210, 297), "A3": (297, 420)}
Paper = Literal["A4", "A3"]
Orientation = Literal["portrait", "landscape"]
Indicator = Literal["poverty", "priority"]
Format = Literal["pdf", "png"]
FONT = "DejaVu Sans"


def symbol(layer_id: str, **properties: object) -> Symbol:
    """The palette's symbol of a feature of a layer with these properties."""
    return colours_for(get_layer(layer_id)).symbol_for(properties)


VILLAGE = symbol("demo_villages", especially_difficult=False)
DIFFICULT_VILLAGE = symbol("demo_villages", especially_difficult=True)
PROPOSED = symbol("investment_plan")
PROPOSED_ROAD = symbol("investment_plan_roads")
UNIT_EDGE = symbol("units_2025").edge
COMMUNE_EDGE = symbol("communes_2024").edge
DISTRICT_EDGE = symbol("districts_2024").edge
INDICATORS: dict[str, tuple[ColourScale, str, str]] = {
    "poverty": (POVERTY_RATE, "Tỷ lệ hộ nghèo năm 2025", "Poverty rate, 2025"),
    "priority": (PRIORITY_TIER, "Mức ưu tiên đầu tư", "Investment priority tier"),
}


@dataclass(frozen=True)
class PrintOptions:
    """Paper, orientation, indicator and file format of a printed map."""

    paper: Paper = "A3"
    orientation: Orientation = "landscape"
    indicator: Indicator = "poverty"
    format: Format = "pdf"
    dpi: int = 150

    def __post_init__(self) -> None:
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

OFFSETS = ((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, 1), (1, -1), (-1, -1), (0, 2), (0, -2))


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
    """The top priority units of the scope with their key figures."""
    ax.set_axis_off()
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
    table = ax.table(
        cellText=cells,
        colLabels=header,
        loc="upper center",
        cellLoc="left",
        colWidths=[0.08, 0.34, 0.14, 0.13, 0.19, 0.14],
    )
    table.auto_set_font_size(False)
    table.set_fontsize(size)
    for (row, _), cell in table.get_celld().items():
        cell.set_edgecolor("#bbbbbb")
        cell.set_linewidth(0.4)
        cell.get_text().set_fontfamily(FONT)
        if row == 0:
            cell.set_facecolor("#eeeeee")
            cell.set_height(cell.get_height() * 1.9)
            cell.get_text().set_fontweight("bold")
    ax.set_title(
        "Các xã, phường ưu tiên cao nhất / highest priority units",
        fontsize=size * 1.15,
        fontweight="bold",
        fontfamily=FONT,
        loc="left",
    )


def _legend(ax: Axes, scale: ColourScale, counts: list[int], size: float, has_plan: bool) -> None:
    ax.set_axis_off()
    handles: list[Patch | Line2D] = [
        Patch(facecolor=c, edgecolor="#555", lw=0.4, label=f"{label}  ({n})")
        for c, label, n in zip(scale.colours, scale.labels(), counts, strict=True)
    ]
    handles += [
        Line2D(
            [], [], marker="o", ls="", mfc=DIFFICULT_VILLAGE.colour, mec=DIFFICULT_VILLAGE.edge, ms=5,
            label="Bản ĐBKK / especially difficult",
        ),
        Line2D([], [], marker="o", ls="", mfc=VILLAGE.colour, mec=VILLAGE.edge, ms=4, label="Bản / village"),
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
    legend = ax.legend(
        handles=handles,
        loc="upper left",
        title=f"{scale.title_vi} / {scale.title_en}",
        fontsize=size,
        title_fontsize=size * 1.1,
        frameon=False,
        prop={"family": FONT, "size": size},
    )
    legend.get_title().set_fontfamily(FONT)
    legend.get_title().set_fontweight("bold")


def _inset(ax: Axes, data: MapData, outline: gpd.GeoSeries) -> None:
    ax.set_axis_off()
    districts = data.projected("districts_2024", PRINT_CRS)
    districts.plot(ax=ax, color=INSET.colour, edgecolor=INSET.edge, lw=0.3)
    outline.plot(ax=ax, color=LOCATED.colour, edgecolor=LOCATED.edge, lw=0.6, alpha=0.9)
    ax.set_aspect("equal")
    ax.set_title("Vị trí / location", fontsize=7, fontfamily=FONT, loc="left")


# ----------------------------------------------------------------------------------------------------
# the sheet
# ----------------------------------------------------------------------------------------------------


def build_print_map(
    data: MapData, scope: Scope, options: PrintOptions, printed: dt.date | None = None
) -> tuple[Figure, list[Text]]:
    """The sheet as a matplotlib figure, and the labels placed on the map."""
    scale, title_vi, title_en = INDICATORS[options.indicator]
    k = options.scale
    units = data.units_in(scope)
    if units.empty:
        raise MapError(f"{scope.name}: no 2025 unit to draw")
    all_units = data.projected("map_units", PRINT_CRS)
    mine = all_units[all_units["unit_code"].isin(units["unit_code"])]
    outline = gpd.GeoSeries([data.outline(scope)], crs=4326).to_crs(PRINT_CRS)
    minx, miny, maxx, maxy = pd.concat([mine.geometry, outline]).total_bounds
    pad = 0.04 * max(maxx - minx, maxy - miny)

    fig = Figure(figsize=options.size_inches)  # no pyplot: figures are safe to make in server threads
    canvas = FigureCanvasAgg(fig)
    canvas.draw_idle = lambda *args, **kwargs: None  # type: ignore[method-assign]  # geopandas redraws per layer
    landscape = options.orientation == "landscape"
    if landscape:
        map_box, side = (0.035, 0.08, 0.60, 0.78), (0.66, 0.08, 0.32, 0.78)
    else:
        map_box, side = (0.06, 0.36, 0.90, 0.49), (0.06, 0.06, 0.90, 0.25)
    ax = fig.add_axes(map_box)
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
    if scope.kind != "unit":
        districts = data.projected("districts_2024", PRINT_CRS)
        shown = districts[districts.intersects(view)]
        shown.boundary.plot(ax=ax, color=DISTRICT_EDGE, lw=1.8 * k, zorder=4, gid="districts_2024")
    villages = data.select("demo_villages", scope).to_crs(PRINT_CRS)
    difficult = villages["especially_difficult"].astype(bool)
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
    units_labels = place_labels(
        ax,
        [
            (p.x, p.y, str(name).replace("Phường ", "P. ").replace("Xã ", ""), 7.5 * k, "bold")
            for p, name in zip(reps, mine["unit_name"], strict=True)
        ],
        avoid + projects,
    )
    labels = list(units_labels)
    if scope.kind != "province":  # especially difficult villages first; every village on a unit's sheet
        shown = villages[difficult] if scope.kind == "district" else villages.sort_values("especially_difficult")[::-1]
        obstacles = [t.get_window_extent(renderer) for t in units_labels] + avoid + projects
        obstacles += dots(villages.geometry.x.to_numpy(), villages.geometry.y.to_numpy(), 5 * k)
        items = [(v.geometry.x, v.geometry.y, str(v["name"]), 5.2 * k, "normal") for _, v in shown.iterrows()]
        labels += place_labels(ax, items, obstacles)

    # titles
    fig.text(
        0.035,
        0.965,
        f"{title_vi.upper()} – {scope.label_vi.upper()}",
        fontsize=15 * k,
        fontweight="bold",
        fontfamily=FONT,
        va="top",
    )
    subtitle = (
        f"{title_en} – {scope.label_en[:1].upper() + scope.label_en[1:]}\n"
        f"Đơn vị hành chính sau sáp nhập (1/7/2025, NQ 1681/NQ-UBTVQH15) / 2025 administrative units · "
        f"năm số liệu / data year 2025"
    )
    fig.text(0.035, 0.935, subtitle, fontsize=8 * k, fontfamily=FONT, va="top", color="#333", linespacing=1.4)
    # side panel: legend, inset, table
    sx, sy, sw, sh = side
    counts = [int((mine[scale.field].pipe(scale.classify) == c).sum()) for c in range(len(scale.colours))]
    if landscape:
        legend_ax = fig.add_axes((sx, sy + sh * 0.52, sw * 0.62, sh * 0.48))
        inset_ax = fig.add_axes((sx + sw * 0.64, sy + sh * 0.66, sw * 0.36, sh * 0.34))
        table_ax = fig.add_axes((sx, sy, sw, sh * 0.48))
    else:
        legend_ax = fig.add_axes((sx, sy + sh * 0.45, sw * 0.6, sh * 0.55))
        inset_ax = fig.add_axes((sx + sw * 0.62, sy + sh * 0.5, sw * 0.38, sh * 0.5))
        table_ax = fig.add_axes((sx, sy, sw, sh * 0.42))
    _legend(legend_ax, scale, counts, 6.5 * k, bool(len(plan)))
    _inset(inset_ax, data, outline)
    _top_table(table_ax, units, 6.2 * k, 10 if scope.kind == "province" else 8)

    # footer: sources, licences, dates
    sources, licences = data.attributions("units_2025", "communes_2024", "districts_2024", "demo_villages")
    printed = printed or dt.date.today()
    footer = (
        "Nguồn / sources: " + "; ".join(sources) + "\nGiấy phép / licences: " + ", ".join(licences)
        + f" · Hệ tọa độ / CRS: VN-2000 / UTM 48N (EPSG:3405) · Dữ liệu / data: {data.built_at[:10]}"
        + f" · Ngày in / printed: {printed.isoformat()} · Sơn La Poverty Atlas"
    )  # fmt: skip
    fig.text(0.035, 0.012, footer, fontsize=5.2 * k, fontfamily=FONT, color="#444", va="bottom", wrap=True)
    return fig, labels


def render_print_map(data: MapData, scope: Scope, options: PrintOptions, printed: dt.date | None = None) -> bytes:
    """The sheet as PDF (vector, fonts embedded) or PNG bytes."""
    fig, _ = build_print_map(data, scope, options, printed)
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
