"""The `atlas` command as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import Built


def _atlas(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        input=stdin,
    )


def test_help_lists_subcommands() -> None:
    result = _atlas("--help")
    assert result.returncode == 0
    for command in ("fetch", "build", "serve", "quality", "sources", "info"):
        assert command in result.stdout


def test_quality_and_info_read_the_warehouse(built: Built) -> None:
    result = _atlas("quality", "--warehouse", str(built.path))
    assert result.returncode == 0, result.stderr
    assert "IoU of 2009 sources with the 2025 units: median 0.9" in result.stdout
    assert "Phường Thảo Nguyên" in result.stdout
    info = _atlas("info", "--warehouse", str(built.path))
    assert "communes_2024" in info.stdout and "200" in info.stdout


def test_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    result = _atlas("quality", "--warehouse", str(tmp_path / "missing.gpkg"))
    assert result.returncode == 1
    assert "no warehouse at" in result.stderr and "Traceback" not in result.stderr


def test_build_reports_checksum_error(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror" / "boundaries"
    mirror.mkdir(parents=True)
    (mirror / "sonla_units_2025.gpkg").write_bytes(b"not a geopackage")
    env = {
        "ATLAS_MIRROR": str(tmp_path / "mirror"),
        "ATLAS_USE_SHARED_MIRROR": "false",
        "ATLAS_CACHE_DIR": str(tmp_path / "cache"),
        "ATLAS_WAREHOUSE": str(tmp_path / "w.gpkg"),
    }
    result = _atlas("build", env=env)
    assert result.returncode == 1
    assert "checksum mismatch" in result.stderr and "sonla_units_2025.gpkg" in result.stderr
    assert not (tmp_path / "w.gpkg").exists()
