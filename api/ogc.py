"""OGC API - Features and Processes through pygeoapi, configured from the layer catalog.

The pygeoapi configuration is generated when the app starts, from the catalog (titles, descriptions,
sources, licences) and the warehouse's build (layers present, extents); every collection is served by
layers.provider.AtlasProvider and every process by a layers.processes processor, thin adapters that take
their layers from the shared Warehouse (layers/store.py). pygeoapi's own Starlette module reads its
configuration from the environment at import time, so the routes here call pygeoapi's handlers with an
API object built for this app instead.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import math
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jsonschema import Draft4Validator
from jsonschema.exceptions import best_match
from pygeoapi.api import API, APIRequest
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from api.errors import quiet_client_errors, scrub
from api.openapi import DATETIME_PATTERN, LANG_PATTERN, MAX_OFFSET, self_contained
from geo.sources import Manifest
from layers.catalog import CATALOG, LayerSpec
from layers.generalise import MAX_ZOOM_LEVEL, Generaliser, zoom_tolerance
from layers.processes import PASSED_ON, WORKER_POOL, WorkerPool
from layers.provider import RAW_GEOMETRY, GeometryText, splice_geometries
from layers.store import Build, Warehouse

TEMPLATES = Path(__file__).parent / "templates" / "ogc"  # looked up before pygeoapi's own templates

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CRS_URIS = (
    CRS84,
    "http://www.opengis.net/def/crs/EPSG/0/4326",
    "http://www.opengis.net/def/crs/EPSG/0/3857",
    "http://www.opengis.net/def/crs/EPSG/0/3405",
)
MAX_ITEMS = 10000
# What this service implements and its tests exercise; pygeoapi's own list also claims transactions.
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/accent-insensitive-comparison",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/core-roles-features",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/ogc-process-description",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/oas30",
)  # larger offsets are refused: no collection comes near that size
YEARLY = ("commune_indicators", "village_indicators", "indicator_values", "deprivations", "deprivations_units_2025")


def _extent(build: Build, spec: LayerSpec) -> dict[str, Any]:
    extents: dict[str, Any] = {}
    info = build.describe(spec.id)
    bounds = info.get("total_bounds")
    if spec.is_spatial and bounds is not None:
        extents["spatial"] = {"bbox": [round(float(v), 6) for v in bounds], "crs": CRS84}
    else:
        extents["spatial"] = {"bbox": [103.2, 20.5, 105.1, 22.1], "crs": CRS84}
    years = re.fullmatch(r"(\d{4})-(\d{4})", spec.vintage)
    if years:  # layers of a span of years: the years of their figures or of their policy period
        extents["temporal"] = {
            "begin": datetime(int(years.group(1)), 1, 1, tzinfo=UTC),
            "end": datetime(int(years.group(2)), 12, 31, 23, 59, 59, tzinfo=UTC),
        }
    return extents


def _links(manifest: Manifest, spec: LayerSpec) -> list[dict[str, str]]:
    links = []
    for source_id in spec.sources:
        src = manifest.get(source_id)
        links.append(
            {
                "type": "text/html",
                "rel": "license",
                "title": f"{src.licence}: {src.title}",
                "href": src.licence_url,
                "hreflang": "en",
            }
        )
        links.append(
            {
                "type": "text/html",
                "rel": "related",
                "title": f"Nguồn / source: {src.attribution}",
                "href": src.upstream,
                "hreflang": "en",
            }
        )
    return links


def pygeoapi_config(
    warehouse: Warehouse,
    manifest: Manifest,
    base_url: str,
    *,
    host: str,
    port: int,
    profile: Path,
    costs: Path,
    catalog: tuple[LayerSpec, ...] = CATALOG,
    plan_time_limit: float = 30.0,
) -> dict[str, Any]:
    """The pygeoapi configuration for every layer of the catalog in the warehouse's current build."""
    build = warehouse.build()
    present = build.names
    resources: dict[str, Any] = {}
    for spec in catalog:
        if spec.id not in present or not spec.collection:
            continue
        title_note = " [dữ liệu minh họa / demo data]" if spec.synthetic else ""
        provider: dict[str, Any] = {
            "type": "feature",
            "name": warehouse.provider,
            "data": warehouse.address,
            "id_field": spec.key or "",
            "options": {"layer": spec.id},
        }
        if not spec.key:
            provider.pop("id_field")
        if spec.is_spatial:
            provider["storage_crs"] = CRS84
            provider["crs"] = list(CRS_URIS)
            provider["title_field"] = "name" if spec.id not in ("roads", "bridges") else None
            if provider["title_field"] is None:
                provider.pop("title_field")
        if spec.id in YEARLY:
            provider["time_field"] = "year"
        resources[spec.id] = {
            "type": "collection",
            "templates": {"path": str(TEMPLATES)},  # JSON-LD of feature pages that stays JSON when nothing matches
            "title": {"vi": spec.title_vi + title_note, "en": spec.title_en + title_note},
            "description": {"vi": spec.description_vi, "en": spec.description_en},
            "keywords": {"vi": ["Sơn La", "nghèo", spec.vintage], "en": ["Son La", "poverty", spec.vintage]},
            "links": _links(manifest, spec)
            + (
                [
                    {
                        "type": "application/json",
                        "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                        "title": "Ô vector (MVT) / vector tiles",
                        "href": f"{base_url}/collections/{spec.id}/tiles",
                        "hreflang": "en",
                    }
                ]
                if spec.is_spatial
                else []
            ),
            "extents": _extent(build, spec),
            "providers": [provider],
        }
    resources["carry-to-2025"] = {
        "type": "process",
        "processor": {"name": "layers.processes.CarryTo2025Processor", "data": warehouse.address},
    }
    if {"demo_villages", "roads"} <= present:
        resources["priority"] = {
            "type": "process",
            "processor": {
                "name": "layers.processes.PriorityProcessor",
                "data": warehouse.address,
                "profile": str(profile),
            },
        }
        resources["plan"] = {
            "type": "process",
            "processor": {
                "name": "layers.processes.PlanProcessor",
                "data": warehouse.address,
                "costs": str(costs),
                "time_limit": plan_time_limit,
            },
        }
    return {
        "server": {
            "bind": {"host": host, "port": port},
            "url": base_url,
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "gzip": False,
            "languages": ["vi", "en"],
            "cors": False,  # CORS is the app's CORSMiddleware, with the origins of ATLAS_CORS_ORIGINS
            "pretty_print": False,
            "limits": {"default_items": 10, "max_items": MAX_ITEMS, "on_exceed": "error"},
            "map": {
                "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                "attribution": "&copy; OpenStreetMap contributors",
            },
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": {"vi": "Atlas nghèo Sơn La – OGC API", "en": "Sơn La Poverty Atlas – OGC API"},
                "description": {
                    "vi": "Ranh giới các thời kỳ, bảng chuyển đổi sáp nhập 2025 và chỉ tiêu nghèo của tỉnh Sơn La. "
                    "Số liệu nghèo, bản và hạ tầng là dữ liệu minh họa (mô phỏng).",
                    "en": "Boundaries of every vintage, the 2025 merger crosswalk and poverty indicators of Sơn La. "
                    "Poverty, village and infrastructure figures are synthetic demo data.",
                },
                "keywords": {"vi": ["Sơn La", "giảm nghèo", "ranh giới"], "en": ["Son La", "poverty", "boundaries"]},
                "keywords_type": "theme",
                "terms_of_service": "https://creativecommons.org/licenses/by/4.0/",
                "url": base_url,
            },
            "license": {
                "name": "Each collection keeps its sources' licence (see its links)",
                "url": "https://creativecommons.org/licenses/by/4.0/",
            },
            "provider": {"name": "Sơn La Poverty Atlas", "url": base_url},
            "contact": {
                "name": "Sơn La Poverty Atlas",
                "position": "maintainers",
                "address": "Sơn La",
                "city": "Sơn La",
                "stateorprovince": "Sơn La",
                "postalcode": "",
                "country": "Vietnam",
                "phone": "",
                "fax": "",
                "email": "",
                "url": base_url,
                "hours": "",
                "instructions": "",
                "role": "pointOfContact",
            },
        },
        "resources": resources,
    }


def _to_response(headers: dict[str, str], status: int, content: Any) -> Response:
    if status >= 400 and isinstance(content, dict) and isinstance(content.get("description"), str):
        content = {**content, "description": scrub(content["description"])}
    if headers.get("Content-Type") == "text/html":
        response: Response = HTMLResponse(content=content, status_code=status)
    elif isinstance(content, dict):
        response = JSONResponse(content, status_code=status)
    else:
        response = Response(content, status_code=status)
    response.headers.update(headers)
    return response


def parse_filter_text(text: str) -> Any:
    """A `filter` parameter parsed as CQL2 text (S_INTERSECTS, …), or as ECQL when it is not CQL2 text."""
    from pygeofilter.parsers.cql2_text import parse as parse_cql2
    from pygeofilter.parsers.ecql import parse as parse_ecql

    try:
        return parse_cql2(text)
    except Exception:  # pygeofilter raises lark errors; ECQL is the older grammar pygeoapi reads
        return parse_ecql(text)


def _exception(status: int, code: str, description: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"code": code, "description": description}, status_code=status, headers=headers)


QUERY_ENUMS = {"/openapi": {"ui": ("swagger", "redoc")}, "/queryables": {"profile": ("actual-domain", "valid-domain")}}
EXECUTE_KEYS = ("inputs", "outputs", "response")


def query_problem(path: str, params: Any) -> str | None:
    """Why the `f`, `lang` or enumerated parameters of an OGC request are not ones the document allows, or None."""
    if params.get("f") == "":
        return "f is empty: give json, html or jsonld"
    lang = params.get("lang")
    if lang is not None and not re.fullmatch(LANG_PATTERN, lang):
        return f"lang {lang[:40]!r} is not offered: give vi or en (optionally with a region, e.g. en-GB)"
    for suffix, enums in QUERY_ENUMS.items():
        if path.endswith(suffix):
            for name, allowed in enums.items():
                value = params.get(name)
                if value is not None and value not in allowed:
                    return f"{name} {value[:40]!r} is not one of {', '.join(allowed)}"
    return None


NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")


def typed_parameters(document: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per collection, the typed (boolean, integer, number) query parameters of its items operations."""
    components = document.get("components", {}).get("parameters", {})
    typed: dict[str, dict[str, dict[str, Any]]] = {}
    for path, operations in document.get("paths", {}).items():
        parts = path.split("/")
        if len(parts) < 4 or parts[1] != "collections" or parts[3] != "items":
            continue
        for parameter in operations.get("get", {}).get("parameters", []):
            if "$ref" in parameter:
                parameter = components.get(parameter["$ref"].rsplit("/", 1)[-1], {})
            schema = parameter.get("schema", {})
            if parameter.get("in") == "query" and schema.get("type") in ("boolean", "integer", "number"):
                typed.setdefault(parts[2], {})[parameter["name"]] = schema
    return typed


def typed_problem(params: Any, schemas: dict[str, dict[str, Any]]) -> str | None:
    """Why a boolean, integer or number query parameter does not hold a value of its type and range, or None."""
    for name, schema in schemas.items():
        for value in params.getlist(name):
            kind = schema["type"]
            if kind == "boolean":
                if value not in ("true", "false"):
                    return f"{name} {value[:40]!r} must be true or false"
                continue
            if not NUMBER.fullmatch(value) or (kind == "integer" and not re.fullmatch(r"-?[0-9]+", value)):
                return f"{name} {value[:40]!r} must be {'a whole number' if kind == 'integer' else 'a number'}"
            number = float(value)
            if not math.isfinite(number):
                return f"{name} {value[:40]} is not a finite number"
            if number < schema.get("minimum", -math.inf):
                return f"{name} {value[:40]} is below the smallest allowed ({schema.get('minimum')})"
            if number > schema.get("maximum", math.inf):
                return f"{name} {value[:40]} is above the largest allowed ({schema.get('maximum')})"
    return None


def accenti_as_function(node: Any) -> Any:
    """A CQL2 JSON filter with {"op": "accenti", "args": [x]} written as the function call pygeofilter parses."""
    if isinstance(node, list):
        return [accenti_as_function(n) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("op") == "accenti":
        return {"function": {"name": "accenti", "arguments": accenti_as_function(node.get("args", []))}}
    return {k: accenti_as_function(v) for k, v in node.items()}


def json_object(body: bytes, what: str) -> tuple[dict[str, Any], str | None]:
    """A request body parsed as a JSON object, or why it is not one (`what` names the object expected)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        return {}, "request body is not UTF-8 text"
    except RecursionError:
        return {}, "request body is nested too deeply"
    except ValueError as exc:
        return {}, f"request body is not JSON: {exc}"
    if not isinstance(data, dict):
        return {}, f"request body must be a JSON object: {what}"
    return data, None


def execution_problem(body: bytes) -> str | None:
    """Why a process execution body is not an execute request (UTF-8 JSON object with object inputs), or None."""
    data, problem = json_object(body, "one with 'inputs' (an object of input id → value)")
    if problem:
        return problem
    unknown = sorted(set(data) - set(EXECUTE_KEYS))
    if unknown:
        return f"unknown entry {', '.join(unknown)[:200]} in the request body; it takes {', '.join(EXECUTE_KEYS)}"
    for key in ("inputs", "outputs"):
        if key in data and not isinstance(data[key], dict):
            return f"'{key}' of the request body must be an object"
    if data.get("response", "raw") not in ("raw", "document"):
        return "'response' of the request body must be 'raw' or 'document'"
    return None


def sortby_problem(value: str | None) -> str | None:
    """Why a `sortby` value is malformed (an empty property), or None."""
    if value is None:
        return None
    if any(not part.strip().lstrip("+-").strip() for part in value.split(",")):
        return f"sortby {value!r}: give comma-separated property names, each optionally prefixed by + or -"
    return None


def empty_box(bbox: str | None) -> bool:
    """Whether a bbox's south edge is north of its north edge, or (six numbers) its bottom above its top: a box
    that holds nothing, so selects nothing.

    (A west edge east of the east edge is a box across the antimeridian, which OGC API - Features allows.)
    """
    try:
        values = [float(v) for v in (bbox or "").split(",")]
    except ValueError:
        return False
    if len(values) not in (4, 6) or not all(math.isfinite(v) for v in values):
        return False
    half = len(values) // 2
    return values[1] > values[half + 1] or (half == 3 and values[2] > values[5])


def without_parameter(request: Request, name: str, replace: tuple[str, str] | None = None) -> Request:
    """The request without one query parameter (and with `replace`'s value for another)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != name]
    if replace is not None:
        kept = [(k, replace[1] if k == replace[0] else v) for k, v in kept]
    changed = Request({**request.scope, "query_string": urlencode(kept).encode()}, request.receive)
    if hasattr(request, "_body"):  # a body already read (a CQL2 JSON filter) cannot be read from the client again
        changed._body = request._body
    return changed


def open_datetime(validate: Callable[..., str], extents: dict[str, Any], datetime_: str | None = None) -> str:
    """pygeoapi's datetime check without its refusal of times outside the collection's temporal extent."""
    if "temporal" in extents:
        extents = {**extents, "temporal": {"begin": None, "end": None}}
    return validate(extents, datetime_)


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


class Elsewhere:
    """ASGI app for requests no OGC route takes, whatever their method (TRACE, QUERY, …): 405 with Allow when a
    route of the mount or of the app (the tile routes share the prefix) serves the path with other methods, else 404.
    """

    def __init__(self, routes: list[Route | Mount]) -> None:
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Find the routes serving the path, answer 405 or 404."""
        in_app = {**scope, "root_path": scope.get("app_root_path", "")}
        candidates = [(r, scope) for r in self.routes]
        candidates += [(r, in_app) for r in getattr(scope.get("app"), "routes", [])]
        response = _exception(404, "NotFound", "no such resource")
        for route, where in candidates:
            if route.matches(where)[0] == Match.PARTIAL:
                allow = [m for m in METHODS if route.matches({**where, "method": m})[0] == Match.FULL]
                response = _exception(405, "InvalidParameterValue", "method not allowed", {"Allow": ", ".join(allow)})
                break
        await response(scope, receive, send)


def ogc_routes(
    api: API,
    process_workers: int = 1,
    retry_after: int = 10,
    process_idle: float | None = None,
    generaliser: Generaliser | None = None,
) -> list[Route | Mount]:
    """Starlette routes calling pygeoapi's handlers with this app's API object.

    Process executions run in `process_workers` spawned worker processes (a thread of this process waits for
    each, so pygeoapi's job handling stays here); when all are busy the answer is 429. Workers idle for
    `process_idle` seconds are stopped (their memory given back) and started again by the next execution.
    """
    import pygeoapi
    import pygeoapi.api as core_api
    import pygeoapi.api.itemtypes as itemtypes_api
    import pygeoapi.api.processes as processes_api

    # pygeoapi reads `filter` with the ECQL grammar only, which lacks CQL2's spatial functions
    itemtypes_api.parse_ecql_text = parse_filter_text

    # times outside a collection's temporal extent select nothing, as OGC API - Features says, instead of a 400
    itemtypes_api.validate_datetime = partial(open_datetime, itemtypes_api.validate_datetime)
    resources = api.config["resources"]
    specs = {spec.id: spec for spec in CATALOG}
    typed = typed_parameters(api.openapi)
    filters = {  # the CQL2 JSON filters the document states, per collection
        path.split("/")[2]: Draft4Validator(operations["post"]["requestBody"]["content"]["application/json"]["schema"])
        for path, operations in api.openapi["paths"].items()
        if path.startswith("/collections/") and path.endswith("/items") and "post" in operations
    }

    def extent_problem(collection: str, params: Any) -> str | None:
        provider = (resources.get(collection, {}).get("providers") or [{}])[0]
        if "storage_crs" not in provider:
            given = [p for p in ("bbox", "bbox-crs", "crs") if p in params]
            if given:
                return f"collection {collection} has no geometry: {', '.join(given)} cannot apply"
        datetime_ = params.get("datetime")
        if datetime_ is not None:
            if "time_field" not in provider:
                return f"collection {collection} has no time: datetime cannot apply"
            if not re.fullmatch(DATETIME_PATTERN, datetime_):
                return (
                    f"datetime {datetime_[:60]!r}: give an RFC 3339 date, date-time or year, "
                    "or an interval a/b with '..' for an open end"
                )
        return None

    pool = ThreadPoolExecutor(max_workers=process_workers, thread_name_prefix="atlas-process")
    workers = WorkerPool(process_workers, process_idle)
    running = 0

    async def run(
        handler: Callable[..., Any],
        request: Request,
        *args: Any,
        check: bool = True,
        raw_geometry: bool = False,
        executor: ThreadPoolExecutor | None = None,
        worker_pool: WorkerPool | None = None,
    ) -> Response:
        api_request = await APIRequest.from_starlette(request, api.locales)
        problem = query_problem(request.url.path, request.query_params)
        if problem:
            return _exception(400, "InvalidParameterValue", problem)
        if check and not api_request.is_valid():
            headers, status, content = api.get_format_exception(api_request)
        else:
            loop = asyncio.get_running_loop()
            context = contextvars.copy_context()
            spliced: list[GeometryText] = []  # the layers whose geometries the features' tokens point into
            if raw_geometry:
                context.run(RAW_GEOMETRY.set, spliced)
            if worker_pool is not None:
                context.run(WORKER_POOL.set, worker_pool)
            passed_on: list[Exception] = []
            context.run(PASSED_ON.set, passed_on)

            def call() -> tuple[dict[str, str], int, Any]:
                headers, status, content = context.run(handler, api, api_request, *args)
                if passed_on:
                    raise passed_on[0]  # a missing warehouse or layer: the app's error map answers it
                if raw_geometry and isinstance(content, str):
                    content = splice_geometries(content, spliced)  # megabytes of text: off the event loop
                return headers, status, content

            headers, status, content = await loop.run_in_executor(executor, call)
        return _to_response(headers, status, content)

    def wants_geojson(request: Request) -> bool:
        fmt = request.query_params.get("f")
        if fmt is not None:
            return fmt in ("json", "geojson")
        return "text/html" not in request.headers.get("accept", "")

    def geojson_in_storage_crs(request: Request) -> bool:
        return request.query_params.get("crs") in (None, "", CRS84) and wants_geojson(request)

    async def landing(request: Request) -> Response:
        return await run(core_api.landing_page, request)

    async def openapi(request: Request) -> Response:
        return await run(core_api.openapi_, request)

    def conformance_handler(api: API, request: APIRequest) -> tuple[dict[str, str], int, Any]:
        from pygeoapi.util import render_j2_template

        headers = request.get_response_headers(**api.api_headers)
        doc = {"conformsTo": list(CONFORMANCE)}
        if request.format == "html":
            return (
                headers,
                200,
                render_j2_template(
                    api.tpl_config, api.config["server"]["templates"], "conformance.html", doc, request.locale
                ),
            )
        return headers, 200, doc

    async def conformance(request: Request) -> Response:
        return await run(conformance_handler, request)

    async def collections(request: Request) -> Response:
        return await run(core_api.describe_collections, request, request.path_params.get("collection_id"))

    async def queryables(request: Request) -> Response:
        return await run(itemtypes_api.get_collection_queryables, request, request.path_params["collection_id"])

    async def schema(request: Request) -> Response:
        return await run(core_api.get_collection_schema, request, request.path_params["collection_id"])

    async def items(request: Request) -> Response:
        collection = request.path_params["collection_id"]
        offset = request.query_params.get("offset")
        if offset is not None and offset.strip().isdigit() and int(offset) > MAX_OFFSET:
            headers = {"Content-Type": "application/json"}
            return _to_response(
                *api.get_exception(
                    400,
                    headers,
                    "json",
                    "InvalidParameterValue",
                    f"offset {offset} is beyond the largest allowed ({MAX_OFFSET})",
                )
            )
        problem = (
            sortby_problem(request.query_params.get("sortby"))
            or extent_problem(collection, request.query_params)
            or typed_problem(request.query_params, typed.get(collection, {}))
        )
        if request.method == "POST" and not problem:
            body, problem = json_object(await request.body(), "a CQL2 JSON filter")
            validator = filters.get(collection)
            error = best_match(validator.iter_errors(body)) if validator and not problem else None
            if error is not None:
                where = "/".join(map(str, error.absolute_path)) or "the body"
                problem = f"CQL2 JSON filter, at {where}: {error.message[:300]}"
            elif not problem:  # ACCENTI as pygeofilter's parser reads it (it knows CASEI's standard form)
                request._body = json.dumps(accenti_as_function(body)).encode()
        if problem:
            return _exception(400, "InvalidParameterValue", problem)
        bbox_crs = request.query_params.get("bbox-crs")
        if bbox_crs is not None and bbox_crs not in CRS_URIS:
            return _exception(
                400, "InvalidParameterValue", f"bbox-crs {bbox_crs[:80]!r} is not one of {', '.join(CRS_URIS)}"
            )
        if bbox_crs is not None and "bbox" not in request.query_params:
            request = without_parameter(request, "bbox-crs")  # nothing to interpret: ignored, as a client expects
        if empty_box(request.query_params.get("bbox")):  # holds nothing: ask for a line north of the data instead
            extent = resources.get(collection, {}).get("extents", {}).get("spatial", {}).get("bbox")
            if extent:
                west, _, east, north = extent
                request = without_parameter(request, "bbox-crs", ("bbox", f"{west},{north + 1},{east},{north + 1}"))
        lighter, problem = generalisation(collection, request.query_params)
        if problem:
            return _exception(400, "InvalidParameterValue", problem)
        for name in GENERALISATION_PARAMETERS:
            if name in request.query_params:
                request = without_parameter(request, name)
        item = request.path_params.get("item_id")
        raw = geojson_in_storage_crs(request)
        if item is not None:
            response = await run(itemtypes_api.get_collection_item, request, collection, item, raw_geometry=raw)
        else:
            response = await run(itemtypes_api.get_collection_items, request, collection, check=False, raw_geometry=raw)
        if response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json"):
            if lighter is not None and generaliser is not None:
                response = await asyncio.get_running_loop().run_in_executor(
                    None, generalised_response, response, generaliser, collection, lighter
                )
            response.headers["content-type"] = "application/geo+json"  # GeoJSON, as the OpenAPI document says
        return response

    def generalisation(
        collection: str, params: Any
    ) -> tuple[tuple[str, float, int | None, str | None] | None, str | None]:
        """(key, tolerance in degrees, decimals, crs) asked for by zoom-level, max-allowable-offset (the finer of the
        two when both are given) and precision, or why they cannot apply."""
        given = [p for p in GENERALISATION_PARAMETERS if p in params]
        if not given:
            return None, None
        spec = specs.get(collection)
        if spec is None or not spec.is_spatial or spec.key is None:
            return None, f"collection {collection} has no geometry: {', '.join(given)} cannot apply"
        tolerances = []
        try:
            if "zoom-level" in params:
                zoom = int(params["zoom-level"])
                if not 0 <= zoom <= MAX_ZOOM_LEVEL:
                    raise ValueError
                tolerances.append(zoom_tolerance(zoom))
            if "max-allowable-offset" in params:
                offset = float(params["max-allowable-offset"])
                if not 0 <= offset <= 1:  # NaN is refused too
                    raise ValueError
                tolerances.append(offset)
        except ValueError:
            return None, (
                f"zoom-level is a whole number from 0 to {MAX_ZOOM_LEVEL}; max-allowable-offset a number of degrees "
                "from 0 to 1"
            )
        try:
            precision = int(params["precision"]) if "precision" in params else None
            if precision is not None and not 0 <= precision <= 9:
                raise ValueError
        except ValueError:
            return None, "precision is a whole number of decimals from 0 to 9"
        crs = params.get("crs")
        return (spec.key, min(tolerances, default=0.0), precision, None if crs == CRS84 else crs), None

    async def processes(request: Request) -> Response:
        return await run(processes_api.describe_processes, request, request.path_params.get("process_id"))

    async def execute(request: Request) -> Response:
        nonlocal running
        problem = execution_problem(await request.body())
        if problem:
            return _exception(400, "InvalidParameterValue", problem)
        if running >= process_workers:
            busy = f"all {process_workers} process workers are busy; retry in {retry_after} s"
            return _exception(429, "TooManyRequests", busy, {"Retry-After": str(retry_after)})
        running += 1
        try:
            process = request.path_params["process_id"]
            response = await run(processes_api.execute_process, request, process, executor=pool, worker_pool=workers)
        finally:
            running -= 1
        if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
            body = json.loads(bytes(response.body))  # pygeoapi wraps errors in {"outputs": [...]} for `document`
            if isinstance(body, dict) and isinstance(body.get("outputs"), list) and body["outputs"]:
                return JSONResponse(body["outputs"][0], status_code=response.status_code)
        return response

    async def jobs(request: Request) -> Response:
        job = request.path_params.get("job_id")
        if request.method == "DELETE" and job:
            return await run(processes_api.delete_job, request, job)
        return await run(processes_api.get_jobs, request, job)

    async def job_results(request: Request) -> Response:
        return await run(processes_api.get_job_result, request, request.path_params["job_id"])

    static = Path(pygeoapi.__file__).parent / "static"
    routes: list[Route | Mount] = [
        Route("/", landing),
        Route("/openapi", openapi),
        Route("/conformance", conformance),
        Route("/collections", collections),
        Route("/collections/{collection_id}", collections),
        Route("/collections/{collection_id}/queryables", queryables),
        Route("/collections/{collection_id}/schema", schema),
        Route("/collections/{collection_id}/items", items, methods=["GET", "POST"]),
        Route("/collections/{collection_id}/items/{item_id}", items),
        Route("/processes", processes),
        Route("/processes/{process_id}", processes),
        Route("/processes/{process_id}/execution", execute, methods=["POST"]),
        Route("/jobs", jobs),
        Route("/jobs/{job_id}", jobs, methods=["GET", "DELETE"]),
        Route("/jobs/{job_id}/results", job_results),
        Mount("/static", StaticFiles(directory=static), name="ogc-static"),
    ]
    routes.append(Route("/{path:path}", Elsewhere(list(routes))))  # an ASGI app, not a function: any method
    return routes


GENERALISATION_PARAMETERS = ("zoom-level", "max-allowable-offset", "precision")


def generalised_response(
    response: Response,
    generaliser: Generaliser,
    collection: str,
    lighter: tuple[str, float, int | None, str | None],
) -> Response:
    """A GeoJSON answer with each feature's geometry swapped for its generalised one (by the feature's id)."""
    key, tolerance, precision, crs = lighter
    document = json.loads(bytes(response.body))
    geometries = generaliser.geometries(collection, key, tolerance, precision, crs)
    features = document.get("features", [document] if document.get("type") == "Feature" else [])
    for feature in features:
        if feature.get("geometry") is not None and str(feature.get("id")) in geometries:
            feature["geometry"] = geometries[str(feature["id"])]
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type")}
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(body, status_code=response.status_code, headers=headers, media_type="application/json")


def build_api(config: dict[str, Any]) -> API:
    """A pygeoapi API object with a self-contained OpenAPI document generated from the configuration."""
    from pygeoapi.openapi import get_oas
    from pygeoapi.plugin import load_plugin

    processes = {
        name: load_plugin("process", resource["processor"]).metadata
        for name, resource in config["resources"].items()
        if resource.get("type") == "process"
    }
    document = get_oas(config, fail_on_invalid_collection=False)
    api = API(config, self_contained(document, config, CRS_URIS, processes))
    quiet_client_errors()  # pygeoapi has just configured logging; its errors become one line
    return api
