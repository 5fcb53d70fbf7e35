"""The FastAPI application: create_app(settings) assembles it; state lives on app.state."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import Auth, auth_routes
from api.caching import CachingMiddleware, ResponseCache
from api.errors import add_exception_handlers
from api.intake import data_settings, intake_routes
from api.limits import RequestLimitsMiddleware, cors_origins
from api.maps import map_routes
from api.ogc import build_api, ogc_routes, pygeoapi_config
from api.openapi import app_document
from api.settings import ServerSettings
from api.tiles import tile_routes
from api.workspace import Assets, workspace_routes
from geo.digest import code_digest
from geo.sources import Manifest
from layers.accounts import AccountStore, default_address
from layers.errors import WarehouseMissing
from layers.generalise import Generaliser
from layers.intake import reconcile, serving_release
from layers.maps import WarehouseMaps
from layers.publish import publisher_for
from layers.store import Build, Warehouse, open_store
from layers.tiles import MB, Tiler
from layers.workspace import workspace_for

TEMPLATES = Path(__file__).parent / "templates"
WARM_LAYERS = ("units_2025", "indicators_units_2025", "communes_2024", "indicators_communes_2024", "districts_2024")
OGC_PREFIX = "/ogc"
LOG = logging.getLogger("atlas")


def layer_records(build: Build) -> list[dict[str, Any]]:
    """The layers table of a build as JSON-ready records (the landing page lists them)."""
    layers = pd.DataFrame(build.metadata)
    records = layers.astype(object).where(pd.notna(layers), None).to_dict("records")
    return [{str(k): v for k, v in r.items()} for r in records]


def service_digest() -> str:
    """sha256 of the code that shapes responses (every .py and .html of api and layers): part of every ETag."""
    root = Path(__file__).parents[1]
    return code_digest(root / "api", root / "layers", suffixes=(".py", ".html", ".js", ".css"))


def _warm(state: Any, ogc_config: dict[str, Any] | None, tiled: tuple[str, ...]) -> None:
    """Load the served layers (with their GeoJSON geometries) and the tiled layers' simplified geometries."""
    started = time.perf_counter()
    try:
        if state.warehouse.in_memory:  # a database answers queries and tiles itself: nothing to load
            for resource in (ogc_config or {}).get("resources", {}).values():
                for provider in resource.get("providers", []):
                    state.warehouse.layer(provider["options"]["layer"]).geometry_json()
            state.tiler.warm(tiled)
    except Exception as exc:  # a layer that cannot be read now is reported by the request that asks for it
        LOG.warning("warm-up stopped: %s", exc)
    state.warmed = round(time.perf_counter() - started, 1)


class ReleaseHeaderMiddleware:
    """Add `Atlas-Release: <number>; date=<published>` to every answer: which release it shows."""

    def __init__(self, app: ASGIApp, release: Callable[[], dict[str, Any] | None]) -> None:
        self.app = app
        self.release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; stamp the response's headers."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                found = self.release()
                if found is not None:
                    value = f"{found['number']}; date={found['published_at']}".encode()
                    message = {**message, "headers": [*message.get("headers", []), (b"atlas-release", value)]}
            await send(message)

        await self.app(scope, receive, stamped)


def store_for(settings: ServerSettings) -> Warehouse:
    """The store the server reads: the database's current publish when ATLAS_DATABASE_URL is set, else the file."""
    if settings.database_url:
        return open_store(
            settings.database_url,
            poll_seconds=settings.database_poll_seconds,
            pool_size=settings.database_pool,
            geometry_bytes=int(settings.database_geometry_mb * MB),
            download_dir=settings.cache_dir / "downloads",
        )
    return Warehouse.open(settings.warehouse)


def create_app(settings: ServerSettings) -> FastAPI:
    """Assemble the atlas web application for one warehouse (WarehouseMissing when there is none to serve)."""
    warehouse = store_for(settings)
    build = warehouse.build()
    layers = build.derived(layer_records, layer_records)
    base = settings.base_url()
    ogc_config = pygeoapi_config(
        warehouse,
        Manifest.load(settings.manifest),
        base + OGC_PREFIX,
        host=settings.host,
        port=settings.port,
        profile=settings.profile,
        costs=settings.costs,
        plan_time_limit=settings.plan_time_limit,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # load the layers (all, or the most used tiled ones) in the background: first answers come fast, and
        # memory after start-up is the data; what it grows by later is the caches, within their bounds
        layers = tuple(app.state.tiler.specs) if settings.preload else WARM_LAYERS
        args = (app.state, ogc_config if settings.preload else None, layers)
        threading.Thread(target=_warm, args=args, name="atlas-warm", daemon=True).start()
        yield

    app = FastAPI(title=settings.title, lifespan=lifespan)
    app.state.settings = settings
    app.state.warehouse = warehouse  # every reader of the warehouse takes its layers from this one
    app.state.warmed = None
    manifest = Manifest.load(settings.manifest)
    population = settings.sources_dir / manifest.get("worldpop_2020").path
    app.state.tiler = Tiler(
        warehouse,
        settings.tile_cache_dir or settings.cache_dir / "tiles",
        population if population.is_file() else None,
        memory_bytes=int(settings.tile_memory_mb * MB),
        disk_bytes=int(settings.tile_disk_mb * MB),
        geometry_bytes=int(settings.tile_geometry_mb * MB),
    )
    attribution = {str(r["layer"]): str(r["attribution"]) for r in layers}
    app.include_router(tile_routes(app.state.tiler, base, attribution))
    app.state.maps = WarehouseMaps(
        warehouse, max_bytes=int(settings.map_cache_mb * MB), release=lambda: app.state.release()
    )
    synthetic = any(bool(r["synthetic"]) for r in layers if r["layer"] == "priority_units_2025")
    app.include_router(map_routes(app.state.maps, base, synthetic))

    app.state.accounts = accounts = AccountStore(
        default_address(settings.warehouse, settings.database_url, settings.accounts_db)
    )
    app.state.auth = auth = Auth(accounts, settings)
    try:
        for line in reconcile(data_settings(settings), accounts):
            LOG.warning("intake: %s", line)
    except Exception as exc:  # another worker finished it first, or the store is busy: the next start retries
        LOG.warning("intake: could not finish an interrupted approval: %s", exc)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    app.include_router(auth_routes(auth, templates, base))
    app.include_router(intake_routes(auth, settings, templates, base, warehouse.frame))
    publisher = publisher_for(settings.warehouse, settings)

    known: dict[tuple[str, str], dict[str, Any]] = {}

    def release() -> dict[str, Any] | None:
        """The release being served (number and date), or None for a build never published."""
        try:
            build = warehouse.build()  # stamped on every answer: no copy of the build metadata per request
            key = build.key
            if key not in known:
                found = serving_release(accounts, publisher, build.info)
                if found is None:
                    return None
                known[key] = found
            return known[key]
        except Exception:  # the publish index or database is unreadable now: say nothing rather than fail
            return None

    app.state.release = release
    app.include_router(
        workspace_routes(
            warehouse,
            lambda: workspace_for(warehouse, settings.profile),
            Assets(settings.node_modules),
            templates,
            base,
            release,
        )
    )

    app.state.ogc_config = ogc_config
    ogc_api = build_api(ogc_config)
    code = service_digest()

    def validators() -> tuple[str, datetime] | None:
        """ETag base and Last-Modified of the current build (new data or new code: new ETags); None without one."""
        try:
            current = warehouse.build()
        except WarehouseMissing:
            return None  # nothing is cached or revalidated: the routes answer 503
        return current.fingerprint + current.built_at + code, datetime.fromisoformat(current.built_at)

    app.state.response_cache = ResponseCache(
        settings.response_cache_mb * 1024 * 1024, settings.response_cache_entry_mb * 1024 * 1024
    )
    app.add_middleware(
        CachingMiddleware,
        build=validators,
        cache=app.state.response_cache,
        daily=("/maps/print/",),
        # the workspace's scripts and units document come compressed at the most, with their own validators
        uncached=("/health", f"{OGC_PREFIX}/jobs", "/app/vendor/", "/app/data.json"),
        private=("/intake", "/login", "/logout", "/account", "/releases", "/audit"),
    )
    app.add_middleware(ReleaseHeaderMiddleware, release=release)
    add_exception_handlers(app)

    @app.get("/", response_model=None, summary="Landing page")
    def landing(request: Request, f: str | None = Query(None, pattern="^(json|html)$")) -> Response:
        """Links to everything the atlas serves, as HTML or JSON."""
        current = warehouse.build()
        doc = {
            "title": settings.title,
            "description": "Ranh giới các thời kỳ, bảng chuyển đổi sáp nhập 2025 và chỉ tiêu nghèo tỉnh Sơn La / "
            "Boundaries of every vintage, the 2025 merger crosswalk and poverty indicators of Sơn La province.",
            "built_at": current.built_at,
            "release": release(),
            "links": [
                {"rel": "self", "href": f"{base}/?f=json", "type": "application/json"},
                {"rel": "alternate", "href": f"{base}/?f=html", "type": "text/html"},
                {
                    "rel": "data",
                    "href": f"{base}{OGC_PREFIX}/collections",
                    "type": "application/json",
                    "title": "OGC API – Features: các lớp dữ liệu / collections (QGIS: " + base + OGC_PREFIX + ")",
                },
                {
                    "rel": "http://www.opengis.net/def/rel/ogc/1.0/processes",
                    "href": f"{base}{OGC_PREFIX}/processes",
                    "type": "application/json",
                    "title": "OGC API – Processes: xếp hạng ưu tiên, kế hoạch đầu tư, chuyển số liệu sang xã 2025 / "
                    "priority ranking, investment plan, carry figures to the 2025 units",
                },
                {
                    "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map",
                    "href": f"{base}/tiles",
                    "type": "application/json",
                    "title": "Ô bản đồ ảnh (XYZ, cho QGIS) / raster map tiles (XYZ, for QGIS)",
                },
                {
                    "rel": "related",
                    "href": f"{base}/app",
                    "type": "text/html",
                    "title": "Bàn làm việc quy hoạch trên trình duyệt / Planning workspace in the browser",
                },
                {
                    "rel": "related",
                    "href": f"{base}/maps/",
                    "type": "text/html",
                    "title": "Bản đồ web và bản đồ in (PDF) / web maps and printable maps (PDF)",
                },
                {
                    "rel": "service-desc",
                    "href": f"{base}{OGC_PREFIX}/openapi",
                    "type": "application/vnd.oai.openapi+json;version=3.0",
                    "title": "OGC API – OpenAPI",
                },
                {
                    "rel": "conformance",
                    "href": f"{base}{OGC_PREFIX}/conformance",
                    "type": "application/json",
                    "title": "OGC API – conformance",
                },
                {
                    "rel": "service-doc",
                    "href": f"{base}/docs",
                    "type": "text/html",
                    "title": "Tài liệu API / API documentation",
                },
                {
                    "rel": "status",
                    "href": f"{base}/health",
                    "type": "application/json",
                    "title": "Tình trạng dịch vụ / Service health",
                },
                {
                    "rel": "related",
                    "href": f"{base}/intake/",
                    "type": "text/html",
                    "title": "Tiếp nhận số liệu rà soát (đăng nhập) / Intake of the annual review figures (log in)",
                },
                {
                    "rel": "related",
                    "href": f"{base}/releases",
                    "type": "text/html",
                    "title": "Các bản phát hành và tải về / Releases and their downloads",
                },
                {
                    "rel": "enclosure",
                    "href": f"{base}/downloads/warehouse.gpkg",
                    "type": "application/geopackage+sqlite3",
                    "title": "Tải toàn bộ dữ liệu (GeoPackage, mở bằng QGIS) / Download all layers (GeoPackage)",
                },
            ],
            "layers": current.derived(layer_records, layer_records),
        }
        wants_html = f == "html" or (f is None and "text/html" in request.headers.get("accept", ""))
        if wants_html:
            return templates.TemplateResponse(request, "landing.html", {"doc": doc})
        return JSONResponse(doc)

    @app.get("/health", summary="Service health")
    def health() -> dict[str, Any]:
        """Whether the warehouse is readable, with its build time."""
        info = warehouse.build_info
        return {
            "status": "ok",
            "built_at": info.get("built_at"),
            "fingerprint": info.get("fingerprint"),
            "release": release(),
            "worker": os.getpid(),  # which server process answered (there is one per ATLAS_WORKERS)
            "warmed_in_seconds": app.state.warmed,  # null while the worker is still loading its layers
            "caches": {
                "tiles": app.state.tiler.stats(),
                "maps": app.state.maps.stats(),
                "responses": app.state.response_cache.stats(),
            },
        }

    @app.api_route(
        "/downloads/warehouse.gpkg",
        methods=["GET", "HEAD"],
        summary="Download the warehouse",
        response_class=FileResponse,
    )
    def download() -> FileResponse:
        """The whole warehouse as one GeoPackage, ready for QGIS."""
        return FileResponse(
            warehouse.download(), media_type="application/geopackage+sqlite3", filename="sonla-atlas.gpkg"
        )

    app.router.routes.append(
        Mount(
            OGC_PREFIX,
            routes=ogc_routes(
                ogc_api,
                settings.process_workers,
                settings.process_retry_after,
                settings.process_idle_seconds,
                Generaliser(warehouse),
            ),
        )
    )  # after the tile routes, which share the prefix
    # outermost: CORS (preflights answered for the allowed origins only), then the body and content-type guards
    fastapi_document = app.openapi
    app.openapi = lambda: app_document(fastapi_document())  # type: ignore[method-assign]
    app.add_middleware(RequestLimitsMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cors_origins(settings.cors_origins),
        allow_methods=["GET", "HEAD", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Content-Type", "Accept", "Accept-Language", "If-None-Match", "Prefer", "Authorization"],
        expose_headers=["ETag", "Location", "Retry-After", "Content-Crs", "Atlas-Release"],
    )
    return app
