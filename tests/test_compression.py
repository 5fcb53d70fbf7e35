"""Content coding and the response cache over real HTTP: every coding decodes to the same answer."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import brotli
import httpx
import mapbox_vector_tile
import pytest
import zstandard
from PIL import Image
from starlette.responses import PlainTextResponse, StreamingResponse

from api.caching import CachingMiddleware, ResponseCache, accepted_codings, negotiate
from tests.conftest import Built, LiveServer

PAGE = "/ogc/collections/units_2025/items?limit=100"


@dataclass
class Wire:
    """An answer as it came over the wire: status, headers and the body still coded."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        """The body read as JSON (for answers sent without a coding)."""
        return json.loads(self.content)


def decode(response: Wire | httpx.Response) -> bytes:
    """The body a client gets after undoing the answer's Content-Encoding."""
    raw = response.content
    coding = response.headers.get("content-encoding")
    if coding is None:
        return raw
    if coding == "gzip":
        return gzip.decompress(raw)
    if coding == "br":
        return bytes(brotli.decompress(raw))
    if coding == "zstd":
        return bytes(zstandard.ZstdDecompressor().decompress(raw, max_output_size=64 * 1024 * 1024))
    raise AssertionError(f"unexpected coding {coding}")


@pytest.fixture(scope="module")
def server(built: Built) -> Iterator[LiveServer]:
    with LiveServer(built.path, env={"ATLAS_CACHE_DIR": str(built.settings.cache_dir)}) as live:
        yield live


@pytest.fixture(scope="module")
def raw_client(server: LiveServer) -> Iterator[httpx.Client]:
    """A client that sends only the Accept-Encoding it is told and keeps bodies as they came."""
    with httpx.Client(base_url=server.url, timeout=120, headers={"Accept-Encoding": "identity"}) as client:
        yield client


def get(client: httpx.Client, path: str, coding: str, **headers: str) -> Wire:
    """GET without httpx undoing the coding, so the bytes on the wire are checked."""
    with client.stream("GET", path, headers={"Accept-Encoding": coding, **headers}) as response:
        raw = b"".join(response.iter_raw())
    return Wire(response.status_code, response.headers, raw)


def test_every_coding_decodes_to_the_same_feature_page(raw_client: httpx.Client) -> None:
    answers = {}
    for coding, expected in [
        ("identity", None),
        ("gzip", "gzip"),
        ("gzip, deflate", "gzip"),  # QGIS (Qt)
        ("gzip, deflate, br, zstd", "br"),  # Chromium
        ("zstd", "zstd"),
        ("br;q=0.5, gzip", "gzip"),  # q-values honoured
        ("gzip;q=0, br;q=0", None),
    ]:
        response = get(raw_client, PAGE, coding)
        assert response.status_code == 200
        assert response.headers.get("content-encoding") == expected, coding
        assert int(response.headers["content-length"]) == len(response.content)
        assert "Accept-Encoding" in response.headers["vary"]
        answers[coding] = (response.headers["etag"], decode(response))
    bodies = {body for _, body in answers.values()}
    assert len(bodies) == 1
    page = json.loads(bodies.pop())
    assert page["numberReturned"] == 75 and page["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    etags = {coding: tag for coding, (tag, _) in answers.items()}
    assert len({etags["identity"], etags["gzip"], etags["gzip, deflate, br, zstd"], etags["zstd"]}) == 4
    assert etags["gzip"] == etags["gzip, deflate"] == etags["br;q=0.5, gzip"]
    # coded bodies are smaller than the identity body by a margin
    assert len(get(raw_client, PAGE, "br").content) < 0.4 * len(answers["identity"][1])


def test_revalidation_with_each_coding(raw_client: httpx.Client) -> None:
    gz = get(raw_client, PAGE, "gzip")
    again = get(raw_client, PAGE, "gzip", **{"If-None-Match": gz.headers["etag"]})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == gz.headers["etag"]
    # the same answer in another coding revalidates too, and the 304 names the coding the client would get
    other = get(raw_client, PAGE, "br", **{"If-None-Match": gz.headers["etag"]})
    assert other.status_code == 304 and other.headers["etag"].endswith('-br"')
    since = get(raw_client, PAGE, "br", **{"If-Modified-Since": gz.headers["last-modified"]})
    assert since.status_code == 304
    stale = get(raw_client, PAGE.replace("100", "99"), "gzip", **{"If-None-Match": gz.headers["etag"]})
    assert stale.status_code == 200 and json.loads(decode(stale))["numberReturned"] == 75


def test_vector_tiles_are_gzip_only_when_asked_and_pngs_never_coded(raw_client: httpx.Client) -> None:
    tile = "/ogc/collections/units_2025/tiles/WebMercatorQuad/8/112/201"  # 11 KB
    plain = get(raw_client, tile, "identity")
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    for coding in ("gzip, br", "gzip, deflate, br, zstd", "gzip"):
        coded = get(raw_client, tile, coding)
        assert coded.headers["content-encoding"] == "gzip"
        assert decode(coded) == plain.content
    assert "content-encoding" not in get(raw_client, tile, "br, zstd").headers
    layers = mapbox_vector_tile.decode(plain.content)
    assert layers["units_2025"]["features"]
    png = get(raw_client, "/tiles/poverty_rate_units_2025/8/201/112.png", "gzip, br")
    assert png.status_code == 200 and "content-encoding" not in png.headers
    assert Image.open(io.BytesIO(png.content)).size == (256, 256)


def test_head_small_bodies_and_downloads(raw_client: httpx.Client) -> None:
    full = get(raw_client, PAGE, "br")
    head = raw_client.head(PAGE, headers={"Accept-Encoding": "br"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == full.headers["content-length"]
    assert head.headers["etag"] == full.headers["etag"]
    health = get(raw_client, "/health", "gzip, br")
    assert len(health.content) < 1024 and "content-encoding" not in health.headers
    assert health.json()["status"] == "ok"
    held = health.json()["caches"]["responses"]
    assert 0 < held["bytes"] <= held["max_bytes"] == 256 * 1024 * 1024 and held["entries"] >= 1
    gpkg = get(raw_client, "/downloads/warehouse.gpkg", "gzip, br")
    plain = get(raw_client, "/downloads/warehouse.gpkg", "identity")
    assert gpkg.headers["content-encoding"] == "br" and len(gpkg.content) < len(plain.content)
    assert decode(gpkg) == plain.content and plain.content.startswith(b"SQLite format 3\x00")
    assert gpkg.headers["content-disposition"] == plain.headers["content-disposition"]


def test_uncacheable_answers_are_coded_for_speed(raw_client: httpx.Client) -> None:
    crosswalk = raw_client.get("/ogc/collections/crosswalk_2025/items", params={"limit": 1000}).json()
    codes = [f["properties"]["old_code"] for f in crosswalk["features"]]
    rows = [{"unit_code": code, "year": 2024, "households": 1000, "poor_households": 100} for code in codes]
    request = raw_client.build_request(
        "POST",
        "/ogc/processes/carry-to-2025/execution",
        json={"inputs": {"rows": rows}},
        headers={"Accept-Encoding": "gzip, br"},
    )
    sent = raw_client.send(request, stream=True)
    response = Wire(sent.status_code, sent.headers, b"".join(sent.iter_raw()))
    sent.close()
    assert response.status_code == 200 and response.headers["content-encoding"] == "br"
    assert "etag" not in response.headers  # a process result is not a cached answer
    result = json.loads(decode(response))
    units = result["value"] if isinstance(result, dict) and "value" in result else result
    assert len(units) == 75 and sum(u["households"] for u in units) == 1000 * len(codes)
    processes = get(raw_client, "/ogc/processes?f=json", "zstd")
    assert processes.headers.get("content-encoding") == "zstd"
    assert {p["id"] for p in json.loads(decode(processes))["processes"]} >= {"carry-to-2025", "plan", "priority"}


def test_answers_larger_than_an_entry_stream_as_they_are() -> None:
    calls: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["path"])
        if scope["path"] == "/stream":

            async def chunks() -> AsyncIterator[bytes]:
                for i in range(50):
                    yield (str(i) * 1000).encode()

            await StreamingResponse(chunks(), media_type="text/plain")(scope, receive, send)
        else:
            await PlainTextResponse("z" * 30_000)(scope, receive, send)

    cache = ResponseCache(max_bytes=1_000_000, max_entry_bytes=20_000)
    wrapped = CachingMiddleware(app, build=lambda: ("fp", datetime(2026, 11, 1, tzinfo=UTC)), cache=cache)

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://atlas") as client:
            for _ in range(2):
                streamed = await client.get("/stream", headers={"Accept-Encoding": "gzip, br"})
                assert "content-encoding" not in streamed.headers and "etag" in streamed.headers
                assert streamed.content == b"".join((str(i) * 1000).encode() for i in range(50))
                whole = await client.get("/whole", headers={"Accept-Encoding": "gzip, br"})
                assert whole.headers["content-encoding"] == "br" and whole.text == "z" * 30_000
        assert calls == ["/stream", "/whole"] * 2  # neither was kept
        assert cache.stats()["entries"] == 0

    asyncio.run(run())


def test_accept_encoding_parsing() -> None:
    assert accepted_codings("gzip, deflate, br;q=0.8, *;q=0.1") == {"gzip": 1.0, "deflate": 1.0, "br": 0.8, "*": 0.1}
    assert negotiate("gzip, deflate, br, zstd", ("br", "zstd", "gzip")) == "br"
    assert negotiate("x-gzip", ("br", "zstd", "gzip")) == "gzip"
    assert negotiate("*", ("gzip",)) == "gzip"
    assert negotiate("br;q=0", ("br", "gzip")) is None
    assert negotiate("", ("gzip",)) is None
    assert negotiate("gzip;q=bogus, br", ("br", "gzip")) == "br"


def test_cache_is_bounded_and_evicts_least_recently_used() -> None:
    calls: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["path"])
        await PlainTextResponse("x" * 40_000)(scope, receive, send)

    cache = ResponseCache(max_bytes=200_000, max_entry_bytes=100_000)
    wrapped = CachingMiddleware(app, build=lambda: ("fp", datetime(2026, 11, 1, tzinfo=UTC)), cache=cache)

    async def run() -> None:
        transport = httpx.ASGITransport(app=wrapped)
        async with httpx.AsyncClient(transport=transport, base_url="http://atlas") as client:
            for path in ("/a", "/b", "/c", "/a", "/d", "/e"):  # /a used again: /b goes first
                response = await client.get(path, headers={"Accept-Encoding": "gzip"})
                assert response.text == "x" * 40_000  # httpx undoes the gzip coding
            stats = cache.stats()
            assert stats["bytes"] <= stats["max_bytes"] and stats["evictions"] >= 1
            before = len(calls)
            await client.get("/a", headers={"Accept-Encoding": "gzip"})
            await client.get("/e", headers={"Accept-Encoding": "gzip"})
            assert len(calls) == before  # both still kept
            await client.get("/b", headers={"Accept-Encoding": "gzip"})
            assert len(calls) == before + 1  # evicted, computed again

    asyncio.run(run())


def test_concurrent_requests_compute_an_answer_once() -> None:
    calls: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        calls.append(scope["path"])
        await asyncio.sleep(0.05)
        await PlainTextResponse("y" * 10_000)(scope, receive, send)

    wrapped = CachingMiddleware(app, build=lambda: ("fp", datetime(2026, 11, 1, tzinfo=UTC)))

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url="http://atlas") as client:
            answers = await asyncio.gather(
                *[client.get("/same", headers={"Accept-Encoding": c}) for c in ("gzip", "br", "zstd", "") * 5]
            )
        assert {a.text for a in answers} == {"y" * 10_000}
        assert calls == ["/same"]

    asyncio.run(run())


def test_codings_are_fast_at_first_and_small_once_asked_again() -> None:
    body = json.dumps([{"code": f"{i:05d}", "rate": (i * 7919) % 1000 / 10} for i in range(20_000)])

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse(body)(scope, receive, send)

    cache = ResponseCache(max_bytes=50_000_000, max_entry_bytes=10_000_000)
    wrapped = CachingMiddleware(app, build=lambda: ("fp", datetime(2026, 11, 1, tzinfo=UTC)), cache=cache)

    async def sizes() -> list[int]:
        got = []
        transport = httpx.ASGITransport(app=wrapped)
        async with httpx.AsyncClient(transport=transport, base_url="http://atlas") as client:
            for _ in range(2):
                response = await client.get("/page", headers={"Accept-Encoding": "br"})
                assert response.text == body and response.headers["content-encoding"] == "br"
                got.append(int(response.headers["content-length"]))
            for _ in range(100):  # the coding for size runs in the background after the second request
                await asyncio.sleep(0.05)
                last = await client.get("/page", headers={"Accept-Encoding": "br"})
                if int(last.headers["content-length"]) != got[0]:
                    break
            assert last.text == body
            got.append(int(last.headers["content-length"]))
        return got

    first, second, settled = asyncio.run(sizes())
    assert first == second and settled < first
    assert settled == len(brotli.compress(body.encode(), quality=5))
