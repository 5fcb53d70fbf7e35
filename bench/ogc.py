"""Benchmark the atlas's OGC API against stock pygeoapi serving the same GeoPackage, in one run.

Stock pygeoapi runs its own Starlette app under uvicorn with its SQLiteGPKG provider (which needs
SQLite extension loading: a venv made with Debian's /usr/bin/python3 and libsqlite3-mod-spatialite),
once with its default settings and once with `gzip: true`; the atlas runs `atlas serve`. All get one
uvicorn worker on loopback; load comes from wrk. Every request is sent as real clients send it: with the
headers QGIS and Chromium sent in tests/test_clients.py (bench/clients/*.json), and with no
Accept-Encoding for comparison. QGIS's own pattern is replayed too: the pages of `villages` it asked for
the view of tests/test_clients.py, with its page size and bbox.

    apt-get install -y libsqlite3-mod-spatialite wrk
    .venv/bin/python bench/ogc.py [--seconds 10] [--connections 4]

Prints a Markdown table (requests per second, median and p95 latency, bytes on the wire) for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.clients import PROFILES, qgis_pages  # noqa: E402
from bench.servers import free_port, stop, wait  # noqa: E402
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


def stock_python() -> Path:
    """A venv with stock pygeoapi on a Python that can load SQLite extensions (made on first use)."""
    python = STOCK_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(STOCK_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "pygeoapi", "uvicorn", "starlette"], check=True)
    return python


def stock_config(warehouse: Path, port: int, folder: Path, gzip: bool) -> tuple[Path, Path]:
    """pygeoapi configuration and OpenAPI document for units_2025 and villages through stock SQLiteGPKG."""
    config = {
        "server": {
            "gzip": gzip,
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
            layer: {
                "type": "collection",
                "title": layer,
                "description": layer,
                "keywords": ["x"],
                "extents": {
                    "spatial": {"bbox": [103, 20, 106, 23], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
                },
                "providers": [
                    {"type": "feature", "name": "SQLiteGPKG", "data": str(warehouse), "id_field": key, "table": layer}
                ],
            }
            for layer, key in (("units_2025", "code"), ("villages", "geonameid"))
        },
    }
    cfg = folder / f"stock-{port}.config.yml"
    cfg.write_text(json.dumps(config))  # JSON is YAML
    openapi = folder / f"stock-{port}.openapi.yml"
    python = stock_python()
    env = {**os.environ, "PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(openapi)}
    subprocess.run(
        [str(python.parent / "pygeoapi"), "openapi", "generate", str(cfg), "--output-file", str(openapi)],
        check=True,
        env=env,
        capture_output=True,
    )
    return cfg, openapi


def fetch(url: str, headers: dict[str, str]) -> bytes:
    """One GET with a client's headers, its content coding undone (httpx reads gzip, Brotli and zstd)."""
    import httpx

    response = httpx.get(url, headers={"Accept-Encoding": "identity", **headers}, timeout=120)
    response.raise_for_status()
    return response.content


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


def serve_atlas(warehouse: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """`atlas serve` with one worker (output to a file: a pipe nobody reads would stop it)."""
    command = [sys.executable, "-m", "scripts.cli", "serve", "--warehouse", str(warehouse), "--port", str(port)]
    with log.open("wb") as sink:
        return subprocess.Popen(
            command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "ATLAS_WORKERS": "1"}
        )


def serve_stock(warehouse: Path, port: int, folder: Path, gzip: bool, log: Path) -> subprocess.Popen[bytes]:
    """Stock pygeoapi (its Starlette app) under uvicorn, one worker."""
    cfg, openapi = stock_config(warehouse, port, folder, gzip)
    command = [str(stock_python()), "-m", "uvicorn", "pygeoapi.starlette_app:APP", "--port", str(port)]
    with log.open("wb") as sink:
        return subprocess.Popen(
            [*command, "--log-level", "warning"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYGEOAPI_CONFIG": str(cfg), "PYGEOAPI_OPENAPI": str(openapi)},
        )


def run_case(
    label: str, ours_paths: list[str], stock_paths: list[str], args: argparse.Namespace, folder: Path
) -> list[tuple[str, str, dict[str, dict[str, float]], str]]:
    """Fresh servers (atlas, stock, stock with gzip), the content checked per client, then loaded per client."""
    ports = {"atlas": free_port(), "stock": free_port(), "stock gzip": free_port()}
    logs = {name: folder / f"{name.replace(' ', '-')}.log" for name in ports}
    servers = {
        "atlas": serve_atlas(args.warehouse, ports["atlas"], logs["atlas"]),
        "stock": serve_stock(args.warehouse, ports["stock"], folder, False, logs["stock"]),
        "stock gzip": serve_stock(args.warehouse, ports["stock gzip"], folder, True, logs["stock gzip"]),
    }
    rows = []
    try:
        bases = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        wait(f"{bases['atlas']}/health", servers["atlas"], logs["atlas"], seconds=180)
        for name in ("stock", "stock gzip"):
            wait(f"{bases[name]}/collections?f=json", servers[name], logs[name], seconds=180)
        for client, headers in PROFILES.items():
            checks = {
                same_content(fetch(bases["atlas"] + a, headers), fetch(bases[name] + b, headers))
                for a, b in zip(ours_paths, stock_paths, strict=True)
                for name in ("stock", "stock gzip")
            }
            check = "; ".join(sorted(checks))
            stats = {}
            for name, paths in (("atlas", ours_paths), ("stock", stock_paths), ("stock gzip", stock_paths)):
                stats[name] = load(
                    bases[name] + paths[0],
                    args.seconds,
                    args.connections,
                    "60s",
                    headers=headers,
                    paths=paths if len(paths) > 1 else None,
                )
            rows.append((label, client, stats, check))
            summary = ", ".join(f"{n} {st['rps']:.1f} req/s" for n, st in stats.items())
            print(f"{label} [{client}]: {summary}; {check}", file=sys.stderr)
    finally:
        for process in servers.values():
            stop(process)
    return rows


def main() -> None:
    """Run the servers, check content, load each request as each client sends it, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--warehouse", type=Path, default=DataSettings().warehouse)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    pages = qgis_pages()
    cases = [(label, [ours], [stock]) for label, ours, stock in CASES]
    cases.append((f"QGIS paging villages ({len(pages)} pages, bbox)", ["/ogc" + p for p in pages], pages))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, ours_paths, stock_paths in cases:
            rows += run_case(label, ours_paths, stock_paths, args, Path(tmp))
    print(
        f"wrk, 1 thread, {args.connections} connections, {args.seconds} s per request and client; "
        "one uvicorn worker each"
    )
    print("stock: pygeoapi with its defaults; stock gzip: with `gzip: true`. Bytes: per answer on the wire.\n")
    print(
        "| request | client | atlas req/s | stock req/s | stock gzip req/s | atlas ÷ best stock | atlas p50 / p95 ms "
        "| stock p50 / p95 ms | stock gzip p50 / p95 ms | bytes atlas / stock / stock gzip | errors | content |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")

    def rate(st: dict[str, float]) -> str:
        return f"{st['rps']:.1f}" if st["requests"] else f"0 answers in {st['seconds']:.0f} s"

    def latency(st: dict[str, float]) -> str:
        return f"{st['p50']:.1f} / {st['p95']:.1f}" if st["requests"] else "–"

    for label, client, stats, check in rows:
        a, b, c = stats["atlas"], stats["stock"], stats["stock gzip"]
        best = max(b["rps"], c["rps"])
        ratio = f"{a['rps'] / best:.0f}×" if best else "–"
        sizes = " / ".join(f"{st['bytes'] / st['requests']:,.0f}" if st["requests"] else "–" for st in (a, b, c))
        errors = " / ".join(f"{st['errors']:.0f}" for st in (a, b, c))
        print(
            f"| {label} | {client} | {rate(a)} | {rate(b)} | {rate(c)} | {ratio} | {latency(a)} | {latency(b)} | "
            f"{latency(c)} | {sizes} | {errors} | {check} |"
        )
    print("\nCompressed against uncompressed, atlas (req/s with the client's headers ÷ req/s without compression):")
    plain = {label: st["atlas"]["rps"] for label, client, st, _ in rows if client == "no compression"}
    for label, client, stats, _ in rows:
        if client != "no compression":
            print(f"- {label}, {client}: {stats['atlas']['rps'] / plain[label]:.2f}")


if __name__ == "__main__":
    main()
