"""Publishing builds: to PostgreSQL + PostGIS (whole layers, numbered, kept, atomic, rolled back, bad URLs),
and the GeoPackage's own numbered builds.

Needs a PostgreSQL server with PostGIS (tests/conftest.py: ATLAS_TEST_DATABASE_URL); each test makes its own
database and drops it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
import shapely

from layers.publish import (
    GeoPackagePublisher,
    PublishError,
    current,
    publish,
    publishes,
    read_published,
    rollback,
)
from layers.warehouse import read_build_info
from tests.conftest import Built, admin, database_url, needs_database


@needs_database
def test_a_publish_holds_every_layer_of_the_build(built: Built, database: str) -> None:
    done, _ = publish(database, built.path)
    assert done.number == 1 and done.current and done.schema == "atlas_build_1"
    for name, _ in pyogrio.list_layers(built.path):
        published = read_published(database, str(name))
        assert len(published) == int(pyogrio.read_info(built.path, layer=str(name))["features"]), name
    units = pyogrio.read_dataframe(built.path, layer="units_2025").set_index("code")
    ours = read_published(database, "units_2025").set_index("code").loc[units.index]
    assert (ours["name"] == units["name"]).all() and (ours["unit_type"] == units["unit_type"]).all()
    assert (ours["n_communes_2024"] == units["n_communes_2024"]).all() and ours["n_communes_2024"].sum() == 200
    assert all(shapely.equals_exact(a, b, tolerance=0) for a, b in zip(ours.geometry, units.geometry, strict=True))
    rates = read_published(database, "indicators_units_2025")
    source = pyogrio.read_dataframe(built.path, layer="indicators_units_2025")
    assert rates["poor_rate"].isna().sum() == source["poor_rate"].isna().sum()  # missing stays missing, not 0
    crosswalk = read_published(database, "crosswalk_2025")
    assert isinstance(crosswalk, pd.DataFrame) and len(crosswalk) > 0 and "geometry" not in crosswalk


@needs_database
def test_publishes_are_numbered_kept_and_rolled_back(built: Built, database: str) -> None:
    for _ in range(4):
        publish(database, built.path, keep=3)
    kept = publishes(database)
    assert [p.number for p in kept] == [4, 3, 2] and kept[0].current
    back = rollback(database, keep=3)
    assert back.number == 5 and back.rollback_of == 3 and back.schema == "atlas_build_3" and back.current
    assert [p.number for p in publishes(database)] == [5, 4, 3]
    again = rollback(database, to=4, keep=3)
    assert again.number == 6 and again.schema == "atlas_build_4"
    with pytest.raises(PublishError, match="no publish 1 is kept"):
        rollback(database, to=1)
    assert current(database).number == 6
    assert len(read_published(database, "units_2025")) == 75


@needs_database
def test_a_killed_publish_leaves_the_previous_build_serving(built: Built, database: str) -> None:
    first, _ = publish(database, built.path)
    env = {**os.environ, "ATLAS_DATABASE_URL": database, "ATLAS_TEST_KILL_AT": "publish-layer-units_2025"}
    killed = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "publish", "--force", "--warehouse", str(built.path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    serving = current(database)
    assert serving.number == first.number and [p.number for p in publishes(database)] == [1]
    assert len(read_published(database, "units_2025")) == 75 and len(read_published(database, "villages")) > 0
    import psycopg

    with psycopg.connect(database) as con:
        schemas = {r[0] for r in con.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'atlas_build%'")}
    assert schemas == {"atlas_build_1"}  # the killed publish's schema went with its transaction
    from layers.postgis import PostgisWarehouse

    reader = PostgisWarehouse(database, poll_seconds=0.01)  # what a server reads: the previous build, complete
    try:
        assert reader.build().fingerprint == first.fingerprint
        assert len(reader.frame("units_2025")) == 75 and len(reader.frame("villages")) == len(
            read_published(database, "villages")
        )
    finally:
        reader.close()
    done = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "publish", "--force", "--warehouse", str(built.path)],
        env={**env, "ATLAS_TEST_KILL_AT": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "Published build as number 2" in done.stdout, done.stderr[-2000:]


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.cli", *args], env={**os.environ, **env}, capture_output=True, text=True
    )


@needs_database
def test_bad_database_urls_get_one_line_naming_the_setting(built: Built, database: str) -> None:
    unreachable = _cli(
        ["publish", "--warehouse", str(built.path)],
        {"ATLAS_DATABASE_URL": "postgresql://atlas:secret@127.0.0.1:1/none"},
    )
    assert unreachable.returncode == 1 and "Traceback" not in unreachable.stderr
    line = " ".join(unreachable.stderr.split())
    assert "ATLAS_DATABASE_URL" in line and "cannot connect" in line and "secret" not in line
    # a role that may not add PostGIS, on a database without it
    plain = f"atlas_plain_{uuid.uuid4().hex[:8]}"
    admin(f"CREATE ROLE {plain} LOGIN")
    name = f"atlas_nopostgis_{uuid.uuid4().hex[:8]}"
    admin(f"CREATE DATABASE {name} OWNER {plain}")
    try:
        refused = _cli(["publish", "--warehouse", str(built.path)], {"ATLAS_DATABASE_URL": database_url(name, plain)})
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        assert "has no PostGIS" in " ".join(refused.stderr.split())
    finally:
        admin(f"DROP DATABASE {name} WITH (FORCE)")
        admin(f"DROP ROLE {plain}")
    # a schema `atlas` of another layout version: refused, nothing published
    publish(database, built.path)
    import psycopg

    with psycopg.connect(database, autocommit=True) as con:
        con.execute("UPDATE atlas.layout SET version = 99")
    other = _cli(["publish", "--warehouse", str(built.path)], {"ATLAS_DATABASE_URL": database})
    assert other.returncode == 1 and "another version (layout 99" in " ".join(other.stderr.split())
    with psycopg.connect(database) as con:
        assert con.execute("SELECT count(*) FROM atlas.publishes").fetchone() == (1,)


@needs_database
def test_build_publishes_when_configured_and_not_twice(built: Built, database: str, warehouse_copy: Path) -> None:
    listed = _cli(["publish", "--list"], {"ATLAS_DATABASE_URL": database})
    assert listed.returncode == 0 and "Publishes in" in listed.stdout
    env = {
        "ATLAS_DATABASE_URL": database,
        "ATLAS_WAREHOUSE": str(warehouse_copy),  # the same inputs: the build is up to date, and then published
        "ATLAS_CACHE_DIR": str(built.settings.cache_dir),
        "ATLAS_IMPORTS_DIR": str(built.settings.imports_dir),
        "ATLAS_MIRROR": str(built.settings.mirror),
        "ATLAS_USE_SHARED_MIRROR": "false",
    }
    first = _cli(["build"], env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Published build as number 1" in first.stdout
    second = _cli(["build"], env)
    assert second.returncode == 0 and "Build 1 (" in second.stdout and "is this build" in second.stdout


def _rebuild(warehouse: Path, fingerprint: str) -> None:
    """Replace the warehouse by a new file of another build, as `atlas build` does (new file, then os.replace)."""
    new = warehouse.with_name(".next.gpkg")
    shutil.copyfile(warehouse, new)
    with sqlite3.connect(new) as con:
        con.execute("UPDATE atlas_build SET value = ? WHERE key = 'fingerprint'", (fingerprint,))
    os.replace(new, warehouse)


def test_geopackage_builds_are_numbered_kept_and_rolled_back(warehouse_copy: Path) -> None:
    publisher = GeoPackagePublisher(warehouse_copy, keep=2)
    assert publisher.current() is None
    first = publisher.publish(warehouse_copy)
    assert first.number == 1 and publisher.publish(warehouse_copy).number == 1  # the same build: no new number
    for n in (2, 3):
        _rebuild(warehouse_copy, f"build-{n}")
        assert publisher.publish(warehouse_copy).number == n
    kept = publisher.publishes()
    assert [p.number for p in kept] == [3, 2] and kept[0].current
    files = sorted(p.name for p in (warehouse_copy.parent / "publishes").glob("*.gpkg"))
    assert files == ["warehouse.2.gpkg", "warehouse.3.gpkg"]  # build 1 forgotten with its file
    back = publisher.rollback()
    assert back.number == 4 and back.rollback_of == 2 and back.current
    assert (read_build_info(warehouse_copy) or {})["fingerprint"] == "build-2"
    assert warehouse_copy.read_bytes() == (warehouse_copy.parent / "publishes" / "warehouse.2.gpkg").read_bytes()
    with pytest.raises(PublishError, match=r"no build 1 is kept \(kept: 4, 3\)"):
        publisher.rollback(to=1)
    forward = publisher.rollback(to=3)
    assert forward.number == 5 and (read_build_info(warehouse_copy) or {})["fingerprint"] == "build-3"
    listed = _cli(["publish", "--list", "--warehouse", str(warehouse_copy)], {"ATLAS_DATABASE_URL": ""})
    assert listed.returncode == 0 and "rollback to 3" in listed.stdout and "current" in listed.stdout
