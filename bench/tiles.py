"""Benchmark tiles: cold and warm latency for z8-z14 against a FastAPI route returning fixed bytes, and seeding.

    .venv/bin/python bench/tiles.py [--sample 300]

Both the atlas and the floor route run in one uvicorn process (the atlas app with one extra route that
returns a fixed 10 KB body, the same middleware in front of both). Cold: each tile's first request, on
an empty tile cache, after the layers are loaded and simplified. Warm: the same tiles again, then wrk
on single URLs for the warm tile and the floor. Prints Markdown tables for the README.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def serve(warehouse: Path, port: int, tile_cache: Path) -> None:
    """Run the atlas app plus the floor route (used as a subprocess)."""
    import uvicorn
    from fastapi import Response

    from api.app import create_app
    from api.settings import ServerSettings

    app = create_app(ServerSettings(warehouse=warehouse, port=port, tile_cache_dir=tile_cache))
    body = bytes(range(256)) * 40

    @app.get("/floor/{z}/{x}/{y}")
    def floor(z: int, x: int, y: int) -> Response:
        return Response(body, media_type="application/octet-stream")

    app.router.routes.insert(0, app.router.routes.pop())  # before the OGC mount
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    """Measure, print the tables."""
    from bench import wrk
    from geo.settings import DataSettings
    from layers.store import Warehouse
    from layers.tiles import province_tiles

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", nargs=3, metavar=("WAREHOUSE", "PORT", "CACHE"))
    parser.add_argument("--warehouse", type=Path, default=DataSettings().warehouse)
    parser.add_argument("--sample", type=int, default=300, help="tiles per zoom at most")
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]), Path(args.serve[2]))
        return
    province = Warehouse.open(args.warehouse).frame("province").geometry.iloc[0]
    rng = random.Random(1)
    tiles = []
    for z in range(8, 15):
        at_zoom = list(province_tiles(province, range(z, z + 1)))
        tiles += rng.sample(at_zoom, min(args.sample, len(at_zoom)))
    layers = {
        "units_2025": "/ogc/collections/units_2025/tiles/WebMercatorQuad/{z}/{y}/{x}",
        "indicators_units_2025": "/ogc/collections/indicators_units_2025/tiles/WebMercatorQuad/{z}/{y}/{x}",
        "poverty_rate_units_2025 (PNG)": "/tiles/poverty_rate_units_2025/{z}/{x}/{y}.png",
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = 8000 + rng.randrange(1000, 8000)
        with (folder / "server.log").open("wb") as log:  # a file: a pipe nobody reads would stop the server
            server = subprocess.Popen(
                [sys.executable, __file__, "--serve", str(args.warehouse), str(port), str(folder / "tiles")],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):  # the app loads its layers and simplifies their geometries in the background
                try:
                    if httpx.get(f"{base}/health", timeout=2).json().get("warmed_in_seconds") is not None:
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.3)
            rows = []
            with httpx.Client(timeout=60) as client:
                for layer, path in layers.items():
                    url = base + path
                    cold, warm, by_zoom = [], [], {}
                    for tile in tiles:
                        start = time.perf_counter()
                        client.get(url.format(z=tile.z, y=tile.y, x=tile.x)).raise_for_status()
                        elapsed = (time.perf_counter() - start) * 1000
                        cold.append(elapsed)
                        by_zoom.setdefault(tile.z, []).append(elapsed)
                    for tile in tiles:
                        start = time.perf_counter()
                        client.get(url.format(z=tile.z, y=tile.y, x=tile.x)).raise_for_status()
                        warm.append((time.perf_counter() - start) * 1000)
                    rows.append((layer, cold, warm, by_zoom))
                floor = []
                for tile in tiles:
                    start = time.perf_counter()
                    client.get(f"{base}/floor/{tile.z}/{tile.x}/{tile.y}").raise_for_status()
                    floor.append((time.perf_counter() - start) * 1000)
            sample = tiles[len(tiles) // 2]
            warm_load = wrk.load(
                f"{base}/ogc/collections/units_2025/tiles/WebMercatorQuad/{sample.z}/{sample.y}/{sample.x}",
                args.seconds,
            )
            floor_load = wrk.load(f"{base}/floor/{sample.z}/{sample.x}/{sample.y}", args.seconds)
        finally:
            server.terminate()
            server.wait(timeout=20)
        start = time.perf_counter()
        seeded = subprocess.run(
            [
                sys.executable,
                "-m",
                "scripts.cli",
                "tiles",
                "seed",
                "--zoom",
                "6-13",
                "--out",
                str(folder / "mbtiles"),
                "--warehouse",
                str(args.warehouse),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env={**os.environ, "ATLAS_CACHE_DIR": str(ROOT / "data" / "cache")},
        )
        seed_seconds = time.perf_counter() - start
        packages = sorted((folder / "mbtiles").glob("*.mbtiles")) if seeded.returncode == 0 else []
        sizes = sum(p.stat().st_size for p in packages) / 1e6
        shutil.rmtree(folder / "mbtiles", ignore_errors=True)
    print(f"{len(tiles)} tiles, z8-z14 (up to {args.sample} per zoom), sequential requests on one connection\n")
    print("| layer | cold median / p95 ms | warm median / p95 ms | floor median / p95 ms |")
    print("|---|---|---|---|")
    for layer, cold, warm, _ in rows:
        print(
            f"| {layer} | {statistics.median(cold):.2f} / {percentile(cold, 95):.2f} | "
            f"{statistics.median(warm):.2f} / {percentile(warm, 95):.2f} | "
            f"{statistics.median(floor):.2f} / {percentile(floor, 95):.2f} |"
        )
    print(
        "\ncold median by zoom (ms): "
        + "; ".join(
            f"{layer}: " + ", ".join(f"z{z} {statistics.median(v):.1f}" for z, v in sorted(by_zoom.items()))
            for layer, _, _, by_zoom in rows
        )
    )
    print(
        f"\nwrk, 4 connections, {args.seconds} s: warm tile {warm_load['rps']:.0f} req/s "
        f"(p50 {warm_load['p50']:.2f} ms, "
        f"p95 {warm_load['p95']:.2f} ms); floor {floor_load['rps']:.0f} req/s (p50 {floor_load['p50']:.2f} ms, "
        f"p95 {floor_load['p95']:.2f} ms)"
    )
    status = "ok" if seeded.returncode == 0 else f"failed: {seeded.stderr[-300:]}"
    print(
        f"\nseeding every layer, z6-z13, the province's tiles only: {seed_seconds:.0f} s, {len(packages)} MBTiles "
        f"packages, {sizes:.1f} MB ({status})"
    )


if __name__ == "__main__":
    main()
