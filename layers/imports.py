"""The import store: normalised copies of imported files that every build applies over the demo data."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from geo.dataset import IndicatorImport
from geo.errors import WarehouseError
from geo.sources import sha256_file

INDEX = "index.json"


@dataclass(frozen=True)
class ImportEntry:
    """One stored import."""

    id: str
    kind: str
    file: str
    sha256: str
    imported_at: str
    rows: int
    data: str  # file name of the normalised copy in the store
    options: dict[str, str]


class ImportStore:
    """A folder of normalised imports with an index; writes are atomic."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def entries(self) -> list[ImportEntry]:
        """Stored imports, oldest first."""
        index = self.root / INDEX
        if not index.is_file():
            return []
        try:
            raw = json.loads(index.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise WarehouseError(f"import index {index} is not valid JSON: {exc}") from exc
        return [ImportEntry(**e) for e in raw]

    def digest(self) -> str:
        """sha256 of the index and stored files, for the build fingerprint."""
        h = hashlib.sha256()
        for entry in self.entries():
            h.update(json.dumps(asdict(entry), sort_keys=True).encode())
            path = self.root / entry.data
            h.update(path.read_bytes() if path.is_file() else b"missing")
        return h.hexdigest()

    def add(self, kind: str, source: Path, frame: pd.DataFrame, options: dict[str, str]) -> ImportEntry:
        """Store a normalised import; a vector kind replaces the previous import of that kind."""
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        entry_id = f"{stamp}-{kind}"
        spatial = isinstance(frame, gpd.GeoDataFrame)
        data = f"{entry_id}.gpkg" if spatial else f"{entry_id}.csv"
        tmp = self.root / f".{data}.part"
        if spatial:
            pyogrio.write_dataframe(frame, tmp, layer=kind, driver="GPKG")
        else:
            frame.to_csv(tmp, index=False, encoding="utf-8")
        os.replace(tmp, self.root / data)
        entry = ImportEntry(
            entry_id,
            kind,
            Path(source).name,
            sha256_file(Path(source)),
            datetime.now(UTC).replace(microsecond=0).isoformat(),
            len(frame),
            data,
            options,
        )
        kept = [e for e in self.entries() if not (spatial and e.kind == kind)]
        self._write_index([*kept, entry])
        return entry

    def remove(self, entry_id: str) -> ImportEntry:
        """Forget a stored import and delete its copy."""
        entries = self.entries()
        match = [e for e in entries if e.id == entry_id]
        if not match:
            raise WarehouseError(f"no stored import {entry_id!r}")
        self._write_index([e for e in entries if e.id != entry_id])
        (self.root / match[0].data).unlink(missing_ok=True)
        return match[0]

    def restore(self, entries: list[ImportEntry]) -> None:
        """Put back an earlier index (the files of its entries must still exist)."""
        self._write_index(entries)

    def prune(self) -> None:
        """Delete stored copies no entry refers to any more."""
        live = {e.data for e in self.entries()}
        for path in self.root.glob("*"):
            if path.name != INDEX and not path.name.startswith(".") and path.name not in live:
                path.unlink()

    def indicator_imports(self) -> list[IndicatorImport]:
        """Stored commune tables, oldest first (later imports win where they overlap)."""
        out = []
        for entry in self.entries():
            if entry.kind == "commune_indicators":
                table = pd.read_csv(self.root / entry.data, dtype={"unit_code": str})
                out.append(IndicatorImport(f"import: {entry.file} ({entry.imported_at})", table))
        return out

    def vector_imports(self) -> dict[str, gpd.GeoDataFrame]:
        """Stored infrastructure layers by kind."""
        out = {}
        for entry in self.entries():
            if entry.data.endswith(".gpkg"):
                frame = pyogrio.read_dataframe(self.root / entry.data)
                assert isinstance(frame, gpd.GeoDataFrame)
                out[entry.kind] = frame
        return out

    def _write_index(self, entries: list[ImportEntry]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".index.", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump([asdict(e) for e in entries], fh, ensure_ascii=False, indent=1)
        os.replace(tmp, self.root / INDEX)
