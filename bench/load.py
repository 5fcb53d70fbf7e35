"""Load benchmark: `atlas serve` under many concurrent clients on a realistic mix, asking as browsers and QGIS ask.

    .venv/bin/python bench/load.py [--clients 50] [--duration 60] [--workers N] [--port 8820]

Starts `atlas serve` (its own processes, the real warehouse read-only, tiles cached in a temporary
folder), warms it up for `--warmup` seconds, then runs, on loopback, `--clients` concurrent clients
for `--duration` seconds: collections,
item pages with and without bbox (QGIS's paging of villages in a view), single items, MVT and PNG tiles
(also outside the province, where tiles are empty), the maps index and a web map, and two clients that
run processes back to back (`priority` with the server's profile, `plan` with a small budget). Every
request carries `Accept-Encoding` as real clients send it (half the clients browser-like, half
QGIS-like); bodies are read as sent (compressed), not decoded. A 429 with Retry-After counts as
"refused", not as an error, and the client waits as it is told. Then /ogc/collections alone, and again
during 10 concurrent `plan` clients. The server's resident memory is read from /proc once every worker has
loaded its layers, after the warm-up, after the load, after the plans and after the solver processes' idle
time (`--idle`), the server's own processes apart from its solver processes (the niced ones), and compared
with the bounds of the caches. Prints Markdown tables for the README.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BROWSER = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Accept": "application/json, text/html;q=0.9, */*;q=0.8",
    "Accept-Language": "vi-VN,vi;q=0.9,en;q=0.8",
    "Accept-Encoding": "gzip, deflate, br, zstd",
}
QGIS = {
    "User-Agent": "Mozilla/5.0 QGIS/32200/Debian GNU/Linux 12 (bookworm)",
    "Accept": "application/json",
    "Accept-Language": "en-US,*",
    "Accept-Encoding": "gzip, deflate",
}
CHEAP = ("collections", "collection", "items", "items-bbox", "item", "mvt", "png", "maps-index")
PLAN_BODY = {"inputs": {"budget": 20e9}}
PRIORITY_BODY = {"inputs": {"scope": "units"}}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of values, nearest rank; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def niceness(pid: int) -> int:
    """The nice value of a process (solver processes run at 10), 0 when it is gone."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
    except (OSError, IndexError, ValueError):
        return 0


def split_rss(pid: int) -> tuple[float, float]:
    """Resident memory (MB) of the server's own processes, and of its solver processes (the niced ones)."""
    rss = tree_rss(pid)
    solvers = sum(v for p, v in rss.items() if niceness(p) > 0)
    return sum(rss.values()) - solvers, solvers


def tree_rss(pid: int) -> dict[int, float]:
    """Resident memory (MB) of a process and each of its descendants, from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children[ppid].append(int(entry.name))
    rss: dict[int, float] = {}
    todo = [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss[current] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return rss


@dataclass
class Targets:
    """What the clients ask for, read from the warehouse."""

    bounds: tuple[float, float, float, float]
    unit_codes: list[str]
    village_ids: list[str]
    district_slugs: list[str]

    @classmethod
    def read(cls, warehouse: Path) -> Targets:
        """Bounds of the province and real feature ids."""
        import pyogrio

        bounds = pyogrio.read_info(warehouse, layer="province")["total_bounds"]
        units = pyogrio.read_dataframe(warehouse, layer="units_2025", columns=["code"], read_geometry=False)
        villages = pyogrio.read_dataframe(warehouse, layer="villages", columns=["geonameid"], read_geometry=False)
        districts = pyogrio.read_dataframe(warehouse, layer="districts_2024", columns=["code"], read_geometry=False)
        return cls(
            tuple(float(b) for b in bounds),  # type: ignore[arg-type]
            [str(c) for c in units["code"]],
            [str(v) for v in villages["geonameid"]],
            [f"district-{c}" for c in districts["code"]],
        )


MVT_LAYERS = ("units_2025", "indicators_units_2025", "communes_2024", "villages", "roads", "priority_units_2025")
PNG_LAYERS = ("poverty_rate_units_2025", "priority_tier_units_2025", "population")
MIX: tuple[tuple[str, float], ...] = (
    ("collections", 8),
    ("collection", 4),
    ("items", 4),
    ("items-bbox", 8),
    ("item", 12),
    ("mvt", 35),
    ("png", 15),
    ("maps-index", 3),
    ("web-map", 1),
)


def pick(kind: str, targets: Targets, rng: random.Random) -> str:
    """A request path of a kind, drawn at random."""
    from layers.tiles import TMS

    minx, miny, maxx, maxy = targets.bounds
    if kind == "collections":
        return "/ogc/collections"
    if kind == "collection":
        return f"/ogc/collections/{rng.choice(('units_2025', 'villages', 'indicators_units_2025', 'roads'))}"
    if kind == "items":
        layer, limit = rng.choice((("units_2025", 100), ("indicators_units_2025", 10), ("priority_units_2025", 20)))
        return f"/ogc/collections/{layer}/items?limit={limit}"
    if kind == "items-bbox":  # QGIS paging through villages in the view
        w = rng.uniform(0.05, 0.4)
        x, y = rng.uniform(minx, maxx - w), rng.uniform(miny, maxy - w)
        return f"/ogc/collections/villages/items?limit=1000&bbox={x:.5f},{y:.5f},{x + w:.5f},{y + w:.5f}"
    if kind == "item":
        if rng.random() < 0.6:
            return f"/ogc/collections/units_2025/items/{rng.choice(targets.unit_codes)}"
        return f"/ogc/collections/villages/items/{rng.choice(targets.village_ids)}"
    if kind in ("mvt", "png"):
        # panning over the province and around it: some tiles are empty (outside), most are not
        pad_x, pad_y = (maxx - minx) * 0.3, (maxy - miny) * 0.3
        z = rng.choice((8, 9, 10, 11, 12, 12, 13, 13, 14, 14))
        tile = TMS.tile(rng.uniform(minx - pad_x, maxx + pad_x), rng.uniform(miny - pad_y, maxy + pad_y), z)
        if kind == "mvt":
            layer = rng.choice(MVT_LAYERS)
            return f"/ogc/collections/{layer}/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}"
        return f"/tiles/{rng.choice(PNG_LAYERS)}/{tile.z}/{tile.x}/{tile.y}.png"
    if kind == "maps-index":
        return "/maps/"
    if kind == "web-map":
        return f"/maps/{rng.choice(targets.district_slugs[:3])}.html"
    raise ValueError(kind)


@dataclass
class Results:
    """Latencies (ms) by request kind, with errors and refusals."""

    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    refused: int = 0
    refused_with_retry_after: int = 0
    bytes: int = 0
    examples: list[str] = field(default_factory=list)

    def all(self) -> list[float]:
        """Every latency."""
        return [v for values in self.latency.values() for v in values]

    def cheap(self) -> list[float]:
        """Latencies of the cheap requests."""
        return [v for k in CHEAP for v in self.latency.get(k, [])]


async def request(client: httpx.AsyncClient, results: Results, kind: str, method: str, path: str, **kw: object) -> None:
    """One request; its latency (whole body read as sent) or its error is recorded."""
    start = time.perf_counter()
    try:
        async with client.stream(method, path, **kw) as response:  # type: ignore[arg-type]
            size = 0
            async for chunk in response.aiter_raw():
                size += len(chunk)
            status = response.status_code
            retry_after = response.headers.get("retry-after")
    except httpx.HTTPError as exc:
        results.errors[kind] += 1
        if len(results.examples) < 5:
            results.examples.append(f"{kind} {path}: {type(exc).__name__} {exc}")
        return
    elapsed = (time.perf_counter() - start) * 1000
    if status == 429:
        results.refused += 1
        results.refused_with_retry_after += retry_after is not None
        if retry_after is not None and retry_after.isdigit():
            await asyncio.sleep(int(retry_after))  # as a well-behaved client does
        return
    if status in (200, 204, 304):
        results.latency[kind].append(elapsed)
        results.bytes += size
        return
    results.errors[kind] += 1
    if len(results.examples) < 5:
        results.examples.append(f"{kind} {path}: HTTP {status}")


async def mixed_client(n: int, base: str, targets: Targets, results: Results, until: float) -> None:
    """A client running the mix until the deadline; clients 0 and 1 run processes instead."""
    rng = random.Random(n)
    headers = BROWSER if n % 2 else QGIS
    kinds, weights = zip(*MIX, strict=True)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
        while time.monotonic() < until:
            if n == 0:
                path = "/ogc/processes/priority/execution"
                await request(client, results, "priority", "POST", path, json=PRIORITY_BODY)
            elif n == 1:
                await request(client, results, "plan", "POST", "/ogc/processes/plan/execution", json=PLAN_BODY)
            else:
                kind = rng.choices(kinds, weights)[0]
                await request(client, results, kind, "GET", pick(kind, targets, rng))


async def collections_during_plans(base: str, seconds: float, plans: int) -> tuple[Results, Results]:
    """/ogc/collections from 4 clients, with `plans` clients running `plan` back to back beside them."""
    results, plan_results = Results(), Results()
    until = time.monotonic() + seconds

    async def collections() -> None:
        async with httpx.AsyncClient(base_url=base, headers=BROWSER, timeout=120) as client:
            while time.monotonic() < until:
                await request(client, results, "collections", "GET", "/ogc/collections")

    async def planner() -> None:
        async with httpx.AsyncClient(base_url=base, headers=QGIS, timeout=300) as client:
            while time.monotonic() < until:
                await request(client, plan_results, "plan", "POST", "/ogc/processes/plan/execution", json=PLAN_BODY)

    await asyncio.gather(*(collections() for _ in range(4)), *(planner() for _ in range(plans)))
    return results, plan_results


def start_server(
    warehouse: Path, port: int, workers: int, tile_cache: Path, log: Path, idle: float
) -> subprocess.Popen[bytes]:
    """`atlas serve` on the warehouse, in its own process group; returns once every worker has loaded its layers."""
    env = {
        **os.environ,
        "ATLAS_HOST": "127.0.0.1",
        "ATLAS_PORT": str(port),
        "ATLAS_WORKERS": str(workers),
        "ATLAS_TILE_CACHE_DIR": str(tile_cache),
        "ATLAS_PROCESS_IDLE_SECONDS": str(idle),
    }
    with log.open("wb") as sink:  # a file, not a pipe nobody reads: a full pipe would stop the server
        process = subprocess.Popen(
            [sys.executable, "-m", "scripts.cli", "serve", "--warehouse", str(warehouse)],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 300
    warm: set[int] = set()
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"atlas serve exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5, headers={"Connection": "close"}).json()
            if health.get("warmed_in_seconds") is not None:
                warm.add(int(health["worker"]))
            if len(warm) >= workers:
                return process
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.3)
    stop_server(process)
    raise RuntimeError("atlas serve's workers did not all load their layers within 300 s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """Stop the server's process group (the uvicorn supervisor and its workers)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def row(name: str, values: list[float]) -> str:
    """A Markdown row: count, p50, p95, p99 (ms)."""
    if not values:
        return f"| {name} | 0 | | | |"
    return (
        f"| {name} | {len(values):,} | {percentile(values, 50):.1f} | {percentile(values, 95):.1f} "
        f"| {percentile(values, 99):.1f} |"
    )


def main() -> None:
    """Run the load, print the tables."""
    import resource

    from api.settings import ServerSettings
    from geo.settings import DataSettings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warehouse", type=Path, default=DataSettings().warehouse)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60, help="seconds of mixed load")
    parser.add_argument("--warmup", type=float, default=20, help="seconds of unmeasured load first (10 clients)")
    parser.add_argument("--plan-seconds", type=float, default=20, help="seconds of each /ogc/collections run")
    parser.add_argument("--plans", type=int, default=10, help="concurrent plan clients beside /ogc/collections")
    parser.add_argument("--idle", type=float, default=15, help="ATLAS_PROCESS_IDLE_SECONDS of the server")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--port", type=int, default=8820)
    args = parser.parse_args()
    if not args.warehouse.is_file():
        sys.exit(f"error: no warehouse at {args.warehouse}: run `atlas build` first")
    targets = Targets.read(args.warehouse)
    base = f"http://127.0.0.1:{args.port}"
    defaults = ServerSettings()
    bound = args.workers * (  # what the caches of the server's workers may hold, by their settings
        defaults.response_cache_mb + defaults.tile_memory_mb + defaults.tile_geometry_mb + defaults.map_cache_mb
    )
    with tempfile.TemporaryDirectory(prefix="atlas-load-") as tmp:
        log = Path(tmp) / "server.log"
        started_at = time.perf_counter()
        server = start_server(args.warehouse, args.port, args.workers, Path(tmp) / "tiles", log, args.idle)
        ready_after = time.perf_counter() - started_at
        try:
            rss_start = split_rss(server.pid)
            warm = Results()  # first tiles of the run: not what is measured

            async def warm_up() -> None:
                until = time.monotonic() + args.warmup
                await asyncio.gather(*(mixed_client(n, base, targets, warm, until) for n in range(2, 12)))

            asyncio.run(warm_up())
            rss_warm = split_rss(server.pid)
            results = Results()
            until = time.monotonic() + args.duration
            started = time.perf_counter()
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)

            async def run() -> None:
                await asyncio.gather(*(mixed_client(n, base, targets, results, until) for n in range(args.clients)))

            asyncio.run(run())
            wall = time.perf_counter() - started
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
            generator_cpu = (cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime) / wall
            rss_after = split_rss(server.pid)
            health_after = httpx.get(f"{base}/health", timeout=10).json()
            alone, _ = asyncio.run(collections_during_plans(base, args.plan_seconds, 0))
            during, plans = asyncio.run(collections_during_plans(base, args.plan_seconds, args.plans))
            rss_plans = split_rss(server.pid)
            time.sleep(args.idle + 10)  # idle solver processes stop after ATLAS_PROCESS_IDLE_SECONDS
            rss_idle = split_rss(server.pid)
        finally:
            stop_server(server)
    done = results.all()
    errors = sum(results.errors.values())
    print(
        f"\n{args.clients} clients, {args.duration:.0f} s, {args.workers} worker(s), "
        f"{os.cpu_count()} cores shared with the load generator; bodies as sent (compressed)\n"
    )
    print("| | value |\n|---|---|")
    print(f"| server ready (every worker's layers loaded) after | {ready_after:.1f} s |")
    print(f"| requests answered | {len(done):,} ({len(done) / wall:.1f} req/s) |")
    p50, p95, p99 = (percentile(done, q) for q in (50, 95, 99))
    print(f"| p50 / p95 / p99 ms | {p50:.0f} / {p95:.0f} / {p99:.0f} |")
    cheap = percentile(results.cheap(), 95)
    print(f"| p95 of cheap requests (collections, items, tiles, maps index) | {cheap:.0f} ms |")
    print(f"| errors | {errors} |")
    print(f"| refused (429, {results.refused_with_retry_after} with Retry-After) | {results.refused} |")
    print(f"| MB received | {results.bytes / 1e6:,.1f} |")
    print(f"| load generator CPU (cores) | {generator_cpu:.2f} |")
    ratio = percentile(during.latency["collections"], 95) / percentile(alone.latency["collections"], 95)
    print(
        f"| /ogc/collections p95 alone / during {args.plans} concurrent plans | "
        f"{percentile(alone.latency['collections'], 95):.1f} / {percentile(during.latency['collections'], 95):.1f} ms "
        f"({ratio:.1f}×; plans: {len(plans.latency['plan'])} answered, {plans.refused} refused, "
        f"{sum(plans.errors.values())} errors) |"
    )
    server_mb = " / ".join(f"{v[0]:,.0f}" for v in (rss_start, rss_warm, rss_after, rss_plans, rss_idle))
    print(f"| server processes RSS MB: ready / after warm-up / after load / after plans / idle | {server_mb} |")
    growth = rss_idle[0] - rss_start[0]
    print(f"| server growth from ready to idle, against the caches' bounds | {growth:,.0f} MB of {bound:,} MB |")
    solver_mb = " / ".join(f"{v[1]:,.0f}" for v in (rss_start, rss_warm, rss_after, rss_plans, rss_idle))
    print(f"| solver processes RSS MB (same moments; stopped after {args.idle:.0f} s idle) | {solver_mb} |")
    print("\n| request | count | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|")
    for kind in (*(k for k, _ in MIX), "priority", "plan"):
        print(row(kind, results.latency.get(kind, [])))
    if errors:
        print("\nerrors by kind: " + ", ".join(f"{k} {v}" for k, v in results.errors.items() if v))
        for example in results.examples:
            print(f"  {example}")
    caches = health_after.get("caches")
    if caches:
        print(f"\ncaches after the load (one worker's /health): {caches}")


if __name__ == "__main__":
    main()
