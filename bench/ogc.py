"""Benchmark the atlas's OGC API against stock pygeoapi serving the same GeoPackage, in one run.

Stock pygeoapi runs its own Starlette app under uvicorn with its SQLiteGPKG provider (which needs
SQLite extension loading: a venv made with Debian's /usr/bin/python3 and libsqlite3-mod-spatialite);
the atlas runs `atlas serve`. Both get one uvicorn worker on loopback; load comes from wrk.

    apt-get install -y libsqlite3-mod-spatialite wrk
    .venv/bin/python bench/ogc.py [--seconds 10] [--connections 4]

Prints a Markdown table (requests per second, median and p95 latency, response size) for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.wrk import load  # noqa: E402
from geo.settings import DataSettings  # noqa: E402

STOCK_VENV = ROOT / "bench" / ".stock-venv"
# (label, atlas path, stock path); the stock SQLiteGPKG provider ignores CQL2, so its "filtered" request
# asks the same question with a property filter (same answer, checked below).
CASES = (
    (
        "items?limit=100",
        "/ogc/collections/units_2025/items?f=json&limit=100",
        "/collections/units_2025/items?f=json&limit=100",
    ),
    ("single item", "/ogc/collections/units_2025/items/03646?f=json", "/collections/units_2025/items/03646?f=json"),
    (
        "CQL2 filter (stock: property filter)",
        "/ogc/collections/units_2025/items?f=json&limit=100&filter=unit_type%3D%27Ph%C6%B0%E1%BB%9Dng%27",
        "/collections/units_2025/items?f=json&limit=100&unit_type=Ph%C6%B0%E1%BB%9Dng",
    ),
    (
        "full units_2025 GeoJSON",
        "/ogc/collections/units_2025/items?f=json&limit=10000",
        "/collections/units_2025/items?f=json&limit=10000",
    ),
)


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stock_python() -> Path:
    """A venv with stock pygeoapi on a Python that can load SQLite extensions (made on first use)."""
    python = STOCK_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(STOCK_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "pygeoapi", "uvicorn", "starlette"], check=True)
    return python


def stock_config(warehouse: Path, port: int, folder: Path) -> tuple[Path, Path]:
    """pygeoapi configuration and OpenAPI document for units_2025 through the stock SQLiteGPKG provider."""
    config = {
        "server": {
            "bind": {"host": "127.0.0.1", "port": port},
            "url": f"http://127.0.0.1:{port}",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US"],
            "limits": {"default_items": 10, "max_items": 10000},  # as the atlas; the stock default caps at 10
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": "OSM"},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": "stock",
                "description": "stock",
                "keywords": ["x"],
                "keywords_type": "theme",
                "terms_of_service": "https://example.org",
                "url": "https://example.org",
            },
            "license": {"name": "x", "url": "https://example.org"},
            "provider": {"name": "x", "url": "https://example.org"},
            "contact": {
                "name": "x",
                "position": "x",
                "address": "x",
                "city": "x",
                "stateorprovince": "x",
                "postalcode": "x",
                "country": "x",
                "phone": "x",
                "fax": "x",
                "email": "x@example.org",
                "url": "https://example.org",
                "hours": "x",
                "instructions": "x",
                "role": "pointOfContact",
            },
        },
        "resources": {
            "units_2025": {
                "type": "collection",
                "title": "units_2025",
                "description": "units_2025",
                "keywords": ["x"],
                "extents": {
                    "spatial": {"bbox": [103, 20, 106, 23], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
                },
                "providers": [
                    {
                        "type": "feature",
                        "name": "SQLiteGPKG",
                        "data": str(warehouse),
                        "id_field": "code",
                        "table": "units_2025",
                    }
                ],
            }
        },
    }
    cfg = folder / "stock.config.yml"
    cfg.write_text(json.dumps(config))  # JSON is YAML
    openapi = folder / "stock.openapi.yml"
    python = stock_python()
    env = {**os.environ, "PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(openapi)}
    subprocess.run(
        [str(python.parent / "pygeoapi"), "openapi", "generate", str(cfg), "--output-file", str(openapi)],
        check=True,
        env=env,
        capture_output=True,
    )
    return cfg, openapi


def wait(url: str, process: subprocess.Popen[bytes]) -> None:
    """Wait until a URL answers 200."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:] if process.stderr else ''}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer")


def fetch(url: str) -> bytes:
    """One GET without compression."""
    with urllib.request.urlopen(url, timeout=120) as r:
        return bytes(r.read())


def same_content(ours: bytes, stock: bytes) -> str:
    """Whether both responses carry the same features: ids, properties and coordinates (to 1e-9 degree)."""
    import numpy as np
    import shapely

    a, b = json.loads(ours), json.loads(stock)
    fa = [a] if a.get("type") == "Feature" else a["features"]
    fb = [b] if b.get("type") == "Feature" else b["features"]
    if [f["id"] for f in fa] != [f["id"] for f in fb]:
        return f"different features ({len(fa)} vs {len(fb)})"
    for x, y in zip(fa, fb, strict=True):
        gx = shapely.get_coordinates(shapely.geometry.shape(x["geometry"]))
        gy = shapely.get_coordinates(shapely.geometry.shape(y["geometry"]))
        if gx.shape != gy.shape or not np.allclose(gx, gy, rtol=0, atol=1e-9):
            return f"different geometry for {x['id']}"
        shared = set(x["properties"]) & set(y["properties"])
        if any(x["properties"][k] != y["properties"][k] for k in shared):
            return f"different properties for {x['id']}"
    return f"same {len(fa)} feature(s)"


def main() -> None:
    """Run both servers, check content, load each endpoint, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--warehouse", type=Path, default=DataSettings().warehouse)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = []
        for label, ours_path, stock_path in CASES:
            # fresh servers for every request type: a backlog left by one run must not slow the next
            ours_port, stock_port = free_port(), free_port()
            cfg, openapi = stock_config(args.warehouse, stock_port, folder)
            ours = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "scripts.cli",
                    "serve",
                    "--warehouse",
                    str(args.warehouse),
                    "--port",
                    str(ours_port),
                ],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            stock = subprocess.Popen(
                [
                    str(stock_python()),
                    "-m",
                    "uvicorn",
                    "pygeoapi.starlette_app:APP",
                    "--port",
                    str(stock_port),
                    "--log-level",
                    "warning",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={**os.environ, "PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(openapi)},
            )
            try:
                base_ours, base_stock = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{stock_port}"
                wait(f"{base_ours}/health", ours)
                wait(f"{base_stock}/collections?f=json", stock)
                a, b = fetch(base_ours + ours_path), fetch(base_stock + stock_path)
                check = same_content(a, b)
                ra = load(base_ours + ours_path, args.seconds, args.connections, "60s")
                rb = load(base_stock + stock_path, args.seconds, args.connections, "60s")
                rows.append((label, ra, rb, len(a), len(b), check))
                print(f"{label}: atlas {ra['rps']:.1f} req/s, stock {rb['rps']:.1f} req/s, {check}", file=sys.stderr)
            finally:
                for p in (ours, stock):
                    p.terminate()
                    try:
                        p.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        p.kill()
    print(f"wrk, 1 thread, {args.connections} connections, {args.seconds} s per endpoint; one uvicorn worker each\n")
    print(
        "| request | atlas req/s | stock req/s | ratio | atlas p50 / p95 ms | stock p50 / p95 ms | bytes atlas / stock "
        "| content |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, ra, rb, size_a, size_b, check in rows:
        print(
            f"| {label} | {ra['rps']:.1f} | {rb['rps']:.1f} | {ra['rps'] / rb['rps']:.1f}× | {ra['p50']:.1f} / "
            f"{ra['p95']:.1f} | {rb['p50']:.1f} / {rb['p95']:.1f} | {size_a:,} / {size_b:,} | {check} |"
        )


if __name__ == "__main__":
    main()
