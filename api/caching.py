"""Revalidation, a response cache and content encoding (gzip, Brotli, zstd) in one ASGI middleware.

Everything the service answers to a GET is a function of the warehouse build, the code and the request
(path, query, `Accept`, `Accept-Language`; the date for printed sheets), so:

- Validators: the ETag is a hash of those plus the content encoding of the answer; Last-Modified is the
  build time. A revalidation (If-None-Match, If-Modified-Since) is answered 304 before any work is done.
- Cache: each 200 answer is kept once (least recently used first out, bounded in bytes), and each content
  coding of it is computed the first time a client accepts it, at a level chosen for speed, then once more
  in the background at a level chosen for size when the answer is asked for again. A cached answer costs a
  dictionary look-up, compressed or not.
- Encodings: negotiated from `Accept-Encoding` (q-values honoured; Brotli, then zstd, then gzip when the
  client accepts several equally). Vector tiles are gzip-encoded only, and only when asked, as tile clients
  expect; images are sent as they are. A coding that saves less than 5% (a PDF, mostly) is not used.
- Answers that cannot be cached (process results, errors) are compressed at a level chosen for speed,
  when they are large enough to gain.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import brotli
import zstandard
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from layers.lru import LRU

VARY = ("accept", "accept-language")  # request headers that select the content; Accept-Encoding selects its coding
VARY_HEADER = b"Accept, Accept-Language, Accept-Encoding"
MVT = "application/vnd.mapbox-vector-tile"
MIN_COMPRESS_BYTES = 1024  # smaller bodies gain too little to be worth a coding
INCOMPRESSIBLE = ("image/", "application/zip", "application/gzip", "font/woff2")  # compressed already
GAIN = 0.95  # a coding is used only when it saves at least 5%
DROPPED = {b"content-length", b"content-encoding", b"etag", b"last-modified", b"vary"}


@dataclass(frozen=True)
class Coding:
    """A content coding: its token and its compressor at a level for size (cached) and for speed."""

    token: str
    suffix: str
    for_size: Callable[[bytes], bytes]
    for_speed: Callable[[bytes], bytes]


def _zstd(level: int) -> Callable[[bytes], bytes]:
    def compress(data: bytes) -> bytes:
        return zstandard.ZstdCompressor(level=level).compress(data)

    return compress


CODINGS: dict[str, Coding] = {
    "br": Coding("br", "br", lambda b: brotli.compress(b, quality=5), lambda b: brotli.compress(b, quality=1)),
    "zstd": Coding("zstd", "zst", _zstd(9), _zstd(3)),
    "gzip": Coding(
        "gzip", "gz", lambda b: gzip.compress(b, compresslevel=6, mtime=0), lambda b: gzip.compress(b, 1, mtime=0)
    ),
}


def codings_for(media_type: str) -> tuple[str, ...]:
    """The codings a body of this media type may be sent in, in the server's order of preference."""
    base = media_type.split(";")[0].strip().lower()
    if base == MVT:
        return ("gzip",)
    if not base or base.startswith(INCOMPRESSIBLE):
        return ()
    return ("br", "zstd", "gzip")


def accepted_codings(header: str) -> dict[str, float]:
    """The codings of an Accept-Encoding header with their q-values (`x-gzip` read as gzip)."""
    prefs: dict[str, float] = {}
    for part in header.split(","):
        token, _, params = part.partition(";")
        name = token.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        prefs["gzip" if name == "x-gzip" else name] = q
    return prefs


def negotiate(header: str, allowed: tuple[str, ...]) -> str | None:
    """The coding to answer in: the client's highest q-value among `allowed`, ties broken by server order."""
    if not header or not allowed:
        return None
    prefs = accepted_codings(header)
    best, best_q = None, 0.0
    for name in allowed:
        q = prefs.get(name, prefs.get("*", 0.0))
        if q > best_q:
            best, best_q = name, q
    return best


@dataclass
class CachedResponse:
    """A 200 answer held in the cache: its headers, identity body and every coding computed so far."""

    headers: list[tuple[bytes, bytes]]
    body: bytes
    media_type: str
    coded: dict[str, bytes | None] = field(default_factory=dict)  # None: the coding does not gain
    settled: set[str] = field(default_factory=set)  # codings already at the level chosen for size

    @property
    def size(self) -> int:
        """Bytes held: the body and its codings."""
        return len(self.body) + sum(len(v) for v in self.coded.values() if v is not None)


class ResponseCache:
    """Answers by key, least recently used first out, bounded in bytes (identity bodies and their codings)."""

    def __init__(self, max_bytes: int, max_entry_bytes: int) -> None:
        self.max_entry_bytes = min(max_entry_bytes, max_bytes)
        self._lru: LRU[CachedResponse] = LRU(max_bytes, lambda entry: entry.size)
        self.hits = self.misses = 0

    def get(self, key: str) -> CachedResponse | None:
        """The entry for a key, marked as recently used."""
        entry = self._lru.get(key)
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def put(self, key: str, entry: CachedResponse) -> bool:
        """Keep an entry (replacing one of the same key); False when it is too large to keep."""
        if entry.size > self.max_entry_bytes:
            return False
        self._lru.put(key, entry)
        return True

    def add_coding(self, key: str, entry: CachedResponse, token: str, data: bytes | None) -> None:
        """Record a coding of an entry and charge its bytes (unless the entry was evicted meanwhile)."""
        entry.coded[token] = data
        if self._lru.get(key) is entry:
            self._lru.put(key, entry)

    def stats(self) -> dict[str, int]:
        """Entries, bytes held, the bound, hits, misses and evictions."""
        return {**self._lru.stats(), "hits": self.hits, "misses": self.misses}


def _media_type(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.decode("latin-1")
    return ""


def _kept_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower(), v) for k, v in headers if k.lower() not in DROPPED]


def _etag(base: str, token: str | None) -> str:
    return f'W/"{base}-{CODINGS[token].suffix}"' if token else f'W/"{base}"'


class CachingMiddleware:
    """ETag/Last-Modified/304, a bounded response cache, and gzip/Brotli/zstd content coding."""

    def __init__(
        self,
        app: ASGIApp,
        build: Callable[[], tuple[str, datetime] | None],
        cache: ResponseCache | None = None,
        daily: tuple[str, ...] = (),
        uncached: tuple[str, ...] = (),
        private: tuple[str, ...] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.app = app
        self.build = build
        self.cache = cache or ResponseCache(64 * 1024 * 1024, 16 * 1024 * 1024)
        self.daily = daily  # path prefixes whose answers also change with the date (printed maps)
        self.uncached = uncached  # path prefixes never kept (health, jobs)
        self.private = private  # per-account or changing without a new build: never kept, no validators, no-store
        self.clock = clock
        self._pending: dict[str, asyncio.Future[CachedResponse | None]] = {}
        self._coding: dict[tuple[str, str], asyncio.Future[bytes | None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # codings for size under way

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        accept_encoding = headers.get("accept-encoding", "")
        build = self.build()
        if scope["path"].startswith(self.private):

            async def no_store(message: Message) -> None:
                if message["type"] == "http.response.start" and not any(
                    k.lower() == b"cache-control" for k, _ in message.get("headers", [])
                ):
                    message = {**message, "headers": [*message.get("headers", []), (b"cache-control", b"no-store")]}
                await send(message)

            await self._pass(scope, receive, no_store, accept_encoding, None)
            return
        if scope["method"] not in ("GET", "HEAD") or build is None:
            await self._pass(scope, receive, send, accept_encoding, None)
            return
        base, built_at = self._validator(scope, headers, build)
        last_modified = format_datetime(built_at, usegmt=True)
        validators = (base, last_modified)
        matched = self._not_modified(headers, base, built_at)
        if matched is not None:
            entry = self.cache.get(base)
            token = negotiate(accept_encoding, codings_for(entry.media_type)) if entry else None
            etag = _etag(base, token) if entry else matched
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": [
                        (b"etag", etag.encode()),
                        (b"last-modified", last_modified.encode()),
                        (b"vary", VARY_HEADER),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        if "range" in headers or scope["path"].startswith(self.uncached):
            await self._pass(scope, receive, send, accept_encoding, validators)
            return
        entry = self.cache.get(base)
        if entry is None:
            entry = await self._fill(scope, receive, send, base, accept_encoding, validators)
            if entry is None:
                return  # answered as it came (not a 200, or too large to keep)
        await self._send_cached(scope, send, base, entry, accept_encoding, last_modified)

    def _validator(self, scope: Scope, headers: Headers, build: tuple[str, datetime]) -> tuple[str, datetime]:
        fingerprint, built_at = build
        digest = hashlib.sha256(fingerprint.encode())
        if self.daily and scope["path"].startswith(self.daily):
            today = self.clock().replace(hour=0, minute=0, second=0, microsecond=0)
            digest.update(today.date().isoformat().encode())
            built_at = max(built_at, today)
        digest.update(scope["path"].encode())
        digest.update(scope.get("query_string", b""))
        for name in VARY:
            digest.update(b"\0" + headers.get(name, "").encode())
        return digest.hexdigest()[:32], built_at

    @staticmethod
    def _not_modified(headers: Headers, base: str, built_at: datetime) -> str | None:
        """The client's matching ETag (any coding of this answer), or '*'; None when it must be sent."""
        match = headers.get("if-none-match")
        if match is not None:
            for tag in match.split(","):
                tag = tag.strip()
                if tag == "*":
                    return _etag(base, None)
                opaque = tag.removeprefix("W/").strip('"')
                if opaque == base or opaque.rsplit("-", 1)[0] == base:
                    return tag if tag.startswith("W/") else f"W/{tag}"
            return None
        since = headers.get("if-modified-since")
        if since:
            try:
                if parsedate_to_datetime(since) >= built_at.replace(microsecond=0):
                    return _etag(base, None)
            except (TypeError, ValueError):
                return None
        return None

    async def _fill(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        key: str,
        accept_encoding: str,
        validators: tuple[str, str],
    ) -> CachedResponse | None:
        """Compute the answer once for every concurrent request of the same key; keep it when it is a 200."""
        pending = self._pending.get(key)
        if pending is not None:
            entry = await asyncio.shield(pending)
            if entry is not None:
                return entry
            await self._pass(scope, receive, send, accept_encoding, validators)
            return None
        future: asyncio.Future[CachedResponse | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        entry = None
        try:
            inner = dict(scope, method="GET")  # a HEAD is answered from the GET's entry
            entry = await self._capture(inner, receive, send, accept_encoding, validators, scope["method"] == "HEAD")
            if entry is not None and not self.cache.put(key, entry):
                await self._send_cached(scope, send, key, entry, accept_encoding, validators[1], keep=False)
                entry = None
                future.set_result(None)
                return None
            future.set_result(entry)
            return entry
        finally:
            if not future.done():
                future.set_result(None)
            self._pending.pop(key, None)

    async def _capture(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        accept_encoding: str,
        validators: tuple[str, str] | None,
        head: bool,
        keep: bool = True,
    ) -> CachedResponse | None:
        """Run the app; a complete 200 comes back as an entry (when kept), anything else is sent on as it goes.

        What is sent whole is coded for speed when that gains; what is too large to keep streams as it is.
        """
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        streaming = False
        limit = self.cache.max_entry_bytes

        async def capture(message: Message) -> None:
            nonlocal start, size, streaming
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            if streaming:
                await send({**message, "body": b"" if head else message.get("body", b"")})
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if keep and start["status"] == 200 and not more and not _no_store(start):
                return  # complete: kept, then answered from the cache
            if more and size <= limit:
                return
            if not more:
                await self._send_whole(send, start, b"".join(chunks), accept_encoding, validators, head)
                return
            streaming = True  # too large to keep: send it on, uncoded
            await send(_start(start, None, None, validators if start["status"] == 200 else None))
            await send({"type": "http.response.body", "body": b"" if head else b"".join(chunks), "more_body": True})

        await self.app(scope, receive, capture)
        if not keep or start is None or streaming or start["status"] != 200 or _no_store(start):
            return None
        body = b"".join(chunks)
        headers = list(start.get("headers", []))
        return CachedResponse(_kept_headers(headers), body, _media_type(headers))

    async def _send_cached(
        self,
        scope: Scope,
        send: Send,
        key: str,
        entry: CachedResponse,
        accept_encoding: str,
        last_modified: str,
        keep: bool = True,
    ) -> None:
        token = (
            negotiate(accept_encoding, codings_for(entry.media_type)) if len(entry.body) >= MIN_COMPRESS_BYTES else None
        )
        body = entry.body
        if token is not None:
            coded = await self._coded(key, entry, token, keep)
            if coded is None:
                token = None
            else:
                body = coded
        headers = [
            *entry.headers,
            (b"content-length", str(len(body)).encode()),
            (b"etag", _etag(key, token).encode()),
            (b"last-modified", last_modified.encode()),
            (b"vary", VARY_HEADER),
        ]
        if token is not None:
            headers.append((b"content-encoding", token.encode()))
        if not any(k == b"cache-control" for k, _ in entry.headers):
            headers.append((b"cache-control", b"no-cache"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def _coded(self, key: str, entry: CachedResponse, token: str, keep: bool) -> bytes | None:
        """The body in one coding (None when it does not gain): for speed at first, for size once asked again.

        An answer asked for once (a random bbox, a tile nobody else views) costs a fast coding; one asked for
        again is coded anew for size in the background, and later clients get the smaller body.
        """
        if token in entry.coded:
            if keep and token not in entry.settled and (key, token) not in self._coding:
                task = asyncio.get_running_loop().create_task(self._settle(key, entry, token))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return entry.coded[token]
        pending = self._coding.get((key, token))
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._coding[(key, token)] = future
        try:
            coding = CODINGS[token]
            data: bytes | None = await run_in_threadpool(coding.for_speed if keep else coding.for_size, entry.body)
            if data is not None and len(data) > GAIN * len(entry.body):
                data = None
            if keep:
                self.cache.add_coding(key, entry, token, data)
            future.set_result(data)
            return data
        finally:
            if not future.done():
                future.set_result(None)
            self._coding.pop((key, token), None)

    async def _settle(self, key: str, entry: CachedResponse, token: str) -> None:
        """Code a kept answer again at the level chosen for size."""
        future: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._coding[(key, token)] = future
        try:
            data: bytes | None = await run_in_threadpool(CODINGS[token].for_size, entry.body)
            if data is not None and len(data) > GAIN * len(entry.body):
                data = None
            entry.settled.add(token)
            self.cache.add_coding(key, entry, token, data)
            future.set_result(data)
        finally:
            if not future.done():
                future.set_result(None)
            self._coding.pop((key, token), None)

    async def _pass(
        self, scope: Scope, receive: Receive, send: Send, accept_encoding: str, validators: tuple[str, str] | None
    ) -> None:
        """Run the app without keeping its answer; a whole body is coded for speed when it gains."""
        await self._capture(scope, receive, send, accept_encoding, validators, scope["method"] == "HEAD", keep=False)

    async def _send_whole(
        self,
        send: Send,
        start: Message,
        body: bytes,
        accept_encoding: str,
        validators: tuple[str, str] | None,
        head: bool,
    ) -> None:
        headers = list(start.get("headers", []))
        already = any(k.lower() == b"content-encoding" for k, _ in headers)
        token = None
        if not already and len(body) >= MIN_COMPRESS_BYTES:
            token = negotiate(accept_encoding, codings_for(_media_type(headers)))
        if token is not None:
            coding = CODINGS[token]
            coded = await run_in_threadpool(coding.for_speed, body)  # not kept: coded for speed
            if len(coded) <= GAIN * len(body):
                body = coded
            else:
                token = None
        if already:
            await send(start)
        else:
            await send(_start(start, token, len(body), validators if start["status"] == 200 else None))
        await send({"type": "http.response.body", "body": b"" if head else body})


def _no_store(start: Message) -> bool:
    for name, value in start.get("headers", []):
        if name.lower() == b"cache-control" and b"no-store" in value.lower():
            return True
    return False


def _start(start: Message, token: str | None, length: int | None, validators: tuple[str, str] | None) -> Message:
    """A response start with the coding, length, validators and Vary set."""
    headers = _kept_headers(list(start.get("headers", [])))
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    if token is not None:
        headers.append((b"content-encoding", token.encode()))
    if validators is not None:
        base, last_modified = validators
        headers += [(b"etag", _etag(base, token).encode()), (b"last-modified", last_modified.encode())]
        if not any(k == b"cache-control" for k, _ in headers):
            headers.append((b"cache-control", b"no-cache"))
    headers.append((b"vary", VARY_HEADER))
    message: dict[str, Any] = {"type": "http.response.start", "status": start["status"], "headers": headers}
    return message
