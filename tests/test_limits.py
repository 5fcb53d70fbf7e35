"""Request bounds and guards over real HTTP: body size, content type, CORS, the process pool, bad bodies."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from layers.processes import WORKER_NICENESS, CarryTo2025Processor, WorkerPool
from tests.conftest import Built, LiveServer

ORIGIN = "https://planner.sonla.example"


@pytest.fixture(scope="module")
def server(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    env = {
        "ATLAS_CACHE_DIR": str(built.settings.cache_dir),
        "ATLAS_TILE_CACHE_DIR": str(tmp_path_factory.mktemp("tiles")),
        "ATLAS_MAX_BODY_BYTES": "400000",
        "ATLAS_CORS_ORIGINS": ORIGIN,
        "ATLAS_PROCESS_WORKERS": "1",
        "ATLAS_PROCESS_RETRY_AFTER": "7",
    }
    with LiveServer(built.path, env=env) as live:
        yield live


def post(server: LiveServer, process: str, body: bytes, **headers: str) -> httpx.Response:
    """POST raw bytes to a process execution."""
    headers = {"Content-Type": "application/json", **headers}
    return httpx.post(f"{server.url}/ogc/processes/{process}/execution", content=body, headers=headers, timeout=120)


def test_a_body_past_the_limit_is_413_from_its_length_or_while_streaming(server: LiveServer) -> None:
    big = b'{"inputs": {"budget": 1e9, "pad": "' + b"x" * 500_000 + b'"}}'
    response = post(server, "plan", big)
    assert response.status_code == 413 and "400000 bytes" in response.json()["description"]

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 10_000):
            yield big[start : start + 10_000]

    streamed = httpx.post(
        f"{server.url}/ogc/processes/plan/execution",
        content=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=120,
    )
    assert "content-length" not in streamed.request.headers  # chunked: only counting can stop it
    assert streamed.status_code == 413 and streamed.json()["code"] == "PayloadTooLarge"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:  # refused before it is sent
        sock.sendall(
            b"POST /ogc/processes/plan/execution HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n"
        )
        head = sock.recv(4096).decode()
    assert head.startswith("HTTP/1.1 413")


def test_costly_posts_take_json_only(server: LiveServer) -> None:
    form = httpx.post(f"{server.url}/ogc/processes/plan/execution", data={"budget": "1e9"}, timeout=60)
    assert form.status_code == 415 and "application/json" in form.json()["description"]
    text = post(server, "plan", b'{"inputs": {"budget": 1e9}}', **{"Content-Type": "text/plain"})
    assert text.status_code == 415


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[null, null]", "JSON object"),
        (b"null", "JSON object"),
        (b"0", "JSON object"),
        (b"false", "JSON object"),
        (b'"x"', "JSON object"),
        (b"[1]", "JSON object"),
        (b'{"inputs": [1]}', "'inputs'"),
        (b"\xff\xfe{}", "UTF-8"),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
        (b"{", "not JSON"),
    ],
)
@pytest.mark.parametrize("prefer", [None, "respond-async"])
def test_bad_execution_bodies_are_400(server: LiveServer, body: bytes, message: str, prefer: str | None) -> None:
    for process in ("carry-to-2025", "priority", "plan"):
        response = post(server, process, body, **({"Prefer": prefer} if prefer else {}))
        assert response.status_code == 400, response.text
        assert message in response.json()["description"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"households": 2**63}, "rows[0].households' must be a whole number from 0 to 1000000000"),
        ({"households": 2**63 - 1}, "from 0 to 1000000000"),
        ({"households": 10, "year": "x"}, "rows[0].year' must be of type integer (given: str)"),
        ({"households": 10, "year": True}, "rows[0].year' must be of type integer (given: bool)"),
        ({"households": 1.5}, "rows[0].households' must be of type integer (given: float)"),
        ({"households": 10, "unit_code": 3646}, "rows[0].unit_code' must be of type string"),
        ({"households": 10, "unit_code": "09999"}, "'09999' is not one of 03646"),
        ({"households": 10, "poor": 1}, "unknown entry poor"),
        ({}, "give unit_code, year and at least one of the other entries"),
    ],
)
def test_carry_refuses_counts_and_years_out_of_bounds(server: LiveServer, row: dict[str, Any], message: str) -> None:
    rows = [{"unit_code": "03646", "year": 2024, **row}, {"unit_code": "03649", "year": 2024, "households": 1}]
    response = post(server, "carry-to-2025", json.dumps({"inputs": {"rows": rows}}).encode())
    assert response.status_code == 400, response.text
    assert message in response.json()["description"]


def test_priority_bounds_criteria_and_draws(server: LiveServer) -> None:
    criterion = {"id": "poor_rate", "column": "poor_rate", "weight": 1}
    profile = {"profile": "big", "version": "1", "units": [criterion] * 60, "villages": [criterion]}
    response = post(server, "priority", json.dumps({"inputs": {"profile": profile}}).encode())
    assert response.status_code == 400 and "more than the limit of 50" in response.json()["description"]
    draws = post(server, "priority", b'{"inputs": {"draws": 5000}}')
    assert draws.status_code == 400 and "from 0 to 2000 (given: 5000)" in draws.json()["description"]
    few = post(server, "priority", b'{"inputs": {"draws": 5}}')  # 0 is "none"; a sample needs 10 draws or more
    assert few.status_code == 400 and "0 (none) or a whole number from 10 to 2000" in few.json()["description"]
    described = httpx.get(f"{server.url}/ogc/processes/priority", params={"f": "json"}, timeout=60).json()
    assert described["inputs"]["draws"]["schema"]["maximum"] == 2000


def test_plan_bounds_candidates(server: LiveServer) -> None:
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [104.0, 21.3]},
        "properties": {"project_id": "X", "kind": "school"},
    }
    many = {"type": "FeatureCollection", "features": [feature] * 1001}
    response = post(server, "plan", json.dumps({"inputs": {"budget": 1e9, "candidates": many}}).encode())
    assert response.status_code == 400 and "limit of 1000" in response.json()["description"]


def test_processes_beyond_the_pool_are_429_with_retry_after(server: LiveServer) -> None:
    body = json.dumps({"inputs": {"budget": 10e9}}).encode()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(server, "plan", body), range(4)))
    statuses = sorted(r.status_code for r in answers)
    assert 200 in statuses and 429 in statuses, statuses
    busy = next(r for r in answers if r.status_code == 429)
    assert busy.headers["retry-after"] == "7" and busy.json()["code"] == "TooManyRequests"
    done = next(r for r in answers if r.status_code == 200)
    assert done.json()["totals"]["cost_vnd"] <= 10e9


def test_cors_preflight_answers_the_configured_origin_only(server: LiveServer) -> None:
    url = f"{server.url}/ogc/processes/plan/execution"
    asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    allowed = httpx.options(url, headers={"Origin": ORIGIN, **asked}, timeout=30)
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ORIGIN
    other = httpx.options(url, headers={"Origin": "https://evil.example", **asked}, timeout=30)
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    page = httpx.get(f"{server.url}/ogc/collections", headers={"Origin": "https://evil.example"}, timeout=30)
    assert page.status_code == 200 and "access-control-allow-origin" not in page.headers


def test_items_sortby_geojson_type_and_405_allow(server: LiveServer) -> None:
    items = f"{server.url}/ogc/collections/units_2025/items"
    empty = httpx.get(items, params={"sortby": ""}, timeout=30)
    assert empty.status_code == 400 and "sortby" in empty.json()["description"]
    page = httpx.get(items, params={"limit": 2, "f": "json"}, timeout=30)
    assert page.headers["content-type"].startswith("application/geo+json")
    assert len(page.json()["features"]) == 2
    wrong = httpx.put(f"{server.url}/ogc/collections", timeout=30)
    assert wrong.status_code == 405 and "GET" in wrong.headers["allow"]


def test_the_ogc_document_is_self_contained_and_names_the_bounds(server: LiveServer) -> None:
    document = httpx.get(f"{server.url}/ogc/openapi", params={"f": "json"}, timeout=60).json()
    text = json.dumps(document)
    refs = set(re.findall(r'"\$ref": "([^"]+)"', text))
    assert refs and all(r.startswith("#/") for r in refs), sorted(r for r in refs if not r.startswith("#/"))
    for ref in refs:  # every local reference resolves
        node: Any = document
        for part in ref[2:].split("/"):
            node = node[part]
    limit = next(
        p for p in document["paths"]["/collections/units_2025/items"]["get"]["parameters"] if p.get("name") == "limit"
    )
    assert limit["schema"]["maximum"] == 10000
    execution = document["paths"]["/processes/plan/execution"]["post"]
    assert {"400", "413", "415", "429"} <= set(execution["responses"])
    budget = execution["requestBody"]["content"]["application/json"]["schema"]["properties"]["inputs"]
    assert "exclusiveMinimum" not in json.dumps(budget)
    item = document["paths"]["/collections/units_2025/items/{featureId}"]["get"]["parameters"][0]
    assert httpx.get(f"{server.url}/ogc/collections/units_2025/items/{item['example']}", timeout=30).status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/ogc/collections/units_2025/items", {"lang": "xx"}, "lang 'xx' is not offered"),
        ("/ogc/collections/units_2025/items", {"lang": ""}, "lang '' is not offered"),
        ("/ogc/collections/units_2025/items", {"f": ""}, "f is empty"),
        ("/ogc/collections/units_2025/items", {"f": "xml"}, "Invalid format"),
        ("/ogc/openapi", {"ui": "x"}, "ui 'x' is not one of swagger, redoc"),
        ("/ogc/collections/units_2025/queryables", {"profile": "x"}, "profile 'x' is not one of"),
        ("/ogc/collections/units_2025/items", {"datetime": "2021"}, "units_2025 has no time"),
        ("/ogc/collections/crosswalk_2025/items", {"bbox": "103,20,105,22"}, "crosswalk_2025 has no geometry: bbox"),
        ("/ogc/collections/commune_indicators/items", {"datetime": ""}, "give an RFC 3339 date"),
        ("/ogc/collections/commune_indicators/items", {"datetime": "2021-02-30"}, "give an RFC 3339 date"),
    ],
)
def test_parameters_outside_the_document_are_400(
    server: LiveServer, path: str, params: dict[str, str], message: str
) -> None:
    response = httpx.get(f"{server.url}{path}", params=params, timeout=60)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] and message in body["description"]


def test_accepted_lang_and_datetime_forms(server: LiveServer) -> None:
    items = f"{server.url}/ogc/collections/commune_indicators/items"
    for lang in ("vi", "en", "en-GB", "VI"):
        assert httpx.get(items, params={"lang": lang, "limit": 1}, timeout=60).status_code == 200, lang
    years = {}
    for value in ("2021", "2021-06", "2024-02-29", "2022-01-01T00:00:00Z/..", "../2021", "2030", "1990/2000"):
        page = httpx.get(items, params={"datetime": value, "limit": 10000, "skipGeometry": "true"}, timeout=60)
        assert page.status_code == 200, (value, page.text)
        years[value] = {f["properties"]["year"] for f in page.json()["features"]}
    assert years["2021"] == years["2021-06"] == {2021} and years["2024-02-29"] == {2024}
    assert years["2022-01-01T00:00:00Z/.."] == {2022, 2023, 2024, 2025, 2026} and years["../2021"] == {2021}
    assert years["2030"] == years["1990/2000"] == set()  # outside the temporal extent: nothing, not an error


def test_every_route_under_ogc_answers_405_with_allow(server: LiveServer) -> None:
    for path in ("/ogc/tileMatrixSets", "/ogc/tileMatrixSets/WebMercatorQuad", "/ogc/collections/units_2025/tiles"):
        for method in ("TRACE", "PUT", "DELETE"):
            response = httpx.request(method, f"{server.url}{path}", timeout=30)
            assert response.status_code == 405 and response.headers["allow"] == "GET", (method, path)
    tile = f"{server.url}/ogc/collections/units_2025/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}"
    assert httpx.get(tile, timeout=30).status_code == 404  # a template followed literally: no such tile


def test_execution_errors_are_exceptions_in_both_response_modes(server: LiveServer) -> None:
    for mode in ("raw", "document"):
        body = {"inputs": {"budget": 1e9, "max_projects_per_unit": 0}, "response": mode}
        response = post(server, "plan", json.dumps(body).encode())
        assert response.status_code == 400
        error = response.json()
        assert error["code"] == "InvalidParameterValue" and "max_projects_per_unit" in error["description"]
    subscriber = post(server, "priority", b'{"inputs": {}, "subscriber": {"successUri": "http://x.example"}}')
    assert subscriber.status_code == 400 and "unknown entry subscriber" in subscriber.json()["description"]


def descendants(pid: int) -> list[int]:
    """Every process below pid, from /proc."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").iterdir():
            children = [int(c) for c in (task / "children").read_text().split()]
            found += children
            todo += children
    return found


def test_processes_run_in_lower_priority_worker_processes(server: LiveServer) -> None:
    row = {"unit_code": "03646", "year": 2024, "households": 5}
    response = post(server, "carry-to-2025", json.dumps({"inputs": {"rows": [row]}}).encode())
    assert response.status_code == 200 and response.json()["value"][0]["households"] == 5
    assert server.process is not None
    niceness = {}
    for pid in descendants(server.process.pid):
        stat = Path(f"/proc/{pid}/stat").read_text()
        niceness[pid] = int(stat.rsplit(")", 1)[1].split()[16])  # field 19 of stat: nice
    assert WORKER_NICENESS in niceness.values(), niceness  # a spawned worker ran it, below the server's priority


def test_feature_pages_stay_valid_when_nothing_matches(server: LiveServer) -> None:
    items = f"{server.url}/ogc/collections/roads/items"
    ld = httpx.get(items, params={"f": "jsonld", "road_class": "none such"}, timeout=60)
    assert ld.status_code == 200 and json.loads(ld.text)["features"] == []
    some = httpx.get(items, params={"f": "jsonld", "limit": 2}, timeout=60)
    assert len(json.loads(some.text)["features"]) == 2
    inverted = httpx.get(items, params={"bbox": "103,22,105,21"}, timeout=60)  # south edge north of the north edge
    assert inverted.status_code == 200 and inverted.json()["features"] == []
    upside_down = httpx.get(items, params={"bbox": "103,21,500,105,22,-500"}, timeout=60)  # bottom above the top
    assert upside_down.status_code == 200 and upside_down.json()["features"] == []
    lonely = httpx.get(items, params={"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326", "limit": 1}, timeout=60)
    assert lonely.status_code == 200 and len(lonely.json()["features"]) == 1  # bbox-crs without bbox: nothing to do
    unknown = httpx.get(items, params={"bbox-crs": "EPSG:1"}, timeout=60)
    assert unknown.status_code == 400 and "bbox-crs 'EPSG:1'" in unknown.json()["description"]


def test_idle_solver_processes_stop_and_give_their_memory_back(built: Built) -> None:
    pool = WorkerPool(1, idle_seconds=1.0)
    definition = {"name": "carry-to-2025", "data": str(built.path)}
    rows = {"rows": [{"unit_code": "03646", "year": 2024, "households": 5}]}
    before = set(descendants(os.getpid()))
    try:
        _, result = pool.run(CarryTo2025Processor, definition, rows)
        assert result["value"][0]["households"] == 5
        solvers = [  # new worker processes (not the resource tracker that multiprocessing may start beside them)
            p
            for p in descendants(os.getpid())
            if p not in before and b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        assert pool.started() and solvers, "the execution ran in a spawned worker process"
        deadline = time.monotonic() + 30
        while pool.started() or any(Path(f"/proc/{p}").exists() for p in solvers):
            assert time.monotonic() < deadline, "idle workers were not stopped"
            time.sleep(0.2)
        _, again = pool.run(CarryTo2025Processor, definition, rows)  # the next execution starts them again
        assert again == result and pool.started()
    finally:
        pool.close()
