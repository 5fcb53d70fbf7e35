"""Benchmark the maps: all 12 former-district PDFs (target: under 30 s on this machine), and web maps.

Run: `.venv/bin/python bench/maps.py [--warehouse data/warehouse.gpkg]`; prints Markdown for the README.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from geo.settings import DataSettings
from layers.mapdata import map_data_for
from layers.maps import write_maps
from layers.printmap import PrintOptions, render_print_map
from layers.store import Warehouse
from layers.webmap import render_web_map


def main() -> None:
    """Time `atlas print --districts` (parallel, every core), one sheet at a time, and the web maps."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warehouse", type=Path, default=None)
    args = parser.parse_args()
    warehouse = args.warehouse or DataSettings().warehouse
    data = map_data_for(Warehouse.open(warehouse))
    districts = data.districts()
    a3 = PrintOptions(paper="A3", orientation="landscape", format="pdf")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        written = write_maps(warehouse, Path(tmp), [(s, a3) for s in districts])
        parallel = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for p in written) / 1e6
    one_by_one = []
    for scope in districts:
        start = time.perf_counter()
        render_print_map(data, scope, a3)
        one_by_one.append(time.perf_counter() - start)
    web = {}
    for scope in (data.scopes()[0], districts[8], data.units()[0]):
        start = time.perf_counter()
        body = render_web_map(data, scope)
        web[scope.label_en] = (time.perf_counter() - start, len(body) / 1e6)
    print(f"{os.cpu_count()} cores\n")
    print("| step | time | |\n|---|---|---|")
    print(
        f"| **12 district PDFs, A3** (`atlas print --districts`, {os.cpu_count()} processes) | **{parallel:.1f} s** "
        f"| {size_mb:.1f} MB |"
    )
    print(
        f"| one district PDF, A3, one process | median {statistics.median(one_by_one):.2f} s, "
        f"max {max(one_by_one):.2f} s | |"
    )
    for name, (seconds, mb) in web.items():
        print(f"| web map, {name} | {seconds:.2f} s | {mb:.1f} MB |")


if __name__ == "__main__":
    main()
