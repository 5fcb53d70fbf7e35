"""QGIS itself opens the OGC API (OAPIF provider, headless); skipped, with the reason, where QGIS is absent."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from geo.settings import PROJECT_ROOT
from layers.warehouse import read_table
from tests.conftest import Built, LiveServer

QGIS_PYTHON = os.environ.get("ATLAS_QGIS_PYTHON", "/usr/bin/python3")


def _qgis_available() -> str | None:
    try:
        probe = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{QGIS_PYTHON} cannot run: {exc}"
    if probe.returncode != 0:
        return (
            f"QGIS Python bindings are not installed for {QGIS_PYTHON} "
            "(Debian: apt-get install qgis python3-qgis; .ci/run tries this)"
        )
    return None


REASON = _qgis_available()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")


@pytest.fixture(scope="module")
def server(built: Built) -> Iterator[LiveServer]:
    with LiveServer(built.path, env={"ATLAS_CACHE_DIR": str(built.settings.cache_dir)}) as live:
        yield live


def _qgis(server: LiveServer, collection: str, *extra: str) -> dict[str, object]:
    result = subprocess.run(
        [QGIS_PYTHON, str(PROJECT_ROOT / "scripts" / "qgis_check.py"), f"{server.url}/ogc", collection, *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_qgis_loads_units_with_numeric_fields(server: LiveServer, built: Built, tmp_path: Path) -> None:
    report = _qgis(server, "units_2025", str(tmp_path / "map.png"))
    assert report["valid"] is True and report["count"] == 75
    fields = report["fields"]
    assert isinstance(fields, dict)
    assert fields["n_communes_2024"] == "Integer" and fields["area_km2"] == "Real" and fields["code"] == "String"
    sample = report["sample"]
    assert isinstance(sample, dict)
    local = read_table(built.path, "units_2025").set_index("code")
    assert sample["name"] == local.loc[sample["code"], "name"]
    png = (tmp_path / "map.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_qgis_pages_through_a_point_layer(server: LiveServer, built: Built) -> None:
    report = _qgis(server, "demo_villages")
    assert report["valid"] is True and report["count"] == len(read_table(built.path, "demo_villages"))


def _blend(colour: str, opacity: float = 0.85) -> tuple[int, int, int]:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return tuple(round(opacity * c + (1 - opacity) * 255) for c in (r, g, b))  # type: ignore[return-value]


def test_qgis_draws_the_vector_tile_choropleth_from_the_maplibre_style(server: LiveServer, tmp_path: Path) -> None:
    from layers.styles import POVERTY_RATE

    result = subprocess.run(
        [
            QGIS_PYTHON,
            str(PROJECT_ROOT / "scripts" / "qgis_vectortiles.py"),
            server.url,
            "indicators_units_2025",
            str(tmp_path / "vt.png"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "ATLAS_QGIS_PROFILE": str(tmp_path / "profile")},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["valid"] is True and report["warnings"] == []
    seen = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in report["colours"]}
    classes = [
        k
        for k, colour in enumerate(POVERTY_RATE.colours)
        if any(max(abs(a - b) for a, b in zip(rgb, _blend(colour), strict=True)) <= 3 for rgb in seen)
    ]
    assert len(classes) >= 3, (classes, sorted(seen)[:20])  # several poverty classes drawn in their colours
