"""The tile caches of one build: tiles in memory and in a bounded SQLite file, simplified geometries on disk.

Cache folders are named by the build fingerprint and CODE_VERSION, a hash of the tile code, so tiles of another
build or of an older renderer are never served.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from geo.digest import code_digest
from layers.lru import LRU

MB = 1024 * 1024
LAYERS = Path(__file__).parents[1]
# the tile code: this package, the palette tiles are coloured from and the styles served beside them
TILE_CODE = (
    *sorted(Path(__file__).parent.glob("*.py")),
    *(LAYERS / n for n in ("palette.py", "styles.py", "postgis.py")),
)


# short hash of the tile code: cached tiles of an older renderer are never served
CODE_VERSION = code_digest(*TILE_CODE)[:12]

TileKey = tuple[str, int, int, int]
WAL_PAGES = 256  # SQLite's write-ahead log of the tile store is checkpointed and cut back at 1 MB


def _connect(path: Path) -> sqlite3.Connection:
    """A connection to a cache file of the build, shared by worker processes (write-ahead log kept small)."""
    con = sqlite3.connect(path, timeout=30, isolation_level=None)
    con.execute("PRAGMA auto_vacuum = INCREMENTAL")  # before anything is written: evicted pages go back
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    con.execute(f"PRAGMA wal_autocheckpoint = {WAL_PAGES}")  # the write-ahead log stays small
    con.execute(f"PRAGMA journal_size_limit = {WAL_PAGES * 4096}")
    return con


class _SharedFile:
    """A cache file of the build: one connection per thread (_connect), its folder made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)

    def _con(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = _connect(self.path)
            self._local.con = con
        return con


class GeometryStore(_SharedFile):
    """Simplified geometry sets of one build on disk, shared by worker processes and later starts.

    A few per layer and zoom, fixed by the data and not by use (about 30 MB for Sơn La's layers): never evicted.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._con().execute("CREATE TABLE IF NOT EXISTS geometries (key TEXT PRIMARY KEY, data BLOB NOT NULL)")

    def get(self, key: str) -> bytes | None:
        """A stored geometry set, or None."""
        row = self._con().execute("SELECT data FROM geometries WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, key: str, data: bytes) -> None:
        """Store a geometry set."""
        self._con().execute("INSERT OR REPLACE INTO geometries VALUES (?, ?)", (key, data))

    def stored_bytes(self) -> int:
        """Bytes of the stored sets."""
        return int(self._con().execute("SELECT total(length(data)) FROM geometries").fetchone()[0])


class DiskTiles(_SharedFile):
    """Non-empty tiles of one build in one SQLite file, bounded in bytes, least recently used evicted first.

    Shared by every worker process (SQLite locks it); empty tiles are never written, they cost nothing to make.
    """

    def __init__(self, path: Path, max_bytes: int) -> None:
        super().__init__(path)
        self.max_bytes = max_bytes
        self._written = 0
        self._lock = threading.Lock()
        con = self._con()
        con.execute(
            "CREATE TABLE IF NOT EXISTS tiles (layer TEXT, z INTEGER, x INTEGER, y INTEGER, data BLOB NOT NULL, "
            "size INTEGER NOT NULL, used INTEGER NOT NULL, PRIMARY KEY (layer, z, x, y))"
        )
        con.execute("CREATE INDEX IF NOT EXISTS tiles_used ON tiles (used)")
        self.evict()

    def get(self, key: TileKey) -> bytes | None:
        """The stored tile, or None."""
        row = (
            self._con()
            .execute("SELECT data, used FROM tiles WHERE layer = ? AND z = ? AND x = ? AND y = ?", key)
            .fetchone()
        )
        if row is None:
            return None
        now = int(time.time())
        if now - row[1] > 60:  # recency to the minute: a read costs a write at most once a minute
            self._con().execute("UPDATE tiles SET used = ? WHERE layer = ? AND z = ? AND x = ? AND y = ?", (now, *key))
        return bytes(row[0])

    def put(self, key: TileKey, data: bytes) -> None:
        """Store a non-empty tile; past the bound, the least recently used tiles go."""
        if not data or len(data) > self.max_bytes:
            return
        self._con().execute(
            "INSERT OR REPLACE INTO tiles VALUES (?, ?, ?, ?, ?, ?, ?)", (*key, data, len(data), int(time.time()))
        )
        with self._lock:
            self._written += len(data)
            check = self._written > self.max_bytes // 20
            if check:
                self._written = 0
        if check:
            self.evict()

    def stored_bytes(self) -> int:
        """Bytes of the stored tiles."""
        return int(self._con().execute("SELECT total(size) FROM tiles").fetchone()[0])

    def evict(self) -> None:
        """Remove the least recently used tiles until the store is under 90% of its bound."""
        con = self._con()
        total = self.stored_bytes()
        target = int(self.max_bytes * 0.9)
        while total > target:
            rows = con.execute("SELECT layer, z, x, y, size FROM tiles ORDER BY used LIMIT 256").fetchall()
            if not rows:
                break
            con.executemany("DELETE FROM tiles WHERE layer = ? AND z = ? AND x = ? AND y = ?", [r[:4] for r in rows])
            total -= sum(r[4] for r in rows)
        con.execute("PRAGMA incremental_vacuum")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def stats(self) -> dict[str, int]:
        """Stored tiles, their bytes, the file's bytes and the bound."""
        count = int(self._con().execute("SELECT count(*) FROM tiles").fetchone()[0])
        files = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return {"entries": count, "bytes": self.stored_bytes(), "file_bytes": files, "max_bytes": self.max_bytes}


class TileCache:
    """Tiles of one warehouse build: a bounded LRU in memory (empty tiles counted) in front of a bounded disk store."""

    def __init__(self, folder: Path | None, memory_bytes: int = 64 * MB, disk_bytes: int = 512 * MB) -> None:
        self.folder = folder
        self.memory: LRU[bytes] = LRU(memory_bytes, len)
        self.disk = DiskTiles(folder / "tiles.sqlite", disk_bytes) if folder is not None else None

    def get(self, key: TileKey, make: Callable[[], bytes | None]) -> bytes:
        """The cached tile (b"" for an empty tile), computing and storing it on a miss."""
        hit = self.memory.get(key)
        if hit is not None:
            return hit
        data = self.disk.get(key) if self.disk is not None else None
        if data is None:
            data = make() or b""
            if self.disk is not None:
                self.disk.put(key, data)
        self.memory.put(key, data)
        return data

    def stats(self) -> dict[str, object]:
        """Memory and disk use against their bounds."""
        memory = self.memory.stats()
        memory["empty_entries"] = self.memory.count(lambda v: not v)
        return {"memory": memory, "disk": self.disk.stats() if self.disk is not None else None}
