"""Benchmark the atlas's two stores, GeoPackage and PostGIS, against tipg on the same database, in one run.

The built warehouse is published into a fresh database `bench_store_<pid>` (layers.publish.publish, as
`atlas publish` does); then, one server at a time on loopback, each with one worker and fresh caches:

- atlas GPKG: `atlas serve --warehouse data/warehouse.gpkg`;
- atlas PostGIS: the same with ATLAS_DATABASE_URL (features by SQL, tiles by ST_AsMVT);
- tipg: the PostGIS OGC Features + Tiles server, as shipped (its own venv, bench/.tipg-venv, made on first
  use; its default middleware compresses with gzip/Brotli at level 6), serving the published schema;
- atlas GPKG / PostGIS "uncached": the same servers with the tile caches bounded to nothing and each request
  sent with its own Accept-Language (the response cache is keyed by it), so every answer is computed again.
  The atlas as shipped keeps every 200 answer in memory; these rows show what a miss costs under load.

Requests (each at 1 and 8 connections, `Accept-Encoding: gzip, br`, wrk with one thread): a page of 100
units, one unit, a bbox of villages, a CQL2 filter, MVT tiles of units_2025 and villages at z8 and z12
(a set of tiles in turn). tipg is asked for the atlas's served properties (`properties=`) so both send the
same fields (it would also send the publish's hidden columns), and for the atlas's tile properties in tiles.
Before load, each request's first answer is timed (cold) and its content compared across servers: features
matched and returned (and their ids when a page holds them all), MVT features decoded with mapbox_vector_tile.

    scripts/test_database.sh        # the PostgreSQL + PostGIS cluster (prints its URL)
    .venv/bin/python bench/store.py [--database postgresql://atlas@127.0.0.1:54329/postgres] [--seconds 5]

Before each server the bench waits (--wait-quiet) until other processes leave the CPU, measures a server
again (--retries) if they took more than 15% of it meanwhile, and prints their share with the results.

Prints Markdown tables; bench/national.py runs the same requests on a national-size data set.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.servers import free_port, stop, wait  # noqa: E402
from bench.wrk import REPORT_LUA  # noqa: E402

DEFAULT_DATABASE = "postgresql://atlas@127.0.0.1:54329/postgres"
TIPG_VENV = ROOT / "bench" / ".tipg-venv"
HEADERS = {"Accept-Encoding": "gzip, br"}  # what QGIS and browsers send
CONNECTIONS = (1, 8)
BBOX = (103.87, 21.30, 103.93, 21.36)  # a few km around lon 103.9, lat 21.33 (Sơn La)
CQL = "region_class = 3 AND poor_rate > 20"
CENTRE_Z12 = (3230, 1799)  # x, y of the z12 tile at lon 103.9, lat 21.33
NO_CACHE_MB = "0.0001"  # tile caches bounded below any tile: nothing kept
OTHERS: dict[str, float] = {}  # share of the machine's CPU used by other processes during each server's run

LUA = """
local paths = {%s}
local tag = %s
local i = 0
local n = 0
request = function()
  i = i %% #paths + 1
  n = n + 1
  if tag == "" then
    return wrk.format("GET", paths[i])
  end
  return wrk.format("GET", paths[i], {["Accept-Language"] = "x-" .. tag .. "-" .. n})
end
"""


@dataclass(frozen=True)
class Case:
    """One request of the benchmark: the atlas's paths and tipg's for the same question (taken in turn)."""

    label: str
    kind: str  # "json" or "mvt"
    atlas: tuple[str, ...]
    tipg: tuple[str, ...]


@dataclass
class Server:
    """A server under test: its name, address, process and log."""

    name: str
    base: str
    process: subprocess.Popen[bytes]
    log: Path
    bust: bool = False  # each request with its own Accept-Language (misses the atlas's response cache)
    started_in: float = 0.0


@dataclass
class Measured:
    """What one server answered to one case: the content, first answers' times, load at each concurrency."""

    content: dict[str, Any]
    cold_ms: list[float]
    load: dict[int, dict[str, float]] = field(default_factory=dict)


ServerStarter = Callable[[Path], Server]


def _fields(warehouse: Path, layer: str) -> list[str]:
    import pyogrio

    return [str(f) for f in pyogrio.read_info(warehouse, layer=layer)["fields"]]


def _first_key(warehouse: Path, layer: str, key: str) -> str:
    import pyogrio

    frame = pyogrio.read_dataframe(warehouse, layer=layer, columns=[key], read_geometry=False, max_features=1)
    return str(frame[key].iloc[0])


def tile_set(warehouse: Path) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
    """The z8 tiles of the province, and the 3 × 3 z12 tiles around lon 103.9, lat 21.33 (z, x, y)."""
    import morecantile
    import pyogrio

    bounds = pyogrio.read_info(warehouse, layer="province", force_total_bounds=True)["total_bounds"]
    tms = morecantile.tms.get("WebMercatorQuad")
    west, south, east, north = (float(b) for b in bounds)
    z8 = [(t.z, t.x, t.y) for t in tms.tiles(west, south, east, north, [8])]
    cx, cy = CENTRE_Z12
    z12 = [(12, cx + dx, cy + dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return z8, z12


def make_cases(warehouse: Path, schema: str) -> list[Case]:
    """The benchmark's requests for a warehouse and the schema it is published in."""
    from layers.catalog import CATALOG
    from layers.tiles.vector import tile_columns

    specs = {s.id: s for s in CATALOG}

    def items(layer: str, query: str) -> tuple[str, str]:
        props = ",".join(_fields(warehouse, layer))
        return (
            f"/ogc/collections/{layer}/items?f=json&{query}",
            f"/collections/{schema}.{layer}/items?f=geojson&{query}&properties={quote(props, safe=',')}",
        )

    unit = _first_key(warehouse, "units_2025", "code")
    bbox = ",".join(str(v) for v in BBOX)
    cql = quote(CQL, safe="")
    page, page_t = items("units_2025", "limit=100")
    box, box_t = items("villages", f"limit=100&bbox={bbox}")
    flt, flt_t = items("indicators_communes_2024", f"limit=100&filter={cql}")
    one_props = ",".join(_fields(warehouse, "units_2025"))
    cases = [
        Case("items?limit=100 (units_2025)", "json", (page,), (page_t,)),
        Case(
            f"single item (units_2025/{unit})",
            "json",
            (f"/ogc/collections/units_2025/items/{unit}?f=json",),
            (f"/collections/{schema}.units_2025/items/{unit}?f=geojson&properties={quote(one_props, safe=',')}",),
        ),
        Case(f"bbox villages ({bbox})", "json", (box,), (box_t,)),
        Case(f"CQL2 indicators_communes_2024 ({CQL})", "json", (flt,), (flt_t,)),
    ]
    z8, z12 = tile_set(warehouse)
    for layer in ("units_2025", "villages"):
        columns = ",".join(tile_columns(specs[layer], _fields(warehouse, layer)))
        for zoom, tiles in ((8, z8), (12, z12)):
            cases.append(
                Case(
                    f"MVT {layer} z{zoom} ({len(tiles)} tiles in turn)",
                    "mvt",
                    tuple(f"/ogc/collections/{layer}/tiles/WebMercatorQuad/{z}/{y}/{x}" for z, x, y in tiles),
                    tuple(
                        f"/collections/{schema}.{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}?properties={columns}"
                        for z, x, y in tiles
                    ),
                )
            )
    return cases


# --- the database ---------------------------------------------------------------------------------------------


def database_url(admin: str, name: str) -> str:
    """The URL of database `name` on the cluster of the URL `admin` (postgresql://user@host:port/db)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(admin)
    if parts.scheme not in ("postgresql", "postgres"):
        raise SystemExit(f"--database must be a postgresql:// URL, not {admin!r}")
    return urlunsplit(parts._replace(path=f"/{name}"))


@contextmanager
def scratch_database(admin: str, name: str) -> Iterator[str]:
    """A new empty database on the cluster (dropped afterwards, its connections ended); yields its URL."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as con:
            con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --- the servers -----------------------------------------------------------------------------------------------


def tipg_python() -> Path:
    """The venv with tipg and uvicorn (made on first use with the system's python3)."""
    python = TIPG_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([shutil.which("python3") or "python3", "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "tipg", "uvicorn"], check=True)
    return python


def tipg_version() -> str:
    """The installed tipg's version."""
    out = subprocess.run(
        [str(tipg_python()), "-c", "import tipg; print(tipg.__version__)"], capture_output=True, text=True
    )
    return out.stdout.strip() or "?"


def start_atlas(
    name: str,
    warehouse: Path,
    database: str | None,
    folder: Path,
    uncached: bool = False,
    extra: dict[str, str] | None = None,
) -> Server:
    """`atlas serve` with one worker on loopback and empty caches in `folder` (on the database when given)."""
    port = free_port()
    work = folder / name.replace(" ", "-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
    env |= {
        "ATLAS_HOST": "127.0.0.1",
        "ATLAS_PORT": str(port),
        "ATLAS_WORKERS": "1",
        "ATLAS_CACHE_DIR": str(work / "cache"),
        "ATLAS_TILE_CACHE_DIR": str(work / "tiles"),
    }
    if database:
        env["ATLAS_DATABASE_URL"] = database
    if uncached:
        env |= {"ATLAS_TILE_MEMORY_MB": NO_CACHE_MB, "ATLAS_TILE_DISK_MB": NO_CACHE_MB}
    env |= extra or {}
    work.mkdir(parents=True, exist_ok=True)
    log = work / "server.log"
    atlas = ROOT / ".venv" / "bin" / "atlas"
    command = [str(atlas)] if atlas.exists() else [sys.executable, "-m", "scripts.cli"]
    started = time.monotonic()
    with log.open("wb") as sink:  # a file: a pipe nobody reads would stop the server
        process = subprocess.Popen(
            [*command, "serve", "--warehouse", str(warehouse)], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log, bust=uncached)
    try:
        wait(f"{server.base}/health", process, log)
    except BaseException:
        stop(server.process)
        raise
    server.started_in = time.monotonic() - started
    return server


def start_tipg(name: str, database: str, schema: str, folder: Path) -> Server:
    """tipg as shipped (tipg.main:app) under uvicorn, one worker, serving one schema of the database."""
    port = free_port()
    work = folder / name.replace(" ", "-")
    work.mkdir(parents=True, exist_ok=True)
    log = work / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TIPG_", "ATLAS_"))}
    env |= {"DATABASE_URL": database, "TIPG_DB_SCHEMAS": json.dumps([schema])}
    command = [str(tipg_python()), "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1", "--port", str(port)]
    started = time.monotonic()
    with log.open("wb") as sink:  # run in its own folder: tipg reads a .env of the working directory
        process = subprocess.Popen(
            [*command, "--workers", "1", "--log-level", "warning"],
            cwd=work,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, f"http://127.0.0.1:{port}", process, log)
    try:
        wait(f"{server.base}/collections?f=json", process, log)
    except BaseException:
        stop(server.process)
        raise
    server.started_in = time.monotonic() - started
    return server


def content(kind: str, body: bytes) -> dict[str, Any]:
    """What an answer holds: features matched, returned and their ids (JSON), or features per layer (MVT).

    For a tile, `inside` counts the features that reach into the tile itself (interiors meet), not only its
    buffer or edge: servers differ in what they select for the buffer (the atlas takes points there too,
    tipg does not).
    """
    if kind == "mvt":
        import mapbox_vector_tile
        import shapely
        from shapely.geometry import shape

        if not body:
            return {"features": 0, "inside": 0, "layers": {}}
        decoded = mapbox_vector_tile.decode(body)
        layers = {str(name): len(layer["features"]) for name, layer in decoded.items()}
        inside = 0
        for layer in decoded.values():
            extent = layer.get("extent", 4096)
            tile = shapely.box(0, 0, extent, extent)
            inside += sum(
                1 for f in layer["features"] if shapely.relate_pattern(shape(f["geometry"]), tile, "T********")
            )
        return {"features": sum(layers.values()), "inside": inside, "layers": layers}
    document = json.loads(body)
    if document.get("type") == "Feature":
        return {
            "matched": 1,
            "returned": 1,
            "ids": [str(document["id"])],
            "properties": sorted(document.get("properties") or {}),
        }
    features = document.get("features", [])
    return {
        "matched": document.get("numberMatched"),
        "returned": len(features),
        "ids": sorted(str(f["id"]) for f in features),
    }


def _add(total: dict[str, Any], tile: dict[str, Any]) -> dict[str, Any]:
    """Feature counts of a set of tiles, added up."""
    layers = dict(total.get("layers", {}))
    for name, n in tile["layers"].items():
        layers[name] = layers.get(name, 0) + n
    return {
        "features": total.get("features", 0) + tile["features"],
        "inside": total.get("inside", 0) + tile["inside"],
        "layers": layers,
    }


def first_answers(server: Server, case: Case, paths: tuple[str, ...]) -> Measured:
    """Each path asked once, in turn, timed (the first answer on empty caches); the first path's content."""
    import httpx

    cold = []
    found: dict[str, Any] = {}
    with httpx.Client(timeout=300, headers=HEADERS) as client:
        for n, path in enumerate(paths):
            headers = {"Accept-Language": f"x-cold-{uuid.uuid4().hex[:8]}"} if server.bust else {}
            started = time.perf_counter()
            response = client.get(server.base + path, headers=headers)
            cold.append((time.perf_counter() - started) * 1000)
            if response.status_code not in (200, 204):
                raise RuntimeError(f"{server.name} {path}: {response.status_code} {response.text[:300]}")
            if n == 0:
                found = content(case.kind, response.content)
                found["wire_bytes"] = int(response.num_bytes_downloaded)
                found["encoding"] = response.headers.get("content-encoding", "identity")
            elif case.kind == "mvt":  # every tile of the set counted
                found |= _add(found, content(case.kind, response.content))
    return Measured(found, cold)


def wrk_load(base: str, paths: tuple[str, ...], seconds: int, connections: int, bust: bool = False) -> dict[str, float]:
    """wrk (one thread) on the paths in turn with the benchmark's headers; rps, p50/p95/p99 ms, bytes, errors."""
    tag = uuid.uuid4().hex[:8] if bust else ""
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "report.lua"
        lua.write_text(LUA % (", ".join(json.dumps(p) for p in paths), json.dumps(tag)) + REPORT_LUA)
        command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "60s"]
        for name, value in HEADERS.items():
            command += ["-H", f"{name}: {value}"]
        done = subprocess.run([*command, "-s", str(lua), base + paths[0]], capture_output=True, text=True, check=True)
    stats: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    stats["rps"] = stats["requests"] / stats["seconds"]
    return stats


def _ticks(pid: int | str, children: bool = False) -> int:
    """CPU ticks a process used (and those of its waited-for children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    used = int(fields[11]) + int(fields[12])  # utime, stime
    return used + (int(fields[13]) + int(fields[14]) if children else 0)  # cutime, cstime


def _cpu(server: int) -> tuple[float, int, int]:
    """Wall clock, busy ticks of the machine, and ticks of this bench, its server and the PostgreSQL cluster."""
    busy = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    total = sum(int(v) for v in busy[:3])  # user, nice, system (not interrupts, steal, or guest, counted in user)
    ours = _ticks("self", children=True) + _ticks(server)
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() == "postgres":
                    ours += _ticks(proc.name, children=True)  # the postmaster counts ended backends
            except OSError:
                continue
    return time.monotonic(), total, ours


def _others(before: tuple[float, int, int], after: tuple[float, int, int]) -> float:
    """Share of the machine's CPU that other processes used between two readings of _cpu."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = after[0] - before[0]
    foreign = ((after[1] - before[1]) - (after[2] - before[2])) / ticks
    return max(foreign, 0.0) / (seconds * (os.cpu_count() or 1)) if seconds > 0 else 0.0


def measure(server: Server, cases: list[Case], seconds: int, connections: tuple[int, ...]) -> dict[str, Measured]:
    """Every case on one server: first answers and content, then wrk at each concurrency."""
    results = {}
    for case in cases:
        paths = case.tipg if server.name.startswith("tipg") else case.atlas
        measured = first_answers(server, case, paths)
        for c in connections:
            measured.load[c] = wrk_load(server.base, paths, seconds, c, server.bust)
        rates = ", ".join(f"c{c} {s['rps']:.1f}/s" for c, s in measured.load.items())
        print(f"  {server.name} | {case.label}: {rates}", file=sys.stderr, flush=True)
        results[case.label] = measured
    return results


def quiet(limit: float, share: float = 0.10, probe: float = 3.0) -> float:
    """Wait (up to `limit` seconds) until other processes use less than `share` of the CPU; seconds waited."""
    began = time.monotonic()
    while True:
        before = _cpu(os.getpid())
        time.sleep(probe)
        busy = _others(before, _cpu(os.getpid()))
        waited = time.monotonic() - began
        if busy < share or waited >= limit:
            return waited
        print(f"  other processes use {busy:.0%} of the CPU: waiting ({waited:.0f} s)", file=sys.stderr, flush=True)


def run_servers(
    starters: list[tuple[str, ServerStarter]],
    cases: list[Case],
    seconds: int,
    connections: tuple[int, ...],
    wait_quiet: float = 300.0,
    retries: int = 1,
) -> tuple[dict[str, dict[str, Measured]], dict[str, float]]:
    """Start each server in turn (alone on the machine), measure every case, stop it; results and start times.

    Before each server the bench waits (up to `wait_quiet` s) for other processes to leave the CPU; a server
    whose run shared more than 15% of the CPU with them is measured again (`retries` times at most).
    """
    results: dict[str, dict[str, Measured]] = {}
    started: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="atlas-bench-") as tmp:
        for name, start in starters:
            for attempt in range(retries + 1):
                quiet(wait_quiet)
                print(f"starting {name}", file=sys.stderr, flush=True)
                server = start(Path(tmp) / f"{attempt}")
                started[name] = server.started_in
                before = _cpu(server.process.pid)
                try:
                    results[name] = measure(server, cases, seconds, connections)
                    OTHERS[name] = _others(before, _cpu(server.process.pid))
                finally:
                    stop(server.process)
                if OTHERS[name] <= 0.15:
                    break
                print(f"  {name}: other processes took {OTHERS[name]:.0%} of the CPU", file=sys.stderr, flush=True)
    return results, started


def standard_servers(
    warehouse: Path, database: str, schema: str, uncached: bool = True, geopackage: bool = True
) -> list[tuple[str, ServerStarter]]:
    """The servers of the comparison: atlas on GeoPackage and on PostGIS, tipg; then the uncached atlases."""
    starters: list[tuple[str, ServerStarter]] = []
    if geopackage:
        starters.append(("atlas GPKG", lambda tmp: start_atlas("atlas GPKG", warehouse, None, tmp)))
    starters.append(("atlas PostGIS", lambda tmp: start_atlas("atlas PostGIS", warehouse, database, tmp)))
    starters.append(("tipg", lambda tmp: start_tipg("tipg", database, schema, tmp)))
    if uncached:
        if geopackage:
            starters.append(
                ("atlas GPKG uncached", lambda tmp: start_atlas("atlas GPKG uncached", warehouse, None, tmp, True))
            )
        starters.append(
            (
                "atlas PostGIS uncached",
                lambda tmp: start_atlas("atlas PostGIS uncached", warehouse, database, tmp, True),
            )
        )
    return starters


# --- the report ---------------------------------------------------------------------------------------------------


def _rate(stats: dict[str, float] | None) -> str:
    if stats is None:
        return "–"
    if not stats["requests"]:
        return "0"
    errors = f" ({stats['errors']:.0f} err)" if stats["errors"] else ""
    return f"{stats['rps']:.1f}{errors}"


def _latency(stats: dict[str, float] | None) -> str:
    if stats is None or not stats["requests"]:
        return "–"
    return f"{stats['p50']:.1f} / {stats['p95']:.1f}"


def _ratio(a: dict[str, float] | None, b: dict[str, float] | None) -> str:
    if a is None or b is None or not b["rps"]:
        return "–"
    return f"{a['rps'] / b['rps']:.2f}"


def _same(contents: list[dict[str, Any]]) -> str:
    """Whether the servers' first answers hold the same features."""
    if not contents:
        return "–"
    if "layers" in contents[0]:
        counts = [c["inside"] for c in contents]
        total = " / ".join(str(c["features"]) for c in contents)
        if len(set(counts)) == 1:
            return f"same {counts[0]} features in the tiles (with buffers: {total})"
        return "DIFFERENT in the tiles: " + " / ".join(map(str, counts)) + f" (with buffers: {total})"
    matched = {c["matched"] for c in contents}
    returned = {c["returned"] for c in contents}
    if len(matched) > 1 or len(returned) > 1:
        return "DIFFERENT " + " / ".join(f"{c['matched']}:{c['returned']}" for c in contents)
    (m,), (r,) = matched, returned
    note = f"same {m} matched, {r} returned"
    if m == r:  # the whole answer on one page: the same ids
        note += ", same ids" if len({tuple(c["ids"]) for c in contents}) == 1 else ", DIFFERENT ids"
    if "properties" in contents[0]:
        note += (
            ", same properties" if len({tuple(c["properties"]) for c in contents}) == 1 else ", DIFFERENT properties"
        )
    return note


def report(
    results: dict[str, dict[str, Measured]],
    cases: list[Case],
    connections: tuple[int, ...],
    seconds: int,
    title: str,
    started: dict[str, float] | None = None,
) -> dict[str, bool]:
    """Print the Markdown tables of a run; returns whether each target was met."""
    pg, gp, tg = "atlas PostGIS", "atlas GPKG", "tipg"
    names = [n for n in (gp, pg, tg) if n in results]
    print(f"\n### {title}\n")
    print(
        f"wrk, 1 thread, {seconds} s per row, `Accept-Encoding: gzip, br`; one server at a time, one worker each; "
        "req/s, then median / p95 latency in ms.\n"
    )
    header = "| request | conn | " + " | ".join(f"{n} req/s | {n} p50 / p95" for n in names)
    ratios = [(pg, tg), (pg, gp)] if gp in results else [(pg, tg)]
    header += " | " + " | ".join(f"{a.split()[-1]} ÷ {b.split()[-1]}" for a, b in ratios) + " |"
    print(header)
    print("|" + "---|" * (2 + 2 * len(names) + len(ratios)))
    met = {"PostGIS ≥ tipg (as shipped)": True, "PostGIS within 2× of GPKG (as shipped)": True}
    for case in cases:
        for c in connections:
            stats = {n: results[n][case.label].load.get(c) for n in names}
            cells = " | ".join(f"{_rate(stats[n])} | {_latency(stats[n])}" for n in names)
            cells += " | " + " | ".join(_ratio(stats[a], stats[b]) for a, b in ratios)
            print(f"| {case.label} | {c} | {cells} |")
            if stats.get(pg) and stats.get(tg) and stats[pg]["rps"] < stats[tg]["rps"]:  # type: ignore[index]
                met["PostGIS ≥ tipg (as shipped)"] = False
            if gp in stats and stats[pg] and stats[gp] and stats[pg]["rps"] * 2 < stats[gp]["rps"]:  # type: ignore[index]
                met["PostGIS within 2× of GPKG (as shipped)"] = False
    uncached = [n for n in ("atlas GPKG uncached", "atlas PostGIS uncached") if n in results]
    if uncached and tg in results:
        pgu, gpu = "atlas PostGIS uncached", "atlas GPKG uncached"
        print(
            "\nEvery answer computed (atlas: tile caches bounded to nothing, each request its own Accept-Language, "
            "so the response cache misses); tipg as above.\n"
        )
        cols = [*uncached, tg]
        head = "| request | conn | " + " | ".join(f"{n} req/s | p50 / p95" for n in cols)
        pairs = [(pgu, tg)] + ([(pgu, gpu)] if gpu in results else [])
        head += " | " + " | ".join(f"{'PostGIS unc.'} ÷ {'tipg' if b == tg else 'GPKG unc.'}" for _, b in pairs) + " |"
        print(head)
        print("|" + "---|" * (2 + 2 * len(cols) + len(pairs)))
        met["PostGIS ≥ tipg (every answer computed)"] = True
        met["PostGIS within 2× of GPKG (every answer computed)"] = True
        for case in cases:
            for c in connections:
                stats = {n: results[n][case.label].load.get(c) for n in cols}
                cells = " | ".join(f"{_rate(stats[n])} | {_latency(stats[n])}" for n in cols)
                cells += " | " + " | ".join(_ratio(stats[a], stats[b]) for a, b in pairs)
                print(f"| {case.label} | {c} | {cells} |")
                a, b = stats.get(pgu), stats.get(tg)
                if a and b and a["rps"] < b["rps"]:
                    met["PostGIS ≥ tipg (every answer computed)"] = False
                g = stats.get(gpu)
                if a and g and a["rps"] * 2 < g["rps"]:
                    met["PostGIS within 2× of GPKG (every answer computed)"] = False
    everyone = list(results)
    print("\nFirst answers (before load, fresh caches): median ms over the case's paths; bytes on the wire, coding.\n")
    print("| request | " + " | ".join(f"{n} ms" for n in everyone) + " | bytes " + " / ".join(names) + " | content |")
    print("|" + "---|" * (3 + len(everyone)))
    for case in cases:
        cold = " | ".join(f"{statistics.median(results[n][case.label].cold_ms):.1f}" for n in everyone)
        wire = " / ".join(
            f"{results[n][case.label].content['wire_bytes']:,} {results[n][case.label].content['encoding']}"
            for n in names
        )
        same = _same([results[n][case.label].content for n in everyone])
        print(f"| {case.label} | {cold} | {wire} | {same} |")
    mvt = [c for c in cases if c.kind == "mvt"]
    if mvt:
        print("\nMVT layers and features of every tile of each set, added up (decoded with mapbox_vector_tile):\n")
        for case in mvt:
            parts = "; ".join(f"{n}: {results[n][case.label].content['layers']}" for n in everyone)
            print(f"- {case.label}: {parts}")
    if started:
        print("\nServer start until ready (s): " + ", ".join(f"{n} {s:.1f}" for n, s in started.items()))
    if OTHERS:
        print(
            f"CPU used by other processes during each run, share of the machine's {os.cpu_count()} cores "
            "(not this bench, its servers, wrk or PostgreSQL): " + ", ".join(f"{n} {v:.0%}" for n, v in OTHERS.items())
        )
    print("\nTargets:")
    for target, ok in met.items():
        print(f"- {target}: {'met' if ok else 'NOT met'}")
    return met


def publish_into(database: str, warehouse: Path) -> tuple[str, float]:
    """Publish the warehouse into the database (layers.publish.publish); the schema and seconds taken."""
    from layers.publish import publish

    found, seconds = publish(database, warehouse)
    return found.schema, seconds


def main() -> None:
    """Publish the warehouse into a scratch database, run the servers one by one, print the tables."""
    from geo.settings import DataSettings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=os.environ.get("ATLAS_BENCH_DATABASE_URL", DEFAULT_DATABASE))
    parser.add_argument("--warehouse", type=Path, default=DataSettings().warehouse)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--no-uncached", action="store_true", help="skip the atlas servers without caches")
    parser.add_argument("--wait-quiet", type=float, default=300, help="seconds to wait for other processes' CPU")
    parser.add_argument("--retries", type=int, default=1, help="runs again of a server disturbed by others")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    tipg_python()
    began = time.monotonic()
    with scratch_database(args.database, f"bench_store_{os.getpid()}") as url:
        schema, seconds = publish_into(url, args.warehouse)
        print(f"published {args.warehouse} as {schema} in {seconds:.1f} s", file=sys.stderr)
        cases = make_cases(args.warehouse, schema)
        starters = standard_servers(args.warehouse, url, schema, uncached=not args.no_uncached)
        results, started = run_servers(starters, cases, args.seconds, CONNECTIONS, args.wait_quiet, args.retries)
    report(
        results,
        cases,
        CONNECTIONS,
        args.seconds,
        f"Sơn La warehouse ({args.warehouse.name}), published in {seconds:.1f} s; tipg {tipg_version()}",
        started,
    )
    print(f"\nWhole run: {(time.monotonic() - began) / 60:.1f} min")
    if args.json:
        dump(results, args.json)


def dump(results: dict[str, dict[str, Measured]], path: Path) -> None:
    """Write the raw results as JSON."""
    raw = {
        server: {label: {"content": m.content, "cold_ms": m.cold_ms, "load": m.load} for label, m in cases.items()}
        for server, cases in results.items()
    }
    path.write_text(json.dumps(raw, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
