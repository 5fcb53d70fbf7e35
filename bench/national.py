"""Benchmark publishing and serving a national-size data set: about 3,300 units and 100,000 villages.

The bench makes the data itself (not the Sơn La pipeline): a copy of the built warehouse in which three
layers are replaced by synthetic national ones with the same columns, and a new fingerprint:

- units_2025: Voronoi cells of random points inside a coarse outline of Vietnam, their edges densified to
  one vertex every ~40 m and bent by a smooth displacement field (a function of position, so neighbours
  still share their edges); about as many vertices per km of boundary as the real Sơn La units;
- indicators_communes_2024: the same cells with the indicator columns (values drawn from the real layer's,
  poor_rate and region_class drawn anew), for the CQL2 request;
- villages: random points inside the outline, each given the unit it falls in.

The file is published into a fresh database `bench_national_<pid>` by `layers.publish.publish` in a child
process, timed, with the child's peak RSS (wait4) and the peak RSS/PSS of the database backend doing the
work (sampled from /proc), and the time the database spent per statement kind (sampled from
pg_stat_activity: COPY, primary key, row index, GiST index, ANALYZE, the GeoPackage stored for download).
Then the requests of bench/store.py are timed against the atlas on that database, tipg on it, and the
atlas on the national GeoPackage.

    scripts/test_database.sh
    .venv/bin/python bench/national.py [--units 3300] [--villages 100000] [--seconds 5] [--no-uncached]

Prints Markdown tables. Targets: publish under 10 minutes and under 4 GB.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # bench/store.py as `store`, as mypy names it beside this file

import store  # noqa: E402

# A coarse outline of Vietnam's mainland (lon, lat), clockwise from the north-west corner: enough for the
# density of units and villages to be national, not a boundary.
VIETNAM = (
    (102.14, 22.40),
    (102.60, 22.75),
    (103.50, 22.65),
    (104.10, 22.80),
    (104.80, 22.95),
    (105.35, 23.35),
    (106.00, 22.95),
    (106.70, 22.85),
    (107.35, 22.05),
    (108.05, 21.55),
    (107.40, 21.20),
    (106.65, 20.55),
    (105.95, 19.75),
    (105.75, 19.00),
    (106.55, 17.85),
    (107.20, 16.75),
    (108.25, 16.10),
    (108.85, 15.20),
    (109.25, 13.70),
    (109.45, 12.60),
    (109.20, 11.65),
    (108.75, 11.10),
    (107.70, 10.50),
    (106.80, 10.35),
    (106.35, 9.60),
    (105.35, 8.60),
    (104.80, 8.65),
    (104.85, 9.60),
    (104.45, 10.40),
    (105.10, 10.95),
    (106.15, 11.05),
    (106.45, 11.70),
    (107.55, 12.30),
    (107.55, 13.50),
    (107.45, 14.55),
    (107.65, 15.30),
    (107.20, 15.85),
    (106.65, 16.45),
    (106.50, 16.95),
    (105.60, 17.65),
    (104.90, 18.25),
    (103.95, 19.25),
    (104.30, 19.75),
    (104.00, 20.45),
    (103.25, 20.45),
    (102.70, 21.05),
    (102.15, 21.40),
)
SEGMENT_DEGREES = 0.0004  # ~40 m between vertices along every edge (the real Sơn La units: ~34 m)
WIGGLE_DEGREES = 0.0012  # amplitude of the displacement that bends the straight Voronoi edges
SYLLABLES = (
    "An",
    "Bình",
    "Chiềng",
    "Đông",
    "Hòa",
    "Hưng",
    "Long",
    "Minh",
    "Mường",
    "Nam",
    "Ngọc",
    "Phú",
    "Phước",
    "Quang",
    "Sơn",
    "Tân",
    "Thạch",
    "Thanh",
    "Thịnh",
    "Thuận",
    "Tiến",
    "Trung",
    "Vĩnh",
    "Xuân",
    "Yên",
    "Hải",
    "Lạc",
    "Lâm",
    "Khánh",
    "Kim",
    "Hồng",
    "Đức",
    "Cẩm",
    "Bắc",
    "Tây",
    "Na",
    "Nậm",
    "Pá",
    "Co",
    "Huổi",
)


def outline() -> Any:
    """The coarse outline of Vietnam as a shapely Polygon (EPSG:4326)."""
    import shapely

    return shapely.make_valid(shapely.Polygon(VIETNAM))


def _points_inside(shape: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    """n uniformly random points (x, y) inside a polygon."""
    import shapely

    west, south, east, north = shape.bounds
    found: list[np.ndarray] = []
    count = 0
    while count < n:
        xy = np.column_stack([rng.uniform(west, east, 4 * n), rng.uniform(south, north, 4 * n)])
        keep = xy[shapely.contains_xy(shape, xy[:, 0], xy[:, 1])]
        found.append(keep)
        count += len(keep)
    return np.concatenate(found)[:n]


def _wiggle(coords: np.ndarray) -> np.ndarray:
    """A smooth displacement of coordinates, the same wherever two edges share a vertex."""
    x, y = coords[:, 0], coords[:, 1]
    dx = np.sin(y * 233.0 + np.sin(x * 97.0)) + 0.5 * np.sin(y * 611.0 + x * 173.0)
    dy = np.sin(x * 251.0 + np.sin(y * 89.0)) + 0.5 * np.sin(x * 577.0 - y * 161.0)
    return coords + WIGGLE_DEGREES / 1.5 * np.column_stack([dx, dy])


def cells(n: int, rng: np.random.Generator) -> np.ndarray:
    """About n polygons tiling the outline: Voronoi cells, densified and bent (MultiPolygons, EPSG:4326)."""
    import shapely

    country = outline()
    seeds = shapely.multipoints(_points_inside(country, n, rng))
    voronoi = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=country.envelope.buffer(1)))
    clipped = shapely.intersection(voronoi, country)
    clipped = clipped[~shapely.is_empty(clipped) & (shapely.area(clipped) > 0)]
    dense = shapely.segmentize(clipped, SEGMENT_DEGREES)
    bent = shapely.transform(dense, _wiggle)
    valid = shapely.is_valid(bent)
    geoms = np.where(valid, bent, dense)  # the rare cell the bending folds keeps its straight edges
    polygons = [shapely.get_parts(g) for g in geoms]
    return np.array(
        [shapely.MultiPolygon([p for p in parts if p.geom_type == "Polygon"]) for parts in polygons], dtype=object
    )


def _names(n: int, rng: np.random.Generator) -> list[str]:
    """Vietnamese-looking names of two syllables."""
    a = rng.integers(0, len(SYLLABLES), n)
    b = rng.integers(0, len(SYLLABLES), n)
    return [f"{SYLLABLES[i]} {SYLLABLES[j]}" for i, j in zip(a, b, strict=True)]


def _like(real: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """n rows whose every column is drawn from the real layer's values (types kept; nulls filled)."""
    columns: dict[str, Any] = {}
    for name in real.columns:
        if name == "geometry":
            continue
        values = real[name]
        present = values.dropna()
        if present.empty:
            columns[name] = values.iloc[:0].reindex(range(n))
            continue
        drawn = present.to_numpy()[rng.integers(0, len(present), n)]
        columns[name] = pd.Series(drawn, dtype=values.dtype if values.notna().all() else present.dtype)
    return pd.DataFrame(columns)


def synthetic_layers(warehouse: Path, n_units: int, n_villages: int, seed: int) -> dict[str, Any]:
    """The three national layers as GeoDataFrames with the columns of the warehouse's layers."""
    import geopandas as gpd
    import pyogrio
    import shapely

    from geo.names import fold_ascii

    rng = np.random.default_rng(seed)
    geoms = cells(n_units, rng)
    n = len(geoms)
    codes = [f"{i + 1:05d}" for i in range(n)]
    names = _names(n, rng)
    kinds = rng.choice(["Xã", "Phường", "Đặc khu"], n, p=[0.8, 0.19, 0.01])
    area = gpd.GeoSeries(geoms, crs=4326).to_crs(6933).area.to_numpy() / 1e6  # equal-area km²

    real = pyogrio.read_dataframe(warehouse, layer="units_2025", read_geometry=False)
    units = _like(real, n, rng)
    units["code"] = codes
    units["name"] = names
    units["full_name"] = [f"{k} {m}" for k, m in zip(kinds, names, strict=True)]
    units["unit_type"] = kinds
    units["name_en"] = [fold_ascii(m).title() for m in names]
    units["full_name_en"] = [
        f"{fold_ascii(m).title()} {'Ward' if k == 'Phường' else 'Commune'}" for k, m in zip(kinds, names, strict=True)
    ]
    units["area_km2"] = area.round(3)
    units["area_km2_published"] = (area * rng.normal(1, 0.01, n)).round(2)
    units_frame = gpd.GeoDataFrame(units[list(real.columns)], geometry=geoms, crs=4326)

    real = pyogrio.read_dataframe(warehouse, layer="indicators_communes_2024", read_geometry=False)
    ind = _like(real, n, rng)
    ind["unit_code"] = codes
    ind["unit_name"] = units["full_name"]
    ind["region_class"] = rng.choice([1, 2, 3], n, p=[0.55, 0.25, 0.2]).astype("int64")
    shape = np.where(ind["region_class"] == 3, 2.0, 1.2)  # region III communes are the poorest
    scale = np.where(ind["region_class"] == 3, 10.0, 5.0)
    poor = np.clip(rng.gamma(shape, scale), 0, 80).round(2)  # %, with a long tail
    ind["poor_rate"] = poor
    ind["poor_rate_2025"] = poor
    ind["poor_households"] = (ind["households"] * poor / 100).round().astype("int64")
    ind["latest_year"] = 2025
    indicators = gpd.GeoDataFrame(ind[list(real.columns)], geometry=geoms, crs=4326)

    real = pyogrio.read_dataframe(warehouse, layer="villages", read_geometry=False)
    xy = _points_inside(outline(), int(n_villages * 1.02), rng)
    points = shapely.points(xy)
    tree = shapely.STRtree(geoms)
    within, unit = tree.query(points, predicate="within")
    first = np.unique(within, return_index=True)[1]  # one unit per point (the cells tile: there is one)
    within, unit = within[first][:n_villages], unit[first][:n_villages]
    m = len(within)
    vil = _like(real, m, rng)
    village_names = [f"Bản {x}" for x in _names(m, rng)]
    vil["geonameid"] = [str(9_000_000 + i) for i in range(m)]
    vil["name"] = village_names
    vil["name_ascii"] = [fold_ascii(x).title() for x in village_names]
    vil["alternate_names"] = ""
    for column in ("commune_2024_code", "unit_2025_code"):
        vil[column] = np.asarray(codes, dtype=object)[unit]
    for column in ("commune_2024_name", "unit_2025_name"):
        vil[column] = units["full_name"].to_numpy()[unit]
    vil["assignment"] = "inside"
    villages = gpd.GeoDataFrame(vil[list(real.columns)], geometry=points[within], crs=4326)
    return {"units_2025": units_frame, "indicators_communes_2024": indicators, "villages": villages}


def write_warehouse(source: Path, target: Path, layers: dict[str, Any], seed: int) -> dict[str, str]:
    """A copy of the warehouse with the layers replaced (same names and columns) and a new fingerprint."""
    import pyogrio

    shutil.copyfile(source, target)
    for name, frame in layers.items():
        geometry_type = "MultiPolygon" if frame.geom_type.iloc[0] in ("Polygon", "MultiPolygon") else "Point"
        pyogrio.write_dataframe(
            frame, target, layer=name, driver="GPKG", geometry_type=geometry_type, layer_options={"OVERWRITE": "YES"}
        )
    built_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    digest = hashlib.sha256(f"national-{seed}-{built_at}".encode())
    digest.update(json.dumps({k: len(v) for k, v in layers.items()}).encode())
    info = {"fingerprint": digest.hexdigest(), "built_at": built_at}
    with sqlite3.connect(target) as con:
        for key, value in info.items():
            con.execute("UPDATE atlas_build SET value = ? WHERE key = ?", (value, key))
        for name, frame in layers.items():
            con.execute("UPDATE atlas_layers SET rows = ? WHERE layer = ?", (len(frame), name))
    with sqlite3.connect(target) as con:
        con.execute("VACUUM")  # the replaced layers' pages back
    return info


# --- publishing, measured ------------------------------------------------------------------------------------------


@dataclass
class Sampled:
    """What the sampler saw while the publish ran."""

    statements: dict[tuple[int, str], tuple[str, float]] = field(default_factory=dict)  # (pid, start) → text, s
    backend_rss: int = 0  # bytes, peak of one backend
    backend_pss: int = 0


def _smaps(pid: int) -> tuple[int, int]:
    """RSS and PSS of a process in bytes (0, 0 when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] in ("Rss:", "Pss:"):
            values[parts[0]] = int(parts[1]) * 1024
    return values.get("Rss:", 0), values.get("Pss:", 0)


def sample(admin: str, database: str, done: threading.Event, seen: Sampled, every: float = 0.05) -> None:
    """Record the publish's statements (pg_stat_activity) and its backend's peak memory until done is set."""
    import psycopg

    with psycopg.connect(admin, autocommit=True) as con:
        while not done.is_set():
            rows = con.execute(
                "SELECT pid, query_start::text, query, extract(epoch FROM clock_timestamp() - query_start) "
                "FROM pg_stat_activity WHERE datname = %s AND state = 'active' AND pid <> pg_backend_pid()",
                (database,),
            ).fetchall()
            for pid, start, query, elapsed in rows:
                key = (int(pid), str(start))
                old = seen.statements.get(key)
                seen.statements[key] = (str(query), max(float(elapsed or 0), old[1] if old else 0.0))
                rss, pss = _smaps(int(pid))
                seen.backend_rss = max(seen.backend_rss, rss)
                seen.backend_pss = max(seen.backend_pss, pss)
            done.wait(every)


KINDS = (  # statement kinds by the start of their text
    ("COPY", "COPY rows in"),
    ("ALTER TABLE", "primary key"),
    ("CREATE UNIQUE INDEX", "row index"),
    ("CREATE INDEX", "GiST index"),
    ("ANALYZE", "ANALYZE"),
    ("INSERT INTO", "GeoPackage for download"),
)


def by_kind(seen: Sampled) -> dict[str, dict[str, float]]:
    """Seconds the database spent per layer and statement kind (as sampled)."""
    import re

    table: dict[str, dict[str, float]] = {}
    for query, seconds in seen.statements.values():
        text = query.strip()
        kind = next((label for prefix, label in KINDS if text.upper().startswith(prefix)), "other")
        match = re.search(r'"atlas_build_\d+"\."([^"]+)"', text)
        layer = match.group(1) if match else "–"
        table.setdefault(layer, {}).setdefault(kind, 0.0)
        table[layer][kind] += seconds
    return table


def publish_child(url: str, warehouse: Path) -> None:
    """(In the child) publish the warehouse, printing each step with its time as a JSON line."""
    from layers.publish import publish

    started = time.perf_counter()

    def step(message: str) -> None:
        print(json.dumps({"t": round(time.perf_counter() - started, 3), "step": message}), flush=True)

    found, seconds = publish(url, warehouse, on_step=step)
    print(json.dumps({"t": round(seconds, 3), "step": "done", "schema": found.schema}), flush=True)


@dataclass
class Published:
    """A measured publish."""

    schema: str
    seconds: float
    child_rss: int  # bytes
    seen: Sampled
    steps: list[dict[str, Any]]


def publish_measured(admin: str, url: str, database: str, warehouse: Path, folder: Path) -> Published:
    """Publish in a child process; its time, its peak RSS and what the database did meanwhile."""
    log = folder / "publish.log"
    seen = Sampled()
    done = threading.Event()
    sampler = threading.Thread(target=sample, args=(admin, database, done, seen), daemon=True)
    sampler.start()
    started = time.perf_counter()
    with log.open("wb") as sink:
        child = subprocess.Popen(
            [sys.executable, __file__, "--publish-child", url, str(warehouse)], cwd=ROOT, stdout=sink, stderr=sink
        )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    text = log.read_text(errors="replace")
    if child.returncode != 0:
        raise RuntimeError(f"publish failed ({child.returncode}): {text[-3000:]}")
    steps = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    schema = next(s["schema"] for s in steps if s["step"] == "done")
    return Published(schema, seconds, usage.ru_maxrss * 1024, seen, steps)


def report_publish(published: Published, warehouse: Path, counts: dict[str, int], made_in: float) -> dict[str, bool]:
    """Print the publish table; whether the targets (10 minutes, 4 GB) were met."""
    gb = 1024**3
    peak = published.child_rss + published.seen.backend_rss
    print("\n### Publishing the national data set\n")
    layers = ", ".join(f"{name} {n:,}" for name, n in counts.items())
    print(
        f"GeoPackage {warehouse.stat().st_size / 1e6:,.0f} MB ({layers}; the other layers are Sơn La's), "
        f"made in {made_in:.0f} s.\n"
    )
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| publish + indexing, wall clock (child process) | {published.seconds:.1f} s | < 600 s |")
    print(f"| peak RSS of the publishing process (wait4) | {published.child_rss / 1e6:,.0f} MB | |")
    print(
        f"| peak RSS / PSS of the database backend (sampled) | {published.seen.backend_rss / 1e6:,.0f} / "
        f"{published.seen.backend_pss / 1e6:,.0f} MB | |"
    )
    print(f"| both together | {peak / 1e6:,.0f} MB | < 4,096 MB |")
    kinds = by_kind(published.seen)
    labels = [label for _, label in KINDS] + ["other"]
    used = [label for label in labels if any(label in row for row in kinds.values())]
    print("\nDatabase time per layer and statement (s, from pg_stat_activity every 50 ms; the rest is the client):\n")
    print("| layer | " + " | ".join(used) + " | total |")
    print("|" + "---|" * (len(used) + 2))
    ordered = sorted(kinds.items(), key=lambda item: -sum(item[1].values()))
    for layer, row in ordered:
        if sum(row.values()) < 0.05:
            continue
        cells = " | ".join(f"{row.get(label, 0.0):.2f}" for label in used)
        print(f"| {layer} | {cells} | {sum(row.values()):.2f} |")
    database = sum(sum(row.values()) for row in kinds.values())
    print(f"\nDatabase busy {database:.1f} s of {published.seconds:.1f} s.")
    steps = published.steps
    spans = [(b["t"] - a["t"], a["step"]) for a, b in itertools.pairwise(steps)]
    slowest = sorted(spans, reverse=True)[:6]
    print("Slowest steps of the child (s): " + "; ".join(f"{s} {t:.1f}" for t, s in slowest))
    return {
        "publish under 10 minutes": published.seconds < 600,
        "publish under 4 GB (client + backend)": peak < 4 * gb,
    }


def main() -> None:
    """Make the national data set, publish it measured, run the servers, print the tables."""
    from geo.settings import DataSettings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--publish-child", nargs=2, metavar=("URL", "WAREHOUSE"), help=argparse.SUPPRESS)
    parser.add_argument("--database", default=os.environ.get("ATLAS_BENCH_DATABASE_URL", store.DEFAULT_DATABASE))
    parser.add_argument("--warehouse", type=Path, default=DataSettings().warehouse, help="the built Sơn La one")
    parser.add_argument("--units", type=int, default=3300)
    parser.add_argument("--villages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20250701)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--no-uncached", action="store_true", help="skip the atlas servers without caches")
    parser.add_argument("--no-geopackage", action="store_true", help="skip the atlas on the national GeoPackage")
    parser.add_argument("--wait-quiet", type=float, default=300, help="seconds to wait for other processes' CPU")
    parser.add_argument("--retries", type=int, default=1, help="runs again of a server disturbed by others")
    parser.add_argument("--keep", type=Path, help="keep the national GeoPackage at this path")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    if args.publish_child:
        publish_child(args.publish_child[0], Path(args.publish_child[1]))
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    store.tipg_python()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="atlas-national-") as tmp:
        folder = Path(tmp)
        national = folder / "national.gpkg"
        started = time.monotonic()
        layers = synthetic_layers(args.warehouse, args.units, args.villages, args.seed)
        write_warehouse(args.warehouse, national, layers, args.seed)
        made_in = time.monotonic() - started
        counts = {name: len(frame) for name, frame in layers.items()}
        del layers
        print(f"made {national} in {made_in:.0f} s: {counts}", file=sys.stderr, flush=True)
        name = f"bench_national_{os.getpid()}"
        store.quiet(args.wait_quiet)  # the publish is timed too
        with store.scratch_database(args.database, name) as url:
            published = publish_measured(args.database, url, name, national, folder)
            print(f"published as {published.schema} in {published.seconds:.1f} s", file=sys.stderr, flush=True)
            cases = store.make_cases(national, published.schema)
            starters = store.standard_servers(
                national, url, published.schema, uncached=not args.no_uncached, geopackage=not args.no_geopackage
            )
            results, ready = store.run_servers(
                starters, cases, args.seconds, store.CONNECTIONS, args.wait_quiet, args.retries
            )
        if args.keep:
            shutil.copyfile(national, args.keep)
        met = report_publish(published, national, counts, made_in)
        met |= store.report(
            results,
            cases,
            store.CONNECTIONS,
            args.seconds,
            f"National data set served (tipg {store.tipg_version()})",
            ready,
        )
    print("\nAll targets of this run:")
    for target, ok in met.items():
        print(f"- {target}: {'met' if ok else 'NOT met'}")
    print(f"\nWhole run: {(time.monotonic() - began) / 60:.1f} min")
    if args.json:
        store.dump(results, args.json)


if __name__ == "__main__":
    main()
