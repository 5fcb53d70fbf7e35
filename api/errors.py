"""API exceptions and the one map from exception type to HTTP status."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from geo.errors import GeoError, InputDataError, SourceError, WarehouseError, validation_problem
from layers.accounts import AccountError, UnknownAccount
from layers.errors import LayerMissing, WarehouseMissing
from layers.glyphs import UnknownGlyphRange
from layers.intake import UnitForbidden
from layers.mapdata import MapError, UnknownMapError
from layers.tiles import TileError
from layers.workspace import UnknownUnit, WorkspaceError

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


class ApiError(Exception):
    """Base class of errors raised by the API layer."""


class NotFoundError(ApiError):
    """The requested resource does not exist."""


class BadRequest(ApiError):
    """A request the API cannot read (400)."""


class NotAuthenticated(ApiError):
    """No credentials, or credentials that no longer work (401)."""


class Forbidden(ApiError):
    """The account may not do this (403)."""


class RateLimited(ApiError):
    """Too many attempts from this address or account (429)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


STATUS_CODES: dict[type[Exception], int] = {
    NotFoundError: 404,
    BadRequest: 400,
    NotAuthenticated: 401,
    Forbidden: 403,
    RateLimited: 429,
    UnknownAccount: 404,
    UnitForbidden: 403,
    AccountError: 400,
    TileError: 404,
    UnknownUnit: 404,
    UnknownGlyphRange: 404,
    WorkspaceError: 400,
    UnknownMapError: 404,
    MapError: 400,
    WarehouseMissing: 503,  # every route, whichever reader met it (BuildReplaced included)
    LayerMissing: 404,
    InputDataError: 400,
    SourceError: 503,
    WarehouseError: 503,
    ApiError: 500,
    GeoError: 500,
}


def status_for(exc: Exception) -> int:
    """HTTP status of an exception: the entry of its nearest class in STATUS_CODES."""
    for cls in type(exc).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


_PATH = re.compile(r"(?<![\w:/.])(?:/[\w.\-]+)+/([\w.\-]+)")  # an absolute path, not a URL


def scrub(text: str) -> str:
    """A message fit for a client: file paths cut to their last name, one line, at most 1,000 characters."""
    line = " ".join(_PATH.sub(r"\1", str(text)).split())
    return line if len(line) <= 1000 else line[:999] + "…"


class OneLineErrors(logging.Filter):
    """Log pygeoapi's errors (mostly bad requests) as one warning line, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite a pygeoapi record in place; other records pass unchanged."""
        if record.name.startswith("pygeoapi") and record.levelno < logging.CRITICAL:
            record.msg, record.args = " ".join(record.getMessage().split())[:500], None
            record.exc_info, record.exc_text, record.stack_info = None, None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_client_errors() -> None:
    """Attach OneLineErrors to the root logger's handlers (where pygeoapi's records end up), once."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, OneLineErrors) for f in handler.filters):
            handler.addFilter(OneLineErrors())


def add_exception_handlers(app: FastAPI) -> None:
    """Register OGC-style JSON handlers (code, description) for our exceptions, HTTP errors and bad parameters."""

    async def handler(request: Request, exc: Exception) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if hasattr(exc, "retry_after") else None
        if status_for(exc) == 401:
            headers = {"WWW-Authenticate": 'Bearer realm="atlas"'}
        body = {"code": type(exc).__name__, "description": scrub(str(exc))}
        return JSONResponse(body, status_code=status_for(exc), headers=headers)

    for cls in STATUS_CODES:
        app.add_exception_handler(cls, handler)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "NotFound", 405: "InvalidParameterValue"}.get(exc.status_code, "NoApplicableCode")
        body = {"code": code, "description": scrub(str(exc.detail))}
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of every route of this path, not only the first route's
            routes = request.app.router.routes
            allow = [
                m for m in METHODS if any(r.matches({**request.scope, "method": m})[0] == Match.FULL for r in routes)
            ]
            headers["Allow"] = ", ".join(allow)
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = validation_problem(exc.errors(), every=True)
        return JSONResponse({"code": "InvalidParameterValue", "description": problems}, status_code=400)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
