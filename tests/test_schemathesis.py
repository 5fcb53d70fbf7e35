"""schemathesis, a tool no one here wrote, against the running app's two OpenAPI documents over real HTTP.

Both documents are loaded from the live server: `/ogc/openapi?f=json` (the OGC API; paths relative to `/ogc`,
item routes reached through the real feature ids the document gives as examples) and `/openapi.json` (the
app's own routes). Every check runs, on cases generated deterministically (the same cases every run, so CI does
not flake); the plan solver is capped at a few seconds for the run. tests/schemathesis.toml turns off one check
for the three process executions, and says why.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Built, LiveServer

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = Path(__file__).parent / "schemathesis.toml"
# A representative set of collections (spatial, keyless, yearly, large), all processes, jobs and the landing pages.
OGC_PATHS = (
    r"^/collections/(units_2025|crosswalk_2025|demo_villages|commune_indicators|roads)(/|$)"
    r"|^/processes|^/jobs|^/$|^/conformance$|^/collections$|^/openapi$"
)


@pytest.fixture(scope="module")
def server(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        "ATLAS_CACHE_DIR": str(built.settings.cache_dir),
        "ATLAS_TILE_CACHE_DIR": str(tmp_path_factory.mktemp("tiles")),
        "ATLAS_PLAN_TIME_LIMIT": "3",
        "ATLAS_PROCESS_WORKERS": "2",
        "ATLAS_WORKERS": "1",
    }
    with LiveServer(built.path, env=env) as live:
        yield live


def schemathesis(location: str, *args: str, config: Path | None = None) -> tuple[int, str]:
    """Run `schemathesis run` with every check; the number of generated cases and the report.

    Fails when any check fails: a server error, an answer contradicting its documented schema, status or type, a
    schema-invalid request accepted or a schema-valid one refused, a method answered without 405 and Allow.
    """
    command = [
        str(SCHEMATHESIS),
        *(("--config-file", str(config)) if config else ()),
        "run",
        location,  # every check runs by default; `--checks all` would override tests/schemathesis.toml
        "--max-response-time",
        "300",  # speed belongs in bench/, not here
        "--request-timeout",
        "300",
        "--workers",
        "1",
        "--generation-deterministic",
        "--phases",
        "examples,coverage,fuzzing",  # the stateful phase follows links with values the document cannot state
        "--no-color",
        *args,
    ]
    with tempfile.TemporaryDirectory(prefix="schemathesis-") as folder:  # its own files stay out of the tree
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=folder)
    report = done.stdout + done.stderr
    generated = re.search(r"(\d+) generated", report)
    assert generated, report[-3000:]
    assert not re.search(r"\[5\d\d\]", report), report[-6000:]  # no server error
    assert done.returncode == 0 and re.search(r"\d+ generated, \d+ passed", report), report[-8000:]
    return int(generated.group(1)), report


def test_schemathesis_finds_nothing_in_either_document(server: LiveServer) -> None:
    ogc_cases, _ = schemathesis(
        f"{server.url}/ogc/openapi?f=json",
        "--url",
        f"{server.url}/ogc",
        "--include-path-regex",
        OGC_PATHS,
        "--max-examples",
        "15",
        config=CONFIG,
    )
    app_cases, _ = schemathesis(
        f"{server.url}/openapi.json",
        "--exclude-path-regex",
        r"^/maps/print",  # sheets take seconds each (bench/maps.py)
        "--max-examples",
        "15",
        config=CONFIG,
    )
    assert ogc_cases + app_cases >= 1000, (ogc_cases, app_cases)
