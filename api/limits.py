"""Request guards that run before any route: body size (413) and the content type of costly POSTs (415).

Both are ASGI middleware placed outermost, so an oversized or cross-site form request is refused before its
body is read, before any credential is checked and before any work starts.
"""

from __future__ import annotations

import json
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# POSTs that start work: process execution and CQL2 JSON searches; they take JSON only.
COSTLY_POSTS = re.compile(r"^/ogc/(processes/[^/]+/execution|collections/[^/]+/items)/?$")
JSON_TYPES = re.compile(r"^application/([a-z0-9.+-]+\+)?json$|^application/query-cql-json$")


async def _refuse(send: Send, status: int, code: str, description: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"code": code, "description": description}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodyTooLargeError(Exception):
    """A request body went past the limit while it was streamed."""


class RequestLimitsMiddleware:
    """Refuse bodies over `max_body_bytes` (413, from Content-Length or while streaming) and non-JSON costly POSTs."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the headers, then count the body's bytes as the app reads them."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        limit = self.max_body_bytes
        too_large = f"request body is larger than the limit of {limit} bytes (ATLAS_MAX_BODY_BYTES)"
        length = headers.get("content-length", "").strip()
        if length and (not length.isdigit() or int(length) > limit):
            status, code = (413, "PayloadTooLarge") if length.isdigit() else (400, "InvalidParameterValue")
            await _refuse(send, status, code, too_large if status == 413 else "Content-Length is not a number")
            return
        if scope["method"] == "POST" and COSTLY_POSTS.match(scope["path"]):
            media = headers.get("content-type", "").split(";")[0].strip().lower()
            if not JSON_TYPES.match(media):
                given = media or "none"
                await _refuse(
                    send, 415, "UnsupportedMediaType", f"Content-Type must be application/json (given: {given})"
                )
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(too_large)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLargeError as exc:
            if started:
                raise
            await _refuse(send, 413, "PayloadTooLarge", str(exc), {"connection": "close"})


def cors_origins(value: str) -> list[str]:
    """The allowed CORS origins of a comma-separated setting (empty: none)."""
    return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
