"""The read side on PostgreSQL + PostGIS: the current publish of a database, asked with SQL, never loaded whole.

`PostgisWarehouse` is the `Warehouse` of a database that `atlas build` / `atlas publish` fill (layers.publish):
each build is one schema, `atlas.current` names the one being served. A server looks at `atlas.current` at
most every `poll_seconds` (when it is asked something), and on a new publish starts a new `PostgisBuild`;
whatever was derived from the previous one (tile caches, map data, analysis inputs) goes with it, so no
answer mixes two builds, and every server of the database switches within a few seconds, without a restart.
A build's schema never changes once published, so two statements of one answer (a count and a page) agree.

Feature queries (bbox, datetime, properties, q, CQL2, sortby, paging, one item) and vector tiles (ST_AsMVT)
are answered by the database from its indexes; whole layers are read only by what needs them whole (the web
maps, printed sheets and the analysis of the processes, all of one province). Every statement is composed
with psycopg.sql and every value from a request is a bound parameter. Connections come from a pool per
process (psycopg_pool).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import geopandas as gpd
import morecantile
import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from geo.atomic import atomic_write
from layers.catalog import LayerSpec
from layers.cql import where
from layers.errors import BuildReplaced, LayerMissing, WarehouseMissing
from layers.lru import LRU
from layers.palette import SCALES
from layers.publish import (
    DOWNLOAD_TABLE,
    GEOMETRY_COLUMN,
    HIDDEN_COLUMNS,
    ROW_COLUMN,
    TEXT_COLUMN,
    error_detail,
    redact,
)
from layers.store import KEYS, Build, Warehouse, field_types
from layers.tiles.grid import BUFFER, EXTENT, TMS
from layers.tiles.vector import tile_columns
from layers.warehouse import BUILD_TABLE

GEOJSON_DIGITS = 15  # ST_AsGeoJSON digits: the shortest text that reads back as the stored double, as Python writes
HALF_WORLD = 20037508.342789244  # metres from the centre of EPSG:3857 to its edge
SESSION_OPTIONS = "-c jit=off -c max_parallel_workers_per_gather=0"
EARTH_RADIUS = 6378137.0  # metres, of EPSG:3857's sphere
LOG = logging.getLogger("atlas")
_DTYPES = {"bigint": "int64", "double precision": "float64", "boolean": "bool"}  # as pyogrio names them


@dataclass(frozen=True)
class Row:
    """One feature as the database returns it: id, JSON-ready properties, GeoJSON text of the geometry."""

    id: str
    properties: dict[str, Any]
    geometry: str | None


@dataclass
class FeatureQuery:
    """What an OGC items request asks of one layer (values already checked and typed by the provider)."""

    offset: int = 0
    limit: int = 10
    hits_only: bool = False
    bbox: tuple[float, float, float, float] | None = None
    years: tuple[int, int] | None = None
    equal: tuple[tuple[str, Any], ...] = ()
    terms: tuple[str, ...] = ()
    filterq: Any = None
    sortby: tuple[tuple[str, bool], ...] = ()  # (field, ascending)
    select: tuple[str, ...] | None = None
    skip_geometry: bool = False


def _gone(exc: BaseException) -> bool:
    """Whether a database error says the build's schema has been dropped (pruned after newer publishes)."""
    return isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.InvalidSchemaName)


class PostgisBuild(Build):
    """One publish of the database: its schema, build metadata, layers' columns; queries run against it."""

    def __init__(self, store: PostgisWarehouse, number: int, schema: str, info: dict[str, str]) -> None:
        super().__init__(Path(schema), (number, 0, 0, 0), info)
        self.store = store
        self.number = number
        self.schema = schema
        # GeoJSON text of the geometries served lately, by (layer, row): pages of large polygons cost their
        # transfer from the database once, not on every request (bounded; dropped with the build)
        self.geometry_text: LRU[str] = LRU(store.geometry_bytes, len)

    def _check(self) -> None:
        """A published schema never changes: nothing to check."""

    @contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor of a pooled connection; a dropped schema is BuildReplaced (the store looks again)."""
        try:
            with self.store.connection() as con, con.cursor() as cur:
                yield cur
        except psycopg.Error as exc:
            if _gone(exc):
                self.store.forget(self)
                raise BuildReplaced(f"publish {self.number} was removed while it was being read; ask again") from exc
            raise

    def _columns(self) -> dict[str, list[tuple[str, str]]]:
        def read() -> dict[str, list[tuple[str, str]]]:
            with self._cursor() as cur:
                rows = cur.execute(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = %s ORDER BY table_name, ordinal_position",
                    (self.schema,),
                ).fetchall()
            tables: dict[str, list[tuple[str, str]]] = {}
            for table, column, kind in rows:
                tables.setdefault(str(table), []).append((str(column), str(kind)))
            return tables

        return self._once(("columns",), read)

    @property
    def names(self) -> frozenset[str]:
        """Names of the layers and tables in the publish (its stored GeoPackage left out)."""
        return frozenset(self._columns()) - {DOWNLOAD_TABLE}

    def fields(self, name: str) -> list[tuple[str, str]]:
        """The served fields of a layer and their database types (hidden columns left out)."""
        self._need(name)
        return [(c, k) for c, k in self._columns()[name] if c not in HIDDEN_COLUMNS]

    def types(self, name: str) -> dict[str, str]:
        """JSON type of each served field of a layer ("integer", "number", "boolean", "string")."""
        return self._once(("types", name), lambda: self._types(name))

    def _types(self, name: str) -> dict[str, str]:
        fields = self.fields(name)
        return field_types([c for c, _ in fields], {c: _DTYPES.get(k, "object") for c, k in fields})

    def spatial(self, name: str) -> bool:
        """Whether the layer has a geometry column."""
        self._need(name)
        return any(c == GEOMETRY_COLUMN for c, _ in self._columns()[name])

    def table(self, name: str) -> sql.Identifier:
        """The layer's table in this publish (LayerMissing when there is none)."""
        self._need(name)
        return sql.Identifier(self.schema, name)

    def describe(self, name: str) -> dict[str, Any]:
        """Fields with pyogrio's type names, feature count and bounds, as `Build.describe` gives for a file."""

        def read() -> dict[str, Any]:
            fields = self.fields(name)
            with self._cursor() as cur:
                if self.spatial(name):
                    query = sql.SQL(
                        "SELECT count(*), ST_XMin(ST_Extent({g})), ST_YMin(ST_Extent({g})), "
                        "ST_XMax(ST_Extent({g})), ST_YMax(ST_Extent({g})) FROM {t}"
                    ).format(g=sql.Identifier(GEOMETRY_COLUMN), t=self.table(name))
                    count, *bounds = cur.execute(query).fetchone() or (0, None, None, None, None)
                else:
                    count = (
                        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(self.table(name))).fetchone() or (0,)
                    )[0]
                    bounds = [None]
            return {
                "fields": np.array([c for c, _ in fields], dtype=object),
                "dtypes": np.array([_DTYPES.get(k, "object") for _, k in fields], dtype=object),
                "features": int(count),
                "total_bounds": None if bounds[0] is None else tuple(float(v or 0) for v in bounds),
            }

        self._need(name)
        return self._once(("describe", name), read)

    def frame(self, name: str) -> pd.DataFrame:
        """A whole layer as a (Geo)DataFrame, typed as pyogrio reads the GeoPackage (for maps and analysis)."""
        self._need(name)
        return self._once(("frame", name), lambda: self._frame(name))

    def _frame(self, name: str) -> pd.DataFrame:
        fields = self.fields(name)
        spatial = self.spatial(name)
        selected: list[sql.Composable] = [sql.Identifier(c) for c, _ in fields]
        if spatial:
            selected.append(sql.SQL("ST_AsBinary({})").format(sql.Identifier(GEOMETRY_COLUMN)))
        query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
            sql.SQL(", ").join(selected), self.table(name), sql.Identifier(ROW_COLUMN)
        )
        with self._cursor() as cur:
            rows = cur.execute(query).fetchall()
        names = [c for c, _ in fields]
        frame = pd.DataFrame.from_records(rows, columns=[*names, *(["geometry"] if spatial else [])])
        for column, kind in fields:
            values = frame[column]
            if kind == "bigint":
                frame[column] = values.astype("int64") if values.notna().all() else values.astype("float64")
            elif kind == "double precision":
                frame[column] = values.astype("float64")
            elif kind == "boolean" and values.notna().all():
                frame[column] = values.astype(bool)
        if not spatial:
            return frame
        geometry = shapely.from_wkb([None if g is None else bytes(g) for g in frame.pop("geometry")])
        return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")

    # --- feature queries -------------------------------------------------------------------------------------

    def _id(self, name: str) -> sql.Composable:
        key = KEYS.get(name)
        column = key if key and key in self.types(name) else ROW_COLUMN
        # named apart: an output column called atlas_row would be what ORDER BY atlas_row sorts (as text)
        return sql.SQL("{}::text AS atlas_id").format(sql.Identifier(column))

    def _conditions(self, name: str, query: FeatureQuery) -> tuple[sql.Composable, list[Any]]:
        """The WHERE clause of a query and its parameters."""
        types = self.types(name)
        parts: list[sql.Composable] = []
        params: list[Any] = []
        geometry = sql.Identifier(GEOMETRY_COLUMN)
        if query.bbox is not None:
            parts.append(sql.SQL("ST_Intersects({}, ST_MakeEnvelope(%s, %s, %s, %s, 4326))").format(geometry))
            params += list(query.bbox)
        if query.years is not None:
            parts.append(sql.SQL("{} BETWEEN %s AND %s").format(sql.Identifier("year")))
            params += list(query.years)
        for column, value in query.equal:
            kind = types[column]
            if kind in ("integer", "number"):
                parts.append(sql.SQL("{}::double precision = %s").format(sql.Identifier(column)))
            else:
                parts.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
            params.append(value)
        for term in query.terms:
            parts.append(sql.SQL("strpos({}, %s) > 0").format(sql.Identifier(TEXT_COLUMN)))
            params.append(term)
        if query.filterq is not None:
            condition, values = where(query.filterq, types, GEOMETRY_COLUMN if self.spatial(name) else None)
            parts.append(condition)
            params += values
        if not parts:
            return sql.SQL("true"), []
        return sql.SQL(" AND ").join(sql.SQL("({})").format(p) for p in parts), params

    def _order(self, name: str, sortby: tuple[tuple[str, bool], ...]) -> sql.Composable:
        types = self.types(name)
        keys: list[sql.Composable] = []
        for column, ascending in sortby:
            collate = sql.SQL(' COLLATE "C"') if types[column] == "string" else sql.SQL("")
            direction = sql.SQL(" ASC NULLS LAST" if ascending else " DESC NULLS LAST")
            keys.append(sql.Identifier(column) + collate + direction)
        keys.append(sql.Identifier(ROW_COLUMN))
        return sql.SQL(", ").join(keys)

    def _select(
        self, name: str, select: tuple[str, ...] | None, skip_geometry: bool
    ) -> tuple[list[str], sql.Composable]:
        columns = [c for c in self.types(name) if select is None or c in select]
        if select is not None:
            order = {c: n for n, c in enumerate(select)}
            columns.sort(key=lambda c: order[c])
        selected = [self._id(name), *(sql.Identifier(c) for c in columns)]
        if self.spatial(name) and not skip_geometry:
            selected.append(sql.Identifier(ROW_COLUMN))  # the geometry text comes from _geometries
        else:
            selected.append(sql.SQL("NULL"))
        return columns, sql.SQL(", ").join(selected)

    def _geometries(self, cur: psycopg.Cursor[Any], name: str, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Rows with their geometries' GeoJSON text: from the cache, the rest read in one statement."""
        wanted = [r[-1] for r in rows if r[-1] is not None]
        texts = {n: self.geometry_text.get((name, n)) for n in wanted}
        missing = [n for n, text in texts.items() if text is None]
        if missing:
            query = sql.SQL("SELECT {row}, ST_AsGeoJSON({g}, {digits}) FROM {t} WHERE {row} = ANY(%s)").format(
                row=sql.Identifier(ROW_COLUMN),
                g=sql.Identifier(GEOMETRY_COLUMN),
                digits=sql.Literal(GEOJSON_DIGITS),
                t=self.table(name),
            )
            for number, text in cur.execute(query, (missing,)):
                texts[number] = text
                if text is not None:
                    self.geometry_text.put((name, number), text)
        return [(*r[:-1], None if r[-1] is None else texts.get(r[-1])) for r in rows]

    def query(self, name: str, query: FeatureQuery) -> tuple[int, list[Row]]:
        """Features of a layer matching the query: the number matched and the page asked for."""
        condition, params = self._conditions(name, query)
        table = self.table(name)
        with self._cursor() as cur:
            count = cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(table, condition), params).fetchone()
            matched = int(count[0]) if count else 0
            if query.hits_only or query.limit <= 0 or query.offset >= matched:
                return matched, []
            columns, selected = self._select(name, query.select, query.skip_geometry)
            page = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT %s OFFSET %s").format(
                selected, table, condition, self._order(name, query.sortby)
            )
            rows = cur.execute(page, [*params, query.limit, query.offset]).fetchall()
            rows = self._geometries(cur, name, rows)
        return matched, [_row(columns, r) for r in rows]

    def get(self, name: str, identifier: str) -> Row | None:
        """One feature by id, or None."""
        key = KEYS.get(name)
        types = self.types(name)
        column = key if key and key in types else ROW_COLUMN
        value: Any = identifier
        if column == ROW_COLUMN or types.get(column) == "integer":
            try:
                value = int(identifier)
            except ValueError:
                return None
        columns, selected = self._select(name, None, False)
        query = sql.SQL("SELECT {} FROM {} WHERE {} = %s").format(selected, self.table(name), sql.Identifier(column))
        with self._cursor() as cur:
            found = cur.execute(query, (value,)).fetchone()
            if found is None:
                return None
            return _row(columns, self._geometries(cur, name, [found])[0])

    # --- vector tiles ------------------------------------------------------------------------------------------

    def vector_tile(self, spec: LayerSpec, z: int, x: int, y: int) -> bytes | None:
        """The Mapbox vector tile of a layer made by ST_AsMVT (None when no feature touches the tile)."""
        types = self.types(spec.id)
        columns = tile_columns(spec, types)
        selected: list[sql.Composable] = [sql.Identifier(c) for c in columns]
        params: list[Any] = []
        for scale in SCALES.values():  # the class index of each shared colour scale, as layers.tiles.vector gives
            if scale.field in columns:
                selected.append(
                    sql.SQL("(width_bucket({}::double precision, %s::double precision[]))::text AS {}").format(
                        sql.Identifier(scale.field), sql.Identifier(scale.class_field)
                    )
                )
                params.append(list(scale.breaks))
        geometry = sql.Identifier(GEOMETRY_COLUMN)
        projected = sql.SQL("ST_Transform({}, 3857)").format(geometry)
        simplify: list[Any] = []
        if spec.geometry_kind != "point":
            # lines and polygons simplified to about one tile unit, as in memory, before they are projected
            # (projecting every vertex first costs more than the rest): one unit in degrees, narrowed by the
            # cosine of the tile's latitude so that it is no more than a unit north-south either
            projected = sql.SQL("ST_Transform(ST_Simplify({}, %s, true), 3857)").format(geometry)
            unit = 2 * HALF_WORLD / (2**z) / EXTENT
            north, south = (TMS.bounds(morecantile.Tile(x, y, z))[i] for i in (3, 1))
            simplify = [math.degrees(unit / EARTH_RADIUS) * math.cos(math.radians(max(abs(north), abs(south))))]
        query = sql.SQL(
            "SELECT ST_AsMVT(t, %s, {extent}, 'mvt_geometry', 'mvt_id') FROM ("
            "SELECT ST_AsMVTGeom({projected}, ST_TileEnvelope(%s, %s, %s), {extent}, {buffer}, true) "
            "AS mvt_geometry, {row} AS mvt_id, {selected} FROM {table} "
            "WHERE {g} && ST_Transform(ST_TileEnvelope(%s, %s, %s, margin => %s), 4326) ORDER BY {row} "
            "OFFSET 0"  # a fence: the outer filter would otherwise make every row's tile geometry twice
            ") t WHERE t.mvt_geometry IS NOT NULL"
        ).format(
            extent=sql.Literal(EXTENT),
            buffer=sql.Literal(BUFFER),
            g=geometry,
            projected=projected,
            row=sql.Identifier(ROW_COLUMN),
            selected=sql.SQL(", ").join(selected) if selected else sql.SQL("NULL AS mvt_none"),
            table=self.table(spec.id),
        )
        values = [spec.id, *simplify, z, x, y, *params, z, x, y, BUFFER / EXTENT]
        with self._cursor() as cur:
            found = cur.execute(query, values).fetchone()
        tile = bytes(found[0]) if found and found[0] is not None else b""
        return tile or None

    # --- the GeoPackage of the build ------------------------------------------------------------------------------

    def download(self, folder: Path) -> Path:
        """The build's GeoPackage as a local file (copied from the database once per build and folder)."""

        def fetch() -> Path:
            target = folder / f"warehouse-{self.fingerprint[:16]}-{self.schema}.gpkg"
            if target.is_file():
                return target
            folder.mkdir(parents=True, exist_ok=True)
            table = sql.Identifier(self.schema, DOWNLOAD_TABLE)
            if DOWNLOAD_TABLE not in self._columns():
                raise LayerMissing(f"publish {self.number} holds no GeoPackage to download: publish it again")
            with atomic_write(target) as tmp, open(tmp, "wb") as sink, self._cursor() as cur:
                for (data,) in cur.execute(sql.SQL("SELECT data FROM {} ORDER BY part").format(table)):
                    sink.write(bytes(data))
            return target

        return self._once(("download", str(folder)), fetch)


def _row(columns: list[str], values: tuple[Any, ...]) -> Row:
    properties = {
        c: (None if isinstance(v, float) and v != v else v) for c, v in zip(columns, values[1:-1], strict=True)
    }
    return Row(str(values[0]), properties, values[-1])


class PostgisWarehouse(Warehouse):
    """The read side of a database's publishes: the current one, looked up again every poll_seconds."""

    in_memory = False
    provider = "layers.provider.PostgisProvider"
    _databases: ClassVar[dict[str, PostgisWarehouse]] = {}

    def __init__(
        self,
        url: str,
        poll_seconds: float = 2.0,
        pool_size: int = 8,
        download_dir: Path | None = None,
        geometry_bytes: int = 128 * 1024 * 1024,
    ) -> None:
        super().__init__(Path(redact(url)))
        self.url = url
        self.poll_seconds = poll_seconds
        self.pool_size = pool_size
        self.download_dir = download_dir
        self._pool: ConnectionPool | None = None
        self._pool_lock = threading.Lock()
        self._pg_build: PostgisBuild | None = None
        self._poller: threading.Thread | None = None
        self.geometry_bytes = geometry_bytes

    @classmethod
    def open_url(cls, url: str, **options: Any) -> PostgisWarehouse:
        """The one PostgisWarehouse of a database in this process (options apply when it is first opened)."""
        with cls._open_lock:
            found = cls._databases.get(url)
            if found is None:
                found = cls._databases[url] = cls(url, **options)
            return found

    @property
    def address(self) -> str:
        """The database URL (what the pygeoapi adapters and the process workers open the store by)."""
        return self.url

    def connection(self) -> Any:
        """A pooled connection (a context manager); WarehouseMissing when the database cannot be reached."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=self.pool_size,
                    # small indexed queries: JIT compilation and parallel workers cost more than they save
                    kwargs={"autocommit": True, "connect_timeout": 10, "options": SESSION_OPTIONS},
                    open=True,
                    name="atlas",
                )
        return _pooled(self._pool, self.url)

    def forget(self, build: PostgisBuild) -> None:
        """Drop a build whose schema is gone: the next call reads `atlas.current` again."""
        with self._lock:
            if self._pg_build is build:
                self._pg_build = None

    def build(self) -> Build:
        """The current publish (WarehouseMissing when the database cannot be read or nothing is published).

        The first call reads `atlas.current` itself; then a thread of this process reads it every poll_seconds,
        so requests never wait on the lookup (the app's revalidation asks for the build on the event loop).
        """
        current = self._pg_build
        if current is not None:
            return current
        with self._lock:
            current = self._pg_build
            if current is not None:
                return current
            current = self._look(None)
            self._start_polling()
            return current

    def _look(self, current: PostgisBuild | None) -> PostgisBuild:
        """Read `atlas.current`; a new PostgisBuild when it names another publish than `current`."""
        try:
            with self.connection() as con:
                row = con.execute(
                    "SELECT p.number, p.schema FROM atlas.current c JOIN atlas.publishes p USING (number)"
                ).fetchone()
                if row is None:
                    raise WarehouseMissing(f"{redact(self.url)}: nothing is published yet: run `atlas build`")
                number, schema = int(row[0]), str(row[1])
                if current is None or current.number != number:
                    info = con.execute(
                        sql.SQL("SELECT key, value FROM {}").format(sql.Identifier(schema, BUILD_TABLE))
                    ).fetchall()
                    current = PostgisBuild(self, number, schema, {str(k): str(v) for k, v in info})
        except psycopg.Error as exc:
            raise WarehouseMissing(
                f"ATLAS_DATABASE_URL ({redact(self.url)}): cannot read the current publish: {error_detail(exc)}"
            ) from exc
        self._pg_build = current
        return current

    def _start_polling(self) -> None:
        if self._poller is None or not self._poller.is_alive():
            self._poller = threading.Thread(target=self._poll, name="atlas-publish-poll", daemon=True)
            self._poller.start()

    def _poll(self) -> None:
        """Look for a new publish every poll_seconds, for as long as the process runs."""
        while True:
            time.sleep(self.poll_seconds)
            try:
                with self._lock:
                    self._look(self._pg_build)
            except Exception as exc:  # the database away for a while: requests say so themselves; look again later
                LOG.warning("looking for a new publish failed: %s", exc)

    def download(self) -> Path:
        """The current build's GeoPackage, copied from the database to the download folder once per build."""
        build = self.build()
        assert isinstance(build, PostgisBuild)
        folder = self.download_dir or Path("data/cache/downloads")
        return build.download(folder)

    def close(self) -> None:
        """Close the connection pool (the next use opens another)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


@contextmanager
def _pooled(pool: ConnectionPool, url: str) -> Iterator[psycopg.Connection[Any]]:
    try:
        with pool.connection(timeout=30) as con:
            yield con
    except PoolTimeout as exc:
        raise WarehouseMissing(f"ATLAS_DATABASE_URL ({redact(url)}): no database connection within 30 s") from exc
    except psycopg.OperationalError as exc:
        if isinstance(exc, psycopg.errors.QueryCanceled):
            raise
        raise WarehouseMissing(f"ATLAS_DATABASE_URL ({redact(url)}): {error_detail(exc)}") from exc
