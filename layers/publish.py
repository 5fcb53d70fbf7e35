"""Publishing warehouse builds to PostgreSQL + PostGIS: one schema per publish, one switch of the current one.

`atlas build` validates a build and writes the GeoPackage as always; with `ATLAS_DATABASE_URL` set it then
publishes it: every layer of the GeoPackage is copied into a new schema `atlas_build_<n>` (geometries in
EPSG:4326 with a GiST index, the catalog key as primary key), the publish is recorded in `atlas.publishes`
and `atlas.current` is pointed at it, all in one transaction. Readers therefore see the previous build or
the new one, never a mixture, and a publish that fails or is killed leaves the current build serving.
Each publish is numbered and kept (the last `ATLAS_KEEP_PUBLISHES`); a rollback publishes an earlier build
again under a new number. SQL identifiers are composed with psycopg.sql and values are bound, never
formatted into the text.

Without a database the GeoPackage is the store, and its builds are numbered and kept the same way: each
build is linked (a hard link, else a copy) into `publishes/` beside the warehouse with an index, and a
rollback puts an earlier file back in place atomically, under the warehouse lock. Both stores answer to one
small interface, `Publisher`.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.atomic import atomic_write, fsync_path
from geo.errors import WarehouseError
from geo.settings import AtlasSettings
from layers.catalog import CATALOG
from layers.store import field_types, folded_text, json_value
from layers.warehouse import checkpoint, read_build_info, warehouse_lock

LAYOUT_VERSION = 2  # of the `atlas` schema and the build schemas; another version is refused, never altered in place
CATALOG_SCHEMA = "atlas"
SCHEMA_PREFIX = "atlas_build_"
PUBLISH_LOCK = 7_216_120_251  # pg_advisory_xact_lock key: one publisher at a time per database
KEYS = {spec.id: spec.key for spec in CATALOG if spec.key}
GEOMETRY_COLUMN = "geom"  # EPSG:4326, GiST-indexed
ROW_COLUMN = "atlas_row"  # the row's place in the GeoPackage layer (1, 2, …): default order, id of keyless layers
TEXT_COLUMN = "atlas_text"  # the row's string fields folded (layers.store.folded_text): what `q` searches
HIDDEN_COLUMNS = frozenset({GEOMETRY_COLUMN, ROW_COLUMN, TEXT_COLUMN})  # never served as properties
DOWNLOAD_TABLE = "atlas_download"  # the built GeoPackage itself, in parts, for servers without the file
DOWNLOAD_PART = 8 * 1024 * 1024


class PublishError(WarehouseError):
    """The database cannot take or serve a publish (unreachable, no PostGIS, another layout version)."""


@dataclass(frozen=True)
class Publish:
    """One numbered publish of a build."""

    number: int
    schema: str
    fingerprint: str
    built_at: str
    published_at: datetime
    current: bool
    rollback_of: int | None = None


def redact(url: str) -> str:
    """The database URL without its password, for messages."""
    return re.sub(r"(//[^:/@]+):[^@]*@", r"\1:***@", url)


def error_detail(exc: BaseException, limit: int = 200) -> str:
    """A database error's message on one line, cut to `limit` characters (for one-line messages)."""
    return " ".join(str(exc).split())[:limit]


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # an optional dependency: only deployments with PostGIS need it
        raise PublishError(
            "ATLAS_DATABASE_URL is set but psycopg is not installed (pip install 'psycopg[binary]')"
        ) from exc
    return psycopg


@contextmanager
def connect(url: str) -> Iterator[Any]:
    """A connection to the database of ATLAS_DATABASE_URL (one transaction, committed when the block succeeds)."""
    psycopg = _psycopg()
    try:
        con = psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as exc:
        raise PublishError(f"ATLAS_DATABASE_URL ({redact(url)}): cannot connect: {error_detail(exc, 300)}") from exc
    try:
        with con:
            yield con
    finally:
        con.close()


def _sql() -> Any:
    from psycopg import sql

    return sql


def ensure_layout(con: Any, url: str) -> None:
    """Check PostGIS and the `atlas` catalog schema, creating them in an empty database."""
    sql = _sql()
    psycopg = _psycopg()
    row = con.execute("SELECT extversion FROM pg_extension WHERE extname = 'postgis'").fetchone()
    if row is None:
        try:
            with con.transaction():
                con.execute("CREATE EXTENSION postgis")
        except psycopg.Error as exc:
            raise PublishError(
                f"ATLAS_DATABASE_URL ({redact(url)}): the database has no PostGIS and it could not be added "
                f"({error_detail(exc)})"
            ) from exc
    exists = con.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (CATALOG_SCHEMA,)).fetchone()
    if exists is None:
        con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(CATALOG_SCHEMA)))
        con.execute("CREATE TABLE atlas.layout (version integer NOT NULL)")
        con.execute("INSERT INTO atlas.layout VALUES (%s)", (LAYOUT_VERSION,))
        con.execute(
            "CREATE TABLE atlas.publishes (number integer PRIMARY KEY, schema text NOT NULL, "
            "fingerprint text NOT NULL, built_at text NOT NULL, published_at timestamptz NOT NULL DEFAULT now(), "
            "rollback_of integer)"
        )
        con.execute(
            "CREATE TABLE atlas.current (only_one boolean PRIMARY KEY DEFAULT true CHECK (only_one), "
            "number integer NOT NULL REFERENCES atlas.publishes)"
        )
        return
    check_layout(con, url)


def check_layout(con: Any, url: str) -> None:
    """Refuse an `atlas` schema of another layout version (never altered in place)."""
    psycopg = _psycopg()
    try:
        with con.transaction():
            version = con.execute("SELECT version FROM atlas.layout").fetchone()
    except psycopg.Error:
        version = None
    if version is None or version[0] != LAYOUT_VERSION:
        found = "none" if version is None else version[0]
        raise PublishError(
            f"ATLAS_DATABASE_URL ({redact(url)}): schema 'atlas' is of another version (layout {found}, this "
            f"atlas uses {LAYOUT_VERSION}); publish to another database or remove that schema"
        )


def check_serving(url: str) -> Publish:
    """The publish a server would serve, checked without writing anything: one clear PublishError if none."""
    with connect(url) as con:
        if con.execute("SELECT 1 FROM pg_extension WHERE extname = 'postgis'").fetchone() is None:
            raise PublishError(
                f"ATLAS_DATABASE_URL ({redact(url)}): the database has no PostGIS, so nothing is published there: "
                "run `atlas build` or `atlas publish` with this setting first"
            )
        if con.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (CATALOG_SCHEMA,)).fetchone() is None:
            raise PublishError(
                f"ATLAS_DATABASE_URL ({redact(url)}): nothing is published there yet: "
                "run `atlas build` or `atlas publish` with this setting first"
            )
        check_layout(con, url)
    return current(url)


_PG_TYPES = {"integer": "bigint", "number": "double precision", "boolean": "boolean"}


def _cell(value: Any, kind: str) -> Any:
    """A cell as COPY takes it, of the column's declared type (integers read as floats where some are missing)."""
    value = json_value(value)
    if value is None:
        return None
    if kind == "integer":
        return int(value)
    if kind == "boolean":
        return bool(value)  # read as 0.0/1.0 where some are missing
    if kind == "string" and not isinstance(value, str):
        return value.isoformat() if isinstance(value, datetime | pd.Timestamp) else str(value)
    return value


def copy_layer(con: Any, schema: str, name: str, frame: pd.DataFrame, declared: dict[str, str]) -> int:
    """Create one table of the publish schema from a layer and copy its rows in; returns the row count.

    Columns take the types the GeoPackage declares (the same JSON types both stores serve); each row also gets
    its place in the layer (atlas_row) and its folded text (atlas_text), and the table a primary key on the
    catalog key, a GiST index on the geometry and a B-tree on the row number.
    """
    sql = _sql()
    geometry = frame.geometry.name if hasattr(frame, "geometry") and frame.geometry.name in frame else None
    columns = [str(c) for c in frame.columns if c != geometry]
    if clash := HIDDEN_COLUMNS.intersection(columns):
        raise PublishError(f"layer {name!r} has column(s) {', '.join(sorted(clash))}, reserved for the publish")
    types = field_types(columns, declared)
    definitions = [
        sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(_PG_TYPES.get(types[c], "text"))) for c in columns
    ]
    definitions += [sql.SQL("{} bigint NOT NULL").format(sql.Identifier(ROW_COLUMN))]
    definitions += [sql.SQL("{} text NOT NULL").format(sql.Identifier(TEXT_COLUMN))]
    if geometry is not None:
        definitions.append(sql.SQL("{} geometry(Geometry, 4326)").format(sql.Identifier(GEOMETRY_COLUMN)))
    table = sql.Identifier(schema, name)
    con.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(definitions)))
    extra = [ROW_COLUMN, TEXT_COLUMN] + ([GEOMETRY_COLUMN] if geometry is not None else [])
    names = [sql.Identifier(c) for c in columns + extra]
    attrs = frame[columns]
    records = attrs.astype(object).to_numpy()
    text = folded_text(attrs, types).tolist()
    wkb = None
    if geometry is not None:
        geoms = frame.geometry.to_crs(4326).values if frame.crs is not None else frame.geometry.values
        wkb = shapely.to_wkb(shapely.set_srid(np.asarray(geoms), 4326), hex=True, include_srid=True)
    kinds = [types[c] for c in columns]
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(table, sql.SQL(", ").join(names))
    with con.cursor() as cur, cur.copy(copy) as sink:
        for i, record in enumerate(records):
            row = [_cell(v, k) for v, k in zip(record, kinds, strict=True)] + [i + 1, text[i]]
            if wkb is not None:
                row.append(wkb[i])
            sink.write_row(row)
    key = KEYS.get(name)
    if key is not None and key in columns and frame[key].is_unique and frame[key].notna().all():
        con.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(table, sql.Identifier(key)))
    con.execute(sql.SQL("CREATE UNIQUE INDEX ON {} ({})").format(table, sql.Identifier(ROW_COLUMN)))
    if geometry is not None:
        con.execute(sql.SQL("CREATE INDEX ON {} USING gist ({})").format(table, sql.Identifier(GEOMETRY_COLUMN)))
    con.execute(sql.SQL("ANALYZE {}").format(table))
    return len(frame)


def copy_download(con: Any, schema: str, warehouse: Path) -> int:
    """Store the built GeoPackage in the publish schema, in parts, so any server can offer it; returns its size."""
    sql = _sql()
    table = sql.Identifier(schema, DOWNLOAD_TABLE)
    con.execute(sql.SQL("CREATE TABLE {} (part integer PRIMARY KEY, data bytea NOT NULL)").format(table))
    size = 0
    with open(warehouse, "rb") as source, con.cursor() as cur:
        for part in itertools.count():
            data = source.read(DOWNLOAD_PART)
            if not data:
                break
            cur.execute(sql.SQL("INSERT INTO {} (part, data) VALUES (%s, %s)").format(table), (part, data))
            size += len(data)
    return size


def publish(
    url: str, warehouse: Path, keep: int = 5, on_step: Callable[[str], None] = lambda _: None
) -> tuple[Publish, float]:
    """Publish every layer of a built GeoPackage as the database's current build; returns it and the seconds taken."""
    info = read_build_info(warehouse)
    if info is None:
        raise PublishError(f"{warehouse} is not a built warehouse: run `atlas build` first")
    started = time.perf_counter()
    sql = _sql()
    with connect(url) as con:
        ensure_layout(con, url)
        con.execute("SELECT pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))
        number = int(con.execute("SELECT coalesce(max(number), 0) + 1 FROM atlas.publishes").fetchone()[0])
        schema = f"{SCHEMA_PREFIX}{number}"
        con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        for name, _ in pyogrio.list_layers(warehouse):
            on_step(f"publishing {name}")
            info_ = pyogrio.read_info(warehouse, layer=str(name))
            frame = pyogrio.read_dataframe(warehouse, layer=str(name))
            copy_layer(con, schema, str(name), frame, dict(zip(info_["fields"], info_["dtypes"], strict=True)))
            checkpoint(f"publish-layer-{name}")
        on_step("storing the GeoPackage for download")
        copy_download(con, schema, warehouse)
        _record(con, number, schema, info, None)
        checkpoint("publish-before-commit")
        _prune(con, keep)
    return current(url), time.perf_counter() - started


def _record(con: Any, number: int, schema: str, info: dict[str, str], rollback_of: int | None) -> None:
    con.execute(
        "INSERT INTO atlas.publishes (number, schema, fingerprint, built_at, rollback_of) VALUES (%s, %s, %s, %s, %s)",
        (number, schema, info.get("fingerprint", ""), info.get("built_at", ""), rollback_of),
    )
    con.execute(
        "INSERT INTO atlas.current (only_one, number) VALUES (true, %s) "
        "ON CONFLICT (only_one) DO UPDATE SET number = excluded.number",
        (number,),
    )


def _prune(con: Any, keep: int) -> None:
    """Forget publishes beyond the last `keep` (never the current one), dropping schemas no kept publish uses."""
    sql = _sql()
    old = con.execute(
        "SELECT number FROM atlas.publishes WHERE number NOT IN (SELECT number FROM atlas.current) "
        "ORDER BY number DESC OFFSET %s",
        (max(keep - 1, 0),),
    ).fetchall()
    if not old:
        return
    con.execute("DELETE FROM atlas.publishes WHERE number = ANY(%s)", ([n for (n,) in old],))
    unused = con.execute(
        "SELECT nspname FROM pg_namespace WHERE nspname ~ %s AND nspname NOT IN (SELECT schema FROM atlas.publishes)",
        (f"^{SCHEMA_PREFIX}[0-9]+$",),
    ).fetchall()
    for (schema,) in unused:
        con.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def publishes(url: str) -> list[Publish]:
    """Every kept publish, newest first."""
    with connect(url) as con:
        ensure_layout(con, url)
        rows = con.execute(
            "SELECT p.number, p.schema, p.fingerprint, p.built_at, p.published_at, "
            "p.number = (SELECT number FROM atlas.current), p.rollback_of FROM atlas.publishes p ORDER BY number DESC"
        ).fetchall()
    return [Publish(*row) for row in rows]


def current(url: str) -> Publish:
    """The publish readers are served."""
    found = [p for p in publishes(url) if p.current]
    if not found:
        raise PublishError(f"ATLAS_DATABASE_URL ({redact(url)}): nothing is published yet: run `atlas build`")
    return found[0]


def rollback(url: str, to: int | None = None, keep: int = 5) -> Publish:
    """Publish an earlier build again under a new number: `to`, or the one before the current one."""
    with connect(url) as con:
        ensure_layout(con, url)
        con.execute("SELECT pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))
        now = con.execute("SELECT number FROM atlas.current").fetchone()
        if now is None:
            raise PublishError("nothing is published yet: there is nothing to roll back")
        kept = con.execute(
            "SELECT number, schema, fingerprint, built_at FROM atlas.publishes ORDER BY number DESC"
        ).fetchall()
        current_schema = next(s for n, s, _, _ in kept if n == now[0])
        if to is None:
            earlier = [row for row in kept if row[0] < now[0] and row[1] != current_schema]
            if not earlier:
                raise PublishError(f"publish {now[0]} is the oldest kept: there is no earlier build to roll back to")
            target = earlier[0]
        else:
            matches = [row for row in kept if row[0] == to]
            if not matches:
                numbers = ", ".join(str(row[0]) for row in kept)
                raise PublishError(f"no publish {to} is kept (kept: {numbers})")
            target = matches[0]
        number = int(kept[0][0]) + 1
        _record(con, number, target[1], {"fingerprint": target[2], "built_at": target[3]}, int(target[0]))
        _prune(con, keep)
    return current(url)


def download_schema(url: str, schema: str, folder: Path) -> Path:
    """The GeoPackage a kept publish stored (its schema's download table), copied once into folder."""
    sql = _sql()
    target = Path(folder) / f"{schema}.gpkg"
    if target.is_file():
        return target
    with connect(url) as con:
        table = sql.Identifier(schema, DOWNLOAD_TABLE)
        exists = con.execute("SELECT to_regclass(%s)", (f"{schema}.{DOWNLOAD_TABLE}",)).fetchone()
        if exists is None or exists[0] is None:
            raise PublishError(f"publish schema {schema} holds no GeoPackage to download")
        with atomic_write(target) as tmp, open(tmp, "wb") as sink:
            for (data,) in con.execute(sql.SQL("SELECT data FROM {} ORDER BY part").format(table)):
                sink.write(bytes(data))
    return target


def read_published(url: str, layer: str) -> pd.DataFrame:
    """One layer of the current publish as a (Geo)DataFrame (for checks and comparisons)."""
    import geopandas as gpd

    sql = _sql()
    with connect(url) as con:
        schema = current_schema(con)
        columns = con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position",
            (schema, layer),
        ).fetchall()
        if not columns:
            raise PublishError(f"layer {layer!r} is not in the current publish")
        names = [c for (c,) in columns if c == GEOMETRY_COLUMN or c not in HIDDEN_COLUMNS]
        selected = [
            sql.SQL("ST_AsBinary({0}) AS {0}").format(sql.Identifier(c)) if c == GEOMETRY_COLUMN else sql.Identifier(c)
            for c in names
        ]
        query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
            sql.SQL(", ").join(selected), sql.Identifier(schema, layer), sql.Identifier(ROW_COLUMN)
        )
        rows = con.execute(query).fetchall()
    frame = pd.DataFrame(rows, columns=names)
    if GEOMETRY_COLUMN in names:
        geoms = shapely.from_wkb([None if g is None else bytes(g) for g in frame.pop(GEOMETRY_COLUMN)])
        return gpd.GeoDataFrame(frame, geometry=geoms, crs=4326)
    return frame


def current_schema(con: Any) -> str:
    """The schema of the current publish, read on an open connection."""
    row = con.execute("SELECT p.schema FROM atlas.current c JOIN atlas.publishes p USING (number)").fetchone()
    if row is None:
        raise PublishError("nothing is published yet: run `atlas build` with ATLAS_DATABASE_URL set")
    return str(row[0])


class Publisher(ABC):
    """A store whose builds are numbered, kept and rolled back: the GeoPackage beside the warehouse, or PostGIS."""

    where: str  # for messages

    @abstractmethod
    def publish(self, warehouse: Path, on_step: Callable[[str], None] = lambda _: None) -> Publish:
        """Make the built warehouse the current publish."""

    @abstractmethod
    def publishes(self) -> list[Publish]:
        """Every kept publish, newest first."""

    @abstractmethod
    def rollback(self, to: int | None = None) -> Publish:
        """Serve an earlier publish again under a new number: `to`, or the one before the current build."""

    def current(self) -> Publish | None:
        """The publish being served, or None before the first."""
        return next((p for p in self.publishes() if p.current), None)


class PostgisPublisher(Publisher):
    """Publishes in a PostgreSQL + PostGIS database (ATLAS_DATABASE_URL)."""

    def __init__(self, url: str, keep: int = 5) -> None:
        self.url, self.keep, self.where = url, keep, redact(url)

    def publish(self, warehouse: Path, on_step: Callable[[str], None] = lambda _: None) -> Publish:
        """Copy every layer into a new schema and make it current, in one transaction."""
        return publish(self.url, warehouse, self.keep, on_step)[0]

    def publishes(self) -> list[Publish]:
        """Every kept publish, newest first."""
        return publishes(self.url)

    def rollback(self, to: int | None = None) -> Publish:
        """Point the current publish at an earlier schema under a new number."""
        return rollback(self.url, to, self.keep)


class GeoPackagePublisher(Publisher):
    """Numbered builds of the GeoPackage warehouse, kept as files in `publishes/` beside it."""

    def __init__(self, warehouse: Path, keep: int = 5, lock_timeout: float = 0.0) -> None:
        self.warehouse = Path(warehouse)
        self.folder = self.warehouse.parent / "publishes"
        self.index = self.folder / f"{self.warehouse.stem}.json"
        self.keep, self.lock_timeout, self.where = keep, lock_timeout, str(self.folder)

    def _read(self) -> list[dict[str, Any]]:
        if not self.index.is_file():
            return []
        entries: list[dict[str, Any]] = json.loads(self.index.read_text(encoding="utf-8"))
        return entries

    def _write(self, entries: list[dict[str, Any]]) -> None:
        with atomic_write(self.index, durable=True) as tmp:
            tmp.write_text(json.dumps(entries, indent=1, ensure_ascii=False), encoding="utf-8")

    def _file(self, number: int) -> Path:
        return self.folder / f"{self.warehouse.stem}.{number}.gpkg"

    def _keep(self, entries: list[dict[str, Any]], current: int) -> list[dict[str, Any]]:
        kept = [e for e in entries if e["number"] == current]
        kept += [e for e in sorted(entries, key=lambda e: -e["number"]) if e["number"] != current][: self.keep - 1]
        used = {e["file"] for e in kept}
        for entry in entries:
            if entry not in kept and entry["file"] not in used:
                (self.folder / entry["file"]).unlink(missing_ok=True)
        return sorted(kept, key=lambda e: -e["number"])

    def _record(self, entries: list[dict[str, Any]], entry: dict[str, Any]) -> Publish:
        for other in entries:
            other["current"] = False
        entries.append(entry)
        self._write(self._keep(entries, entry["number"]))
        found = self.current()
        assert found is not None
        return found

    def publish(self, warehouse: Path | None = None, on_step: Callable[[str], None] = lambda _: None) -> Publish:
        """Record the warehouse as it is now as a numbered build (under the warehouse lock)."""
        with warehouse_lock(self.warehouse, self.lock_timeout):
            return self._publish_locked()

    def _publish_locked(self) -> Publish:
        info = read_build_info(self.warehouse)
        if info is None:
            raise PublishError(f"{self.warehouse} is not a built warehouse: run `atlas build` first")
        self.folder.mkdir(parents=True, exist_ok=True)
        entries = self._read()
        latest = max((e for e in entries if e["current"]), key=lambda e: e["number"], default=None)
        if latest is not None and latest["fingerprint"] == info.get("fingerprint"):
            return self._publish(latest)
        number = max((e["number"] for e in entries), default=0) + 1
        target = self._file(number)
        with atomic_write(target) as tmp:
            _link_or_copy(self.warehouse, tmp)  # a build replaces the warehouse by a new file: the link keeps this one
        entry = {
            "number": number,
            "file": target.name,
            "fingerprint": info.get("fingerprint", ""),
            "built_at": info.get("built_at", ""),
            "published_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "current": True,
            "rollback_of": None,
        }
        return self._record(entries, entry)

    @staticmethod
    def _publish(entry: dict[str, Any]) -> Publish:
        return Publish(
            number=int(entry["number"]),
            schema=str(entry["file"]),
            fingerprint=str(entry["fingerprint"]),
            built_at=str(entry["built_at"]),
            published_at=datetime.fromisoformat(str(entry["published_at"])),
            current=bool(entry["current"]),
            rollback_of=entry.get("rollback_of"),
        )

    def publishes(self) -> list[Publish]:
        """Every kept build of the warehouse, newest first."""
        return [self._publish(e) for e in sorted(self._read(), key=lambda e: -e["number"])]

    def rollback(self, to: int | None = None) -> Publish:
        """Put an earlier build's file back in place of the warehouse (atomically, under its lock)."""
        with warehouse_lock(self.warehouse, self.lock_timeout):
            entries = self._read()
            now = next((e for e in entries if e["current"]), None)
            if now is None:
                raise PublishError(f"no build of {self.warehouse} is recorded yet: there is nothing to roll back")
            if to is None:
                earlier = [e for e in entries if e["number"] < now["number"] and e["file"] != now["file"]]
                if not earlier:
                    raise PublishError(f"build {now['number']} is the oldest kept: there is no earlier one")
                target = max(earlier, key=lambda e: e["number"])
            else:
                found: dict[str, Any] | None = next((e for e in entries if e["number"] == to), None)
                if found is None:
                    numbers = ", ".join(str(e["number"]) for e in sorted(entries, key=lambda e: -e["number"]))
                    raise PublishError(f"no build {to} is kept (kept: {numbers})")
                target = found
            source = self.folder / target["file"]
            with atomic_write(self.warehouse, "rollback") as tmp:
                _link_or_copy(source, tmp)
            number = max(e["number"] for e in entries) + 1
            entry = {**target, "number": number, "current": True, "rollback_of": target["number"]}
            entry["published_at"] = datetime.now(UTC).replace(microsecond=0).isoformat()
            return self._record(entries, entry)


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link of source at target, or a copy where links cannot be made (another file system)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
        fsync_path(target)


def publisher_for(warehouse: Path, settings: AtlasSettings | None = None, lock_timeout: float = 0.0) -> Publisher:
    """The database's publisher when ATLAS_DATABASE_URL is set, else the GeoPackage's."""
    settings = settings or AtlasSettings()
    if settings.database_url:
        return PostgisPublisher(settings.database_url, settings.keep_publishes)
    return GeoPackagePublisher(warehouse, settings.keep_publishes, lock_timeout)
