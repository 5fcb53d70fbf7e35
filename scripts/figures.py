"""Render the README's pictures from a built warehouse: `python -m scripts.figures [WAREHOUSE]`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from geo.settings import PROJECT_ROOT, DataSettings
from layers.warehouse import read_table

QUALITY_COLOURS = {"exact": "#1b9e77", "derived": "#7570b3", "approximate": "#d95f02"}
QUALITY_LABELS = {
    "exact": "chính xác / exact",
    "derived": "dựng từ ranh giới 2009 / derived from 2009",
    "approximate": "ước lượng / approximate",
}


def boundaries_figure(warehouse: Path, out: Path) -> Path:
    """Rebuilt 2024 communes coloured by geometry quality, with the 2025 units, and a Mộc Châu close-up."""
    communes = read_table(warehouse, "communes_2024")
    units = read_table(warehouse, "units_2025")
    fig, axes = plt.subplots(1, 2, figsize=(13, 6.2), gridspec_kw={"width_ratios": [1.25, 1]})
    for ax, window in zip(axes, [None, (104.5, 20.76, 104.86, 20.97)], strict=True):
        communes.plot(ax=ax, color=communes["geometry_quality"].map(QUALITY_COLOURS), edgecolor="white", lw=0.4)
        units.boundary.plot(ax=ax, color="#222222", lw=0.9)
        ax.set_axis_off()
        ax.set_aspect(1 / 0.933)  # cos(21°): degrees drawn at true proportions
        if window is not None:
            ax.set_xlim(window[0], window[2])
            ax.set_ylim(window[1], window[3])
            inside = communes.cx[window[0] : window[2], window[1] : window[3]]
            for name, geom in zip(inside["name"], inside.geometry, strict=True):
                p = geom.representative_point()
                ax.annotate(
                    name.replace("Phường ", "P. ").replace("Xã ", ""), (p.x, p.y), fontsize=7, ha="center", va="center"
                )
            ax.set_title("Mộc Châu: phường mới 02/2025 / wards of February 2025", fontsize=10)
        else:
            ax.set_title(
                "200 xã trước sáp nhập trong 75 xã, phường 2025\n200 pre-merger communes inside the 75 units of 2025",
                fontsize=11,
            )
    handles = [Patch(color=c, label=QUALITY_LABELS[q]) for q, c in QUALITY_COLOURS.items()]
    handles.append(Patch(facecolor="none", edgecolor="#222222", label="ranh giới 2025 / 2025 units"))
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.05), ncol=4, frameon=False, fontsize=9)
    fig.text(
        0.5,
        0.02,
        "Nguồn / sources: 2009 census (censusVN2009), 2025 units (vietnamese-provinces-database), WorldPop 2020",
        ha="center",
        fontsize=7,
        color="#555555",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def webmap_figure(warehouse: Path, out: Path, slug: str = "district-125") -> Path:
    """A screenshot of a web map in headless Chromium (Debian's chromium), popup of the top unit open."""
    from playwright.sync_api import sync_playwright

    from layers.mapdata import map_data_for
    from layers.store import Warehouse
    from layers.webmap import render_web_map

    data = map_data_for(Warehouse.open(warehouse))
    with tempfile.TemporaryDirectory() as tmp:
        page_file = Path(tmp) / "map.html"
        page_file.write_bytes(render_web_map(data, data.by_slug(slug)))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium")
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(page_file.as_uri())
            page.wait_for_timeout(800)
            page.screenshot(path=str(out))
            browser.close()
    return out


def print_figure(warehouse: Path, out: Path, slug: str = "district-125", indicator: str = "poverty") -> Path:
    """The first page of a printed A3 sheet, rendered from the PDF by poppler's pdftoppm."""
    from layers.mapdata import map_data_for
    from layers.printmap import PrintOptions, render_print_map
    from layers.store import Warehouse

    data = map_data_for(Warehouse.open(warehouse))
    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "sheet.pdf"
        options = PrintOptions(paper="A3", indicator=indicator)  # type: ignore[arg-type]
        pdf.write_bytes(render_print_map(data, data.by_slug(slug), options))
        subprocess.run(["pdftoppm", "-r", "75", "-png", "-singlefile", str(pdf), str(out.with_suffix(""))], check=True)
    return out


def main() -> None:
    """Write the README's pictures (docs/img) from the configured (or given) warehouse."""
    warehouse = Path(sys.argv[1]) if len(sys.argv) > 1 else DataSettings().warehouse
    img = PROJECT_ROOT / "docs" / "img"
    print(boundaries_figure(warehouse, img / "boundaries.png"))
    print(webmap_figure(warehouse, img / "webmap.png"))
    print(print_figure(warehouse, img / "print_district.png"))
    print(print_figure(warehouse, img / "print_programme.png", "province", "disbursement"))


if __name__ == "__main__":
    main()
