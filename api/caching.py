"""HTTP revalidation: every GET response carries an ETag and Last-Modified derived from the warehouse build.

Everything the service returns is a function of the warehouse and the request, so the validator is a
hash of the build fingerprint and the request (path, query, negotiated headers). A client revalidating
with If-None-Match (or If-Modified-Since) gets 304 without the response being computed again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

VARY = ("accept", "accept-language", "accept-encoding")


class RevalidationMiddleware:
    """Add ETag, Last-Modified and Cache-Control to GET responses; answer 304 to matching revalidations."""

    def __init__(
        self,
        app: ASGIApp,
        build: Callable[[], tuple[str, datetime] | None],
        daily: tuple[str, ...] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.app = app
        self.build = build
        self.daily = daily  # path prefixes whose responses also change with the date (printed maps)
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        build = self.build()
        if build is None:
            await self.app(scope, receive, send)
            return
        fingerprint, built_at = build
        headers = Headers(scope=scope)
        digest = hashlib.sha256(fingerprint.encode())
        if self.daily and scope["path"].startswith(self.daily):
            today = self.clock().replace(hour=0, minute=0, second=0, microsecond=0)
            digest.update(today.date().isoformat().encode())
            built_at = max(built_at, today)
        digest.update(scope["path"].encode())
        digest.update(scope.get("query_string", b""))
        for name in VARY:
            digest.update(b"\0" + headers.get(name, "").encode())
        etag = f'W/"{digest.hexdigest()[:32]}"'
        last_modified = format_datetime(built_at, usegmt=True)
        if self._not_modified(headers, etag, built_at):
            await send(
                {
                    "type": "http.response.start",
                    "status": 304,
                    "headers": [(b"etag", etag.encode()), (b"last-modified", last_modified.encode())],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_validators(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 200:
                out = MutableHeaders(scope=message)
                out["ETag"] = etag
                out["Last-Modified"] = last_modified
                out.setdefault("Cache-Control", "no-cache")
                out["Vary"] = ", ".join(v.title() for v in VARY)
            await send(message)

        await self.app(scope, receive, send_with_validators)

    @staticmethod
    def _not_modified(headers: Headers, etag: str, built_at: datetime) -> bool:
        match = headers.get("if-none-match")
        if match is not None:
            return any(tag.strip() in (etag, etag[2:], "*") for tag in match.split(","))
        since = headers.get("if-modified-since")
        if since:
            try:
                return parsedate_to_datetime(since) >= built_at.replace(microsecond=0)
            except (TypeError, ValueError):
                return False
        return False
