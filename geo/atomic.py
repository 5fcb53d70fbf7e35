"""Atomic file writes: write beside the target under a per-process temporary name, then os.replace.

Every file the atlas writes for others to read (the warehouse, fetched sources, the import index, maps,
MBTiles, analysis outputs) goes through `atomic_write`, so a reader sees the old file or the new one,
never a half-written one, and nothing already stored is lost when a write fails. Temporary names are
`.<stem>.<pid>.<tag><suffix>` (`.warehouse.4242.building.gpkg`): hidden, in the target's folder (so the
rename stays on one file system), with the target's suffix (drivers that look at it still work), and
with the process id, so two processes writing the same target never share one. Threads of one process
writing the same target at the same time must take turns (nothing in the atlas does that).
A process killed mid-write (SIGKILL) leaves its temporary behind: `stale_temporaries` finds those of
dead writers, and the warehouse build removes them under its lock.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_TAG = "part"
SIDE_FILES = ("-journal", "-wal", "-shm")  # SQLite (GeoPackage, MBTiles) files beside a database being written


def temporary_path(target: Path, tag: str = DEFAULT_TAG, pid: int | None = None) -> Path:
    """The temporary file of target for a process (this one by default): `.<stem>.<pid>.<tag><suffix>`."""
    target = Path(target)
    return target.with_name(f".{target.stem}.{os.getpid() if pid is None else pid}.{tag}{target.suffix}")


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    for side in SIDE_FILES:
        path.with_name(path.name + side).unlink(missing_ok=True)


def fsync_path(path: Path) -> None:
    """Flush a file's (or a folder's) data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_write(target: Path, tag: str = DEFAULT_TAG, *, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside target; when the block succeeds it replaces target, otherwise it is removed.

    The folder is created if needed; a temporary left by an earlier process with the same id is removed
    first. durable: fsync the file before the replace and the folder after it (survives a power cut).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(target, tag)
    _remove(tmp)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp} (meant to replace {target})")
        if durable:
            fsync_path(tmp)
        os.replace(tmp, target)
    finally:
        _remove(tmp)
    if durable:
        fsync_path(target.parent)


def stale_temporaries(target: Path, tag: str = DEFAULT_TAG) -> list[Path]:
    """Temporaries of target (and their SQLite side files) written by other processes than this one.

    Call it only while holding a lock that every writer of target holds: then no other writer is alive.
    """
    target = Path(target)
    pattern = re.compile(
        rf"^\.{re.escape(target.stem)}\.(\d+)\.{re.escape(tag)}{re.escape(target.suffix)}"
        rf"({'|'.join(re.escape(s) for s in SIDE_FILES)})?$"
    )
    found = []
    for path in sorted(target.parent.glob(f".{target.stem}.*.{tag}{target.suffix}*")):
        match = pattern.match(path.name)
        if match and int(match.group(1)) != os.getpid():
            found.append(path)
    return found
