"""Request headers of real clients, recorded by tests/test_clients.py, for the benchmarks to replay."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

CLIENTS = Path(__file__).resolve().parent / "clients"
NOT_REPLAYED = ("host", "connection")  # wrk sets these itself; the paths carry ?f=json, whatever Accept says


def _recorded(name: str) -> dict[str, str]:
    record = json.loads((CLIENTS / f"{name}.json").read_text(encoding="utf-8"))
    return {k: v for k, v in record["headers"].items() if k not in NOT_REPLAYED}


def _profiles() -> dict[str, dict[str, str]]:
    return {
        "no compression": {},
        "QGIS": _recorded("qgis"),
        "browser": _recorded("chromium"),
    }


PROFILES: dict[str, dict[str, str]] = _profiles()


def qgis_pages() -> list[str]:
    """The `villages` pages QGIS asked for (OGC paths without the /ogc prefix), as JSON."""
    record = json.loads((CLIENTS / "qgis.json").read_text(encoding="utf-8"))
    pages = []
    for path in record["requests"]:
        parts = urlsplit(path)
        if parts.path.endswith("/collections/villages/items"):
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            query["f"] = "json"
            pages.append(f"{parts.path}?{urlencode(query)}")
    return pages
