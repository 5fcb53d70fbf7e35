"""`atlas backup` and `atlas restore`: the intake's shared store, the import store and the kept releases in one
ZIP file, and back.

A backup holds `tables.json` (every row of the shared store: accounts, assignments, tokens, submissions with
their files, releases, audit log), `imports/` (the stored imports every build applies, approved submissions
among them) and, for the GeoPackage store, `publishes/` (the kept releases and their index). A database store
keeps its releases in PostgreSQL: back those up with pg_dump. Restore replaces all of it under the warehouse
lock and puts the current release's GeoPackage back in place of the warehouse, each file atomically.
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geo.atomic import atomic_write, fsync_path
from geo.errors import InputDataError
from geo.settings import DataSettings
from layers.accounts import AccountStore
from layers.build import LockSettings
from layers.publish import GeoPackagePublisher, publisher_for
from layers.warehouse import warehouse_lock

FORMAT = 1


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"base64"}:
        return base64.b64decode(value["base64"])
    return value


def backup(settings: DataSettings, store: AccountStore, target: Path, on_step: Callable[[str], None] = print) -> Path:
    """Write the backup ZIP (atomically); returns its path."""
    tables = {name: [{k: _encode(v) for k, v in row.items()} for row in rows] for name, rows in store.dump().items()}
    publisher = publisher_for(settings.warehouse, settings)
    with atomic_write(Path(target), durable=True) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("format.json", json.dumps({"format": FORMAT, "warehouse": settings.warehouse.name}))
        zf.writestr("tables.json", json.dumps(tables, ensure_ascii=False))
        on_step(f"shared store: {sum(len(r) for r in tables.values())} row(s)")
        imports = Path(settings.imports_dir)
        if imports.is_dir():
            for path in sorted(imports.iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    zf.write(path, f"imports/{path.name}")
            on_step(f"imports: {imports}")
        if isinstance(publisher, GeoPackagePublisher) and publisher.folder.is_dir():
            files = [publisher.index] + [publisher.folder / p.schema for p in publisher.publishes()]
            for path in dict.fromkeys(files):
                if path.is_file():
                    zf.write(path, f"publishes/{path.name}", compress_type=zipfile.ZIP_STORED)
            on_step(f"releases: {len(publisher.publishes())} kept file(s) from {publisher.folder}")
    return Path(target)


def restore(settings: DataSettings, store: AccountStore, source: Path, on_step: Callable[[str], None] = print) -> None:
    """Replace the shared store, the imports and the kept releases by a backup's; serve its current release."""
    source = Path(source)
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputDataError(source, f"is not an atlas backup (ZIP): {exc}") from exc
    with zf, warehouse_lock(settings.warehouse, LockSettings().lock_timeout):
        names = set(zf.namelist())
        if "tables.json" not in names or "format.json" not in names:
            raise InputDataError(source, "is not an atlas backup: it has no tables.json and format.json")
        meta = json.loads(zf.read("format.json"))
        if meta.get("format") != FORMAT:
            raise InputDataError(source, f"is a backup of format {meta.get('format')}, this atlas reads {FORMAT}")
        tables = {
            name: [{k: _decode(v) for k, v in row.items()} for row in rows]
            for name, rows in json.loads(zf.read("tables.json")).items()
        }
        with tempfile.TemporaryDirectory(prefix=".restore-", dir=settings.warehouse.parent) as folder:
            staged = Path(folder)
            for name in names:
                parts = Path(name).parts
                if len(parts) == 2 and parts[0] in ("imports", "publishes") and not parts[1].startswith("."):
                    (staged / parts[0]).mkdir(exist_ok=True)
                    with zf.open(name) as src, open(staged / parts[0] / parts[1], "wb") as dst:
                        shutil.copyfileobj(src, dst)
            store.load(tables)
            on_step(f"shared store: {sum(len(r) for r in tables.values())} row(s) restored")
            _replace_folder(staged / "imports", Path(settings.imports_dir))
            on_step(f"imports restored in {settings.imports_dir}")
            publisher = publisher_for(settings.warehouse, settings)
            if isinstance(publisher, GeoPackagePublisher) and (staged / "publishes").is_dir():
                _replace_folder(staged / "publishes", publisher.folder)
                current = publisher.current()
                if current is not None:
                    with atomic_write(settings.warehouse, "restore") as tmp:
                        shutil.copyfile(publisher.folder / current.schema, tmp)
                        fsync_path(tmp)
                    on_step(f"release {current.number} is served again ({settings.warehouse})")


def _replace_folder(staged: Path, target: Path) -> None:
    """Put a staged folder's files in place of target's (each file atomically; files not in the backup go)."""
    target.mkdir(parents=True, exist_ok=True)
    incoming = {p.name for p in staged.iterdir()} if staged.is_dir() else set()
    for name in incoming:
        shutil.move(staged / name, target / name)
    for path in target.iterdir():
        if path.is_file() and path.name not in incoming:
            path.unlink()
