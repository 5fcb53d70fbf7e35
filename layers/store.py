"""The read side of the warehouse: one `Warehouse` per file, serving one build at a time.

Everything the server reads from the warehouse goes through here: the OGC features, the tiles, the maps,
the analysis of the processes and the landing page. A `Build` is one version of the file (told apart by
device, inode, modification time and size, and named by the fingerprint and time of its build): each layer
is read from it once, and whatever is computed from its layers (projected tile geometries, map data,
analysis inputs) is kept on it with `derived(key, factory)`. When the file is replaced by another build,
the next call sees it and starts a new `Build`; the old one, with everything derived from it, is dropped
as a whole, so no answer mixes two builds. A read that was under way while the file was replaced is
detected (the file is checked before and after each read, BuildReplaced): the Warehouse's own methods read
again from the new build; a reader that holds on to one Build (the tiler, for one tile) answers 503 once.

`Warehouse.open(path)` gives the one instance of a path in a process: the app holds it on `app.state`, and
the pygeoapi adapters (layers/provider.py, layers/processes.py), which pygeoapi instantiates itself, and
the spawned process workers find it there.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.names import fold_ascii
from layers.catalog import CATALOG
from layers.errors import BuildReplaced, LayerMissing, WarehouseMissing
from layers.warehouse import LAYERS_TABLE, read_build_info

T = TypeVar("T")
Identity = tuple[int, int, int, int]  # device, inode, modification time (ns), size of the file
ATTEMPTS = 3  # reads retried on a newer build when the file is replaced while they run
KEYS = {spec.id: spec.key for spec in CATALOG}  # feature ids of each layer; row numbers where there is no key

_TYPES = {
    "int64": "integer",
    "int32": "integer",
    "int16": "integer",
    "float64": "number",
    "float32": "number",
    "bool": "boolean",
}


@dataclass
class LoadedLayer:
    """A layer held in memory with JSON-ready rows (what the OGC features and the vector tiles are made of)."""

    frame: pd.DataFrame  # the layer as read, shared with every other reader of the build: never modify it
    ids: list[str]
    position: dict[str, int]
    properties: list[dict[str, Any]]
    geometries: list[dict[str, Any] | None]
    fields: dict[str, dict[str, str]]
    text: pd.Series  # folded text of the string columns, for q
    years: np.ndarray | None
    _geometry_json: list[str] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def geometry_json(self) -> list[str]:
        """Each geometry as GeoJSON text, serialised once (the first time it is asked for)."""
        if not self._geometry_json:
            with self._lock:
                if not self._geometry_json:
                    self._geometry_json = [json.dumps(g, separators=(",", ":")) for g in self.geometries]
        return self._geometry_json


def json_value(value: Any) -> Any:
    """A cell as a plain Python value: None for missing values (NaN, NA, NaT), numpy scalars unwrapped."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def field_types(columns: list[str], declared: dict[str, str]) -> dict[str, str]:
    """JSON type of each field ("integer", "number", "boolean", "string") from the types the file declares."""
    return {str(c): _TYPES.get(str(declared.get(c)), "string") for c in columns}


def folded_text(attrs: pd.DataFrame, types: dict[str, str]) -> pd.Series:
    """Each row's string fields joined and folded (no diacritics, casefolded): what `q` searches."""
    strings = [c for c in attrs.columns if types[str(c)] == "string"]
    if not strings:
        return pd.Series([""] * len(attrs))
    return attrs[strings].fillna("").astype(str).agg(" ".join, axis=1).map(fold_ascii).reset_index(drop=True)


def loaded_layer(frame: pd.DataFrame, declared: dict[str, str], id_field: str | None) -> LoadedLayer:
    """A layer's rows made JSON-ready once: ids, properties, GeoJSON geometries, field types, folded text, years.

    `declared` maps each field to the type the file declares (pyogrio's dtype names), which a column read
    with missing values no longer shows.
    """
    spatial = isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame
    attrs = frame.drop(columns=frame.geometry.name) if spatial else frame
    ids = [str(v) for v in (attrs[id_field] if id_field else range(1, len(attrs) + 1))]
    records = attrs.astype(object).where(attrs.notna(), None).to_dict("records")
    properties = [{str(k): json_value(v) for k, v in rec.items()} for rec in records]
    geometries: list[dict[str, Any] | None] = (
        [None if g is None else shapely.geometry.mapping(g) for g in frame.geometry] if spatial else [None] * len(attrs)
    )
    types = field_types(list(attrs.columns), declared)
    fields = {name: {"type": kind} for name, kind in types.items()}
    text = folded_text(attrs, types)
    years = attrs["year"].to_numpy(dtype="int64") if "year" in attrs else None
    position = {i: n for n, i in enumerate(ids)}
    return LoadedLayer(frame, ids, position, properties, geometries, fields, text, years)


def _identity(path: Path) -> Identity:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise WarehouseMissing(f"no warehouse at {path}: run `atlas build`") from None
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


class Build:
    """One build of a warehouse file: its layers read once, and the objects derived from them, kept together."""

    def __init__(self, path: Path, identity: Identity, info: dict[str, str]) -> None:
        self.path = path
        self.identity = identity
        self.info = info
        self._values: dict[Hashable, Any] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the build's inputs (from the build metadata)."""
        return self.info.get("fingerprint", "")

    @property
    def built_at(self) -> str:
        """When the build was written (ISO 8601, UTC)."""
        return self.info.get("built_at", "")

    @property
    def key(self) -> tuple[str, str]:
        """What tells builds apart: the fingerprint and the time of the build."""
        return self.fingerprint, self.built_at

    def _once(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value kept under key, made on first use (once: other threads asking meanwhile wait for it)."""
        if key in self._values:
            return cast(T, self._values[key])
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._values:
                self._values[key] = make()
            return cast(T, self._values[key])

    def _read(self, read: Callable[[], T]) -> T:
        """Read from the file, checking it is still this build before and after (BuildReplaced when not)."""
        self._check()
        value = read()
        self._check()
        return value

    def _check(self) -> None:
        if _identity(self.path) != self.identity:
            raise BuildReplaced(f"{self.path} was replaced by another build while it was being read; ask again")

    @property
    def names(self) -> frozenset[str]:
        """Names of the layers and tables in the build."""
        return self._once(
            ("names",), lambda: self._read(lambda: frozenset(n for n, _ in pyogrio.list_layers(self.path)))
        )

    def _need(self, name: str) -> None:
        if name not in self.names:
            raise LayerMissing(
                f"the warehouse has no layer {name!r}" + ("; rebuild it with `atlas build`" if name in KEYS else "")
            )

    def describe(self, name: str) -> dict[str, Any]:
        """pyogrio's description of a layer: fields and their types, feature count, bounds."""
        self._need(name)
        return self._once(
            ("describe", name), lambda: self._read(lambda: dict(pyogrio.read_info(self.path, layer=name)))
        )

    def frame(self, name: str) -> pd.DataFrame:
        """A layer as a (Geo)DataFrame, read once per build and shared by every reader: never modify it."""
        self._need(name)
        return self._once(("frame", name), lambda: self._read(lambda: pyogrio.read_dataframe(self.path, layer=name)))

    def layer(self, name: str) -> LoadedLayer:
        """A layer with JSON-ready rows, ids from the catalog's key of the layer (row numbers if it has none)."""

        def load() -> LoadedLayer:
            info = self.describe(name)
            declared = dict(zip(info["fields"], info["dtypes"], strict=True))
            return loaded_layer(self.frame(name), declared, KEYS.get(name))

        return self._once(("layer", name), load)

    @property
    def metadata(self) -> pd.DataFrame:
        """The layers table: one row per layer with titles, sources, licences, attribution, synthetic, rows."""
        return self.frame(LAYERS_TABLE)

    def derived(self, key: Hashable, factory: Callable[[Build], T]) -> T:
        """An object computed from this build (factory(build)) once, kept until the build is replaced."""
        return self._once(("derived", key), lambda: factory(self))


class Warehouse:
    """The read side of one warehouse file: the build it holds now, noticed anew when the file is replaced."""

    in_memory: ClassVar[bool] = True  # layers are held in memory and queried there (not in a database)
    provider: ClassVar[str] = "layers.provider.AtlasProvider"  # the pygeoapi feature provider of this store

    _open: ClassVar[dict[Path, Warehouse]] = {}
    _open_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._build: Build | None = None
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | str) -> Warehouse:
        """The one Warehouse of this path in this process (symbolic links are followed at each read, not here)."""
        key = Path(os.path.abspath(path))
        with cls._open_lock:
            found = cls._open.get(key)
            if found is None:
                found = cls._open[key] = cls(key)
            return found

    @property
    def address(self) -> str:
        """What `open_store` opens this store by: the file's path."""
        return str(self.path)

    def download(self) -> Path:
        """The GeoPackage of the current build, to hand to clients (the warehouse file itself)."""
        self.build()  # WarehouseMissing, like every other reader, when there is none
        return self.path

    def build(self) -> Build:
        """The build the file holds now; WarehouseMissing when there is no readable warehouse."""
        identity = _identity(self.path)
        current = self._build
        if current is not None and current.identity == identity:
            return current
        with self._lock:
            for _ in range(ATTEMPTS):
                identity = _identity(self.path)
                current = self._build
                if current is not None and current.identity == identity:
                    return current
                info = read_build_info(self.path)
                if _identity(self.path) != identity:
                    continue  # replaced while its metadata was read: look again
                if info is None:
                    raise WarehouseMissing(f"{self.path} is not a readable warehouse: run `atlas build`")
                if current is not None and (info.get("fingerprint", ""), info.get("built_at", "")) == current.key:
                    current.identity = identity  # the same build in another file (copied back, touched): keep it
                    return current
                self._build = Build(self.path, identity, info)
                return self._build
        raise BuildReplaced(f"{self.path} keeps being replaced; ask again")

    def _retry(self, read: Callable[[Build], T]) -> T:
        """read(current build), again on the newer build when the file was replaced during the read."""
        attempt = 1
        while True:
            build = self.build()
            try:
                return read(build)
            except BuildReplaced:
                if attempt >= ATTEMPTS:
                    raise
                attempt += 1

    def layer(self, name: str) -> LoadedLayer:
        """A layer of the current build with JSON-ready rows (LayerMissing if the build has none of that name)."""
        return self._retry(lambda build: build.layer(name))

    def frame(self, name: str) -> pd.DataFrame:
        """A layer of the current build as a (Geo)DataFrame, shared by every reader: never modify it."""
        return self._retry(lambda build: build.frame(name))

    def derived(self, key: Hashable, factory: Callable[[Build], T]) -> T:
        """An object computed from the current build once (factory(build)), dropped with the build."""
        return self._retry(lambda build: build.derived(key, factory))

    @property
    def metadata(self) -> pd.DataFrame:
        """The layers table of the current build."""
        return self._retry(lambda build: build.metadata)

    @property
    def build_info(self) -> dict[str, str]:
        """Key/value build metadata of the current build (built_at, fingerprint, notes, sources)."""
        return dict(self.build().info)

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the current build."""
        return self.build().fingerprint


def is_database(address: str | Path) -> bool:
    """Whether a store address is a PostgreSQL URL rather than a GeoPackage path."""
    return str(address).startswith(("postgresql://", "postgres://"))


def open_store(address: str | Path, **options: Any) -> Warehouse:
    """The one read-side store of an address in this process: a database URL or a GeoPackage path."""
    if is_database(address):
        from layers.postgis import PostgisWarehouse

        return PostgisWarehouse.open_url(str(address), **options)
    return Warehouse.open(address)
