"""Crash safety: builds and imports killed (SIGKILL) at named stages, stale temporaries, concurrent runs.

The stages are reached through the ATLAS_TEST_KILL_AT hook (layers.warehouse.checkpoint). Small fixtures
where the stage allows it (the store, the GeoPackage writer, the lock); the real build for the rest.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from shapely.geometry import MultiLineString

from geo.settings import PROJECT_ROOT
from layers.imports import INDEX, JOURNAL, ImportStore
from layers.warehouse import KILL_AT_ENV, lock_path, warehouse_lock
from tests.conftest import Built

KILLED = -signal.SIGKILL


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(folder: Path) -> dict[str, str]:
    """sha256 of every file in a folder (none when it does not exist)."""
    return {p.name: _sha(p) for p in sorted(folder.glob("*")) if p.is_file()} if folder.is_dir() else {}


# -- the import store on its own -----------------------------------------------------------------------


def test_store_change_commits_only_with_the_warehouse_that_applies_it(tmp_path: Path) -> None:
    source = tmp_path / "rasoat.csv"
    source.write_text("unit_code,year,households\n03646,2024,1000\n", encoding="utf-8")
    frame = pd.read_csv(source, dtype={"unit_code": str})
    store = ImportStore(tmp_path / "imports")

    change = store.stage_add("commune_indicators", source, frame, {})
    change.prepare("fingerprint-of-the-rebuilt-warehouse")
    assert store.entries() == [] and store.pending() is not None  # nothing published before the commit point
    assert change.view().entries() == [change.entry] and change.view().indicator_imports()[0].table.equals(frame)
    assert store.recover("fingerprint-of-the-old-warehouse") is not None  # the rebuild never replaced it
    assert store.entries() == [] and _files(store.root) == {}

    change = store.stage_add("commune_indicators", source, frame, {})
    change.prepare("fingerprint-of-the-rebuilt-warehouse")
    assert store.recover("fingerprint-of-the-rebuilt-warehouse") is not None  # it did: roll forward
    assert store.entries() == [change.entry] and store.pending() is None
    assert sorted(_files(store.root)) == sorted([INDEX, change.entry.data])
    assert store.indicator_imports()[0].table.equals(frame)

    removal = store.stage_remove(change.entry.id)
    removal.prepare("fingerprint-without-it")
    assert store.recover(None) is not None and store.entries() == [change.entry]  # no warehouse: undo
    removal = store.stage_remove(change.entry.id)
    removal.commit()
    assert store.entries() == [] and sorted(_files(store.root)) == [INDEX]
    with pytest.raises(Exception, match="no stored import 'nope'"):
        store.stage_remove("nope")


# -- the GeoPackage writer, on a two-layer fixture -------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import geopandas as gpd
    from shapely.geometry import Point

    from geo.settings import PROJECT_ROOT
    from geo.sources import Manifest
    from layers.catalog import LayerSpec
    from layers.warehouse import remove_stale_temporaries, warehouse_lock, write_warehouse

    target, n = Path(sys.argv[1]), int(sys.argv[2])
    specs = tuple(
        LayerSpec(id=name, title_vi=name, title_en=name, description_vi=name, description_en=name,
                  geometry_type="Point", vintage="2025", sources=("units_2025",), expected_count=n)
        for name in ("schools", "markets")
    )
    points = gpd.GeoDataFrame({"n": range(n)}, geometry=[Point(104 + i / 100, 21) for i in range(n)], crs="EPSG:4326")
    with warehouse_lock(target):
        for path in remove_stale_temporaries(target):
            print("removed", path.name)
        write_warehouse(target, {"schools": points, "markets": points}, Manifest.load(PROJECT_ROOT / "data" /
                        "sources.toml"), "f" * 64, catalog=specs)
    """
)


def _write(target: Path, rows: int, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != KILL_AT_ENV}
    if kill_at:
        env[KILL_AT_ENV] = kill_at
    return subprocess.run(
        [sys.executable, "-c", WRITER, str(target), str(rows)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _temporaries(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.glob(f".{target.stem}.*.building.gpkg*"))


@pytest.mark.parametrize("stage", ["warehouse:writing", "warehouse:validated"])
def test_writer_killed_before_the_replace_keeps_the_old_file(tmp_path: Path, stage: str) -> None:
    target = tmp_path / "small.gpkg"
    assert _write(target, 3).returncode == 0
    before = _sha(target)
    run = _write(target, 5, kill_at=stage)
    assert run.returncode == KILLED, run.stderr
    assert _sha(target) == before and pyogrio.read_info(target, layer="schools")["features"] == 3
    left = _temporaries(target)
    assert len(left) == 1 and pyogrio.list_layers(tmp_path / left[0])[0][0] == "schools"  # a real partial file
    again = _write(target, 7)
    assert again.returncode == 0 and f"removed {left[0]}" in again.stdout
    assert _temporaries(target) == [] and pyogrio.read_info(target, layer="markets")["features"] == 7


def test_writer_killed_after_the_replace_leaves_the_new_file(tmp_path: Path) -> None:
    target = tmp_path / "small.gpkg"
    assert _write(target, 3).returncode == 0
    run = _write(target, 5, kill_at="warehouse:replaced")
    assert run.returncode == KILLED
    assert pyogrio.read_info(target, layer="markets")["features"] == 5 and _temporaries(target) == []


# -- the real command line -----------------------------------------------------------------------------


@dataclass
class Site:
    """A private warehouse (a copy of the session's build) and import store, driven by `atlas` subprocesses."""

    root: Path
    env: dict[str, str]

    @property
    def warehouse(self) -> Path:
        """The warehouse file."""
        return self.root / "warehouse.gpkg"

    @property
    def imports(self) -> Path:
        """The import store folder."""
        return self.root / "imports"

    def start(self, *args: str, kill_at: str | None = None, **env: str) -> subprocess.Popen[str]:
        """Start `atlas ARGS` with this site's settings."""
        full = {**self.env, **env}
        if kill_at:
            full[KILL_AT_ENV] = kill_at
        return subprocess.Popen(
            [sys.executable, "-m", "scripts.cli", *args],
            cwd=PROJECT_ROOT,
            env=full,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str, kill_at: str | None = None, **env: str) -> tuple[int, str, str]:
        """Run `atlas ARGS` to its end: (return code, stdout, stderr)."""
        proc = self.start(*args, kill_at=kill_at, **env)
        out, err = proc.communicate(timeout=600)
        return proc.returncode, out, err

    def state(self) -> dict[str, str]:
        """sha256 of the warehouse and of every visible file of the import store."""
        visible = {k: v for k, v in _files(self.imports).items() if not k.startswith(".")}
        return {"warehouse.gpkg": _sha(self.warehouse), **visible}

    def leftovers(self) -> list[str]:
        """Temporary files of builds and imports (the lock file is permanent and not one)."""
        hidden = [f"imports/{k}" for k in _files(self.imports) if k.startswith(".")]
        return sorted(_temporaries(self.warehouse) + hidden)


@pytest.fixture
def site(built: Built, tmp_path: Path) -> Iterator[Site]:
    """A copy of the built warehouse with an empty import store, sources from the session's cache."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "warehouse.gpkg").write_bytes(built.path.read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
    env.update(
        ATLAS_WAREHOUSE=str(root / "warehouse.gpkg"),
        ATLAS_IMPORTS_DIR=str(root / "imports"),
        ATLAS_CACHE_DIR=str(built.settings.cache_dir),
        ATLAS_MIRROR=str(built.settings.mirror),
        ATLAS_USE_SHARED_MIRROR="false",
        ATLAS_LOCK_TIMEOUT="0",
    )
    yield Site(root, env)


def _roads(tmp: Path) -> Path:
    path = tmp / "duong.geojson"
    parts = MultiLineString([[(103.90, 21.30), (103.95, 21.32)], [(104.00, 21.35), (104.05, 21.37)]])
    gpd.GeoDataFrame({"ten": ["QL6"], "mat_duong": ["nhựa"]}, geometry=[parts], crs="EPSG:4326").to_file(path)
    return path


def test_a_second_build_or_import_refuses_or_waits_for_the_lock(site: Site, tmp_path: Path) -> None:
    roads = _roads(tmp_path)
    with warehouse_lock(site.warehouse):
        for args in (("build",), ("import", "roads", str(roads)), ("imports", "--remove", "x")):
            code, _, err = site.run(*args)
            assert code == 1, err
            assert err.strip().splitlines()[-1].startswith(f"error: another build or import (pid {os.getpid()}")
            assert "holds the lock" in err
        waiting = site.start("imports", "--remove", "nope", ATLAS_LOCK_TIMEOUT="300")
        assert waiting.stderr is not None
        lines = iter(waiting.stderr.readline, "")
        assert any("waiting for another build or import" in line for line in lines)  # it blocks, not fails
    _, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 1 and "no stored import 'nope'" in err  # it went on once the lock was free
    assert site.leftovers() == [] and lock_path(site.warehouse).is_file()


def test_killed_imports_and_builds_leave_the_previous_state(site: Site, tmp_path: Path) -> None:
    roads = _roads(tmp_path)
    start = site.state()

    code, _, err = site.run("import", "roads", str(roads))
    assert code == 1 and "would remove most of the roads layer (roads: 2,394 rows (demo data) → 2 rows" in err
    assert site.state() == start and site.leftovers() == []

    # killed while storing (copy staged; journal written): nothing changes, the next run cleans up
    for stage in ("import:staged", "import:journal"):
        code, _, err = site.run("import", "roads", str(roads), "--allow-shrink", kill_at=stage)
        assert code == KILLED, err
        assert site.state() == start and site.leftovers()
        code, out, err = site.run("imports")
        assert code == 0 and ("in progress or was interrupted" in out) == (stage == "import:journal")
        assert site.state() == start  # listing settles nothing

    # killed after the rebuilt warehouse replaced the old one: the import is done; the next run publishes it
    code, _, err = site.run("import", "roads", str(roads), "--allow-shrink", kill_at="warehouse:replaced")
    assert code == KILLED, err
    assert site.state()["warehouse.gpkg"] != start["warehouse.gpkg"] and INDEX not in _files(site.imports)
    assert (site.imports / JOURNAL).is_file()
    code, out, err = site.run("build")
    assert code == 0, err
    assert "finished an interrupted import change" in out
    entries = ImportStore(site.imports).entries()
    assert [(e.kind, e.file, e.rows) for e in entries] == [("roads", "duong.geojson", 2)]
    stored = pyogrio.read_dataframe(site.warehouse, layer="roads")
    assert len(stored) == 2 and not stored["synthetic"].any() and site.leftovers() == []
    imported = site.state()

    # a forced build killed late (temporary written and validated), while another run is refused the lock
    killed = site.start("build", "--force", kill_at="warehouse:validated", ATLAS_LOCK_TIMEOUT="600")
    refused = False
    try:
        while killed.poll() is None and not refused:  # until the build holds the lock (the probe builds nothing)
            code, _, err = site.run("imports", "--remove", "nope")
            refused = "holds the lock" in err
            assert code == 1 and (not refused or f"pid {killed.pid}" in err), err
        _, err = killed.communicate(timeout=600)
    finally:
        if killed.poll() is None:
            killed.kill()
    assert refused, "the forced build ended before a second run could try"
    assert killed.returncode == KILLED, err
    left = f".warehouse.{killed.pid}.building.gpkg"
    assert site.state() == imported and left in _temporaries(site.warehouse)  # 25 MB left behind
    code, out, err = site.run("build")
    assert code == 0, err
    assert f"removed {left}, left by a build that died" in out and site.leftovers() == []
    assert ImportStore(site.imports).entries() == entries
    assert len(pyogrio.read_dataframe(site.warehouse, layer="roads")) == 2
