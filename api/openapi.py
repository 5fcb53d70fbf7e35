"""The OGC OpenAPI document made self-contained and true to what the service answers.

pygeoapi's generated document refers to schemas on remote hosts (schemas.opengis.net, GitHub), so validators
and offline clients cannot load it. `self_contained` replaces every remote `$ref` by a local component (the
OGC definitions restated here, as far as this service uses them), documents the status codes and media types
the service really answers (400, 404, 413, 415, 429; GeoJSON as `application/geo+json`), drops operations it
does not serve (OPTIONS) and gives each item route the id of a real feature as its example.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pyogrio

OGC = "https://schemas.opengis.net/ogcapi/"
FEATURES_1 = OGC + "features/part1/1.0/openapi/ogcapi-features-1.yaml"
PROCESSES_1 = OGC + "processes/part1/1.0/openapi/"
SORTBY = "https://raw.githubusercontent.com/opengeospatial/ogcapi-records/master/core/openapi/parameters/sortby.yaml"

EXCEPTION: dict[str, Any] = {
    "type": "object",
    "required": ["code"],
    "properties": {"code": {"type": "string"}, "type": {"type": "string"}, "description": {"type": "string"}},
}
LINK: dict[str, Any] = {
    "type": "object",
    "required": ["href"],
    "properties": {
        "href": {"type": "string"},
        "rel": {"type": "string"},
        "type": {"type": "string"},
        "hreflang": {"type": "string"},
        "title": {"type": "string"},
    },
}
HTML = {"text/html": {"schema": {"type": "string"}}}
MAX_OFFSET = 1_000_000  # larger item offsets are refused: no collection comes near that size

# What `lang` and `datetime` accept (api.ogc refuses the rest with a 400).
LANG_PATTERN = r"^([vV][iI]|[eE][nN])(-[A-Za-z0-9]{1,8})*$"
_YEAR = r"(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_MONTH_DAY = r"((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
_LEAP_DAY = r"([0-9]{2}(0[48]|[2468][048]|[13579][26])|([2468][048]|[13579][26]|0[48])00)-02-29"
_TIME = r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?"
_INSTANT = rf"({_YEAR}|{_YEAR}-(0[1-9]|1[0-2])|({_YEAR}-{_MONTH_DAY}|{_LEAP_DAY})({_TIME})?)"
DATETIME_PATTERN = rf"^({_INSTANT}|({_INSTANT}|\.\.)?/({_INSTANT}|\.\.)?)$"


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/exception"}},
            "application/ld+json": {"schema": {"$ref": "#/components/schemas/exception"}},
            **HTML,
        },
    }


def _document(schema: dict[str, Any], description: str, media: str = "application/json") -> dict[str, Any]:
    content = {media: {"schema": schema}, **HTML}
    if media != "application/ld+json":
        content["application/ld+json"] = {"schema": {"type": "object"}}
    return {"description": description, "content": content}


FEATURE_COLLECTION = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": {"type": "object"}},
        "links": {"type": "array", "items": {"$ref": "#/components/schemas/link"}},
        "numberMatched": {"type": "integer", "minimum": 0},
        "numberReturned": {"type": "integer", "minimum": 0},
    },
}
FEATURE = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"type": "string", "enum": ["Feature"]}, "properties": {"type": ["object", "null"]}},
}

# Local definitions of the remote components pygeoapi refers to: (section, name, definition).
REMOTE: dict[str, tuple[str, str, dict[str, Any]]] = {
    FEATURES_1 + "#/components/parameters/datetime": (
        "parameters",
        "datetime",
        {
            "name": "datetime",
            "in": "query",
            "description": "A date-time or an interval (RFC 3339, open ends as '..'); only yearly layers use it.",
            "required": False,
            "style": "form",
            "explode": False,
            "schema": {"type": "string"},
        },
    ),
    FEATURES_1 + "#/components/parameters/featureId": (
        "parameters",
        "featureId",
        {
            "name": "featureId",
            "in": "path",
            "description": "local identifier of a feature",
            "required": True,
            "schema": {"type": "string"},
        },
    ),
    SORTBY: (
        "parameters",
        "sortby",
        {
            "name": "sortby",
            "in": "query",
            "description": "Comma-separated property names to sort by, each optionally prefixed by + or -.",
            "required": False,
            "style": "form",
            "explode": False,
            "schema": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^[+-]?[A-Za-z_]\\w*$"}},
        },
    ),
    FEATURES_1 + "#/components/responses/LandingPage": (
        "responses",
        "LandingPage",
        _document({"type": "object", "properties": {"links": {"type": "array"}}}, "landing page or conformance"),
    ),
    FEATURES_1 + "#/components/responses/Collection": (
        "responses",
        "Collection",
        _document({"type": "object", "required": ["id", "links"]}, "a collection"),
    ),
    FEATURES_1 + "#/components/responses/Features": (
        "responses",
        "Features",
        _document(FEATURE_COLLECTION, "a page of features (GeoJSON)", "application/geo+json"),
    ),
    FEATURES_1 + "#/components/responses/Feature": (
        "responses",
        "Feature",
        _document(FEATURE, "one feature (GeoJSON)", "application/geo+json"),
    ),
    FEATURES_1 + "#/components/responses/InvalidParameter": ("responses", "InvalidParameter", _error("bad request")),
    FEATURES_1 + "#/components/responses/NotFound": ("responses", "NotFound", _error("not found")),
    FEATURES_1 + "#/components/responses/ServerError": ("responses", "ServerError", _error("server error")),
    PROCESSES_1 + "responses/NotFound.yaml": ("responses", "NotFound", _error("not found")),
    PROCESSES_1 + "responses/ServerError.yaml": ("responses", "ServerError", _error("server error")),
    PROCESSES_1 + "responses/ProcessList.yaml": (
        "responses",
        "ProcessList",
        _document(
            {"type": "object", "required": ["processes"], "properties": {"processes": {"type": "array"}}},
            "the processes",
        ),
    ),
    PROCESSES_1 + "responses/ExecuteAsync.yaml": (
        "responses",
        "ExecuteAsync",
        {"description": "job started", "content": {"application/json": {"schema": {"type": "object"}}}},
    ),
    PROCESSES_1 + "schemas/exception.yaml": ("schemas", "exception", EXCEPTION),
    PROCESSES_1 + "schemas/execute.yaml": (
        "schemas",
        "execute",
        {
            "type": "object",
            "properties": {
                "inputs": {"type": "object"},
                "outputs": {"type": "object"},
                "response": {"type": "string", "enum": ["raw", "document"], "default": "raw"},
                "subscriber": {"type": "object"},
            },
        },
    ),
    OGC + "tiles/part1/1.0/openapi/ogcapi-tiles-1.yaml#/components/schemas/link": ("schemas", "link", LINK),
}

# Answers of the request guards (api.limits) and the process pool, documented where they can happen.
GUARDS: dict[str, dict[str, Any]] = {
    "413": _error("request body larger than ATLAS_MAX_BODY_BYTES"),
    "415": _error("Content-Type is not application/json"),
    "429": {
        **_error("all process workers are busy; retry after the seconds of Retry-After"),
        "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
    },
}


class OpenApiError(ValueError):
    """The generated document refers to a remote component this module does not define."""


def _bundle(node: Any, components: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            if ref not in REMOTE:
                raise OpenApiError(f"OpenAPI document refers to {ref}, which has no local definition")
            section, name, definition = REMOTE[ref]
            components.setdefault(section, {})[name] = _bundle(copy.deepcopy(definition), components)
            return {"$ref": f"#/components/{section}/{name}"}
        return {k: _bundle(v, components) for k, v in node.items()}
    if isinstance(node, list):
        return [_bundle(v, components) for v in node]
    return node


def _first_id(resource: dict[str, Any]) -> str | None:
    provider = resource.get("providers", [{}])[0]
    data, layer = provider.get("data"), provider.get("options", {}).get("layer")
    if not data or not layer or not Path(data).is_file():
        return None
    field = provider.get("id_field")
    if not field:
        return "1"  # layers without a key number their rows from 1
    frame = pyogrio.read_dataframe(data, layer=layer, columns=[field], max_features=1, read_geometry=False)
    return str(frame[field].iloc[0]) if len(frame) else None


def execute_schema(metadata: dict[str, Any]) -> dict[str, Any]:
    """The schema of an execute request for one process: its own inputs, no others."""
    inputs = metadata.get("inputs", {})
    required = [k for k, v in inputs.items() if v.get("minOccurs", 0) >= 1]
    given: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {k: v["schema"] for k, v in inputs.items()},
    }
    schema: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "inputs": given,
            "outputs": {"type": "object"},
            "response": {"type": "string", "enum": ["raw", "document"], "default": "raw"},
        },
    }
    if required:  # OpenAPI 3.0: `required` is never empty
        given["required"] = required
        schema["required"] = ["inputs"]
    return schema


SPATIAL_PARAMETERS = ("bbox", "bbox-crs", "crs")


COMPARISONS = ("=", "<>", "<", ">", "<=", ">=")


TEXT_FUNCTIONS = ("casei", "accenti")


def cql2_schema(names: list[str]) -> dict[str, Any]:
    """The CQL2 JSON filters documented for a collection: comparisons of its properties (or of their CASEI and
    ACCENTI, nested at most twice), joined by and/or."""
    prop = {
        "type": "object",
        "required": ["property"],
        "additionalProperties": False,
        "properties": {"property": {"type": "string", "enum": names}},
    }

    def text_function(argument: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["op", "args"],
            "additionalProperties": False,
            "properties": {
                "op": {"type": "string", "enum": list(TEXT_FUNCTIONS)},
                "args": {"type": "array", "minItems": 1, "maxItems": 1, "items": argument},
            },
        }

    text = {"oneOf": [prop, {"type": "string"}]}
    once = text_function(text)
    operand = {
        "oneOf": [
            prop,
            {"type": "string"},
            {"type": "number"},
            {"type": "boolean"},
            text_function({"oneOf": [prop, {"type": "string"}, once]}),
        ]
    }
    comparison = {
        "type": "object",
        "required": ["op", "args"],
        "additionalProperties": False,
        "properties": {
            "op": {"type": "string", "enum": list(COMPARISONS)},
            "args": {"type": "array", "minItems": 2, "maxItems": 2, "items": operand},
        },
    }
    logical = {
        "type": "object",
        "required": ["op", "args"],
        "additionalProperties": False,
        "properties": {
            "op": {"type": "string", "enum": ["and", "or"]},
            "args": {"type": "array", "minItems": 2, "items": comparison},
        },
    }
    return {"oneOf": [comparison, logical]}


def _filter_operation(get: dict[str, Any]) -> dict[str, Any]:
    """The POST twin of an items operation: the same parameters and answers, a CQL2 JSON filter as the body."""
    names: list[str] = next(
        (p["schema"]["items"].get("enum", []) for p in get.get("parameters", []) if p.get("name") == "properties"), []
    )
    schema = cql2_schema(names)
    return {
        **copy.deepcopy({k: v for k, v in get.items() if k not in ("operationId", "summary", "description")}),
        "operationId": get.get("operationId", "getFeatures") + "Filtered",
        "summary": "Features matching a CQL2 JSON filter (comparisons of properties, joined by and/or)",
        "requestBody": {
            "required": True,
            "content": {"application/query-cql-json": {"schema": schema}, "application/json": {"schema": schema}},
        },
    }


def _collection_parameters(parameters: list[dict[str, Any]], resource: dict[str, Any]) -> list[dict[str, Any]]:
    """An items operation's parameters as its collection takes them: no bbox/crs without geometry, no datetime
    without years, and sortby naming the collection's properties."""
    provider = (resource.get("providers") or [{}])[0]
    dropped = set() if "storage_crs" in provider else set(SPATIAL_PARAMETERS)
    if "time_field" not in provider:
        dropped.add("datetime")
    names: list[str] = next(
        (p["schema"]["items"].get("enum", []) for p in parameters if p.get("name") == "properties"), []
    )
    kept = []
    for parameter in parameters:
        name = parameter.get("name") or parameter.get("$ref", "").rsplit("/", 1)[-1]
        if name in dropped:
            continue
        if name == "properties" and "schema" in parameter:
            parameter = {**parameter, "schema": {**parameter["schema"], "minItems": 1}}
        if name == "sortby" and names:
            sortby = copy.deepcopy(REMOTE[SORTBY][2])
            sortby["schema"]["items"] = {"type": "string", "enum": [s + n for n in names for s in ("", "+", "-")]}
            parameter = sortby
        kept.append(parameter)
    if "storage_crs" in provider:  # lighter geometries, where there are geometries
        kept += copy.deepcopy(GENERALISATION)
    return kept


GENERALISATION: list[dict[str, Any]] = [
    {
        "name": "zoom-level",
        "in": "query",
        "required": False,
        "description": "Generalise geometries for this WebMercatorQuad zoom (the tolerance of its vector tiles); "
        "shared borders stay shared",
        "schema": {"type": "integer", "minimum": 0, "maximum": 18},
        "example": 8,
    },
    {
        "name": "max-allowable-offset",
        "in": "query",
        "required": False,
        "description": "Generalise geometries to this tolerance, in degrees (the finer wins when zoom-level is given "
        "too)",
        "schema": {"type": "number", "minimum": 0, "maximum": 1},
    },
    {
        "name": "precision",
        "in": "query",
        "required": False,
        "description": "Decimals of the coordinates (by default a tenth of the tolerance; decimetres in a projected "
        "crs)",
        "schema": {"type": "integer", "minimum": 0, "maximum": 9},
    },
]


def self_contained(
    document: dict[str, Any],
    config: dict[str, Any],
    crs: tuple[str, ...] = (),
    processes: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The document with local components only, the service's real answers, and real feature ids as examples.

    `crs` lists the output CRSs every spatial collection serves; `processes` maps process ids to their metadata,
    whose inputs become the execute request's schema.
    """
    added: dict[str, Any] = {}
    doc = _bundle(document, added)
    components = doc.setdefault("components", {})
    for section, entries in added.items():
        components.setdefault(section, {}).update(entries)
    components.setdefault("schemas", {})["exception"] = EXCEPTION
    components["responses"]["default"] = _error("unexpected error")
    components["responses"].update({"InvalidParameter": _error("bad request"), "NotFound": _error("not found")})
    components["responses"]["Queryables"] = {
        "description": "a JSON schema of the collection's properties",
        "content": {
            "application/schema+json": {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
            **HTML,
        },
    }
    parameters = components["parameters"]
    if "lang" in parameters:
        parameters["lang"]["schema"] = {"type": "string", "pattern": LANG_PATTERN}
        parameters["lang"]["description"] = "vi or en, optionally with a region (en-GB); other languages are refused"
    if "bbox" in parameters:  # four or six numbers, not five (an array schema, so it stays comma-separated)
        parameters["bbox"]["schema"] = {
            "type": "array",
            "minItems": 4,
            "maxItems": 6,
            "items": {"type": "number"},
            "not": {"type": "array", "minItems": 5, "maxItems": 5},
        }
    if "offset" in parameters:
        parameters["offset"]["schema"] = {**parameters["offset"]["schema"], "maximum": MAX_OFFSET}
    if "datetime" in parameters:
        parameters["datetime"]["schema"] = {"type": "string", "pattern": DATETIME_PATTERN}
    if crs:
        for name in ("crs", "bbox-crs"):
            parameters[name]["schema"] = {"type": "string", "format": "uri", "enum": list(crs)}
    resources = config.get("resources", {})
    for path, operations in doc["paths"].items():
        if path.startswith("/collections/") and path.endswith("/items") and "get" in operations:
            operations["post"] = _filter_operation(operations["get"])  # api.ogc takes CQL2 JSON by POST
    for path, operations in doc["paths"].items():
        operations.pop("options", None)
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            responses.setdefault("400", {"$ref": "#/components/responses/InvalidParameter"})
            if "{" in path or path.startswith(("/collections/", "/processes/", "/jobs")):
                responses.setdefault("404", {"$ref": "#/components/responses/NotFound"})
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "header" and parameter.get("name") == "Prefer":
                    parameter["schema"] = {"type": "string"}  # RFC 7240: preferences not understood are ignored
            process = path.removeprefix("/processes/").removesuffix("/execution")
            if method == "post" and path.endswith("/execution") and process in (processes or {}):
                body = operation["requestBody"]["content"]["application/json"]
                body["schema"] = execute_schema((processes or {})[process])
                for content in responses.get("200", {}).get("content", {}).values():
                    raw = content.get("schema", {"type": "object"})  # `response: document` wraps it in outputs
                    document_form = {
                        "type": "object",
                        "required": ["outputs"],
                        "properties": {"outputs": {"type": "array", "items": raw}},
                    }
                    content["schema"] = {"anyOf": [raw, document_form]}
            if method == "post":
                responses.update({k: v for k, v in GUARDS.items() if k != "429" or path.endswith("/execution")})
            if path.startswith("/collections/") and path.split("/")[3:4] == ["items"]:
                operation["parameters"] = _collection_parameters(
                    operation.get("parameters", []), resources.get(path.split("/")[2], {})
                )
            if path.endswith("/items/{featureId}"):
                collection = path.split("/")[2]
                example = _first_id(resources.get(collection, {}))
                parameter = copy.deepcopy(components["parameters"]["featureId"])
                if example is not None:
                    parameter["example"] = example
                operation["parameters"] = [
                    parameter if p == {"$ref": "#/components/parameters/featureId"} else p
                    for p in operation.get("parameters", [])
                ]
    return doc


HTML_PAGES = ("/", "/maps/", "/releases", "/audit", "/intake/")  # routes that answer HTML (Accept or f) and JSON
ACCOUNT_PATHS = ("/login", "/logout", "/account/", "/intake/", "/audit")  # routes that ask who is asking
REDIRECT = {"description": "done; a browser is sent on to the next page", "headers": {"Location": {"schema": {}}}}


def _account_responses(path: str, method: str, responses: dict[str, Any]) -> None:
    """The answers of the routes that ask for an account: 401 (none), 403 (role, unit or CSRF), 429, 422."""
    if path != "/login":
        responses.setdefault("401", _error("no credentials, or a revoked token or ended session"))
    if path not in ("/login/",):
        responses.setdefault("403", _error("the account may not do this (role, unit), or the form's CSRF token"))
    if method == "post" or path == "/intake/":
        responses.setdefault("303", REDIRECT)
    if path == "/login" and method == "post":
        responses.setdefault("401", _error("wrong user name or password"))
    if (path, method) in (("/login", "post"), ("/intake/submissions", "post")):
        responses.setdefault("429", {**_error("too many attempts; retry after Retry-After"), **GUARDS["429"]})
        responses["429"]["description"] = "too many failed logins or uploads; retry after the seconds of Retry-After"
    if (path, method) in (("/intake/submissions", "post"), ("/account/tokens", "post")):
        responses.setdefault("201", {"description": "made", "content": {"application/json": {"schema": {}}}})
    if (path, method) == ("/intake/submissions", "post"):
        responses.setdefault("422", _error("the file cannot be taken: every problem by row and column"))


def app_document(document: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document of the app's own routes with the answers they really give.

    Bad parameters are 400 (api.errors), not FastAPI's 422; routes with path parameters can answer 404;
    every answer may be 413 when a body is sent past ATLAS_MAX_BODY_BYTES.
    """
    doc = copy.deepcopy(document)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["exception"] = EXCEPTION
    for path, operations in doc.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            responses.setdefault("400", _error("bad request"))
            if "{" in path:
                responses.setdefault("404", _error("not found"))
            responses.setdefault("413", GUARDS["413"])
            if path in HTML_PAGES and "200" in responses:
                responses["200"].setdefault("content", {}).update(HTML)
            if path.startswith(ACCOUNT_PATHS):
                _account_responses(path, method, responses)
            if path.startswith("/releases/"):
                responses.setdefault("410", _error("the release is listed but its file is no longer kept"))
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return doc
