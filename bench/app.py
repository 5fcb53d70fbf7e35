"""Benchmark the browser workspace (/app) as an office PC on a slow link sees it, beside the province web map.

    .venv/bin/python bench/app.py [--warehouse data/warehouse.gpkg] [--runs 3]

Starts `atlas serve` on loopback, then drives Debian Chromium (Playwright, WebGL in software) with the network
throttled through the DevTools protocol to Chrome's presets:
  Fast 3G: 562.5 ms latency, 1.44 Mbit/s down, 675 kbit/s up;  Slow 3G: 2 s latency, 400 kbit/s both ways.
Every request carries the browser's own `Accept-Encoding: gzip, deflate, br, zstd`. Measures, per page:
  - page weight without tiles: the bytes on the wire (compressed) of everything but /tiles/ requests;
  - first visit on Fast 3G: navigation start to the first map drawn (MapLibre's first `idle`, or the folium
    map's tiles loaded), empty cache;
  - repeat visit on Slow 3G: a second page in the same browser context, after a first visit on a fast link
    (scripts in the HTTP cache, the workspace's service worker installed; the folium page has none);
  - re-rank: a weight moved, the `priority` process asked, the map recoloured and idle (no throttling).
The peer, in the same run and under the same conditions, is the self-contained folium web map of the province
(/maps/province.html), what planners opened before the workspace. Prints Markdown for the README.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.servers import free_port, stop, wait  # noqa: E402

CHROMIUM = os.environ.get("ATLAS_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]
PROFILES = {  # Chrome DevTools' network presets (bytes per second, milliseconds)
    "Fast 3G": {"latency": 562.5, "downloadThroughput": 1.6e6 / 8 * 0.9, "uploadThroughput": 750e3 / 8 * 0.9},
    "Slow 3G": {"latency": 2000.0, "downloadThroughput": 500e3 / 8 * 0.8, "uploadThroughput": 500e3 / 8 * 0.8},
}


def _throttle(context: Any, page: Any, profile: str | None) -> Any:
    session = context.new_cdp_session(page)
    session.send("Network.enable")
    if profile:
        session.send("Network.emulateNetworkConditions", {"offline": False, **PROFILES[profile]})
    return session


def _visit(context: Any, url: str, ready: str, profile: str | None) -> tuple[float, int, int]:
    """Seconds to the first map drawn, and the bytes on the wire (bodies and headers) without and with tiles.

    Sizes come from Playwright's request events, which see the requests of MapLibre's web workers too.
    """
    page = context.new_page()
    _throttle(context, page, profile)
    sizes: list[tuple[str, int]] = []

    def finished(request: Any) -> None:
        try:
            got = request.sizes()
        except Exception:  # the page went away
            return
        sizes.append((request.url, max(0, got["responseBodySize"]) + max(0, got["responseHeadersSize"])))

    page.on("requestfinished", finished)
    start = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_function(ready, timeout=180_000, polling=20)
    seconds = time.perf_counter() - start
    page.wait_for_timeout(500)
    tiles = sum(n for u, n in sizes if "/tiles/" in u)
    total = sum(n for _, n in sizes)
    page.close()
    return seconds, total - tiles, total


def _rerank(context: Any, url: str, runs: int) -> list[float]:
    """Milliseconds from a weight moved to the map recoloured and idle, as the page measures them."""
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-map-ready='1']", timeout=120_000)
    for i in range(runs):
        page.focus("#w-poor_rate")
        page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
        page.wait_for_function(f"window.atlasTimings.rerank.length > {i}", timeout=60_000)
    timings: list[float] = page.evaluate("window.atlasTimings.rerank")
    page.close()
    return timings


def main() -> None:
    """Serve the warehouse, visit both pages under both profiles, print Markdown."""
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warehouse", type=Path, default=ROOT / "data" / "warehouse.gpkg")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        env = {**os.environ, "ATLAS_PORT": str(port), "ATLAS_WORKERS": "1", "ATLAS_TILE_CACHE_DIR": tmp}
        with log.open("wb") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "scripts.cli", "serve", "--warehouse", str(args.warehouse)],
                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            )  # fmt: skip
        try:
            wait(f"{base}/health", server, log)
            pages = {
                "workspace `/app`": (f"{base}/app", "document.body.dataset.mapReady === '1'"),
                "folium web map `/maps/province.html` (peer)": (
                    f"{base}/maps/province.html",
                    "document.querySelectorAll('.leaflet-interactive').length > 0",
                ),
            }
            rows = []
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                # warm the server's caches (tiles, maps, the units document) once, unthrottled
                warm = browser.new_context()
                for url, ready in pages.values():
                    _visit(warm, url, ready, None)
                warm.close()
                for name, (url, ready) in pages.items():
                    first, repeat, weights, totals = [], [], [], []
                    for _ in range(args.runs):
                        # a first visit: empty cache, no service worker yet (the page's own requests, throttled)
                        context = browser.new_context(viewport={"width": 1400, "height": 900}, service_workers="block")
                        seconds, weight, total = _visit(context, url, ready, "Fast 3G")
                        first.append(seconds)
                        weights.append(weight)
                        totals.append(total)
                        context.close()
                        # a repeat visit: one visit on a fast link before (the service worker installs), then Slow 3G
                        context = browser.new_context(viewport={"width": 1400, "height": 900})
                        _visit(context, url, ready, None)
                        repeat.append(_visit(context, url, ready, "Slow 3G")[0])
                        context.close()
                    rows.append((name, statistics.median(weights), statistics.median(totals), first, repeat))
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                reranks = _rerank(context, f"{base}/app", 10)
                context.close()
                browser.close()
        finally:
            stop(server)
    print(f"{os.cpu_count()} cores, {args.runs} runs each, median (min–max)\n")
    print("| page | weight without tiles (on the wire) | with tiles | first map, Fast 3G | repeat visit, Slow 3G |")
    print("|---|---|---|---|---|")
    for name, weight, total, first, repeat in rows:
        print(
            f"| {name} | {weight / 1e3:.0f} kB | {total / 1e3:.0f} kB | {statistics.median(first):.1f} s "
            f"({min(first):.1f}–{max(first):.1f}) | {statistics.median(repeat):.1f} s "
            f"({min(repeat):.1f}–{max(repeat):.1f}) |"
        )
    print(
        f"\nRe-rank (weight moved → `priority` process → map recoloured and idle), {len(reranks)} moves: "
        f"median {statistics.median(reranks):.0f} ms, max {max(reranks):.0f} ms"
    )


if __name__ == "__main__":
    main()
