"""The planning workspace in the browser: /app and what it loads, every script, style, glyph and icon local.

MapLibre GL JS comes from the npm registry (``npm ci`` installs it into node_modules, the README's commands run
it) and is served from here, never from a CDN; glyphs (layers.glyphs) and sprites (layers.sprites) too.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Body, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates

from api.caching import negotiate
from api.errors import NotFoundError
from geo.resolver import KINDS, MAX_QUERY
from layers.glyphs import GlyphStore
from layers.places import resolver_for
from layers.sprites import SpriteStore
from layers.store import Warehouse
from layers.workspace import (
    MEDIA,
    FeatureExport,
    TableExport,
    WorkspaceData,
    compress_at_most,
    export_features,
    export_table,
)

STATIC = Path(__file__).parent / "static" / "app"
# what the page loads from node_modules: (package, file in the package), served under /app/vendor/<name>
VENDOR = {
    "maplibre-gl.js": ("maplibre-gl", "dist/maplibre-gl.js"),
    "maplibre-gl.css": ("maplibre-gl", "dist/maplibre-gl.css"),
}
STATIC_MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
FOREVER = "public, max-age=31536000, immutable"  # versioned addresses: a new version is a new address
DAY = "public, max-age=86400"


def _script_json(value: object) -> str:
    """JSON to put inside a <script> element ("<" escaped, so no "</script>" can end it early)."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


class Assets:
    """The workspace's files: its own (api/static/app) and the npm packages' (node_modules), with versions."""

    def __init__(self, node_modules: Path) -> None:
        self.node_modules = node_modules
        self._coded: dict[tuple[Path, str | None], bytes] = {}
        self._lock = threading.Lock()

    def vendor(self, name: str) -> Path:
        """A file of an npm package (NotFoundError saying how to install it when it is missing)."""
        if name not in VENDOR:
            raise NotFoundError(f"no vendor file {name!r}: {', '.join(VENDOR)}")
        package, inside = VENDOR[name]
        path = self.node_modules / package / inside
        if not path.is_file():
            raise NotFoundError(
                f"{package} is not installed in {self.node_modules}: run `npm ci` in the project folder "
                "(make serve does), or set ATLAS_NODE_MODULES"
            )
        return path

    def own(self, name: str) -> Path:
        """A file of the workspace itself."""
        path = (STATIC / name).resolve()
        if path.parent != STATIC.resolve() or not path.is_file():
            raise NotFoundError(f"no workspace file {name!r}")
        return path

    def encoded(self, path: Path, accept_encoding: str) -> tuple[bytes, str | None]:
        """A file in the best coding the client takes, compressed once at the highest level (Brotli 11, gzip 9)."""
        token = negotiate(accept_encoding, ("br", "gzip"))
        key = (path, token)
        with self._lock:
            if key not in self._coded:
                self._coded[key] = compress_at_most(path.read_bytes(), token)
            return self._coded[key], token

    def version(self) -> str:
        """A digest of every file the page loads: new files, new addresses (so they can be cached for ever)."""
        digest = hashlib.sha256()
        files = sorted(STATIC.glob("*"))
        files += [self.node_modules / p / f for p, f in VENDOR.values()]
        for path in files:
            if path.is_file():
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()[:12]


def workspace_routes(
    warehouse: Warehouse,
    data: Callable[[], WorkspaceData],
    assets: Assets,
    templates: Jinja2Templates,
    base_url: str,
    release: Callable[[], dict[str, Any] | None],
) -> APIRouter:
    """Routes of the workspace page and its data."""
    router = APIRouter(tags=["workspace"])
    glyphs, sprites = GlyphStore(), SpriteStore()
    version = assets.version()
    root = urlsplit(base_url).path.rstrip("/")  # the atlas's path behind a proxy ("" at the root)

    def cached(body: bytes, media: str, request: Request) -> Response:
        control = FOREVER if request.query_params.get("v") == version else DAY
        return Response(body, media_type=media, headers={"Cache-Control": control})

    @router.get("/app", response_class=HTMLResponse, summary="Planning workspace (browser)")
    def page(request: Request) -> HTMLResponse:
        """The workspace: map, search, unit panel, priority weights, investment plan, exports (Vietnamese first)."""
        config = {"release": release()}  # the page finds its own address and whether MapLibre loaded
        return templates.TemplateResponse(
            request,
            "app.html",
            {"config": _script_json(config), "version": version, "root": root},
            headers={"Cache-Control": "no-cache"},
        )

    @router.get("/app/static/{name}", summary="Workspace script or style", response_class=Response)
    def own(name: str, request: Request) -> Response:
        """The workspace's own script and style (cached for ever under their version)."""
        path = assets.own(name)
        return cached(path.read_bytes(), STATIC_MEDIA.get(path.suffix, "application/octet-stream"), request)

    @router.get("/app/sw.js", summary="Service worker of the workspace", response_class=Response)
    def service_worker() -> Response:
        """Keeps the page, its scripts, data and tiles for repeat visits and visits without a connection."""
        return Response(
            assets.own("sw.js").read_bytes(),
            media_type=STATIC_MEDIA[".js"],
            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": f"{root}/app"},
        )

    @router.get("/app/vendor/{name}", summary="MapLibre GL JS (from npm)", response_class=Response)
    def vendor(name: str, request: Request) -> Response:
        """MapLibre GL JS and its style sheet, as installed from the npm registry (compressed once, at the most)."""
        path = assets.vendor(name)
        body, token = assets.encoded(path, request.headers.get("accept-encoding", ""))
        response = cached(body, STATIC_MEDIA[path.suffix], request)
        response.headers["Vary"] = "Accept-Encoding"
        if token:
            response.headers["Content-Encoding"] = token
        return response

    @router.get("/app/fonts/{fontstack}/{start}-{end}.pbf", summary="Map label glyphs", response_class=Response)
    def glyph_range(
        fontstack: Annotated[str, PathParam(max_length=200)],
        start: Annotated[int, PathParam(ge=0, le=65535)],
        end: Annotated[int, PathParam(ge=0, le=65535)],
    ) -> Response:
        """Signed-distance-field glyphs of 256 code points (DejaVu Sans: every Vietnamese letter)."""
        body = glyphs.range(fontstack, start, end)
        return Response(body, media_type="application/x-protobuf", headers={"Cache-Control": DAY})

    @router.get("/app/sprites/{name}", summary="Map icons (sprite)", response_class=Response)
    def sprite(name: Annotated[str, PathParam(pattern=r"^atlas(@2x)?\.(png|json)$")]) -> Response:
        """The icons of facilities, villages and projects: atlas.json/png and atlas@2x.json/png."""
        png, index = sprites.get(2 if "@2x" in name else 1)
        if name.endswith(".png"):
            return Response(png, media_type="image/png", headers={"Cache-Control": DAY})
        return Response(index, media_type="application/json", headers={"Cache-Control": DAY})

    @router.get("/app/search", summary="Find a place by name")
    def search(
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY, description="A name, accents optional")],
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
        kind: Annotated[list[Literal[KINDS]] | None, Query(description="Kinds of place")] = None,  # type: ignore[valid-type]
    ) -> JSONResponse:
        """2025 units, pre-merger communes, former districts and villages matching a name, best first."""
        places = resolver_for(warehouse).search(q, limit=limit, kinds=kind)
        return JSONResponse({"query": q, "places": [p.as_dict() for p in places]})

    @router.get(
        "/app/data.json",
        summary="The units as the workspace draws them",
        response_class=Response,
        responses={200: {"content": {"application/json": {}}}, 304: {"description": "Not modified"}},
    )
    def document(request: Request) -> Response:
        """Figures, series, rank and criteria of the 2025 units, their pre-merger communes, the indicators, and
        simplified outlines for the first view (compressed once per build; its ETag changes with the build)."""
        current = data()
        coding = negotiate(request.headers.get("accept-encoding", ""), ("br", "gzip"))
        etag = current.etag(coding)
        headers = {"ETag": etag, "Vary": "Accept-Encoding", "Cache-Control": "no-cache"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if coding:
            headers["Content-Encoding"] = coding
        return Response(current.encoded(coding), media_type="application/json", headers=headers)

    @router.get("/app/units/{code}.json", summary="A unit's villages and pre-merger communes")
    def unit(code: Annotated[str, PathParam(pattern=r"^\d{5}$")]) -> JSONResponse:
        """The villages of a 2025 unit (ranked within it) and its pre-merger communes."""
        return JSONResponse(data().unit(code))

    @router.post("/app/export/table.{fmt}", summary="Export a table (XLSX or CSV)", response_class=Response)
    def table(fmt: Literal["xlsx", "csv"], body: Annotated[TableExport, Body()]) -> Response:
        """The table on screen as an XLSX workbook (Vietnamese headers) or a CSV (UTF-8 with BOM)."""
        return Response(
            export_table(body, fmt),
            media_type=MEDIA[fmt],
            headers={"Content-Disposition": f'attachment; filename="{body.name}.{fmt}"', "Cache-Control": "no-store"},
        )

    @router.post(
        "/app/export/features.{fmt}", summary="Export features (GeoPackage or GeoJSON)", response_class=Response
    )
    def features(fmt: Literal["gpkg", "geojson"], body: Annotated[FeatureExport, Body()]) -> Response:
        """Features on screen (the chosen projects) as a GeoPackage or a GeoJSON file."""
        return Response(
            export_features(body, fmt),
            media_type=MEDIA[fmt],
            headers={"Content-Disposition": f'attachment; filename="{body.name}.{fmt}"', "Cache-Control": "no-store"},
        )

    return router
