"""Shared fixtures: the real sources in ../shared/data and one warehouse built from them per session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from geo.settings import PROJECT_ROOT, DataSettings
from layers.build import BuildOutcome, build_warehouse

SHARED = Path(os.environ.get("ATLAS_TEST_MIRROR", PROJECT_ROOT.parent / "shared" / "data"))

# PostgreSQL + PostGIS: ATLAS_TEST_DATABASE_URL (`make test` starts a private cluster with scripts/test_database.sh
# where PostgreSQL is installed; `.ci/run` installs it). Each test makes its own database and drops it. Without
# the variable the database tests are skipped, unless ATLAS_REQUIRE_DATABASE=1 (CI), where that is an error.
ADMIN_URL = os.environ.get("ATLAS_TEST_DATABASE_URL", "")
if not ADMIN_URL and os.environ.get("ATLAS_REQUIRE_DATABASE") == "1":
    raise RuntimeError("ATLAS_REQUIRE_DATABASE=1 but ATLAS_TEST_DATABASE_URL is not set")
needs_database = pytest.mark.skipif(not ADMIN_URL, reason="no PostgreSQL + PostGIS (ATLAS_TEST_DATABASE_URL)")


def admin(statement: str) -> None:
    """Run one statement as the test cluster's administrator (outside a transaction)."""
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as con:
        con.execute(statement)


def database_url(database: str, user: str | None = None) -> str:
    """The URL of a database of the test cluster, as its administrator or as another role."""
    base, _ = ADMIN_URL.rsplit("/", 1)
    if user is not None:
        scheme, rest = base.split("//", 1)
        base = f"{scheme}//{user}@{rest.split('@', 1)[-1]}"
    return f"{base}/{database}"


@contextmanager
def new_database() -> Iterator[str]:
    """A new empty database of the test cluster, dropped afterwards; its URL."""
    name = f"atlas_test_{uuid.uuid4().hex[:12]}"
    admin(f"CREATE DATABASE {name}")
    try:
        yield database_url(name)
    finally:
        admin(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def database() -> Iterator[str]:
    """A new empty database (dropped afterwards); its URL."""
    with new_database() as url:
        yield url


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real sources; integration tests are skipped, with the reason, where it is absent."""
    if not (SHARED / "boundaries" / "sonla_units_2025.gpkg").is_file():
        pytest.skip(f"real sources not found in {SHARED} (set ATLAS_TEST_MIRROR)")
    return SHARED


def settings_for(tmp: Path, mirror: Path, **overrides: object) -> DataSettings:
    """Settings isolated in a temporary folder, reading sources from one mirror only."""
    values: dict[str, object] = {
        "cache_dir": tmp / "cache",
        "warehouse": tmp / "warehouse.gpkg",
        "mirror": mirror,
        "use_shared_mirror": False,
        "mirror_url": None,
    }
    values.update(overrides)
    return DataSettings(_env_file=None, **values)  # type: ignore[arg-type, call-arg]


@dataclass
class Built:
    """A warehouse built from the real sources, with the settings and outcome of its build."""

    settings: DataSettings
    outcome: BuildOutcome

    @property
    def path(self) -> Path:
        """Path of the warehouse file."""
        return self.settings.warehouse


@pytest.fixture(scope="session")
def built(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One warehouse built from the real sources for the whole session."""
    settings = settings_for(tmp_path_factory.mktemp("built"), shared_data)
    return Built(settings, build_warehouse(settings))


@pytest.fixture
def warehouse_copy(built: Built, tmp_path: Path) -> Path:
    """A private copy of the built warehouse, for tests that try to damage it."""
    target = tmp_path / "existing" / "warehouse.gpkg"
    target.parent.mkdir()
    shutil.copyfile(built.path, target)
    return target


def isolated_copy(built: Built, tmp_path: Path) -> DataSettings:
    """Settings of a private copy of the built warehouse, with its own import store (sources from the cache)."""
    warehouse = tmp_path / "warehouse.gpkg"
    shutil.copyfile(built.path, warehouse)
    assert built.settings.mirror is not None
    return settings_for(
        tmp_path,
        built.settings.mirror,
        warehouse=warehouse,
        cache_dir=built.settings.cache_dir,
        imports_dir=tmp_path / "imports",
    )


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """`atlas serve` in its own process on a free loopback port (GDAL clients hold the GIL while they read)."""

    def __init__(self, warehouse: Path, port: int | None = None, env: dict[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.warehouse = warehouse
        self.env = {**os.environ, "ATLAS_WORKERS": "1", "ATLAS_HOST": "127.0.0.1", "ATLAS_PORT": str(self.port)}
        self.env.update(env or {})  # one worker unless a test asks for more
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.log = tempfile.TemporaryFile()  # not a pipe: one nobody reads fills up and stops the server
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scripts.cli", "serve", "--warehouse", str(self.warehouse)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 180  # two workers loading on a busy 2-core machine take a while
        while True:
            if self.process.poll() is not None:
                self.log.seek(0)
                err = self.log.read().decode(errors="replace")
                raise RuntimeError(f"atlas serve exited: {err[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("atlas serve did not start within 180 s")
            time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.log.close()


@pytest.fixture
def live_server() -> Iterator[type[LiveServer]]:
    """The LiveServer class, for tests that serve a warehouse over real HTTP."""
    yield LiveServer
