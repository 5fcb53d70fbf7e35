"""The import store: normalised copies of imported files that every build applies over the demo data.

Changes are transactions whose commit point is the replacement of the warehouse. A change stages its
data file under a hidden name, writes a journal (the index to be, and the fingerprint of the warehouse
that applies it), rebuilds the warehouse, then publishes the file and the index and deletes the journal.
`recover` finishes or undoes a change interrupted at any moment: it rolls forward when the warehouse
carries the journal's fingerprint (the rebuild replaced it) and back otherwise. Call every writing
method with the warehouse lock held.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from geo.atomic import DEFAULT_TAG, atomic_write, fsync_path
from geo.dataset import IndicatorImport
from geo.errors import WarehouseError
from geo.official_lists import OfficialList
from geo.programme_import import NUMERIC_FIELDS, split_register
from geo.programme_layers import Register
from geo.sources import sha256_file
from geo.village_figures import VillageFigures
from layers.warehouse import checkpoint

INDEX = "index.json"
JOURNAL = ".transaction.json"
STAGED = ".staged-"
# the files the store writes: copies, staged copies and their SQLite side files, temporary JSON (geo.atomic)
STORE_FILE = re.compile(
    rf"^(\.staged-)?\d{{8}}T\d{{12}}-\w+\.(gpkg|csv)(-journal|-wal|-shm)?$|^\..+\.\d+\.{DEFAULT_TAG}\.json$"
)


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


def _write_json(path: Path, payload: object) -> None:
    """Write JSON to path atomically and durably (temporary file, fsync, rename, fsync of the folder)."""
    with atomic_write(path, durable=True) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, ensure_ascii=False, indent=1)


class ImportStore:
    """A folder of normalised imports with an index; or a view of it as a pending change would leave it."""

    def __init__(
        self, root: Path, entries: list[ImportEntry] | None = None, staged: Mapping[str, Path] | None = None
    ) -> None:
        self.root = Path(root)
        self._entries = entries
        self._staged = dict(staged or {})

    def entries(self) -> list[ImportEntry]:
        """Stored imports, oldest first."""
        if self._entries is not None:
            return list(self._entries)
        index = self.root / INDEX
        if not index.is_file():
            return []
        try:
            raw = json.loads(index.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise WarehouseError(f"import index {index} is not valid JSON: {exc}") from exc
        return [ImportEntry(**e) for e in raw]

    def path(self, entry: ImportEntry) -> Path:
        """Where the normalised copy of an entry is (its staged file while its change is pending)."""
        return self._staged.get(entry.data, self.root / entry.data)

    def digest(self) -> str:
        """sha256 of the index and stored files, for the build fingerprint."""
        h = hashlib.sha256()
        for entry in self.entries():
            h.update(json.dumps(asdict(entry), sort_keys=True).encode())
            path = self.path(entry)
            h.update(path.read_bytes() if path.is_file() else b"missing")
        return h.hexdigest()

    def stage_add(self, kind: str, source: Path, frame: pd.DataFrame, options: dict[str, str]) -> Change:
        """Stage a normalised import; a vector kind will replace the previous import of that kind."""
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        entry_id = f"{stamp}-{kind}"
        spatial = isinstance(frame, gpd.GeoDataFrame)
        data = f"{entry_id}.gpkg" if spatial else f"{entry_id}.csv"
        staged = self.root / f"{STAGED}{data}"
        if spatial:
            pyogrio.write_dataframe(frame, staged, layer=kind, driver="GPKG")
        else:
            frame.to_csv(staged, index=False, encoding="utf-8")
        fsync_path(staged)
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
        current = self.entries()
        # a whole layer replaces every earlier import of its kind; features of some units (options "units") add up
        replaced = [e for e in current if spatial and e.kind == kind and not options.get("units")]
        kept = [e for e in current if e not in replaced]
        return Change(self, [*kept, entry], {data: staged.name}, [e.data for e in replaced], entry, replaced)

    def stage_remove(self, entry_id: str) -> Change:
        """Stage forgetting a stored import (its copy is deleted when the change commits)."""
        current = self.entries()
        match = [e for e in current if e.id == entry_id]
        if not match:
            known = ", ".join(e.id for e in current) or "none"
            raise WarehouseError(f"no stored import {entry_id!r} (stored: {known})")
        return Change(self, [e for e in current if e.id != entry_id], {}, [match[0].data], match[0], match)

    def pending(self) -> dict[str, Any] | None:
        """The journal of a change that neither committed nor rolled back, if any."""
        journal = self.root / JOURNAL
        if not journal.is_file():
            return None
        try:
            payload = json.loads(journal.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None  # written atomically, so never half-written; treat a damaged one as absent
        return payload if isinstance(payload, dict) else None

    def recover(self, warehouse_fingerprint: str | None) -> str | None:
        """Finish or undo an interrupted change, then delete leftover temporaries; says what it did."""
        if not self.root.is_dir():
            return None
        done = None
        journal = self.pending()
        if journal is not None:
            if warehouse_fingerprint is not None and journal.get("fingerprint") == warehouse_fingerprint:
                self._publish(journal)
                done = "finished an interrupted import change (the warehouse already applied it)"
            else:
                done = "undid an interrupted import change (the warehouse never applied it)"
        (self.root / JOURNAL).unlink(missing_ok=True)
        self.prune()
        return done

    def prune(self) -> None:
        """Delete staged and temporary files and stored copies no entry refers to (not while a change is pending)."""
        if self.pending() is not None:
            return
        live = {e.data for e in self.entries()}
        for path in self.root.glob("*"):
            if STORE_FILE.match(path.name) and path.name not in live:
                path.unlink()

    def _publish(self, journal: Mapping[str, Any]) -> None:
        """Move staged files to their names, write the index, delete dropped copies (idempotent).

        The staged copies are renamed here rather than written with geo.atomic: they must outlive the
        process that staged them, until the journal says whether the rebuild applied them.
        """
        for final, staged in journal["staged"].items():
            if (self.root / staged).is_file():
                os.replace(self.root / staged, self.root / final)
        checkpoint("import:publishing")
        _write_json(self.root / INDEX, journal["entries"])
        live = {e["data"] for e in journal["entries"]}
        for name in journal["drop"]:
            if name not in live:
                (self.root / name).unlink(missing_ok=True)
        (self.root / JOURNAL).unlink(missing_ok=True)

    def indicator_imports(self) -> list[IndicatorImport]:
        """Stored commune tables, oldest first (later imports win where they overlap)."""
        out = []
        for entry in self.entries():
            if entry.kind == "commune_indicators":
                table = pd.read_csv(self.path(entry), dtype={"unit_code": str})
                out.append(IndicatorImport(f"import: {entry.file} ({entry.imported_at})", table))
        return out

    def official_lists(self) -> list[OfficialList]:
        """Stored official lists of classifications, oldest first (later lists win where they overlap)."""
        out = []
        for entry in self.entries():
            if entry.kind == "official_list":
                table = pd.read_csv(
                    self.path(entry), dtype={"unit_code": str, "village_id": str, "document": str, "date": str}
                )
                out.append(OfficialList.from_table(table, entry.file))
        return out

    def village_figures(self) -> list[VillageFigures]:
        """Stored village figures of the annual review (from approved submissions), oldest first."""
        out = []
        for entry in self.entries():
            if entry.kind == "village_figures":
                table = pd.read_csv(self.path(entry), dtype={"village_id": str, "unit_code": str})
                for column in table.columns:
                    if column not in ("village_id", "unit_code"):
                        table[column] = table[column].astype("Int64")
                source = f"import: {entry.file} ({entry.imported_at})"
                out.append(VillageFigures(source, int(entry.options["year"]), entry.options["standard"], table))
        return out

    def programme_register(self) -> Register | None:
        """The stored programme registers as one (a later import wins for a project id), or None."""
        frames = [
            pd.read_csv(self.path(e), dtype=str, keep_default_na=False).replace("", None).assign(imported=e.id)
            for e in self.entries()
            if e.kind == "programme_register"
        ]
        if not frames:
            return None
        wide = pd.concat(frames, ignore_index=True).drop_duplicates("project_id", keep="last")
        for column in wide.columns:
            if column in NUMERIC_FIELDS or column.startswith("disbursed_") or column == "source_row":
                wide[column] = pd.to_numeric(wide[column])
        register, disbursements = split_register(wide.drop(columns="imported"))
        files = ", ".join(sorted({e.file for e in self.entries() if e.kind == "programme_register"}))
        return Register(
            register.drop(columns="source_row"), disbursements.drop(columns="source_row"), f"import: {files}", False
        )

    def vector_imports(self) -> list[VectorImport]:
        """Stored infrastructure layers, oldest first: whole layers, or the features of some 2025 units."""
        out = []
        for entry in self.entries():
            if entry.data.endswith(".gpkg"):
                frame = pyogrio.read_dataframe(self.path(entry))
                assert isinstance(frame, gpd.GeoDataFrame)
                units = tuple(u for u in entry.options.get("units", "").split(",") if u)
                out.append(VectorImport(entry.kind, frame, units, f"{entry.file} ({entry.imported_at})"))
        return out


@dataclass(frozen=True)
class VectorImport:
    """An imported infrastructure layer: the whole layer, or (units) the features of those 2025 units only."""

    kind: str
    frame: gpd.GeoDataFrame
    units: tuple[str, ...]
    source: str

    def apply(self, layer: gpd.GeoDataFrame | None) -> tuple[gpd.GeoDataFrame, str]:
        """The layer with this import laid over it, and a note saying what changed."""
        if not self.units or layer is None:
            return self.frame, f"{self.kind}: imported layer ({len(self.frame)} features) replaces the demo data"
        inside = layer["unit_2025_code"].astype(str).isin(self.units)
        kept = layer[~inside]
        merged = pd.concat([kept, self.frame.to_crs(layer.crs) if layer.crs else self.frame], ignore_index=True)
        note = (
            f"{self.kind}: {len(self.frame)} feature(s) of unit(s) {', '.join(self.units)} from {self.source} replace "
            f"their {int(inside.sum())} earlier feature(s); other units unchanged"
        )
        return gpd.GeoDataFrame(merged, geometry=layer.geometry.name, crs=layer.crs), note


@dataclass
class Change:
    """A staged change of the store: the index it leads to, its staged files and the copies it drops."""

    store: ImportStore
    entries: list[ImportEntry]
    staged: dict[str, str]  # final file name -> staged file name, both in store.root
    drop: list[str]
    entry: ImportEntry  # the import added or removed
    replaced: list[ImportEntry] = field(default_factory=list)  # stored imports it removes

    def view(self) -> ImportStore:
        """The store as it will be once the change commits (what the rebuild reads)."""
        root = self.store.root
        return ImportStore(root, self.entries, {k: root / v for k, v in self.staged.items()})

    def prepare(self, fingerprint: str) -> None:
        """Write the journal: the change commits when a warehouse with this fingerprint replaces the old one."""
        _write_json(self.store.root / JOURNAL, self._journal(fingerprint))
        checkpoint("import:journal")

    def commit(self) -> None:
        """Publish the change once the rebuilt warehouse has replaced the old one."""
        self.store._publish(self._journal(""))
        self.store.prune()

    def _journal(self, fingerprint: str) -> dict[str, Any]:
        return {
            "fingerprint": fingerprint,
            "entries": [asdict(e) for e in self.entries],
            "staged": self.staged,
            "drop": self.drop,
        }
