"""geo.atomic: a write replaces the target only when it succeeds, and writers never share a temporary."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from geo.atomic import atomic_write, stale_temporaries, temporary_path


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_a_successful_write_replaces_the_target(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "plan.csv"
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp.name == f".plan.{os.getpid()}.part.csv"
        assert not target.exists()  # nothing visible while the block runs
        tmp.write_text("a,b\n1,2\n", encoding="utf-8")
    assert target.read_text(encoding="utf-8") == "a,b\n1,2\n" and _hidden(target.parent) == []


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "warehouse.gpkg"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="validation"), atomic_write(target, "building") as tmp:
        tmp.write_bytes(b"half")
        tmp.with_name(tmp.name + "-journal").write_bytes(b"sqlite side file")
        raise RuntimeError("validation failed")
    assert target.read_bytes() == b"old" and _hidden(tmp_path) == []


def test_a_block_that_writes_nothing_is_an_error(tmp_path: Path) -> None:
    target = tmp_path / "index.json"
    target.write_text("[]", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="nothing was written"), atomic_write(target):
        pass
    assert target.read_text(encoding="utf-8") == "[]"


def test_a_durable_write_and_a_leftover_of_the_same_process_id(tmp_path: Path) -> None:
    target = tmp_path / "index.json"
    left = temporary_path(target)
    left.write_text("left by a dead process that had our id", encoding="utf-8")
    with atomic_write(target, durable=True) as tmp:
        assert not tmp.exists()  # started from a clean temporary
        tmp.write_text("[1]", encoding="utf-8")
    assert target.read_text(encoding="utf-8") == "[1]" and _hidden(tmp_path) == []


def _writer(target: str, barrier: Any, queue: Any) -> None:
    """Write our pid through atomic_write, waiting inside the block until the other writer is inside too."""
    with atomic_write(Path(target)) as tmp:
        tmp.write_text(str(os.getpid()), encoding="utf-8")
        barrier.wait(timeout=60)  # both temporaries exist now
        queue.put((tmp.name, tmp.read_text(encoding="utf-8") == str(os.getpid())))
        barrier.wait(timeout=60)


def test_two_processes_writing_one_target_never_share_a_temporary(tmp_path: Path) -> None:
    target = tmp_path / "district-125.html"
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(target), barrier, queue)) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0, 0]
    seen = [queue.get(timeout=5) for _ in procs]
    names = {name for name, _ in seen}
    assert len(names) == 2 and all(intact for _, intact in seen)  # each kept its own content to the end
    assert names == {f".district-125.{proc.pid}.part.html" for proc in procs}
    assert target.read_text(encoding="utf-8") in {str(proc.pid) for proc in procs} and _hidden(tmp_path) == []


def test_stale_temporaries_are_those_of_other_processes(tmp_path: Path) -> None:
    target = tmp_path / "warehouse.gpkg"
    dead = temporary_path(target, "building", pid=999_999_999)
    mine = temporary_path(target, "building")
    other_tag = temporary_path(target, "part", pid=999_999_999)
    unrelated = tmp_path / ".warehouse.lock"
    for path in (dead, dead.with_name(dead.name + "-wal"), mine, other_tag, unrelated):
        path.write_bytes(b"x")
    assert dead.name == ".warehouse.999999999.building.gpkg"
    assert stale_temporaries(target, "building") == [dead, dead.with_name(dead.name + "-wal")]
