"""OGC API - Processes of the atlas (pygeoapi processors).

`carry-to-2025`: figures a planner holds for the pre-merger communes (keyed by their statistics-office
codes) carried to the 2025 units through the crosswalk: counts summed, rates recomputed from the sums.
`priority`: the priority index of the 2025 units or the villages for a profile (the default one, a whole
profile, or weight changes to it), with each criterion's contribution, tier, sensitivity and trend.
`plan`: the investment portfolio that serves the most poor households within a budget.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar

import geopandas as gpd
import jsonschema
import pandas as pd
from pydantic import BaseModel, ValidationError
from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

from geo.errors import GeoError, validation_problem
from geo.indicators import COUNTS, aggregate
from geo.plan import PROJECT_KINDS, Costs, PlanOptions
from geo.priority import Profile
from layers.analysis import analysis_for
from layers.errors import LayerMissing, WarehouseMissing
from layers.store import open_store

# Bounds that keep every valid request within a stated time and size (named in the OpenAPI document).
MAX_COUNT = 10**9  # a count of households or persons in one commune
MAX_ROWS = 10_000  # rows of one carry-to-2025 request (200 communes × many years)
YEARS = (2000, 2100)
MAX_CRITERIA = 50  # criteria per scope of a profile sent with a priority request
MAX_DRAWS = 2000  # Monte-Carlo weight draws of a priority request
MAX_CANDIDATES = 1000  # extra candidate projects of a plan request (2,000 schools: 36 s, 29 s of it placing them)
MAX_BUDGET = 1e15  # VND
MAX_WEIGHT = 1e6  # a criterion's weight (weights are renormalised to sum to 1)
MAX_MINUTES = 10_000  # service thresholds of the costs

COUNT_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_COUNT}


WORKER_NICENESS = 10


class WorkerPool:
    """Spawned worker processes that run process executions, so that they hold neither the server's GIL nor its loop.

    Each worker opens the store itself (`open_store`, one per process) and keeps the analysis of its
    current build for the next request.
    A pool whose worker died is replaced on the next request. After `idle_seconds` with nothing to run the
    workers are stopped and their memory given back; the next request starts them again.
    """

    def __init__(self, workers: int, idle_seconds: float | None = None) -> None:
        self.workers = workers
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._running = 0
        self._idle: threading.Timer | None = None

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                context = multiprocessing.get_context("spawn")  # no forked copy of the server's threads and caches
                self._executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_start_worker)
            self._running += 1
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None
            return self._executor

    def run(self, processor: type[AtlasProcessor], definition: dict[str, Any], data: dict[str, Any]) -> Any:
        """Run `processor(definition).compute(data)` in a worker; its result or its exception."""
        executor = self._pool()
        try:
            return executor.submit(_compute, processor, definition, data).result()
        except BrokenProcessPool:
            with self._lock:
                if self._executor is executor:
                    self._executor = None
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            with self._lock:
                self._running -= 1
                if self._running == 0 and self.idle_seconds is not None and self._executor is not None:
                    self._idle = threading.Timer(self.idle_seconds, self._release, args=(self._executor,))
                    self._idle.daemon = True
                    self._idle.start()

    def _release(self, executor: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._running or self._executor is not executor:
                return
            self._executor = None
        executor.shutdown(wait=True)

    def started(self) -> bool:
        """Whether worker processes are running (or starting)."""
        return self._executor is not None

    def close(self) -> None:
        """Stop the workers (after their current request)."""
        with self._lock:
            if self._idle is not None:
                self._idle.cancel()
                self._idle = None
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None


# The pool of the request being executed (set by api.ogc around pygeoapi's handler); None: compute in this process.
WORKER_POOL: ContextVar[WorkerPool | None] = ContextVar("atlas_worker_pool", default=None)
# pygeoapi's job manager turns every exception of an execution into a failed job (answered 400 or 500). The errors
# the app answers itself (a missing warehouse 503, a missing layer 404) are put here too when the request gives a
# list (api.ogc does), and raised again once pygeoapi's handler has returned.
PASSED_ON: ContextVar[list[Exception] | None] = ContextVar("atlas_passed_on", default=None)
UNAVAILABLE = (WarehouseMissing, LayerMissing)


def _start_worker() -> None:
    """Run at lower priority, and end with the server: a killed server must not leave its solvers behind."""
    os.nice(WORKER_NICENESS)  # cheap requests (collections, items, tiles) go first on a busy machine
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="atlas-parent-watch", daemon=True).start()


def _compute(processor: type[AtlasProcessor], definition: dict[str, Any], data: dict[str, Any]) -> Any:
    return processor(definition).compute(data)


class AtlasProcessor(BaseProcessor):
    """A processor whose work (`compute`) runs in the request's worker pool when there is one."""

    METADATA: ClassVar[dict[str, Any]] = {}

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, self.METADATA)
        self.definition = processor_def

    def compute(self, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Validate the inputs and do the work; raises ProcessorExecuteError on bad inputs."""
        raise NotImplementedError

    def execute(self, data: dict[str, Any], outputs: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """pygeoapi's entry point: compute in a worker process when the request has a pool, else here."""
        data = check_inputs(self.metadata, data)
        pool = WORKER_POOL.get()
        try:
            if pool is None:
                return self.compute(data)
            result: tuple[str, dict[str, Any]] = pool.run(type(self), self.definition, data)
        except UNAVAILABLE as exc:
            passed_on = PASSED_ON.get()
            if passed_on is not None:
                passed_on.append(exc)
            raise
        return result


def model_schema(model: type[BaseModel], limits: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON schema of a pydantic model as OpenAPI 3.0 takes it: definitions inlined, no unknown properties.

    `limits` adds keywords to named properties (e.g. maxItems), at any depth.
    """
    raw = model.model_json_schema()
    definitions = raw.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                return inline(definitions[ref.rsplit("/", 1)[1]])
            out = {k: inline(v) for k, v in node.items() if k not in ("title", "description")}
            if out.get("type") == "object" and "properties" in out:
                out["additionalProperties"] = False
                for name, extra in (limits or {}).items():
                    if name in out["properties"]:
                        out["properties"][name] = {**out["properties"][name], **extra}
            return out
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    schema: dict[str, Any] = inline(raw)
    return schema


def _where(path: Any) -> str:
    """rows[0].households"""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e12 else f"{value:g}"


def _schema_problem(name: str, error: jsonschema.ValidationError) -> str:
    """One line naming the input and what is wrong with it, without echoing large values."""
    where = _where([name, *error.absolute_path])
    schema, value, keyword = error.schema, error.instance, error.validator
    if not isinstance(schema, dict):
        return f"input '{where}' is not valid"
    if keyword in ("minimum", "maximum") and "minimum" in schema and "maximum" in schema:
        kind = "a whole number" if schema.get("type") == "integer" else "a number"
        low, high = _number(schema["minimum"]), _number(schema["maximum"])
        return f"input '{where}' must be {kind} from {low} to {high} (given: {str(value)[:40]})"
    if keyword == "maxItems":
        return f"input '{where}': {len(value)} items, more than the limit of {schema['maxItems']}"
    if keyword == "additionalProperties" and isinstance(value, dict):
        unknown = sorted(str(k) for k in set(value) - set(schema.get("properties", {})))
        known = ", ".join(schema.get("properties", {})) or "none"
        return f"input '{where}': unknown entry {', '.join(unknown)}; known: {known}"[:600]
    if keyword == "minProperties" and isinstance(value, dict):
        needed = ", ".join(schema.get("required", []))
        return f"input '{where}': give {needed} and at least one of the other entries"
    if keyword == "enum":
        return f"input '{where}': {str(value)[:80]!r} is not one of {', '.join(map(str, schema['enum']))[:400]}"
    if keyword == "type":
        given = "null" if value is None else type(value).__name__
        return f"input '{where}' must be of type {schema['type']} (given: {given})"
    return f"input '{where}': {error.message[:300]}"


def check_inputs(metadata: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The inputs of an execute request checked against the process's input schemas (the ones the OpenAPI
    document states): unknown, null or missing required inputs and schema violations raise ProcessorExecuteError.
    """
    declared = metadata["inputs"]
    unknown = sorted(set(data) - set(declared))
    if unknown:
        raise ProcessorExecuteError(f"unknown input {', '.join(unknown)}; this process takes {', '.join(declared)}")
    for name, spec in declared.items():
        if name not in data:
            if spec.get("minOccurs", 0) >= 1:
                raise ProcessorExecuteError(f"input '{name}' is required")
            continue
        if data[name] is None:
            raise ProcessorExecuteError(f"input '{name}' is null; leave it out for the default")
        validator = jsonschema.Draft4Validator(spec["schema"])  # OpenAPI 3.0 schemas are JSON Schema draft 4 (ish)
        error = jsonschema.exceptions.best_match(validator.iter_errors(data[name]))
        if error is not None:
            raise ProcessorExecuteError(_schema_problem(name, error))
    return data


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


CARRY_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "carry-to-2025",
    "title": {"vi": "Chuyển số liệu xã cũ sang xã, phường 2025", "en": "Carry pre-merger figures to the 2025 units"},
    "description": {
        "vi": "Nhận số liệu theo mã xã trước sáp nhập (200 xã), cộng số đếm theo bảng chuyển đổi của Nghị quyết "
        "1681/NQ-UBTVQH15 và tính lại tỷ lệ cho 75 xã, phường mới.",
        "en": "Takes figures keyed by the codes of the 200 pre-merger communes, sums the counts through the "
        "crosswalk of Resolution 1681/NQ-UBTVQH15 and recomputes the rates for the 75 new units.",
    },
    "jobControlOptions": ["sync-execute"],
    "keywords": ["crosswalk", "sáp nhập", "aggregation"],
    "links": [],
    "inputs": {
        "rows": {
            "title": "Rows keyed by pre-merger commune code",
            "description": "Objects with unit_code (5 digits), year and any of: " + ", ".join(COUNTS),
            "schema": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_ROWS,
                "items": {
                    "type": "object",
                    "required": ["unit_code", "year"],
                    "minProperties": 3,  # unit_code, year and at least one figure
                    "additionalProperties": False,
                    "properties": {
                        "unit_code": {"type": "string", "pattern": "^[0-9]{5}$"},
                        "year": {"type": "integer", "minimum": YEARS[0], "maximum": YEARS[1]},
                        **{c: COUNT_SCHEMA for c in COUNTS},
                    },
                },
            },
            "minOccurs": 1,
            "maxOccurs": 1,
        }
    },
    "outputs": {
        "units_2025": {
            "title": "Figures of the 2025 units",
            "schema": {
                "type": "object",
                "required": ["id", "value"],
                "properties": {"id": {"type": "string"}, "value": {"type": "array", "items": {"type": "object"}}},
                "contentMediaType": "application/json",
            },
        }
    },
    "example": {"inputs": {"rows": [{"unit_code": "03646", "year": 2024, "households": 1200, "poor_households": 12}]}},
}


class CarryTo2025Processor(AtlasProcessor):
    """Sum pre-merger figures into the 2025 units (rates recomputed; `complete` says all predecessors were given)."""

    METADATA = CARRY_METADATA

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def)
        self.warehouse = open_store(processor_def["data"])
        try:  # the codes the crosswalk knows are the codes accepted
            codes = self.warehouse.frame("crosswalk_2025")["old_code"]
        except UNAVAILABLE:
            return  # any 5-digit code; the execution answers that the warehouse or the crosswalk is missing
        self.metadata = copy.deepcopy(CARRY_METADATA)
        row = self.metadata["inputs"]["rows"]["schema"]["items"]["properties"]
        row["unit_code"] = {"type": "string", "enum": sorted(str(c) for c in codes)}

    def compute(self, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Validate the rows and return their sums per 2025 unit and year."""
        rows = data.get("rows")
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise ProcessorExecuteError("input 'rows' must be a non-empty list of objects")
        if len(rows) > MAX_ROWS:
            raise ProcessorExecuteError(f"input 'rows': {len(rows)} rows, more than the limit of {MAX_ROWS}")
        for number, row in enumerate(rows, start=1):
            if "unit_code" not in row or "year" not in row:
                raise ProcessorExecuteError(f"input 'rows', row {number}: every row needs unit_code and year")
            code = row["unit_code"]
            if not isinstance(code, str) or len(code) != 5 or not code.isascii() or not code.isdigit():
                raise ProcessorExecuteError(f"input 'rows', row {number}: unit_code must be a 5-digit string")
            if not _whole(row["year"], *YEARS):
                raise ProcessorExecuteError(
                    f"input 'rows', row {number}: year must be a whole number from {YEARS[0]} to {YEARS[1]}"
                )
            for column in COUNTS:
                if column in row and not _whole(row[column], 0, MAX_COUNT):
                    raise ProcessorExecuteError(
                        f"input 'rows', row {number}: {column} must be a whole number from 0 to {MAX_COUNT}"
                    )
        frame = pd.DataFrame(rows)
        crosswalk = self.warehouse.frame("crosswalk_2025").set_index("old_code")["new_code"]
        frame["unit_code"] = frame["unit_code"].astype(str).str.zfill(5)
        unknown = sorted(set(frame["unit_code"]) - set(crosswalk.index))
        if unknown:
            raise ProcessorExecuteError(f"unknown pre-merger code(s): {', '.join(unknown[:10])}")
        dup = frame[frame.duplicated(["unit_code", "year"], keep=False)]
        if len(dup):
            raise ProcessorExecuteError(f"{dup.iloc[0]['unit_code']} appears twice for {dup.iloc[0]['year']}")
        given = [c for c in COUNTS if c in frame]
        if not given:
            raise ProcessorExecuteError(f"rows carry no figure; give any of {', '.join(COUNTS)}")
        for column in COUNTS:
            if column not in given:
                frame[column] = 0
                continue
            values = pd.to_numeric(frame[column], errors="coerce")
            if values.isna().any() or (values < 0).any() or (values != values.round()).any():
                raise ProcessorExecuteError(f"{column} must be a whole number of at least 0 on every row")
            frame[column] = values.astype("int64")
        if {"poor_households", "households"} <= set(given) and (frame["poor_households"] > frame["households"]).any():
            raise ProcessorExecuteError("poor_households exceeds households on a row")
        frame = frame.assign(region_class=float("nan"), new_rural=False, synthetic=False, sources="process input")
        result = aggregate(frame, crosswalk, "2025")
        predecessors = crosswalk.value_counts()
        result["n_communes_2025_unit"] = result["unit_code"].map(predecessors)
        result["complete"] = result["n_communes_2024"] == result["n_communes_2025_unit"]
        rates = {
            "poor_rate": "poor_households",
            "near_poor_rate": "near_poor_households",
            "ethnic_minority_share": "ethnic_minority_households",
        }
        keep = [
            "unit_code",
            "year",
            *given,
            *[r for r, c in rates.items() if c in given and "households" in given],
            "n_communes_2024",
            "n_communes_2025_unit",
            "complete",
        ]
        records = result[keep].astype(object).where(result[keep].notna(), None).to_dict("records")
        return "application/json", {"id": "units_2025", "value": records}


# ----------------------------------------------------------------------------------------------------
# priority
# ----------------------------------------------------------------------------------------------------

SYNTHETIC_NOTE = {
    "vi": "Dữ liệu minh họa (mô phỏng), không phải số liệu chính thức",
    "en": "Synthetic demo data, not official figures",
}

PRIORITY_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "priority",
    "title": {"vi": "Chỉ số ưu tiên xã, phường và bản", "en": "Priority index of the 2025 units and villages"},
    "description": {
        "vi": "Xếp hạng 75 xã, phường (hoặc các bản) theo hồ sơ tiêu chí: điểm là tổng đóng góp của từng tiêu "
        "chí, phân nhóm ưu tiên, độ nhạy theo trọng số (±20% và Monte-Carlo) và xu hướng 2021→2025.",
        "en": "Ranks the 75 units (or the villages) by a criteria profile: the score is the sum of each "
        "criterion's contribution, with tier, weight sensitivity (±20% and Monte-Carlo) and the poverty trend "
        "between two years of one poverty standard; by default the current period (2026-2030), or the earlier one.",
    },
    "jobControlOptions": ["sync-execute"],
    "keywords": ["priority", "ưu tiên", "especially difficult", "đặc biệt khó khăn"],
    "links": [],
    "inputs": {
        "scope": {
            "title": "units (75 xã, phường 2025) or villages (bản)",
            "schema": {"type": "string", "enum": ["units", "villages"], "default": "units"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "period": {
            "title": "Policy period of the server's profiles: 2026-2030 (current, default) or 2021-2025",
            "description": "Ranks by that period's profile (data/profiles/<period>.yaml beside the server's); "
            "ignored when a whole profile is given (its own `period` applies)",
            "schema": {"type": "string", "enum": ["2021-2025", "2026-2030"]},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "profile": {
            "title": "A whole profile (the YAML profile as JSON); default: the server's profile",
            "description": f"At most {MAX_CRITERIA} criteria per scope; criterion ids unique within a scope, at least "
            "one positive weight per scope, columns of the criteria tables (data/profiles/default.yaml shows them)",
            "schema": model_schema(
                Profile,
                {
                    "units": {"minItems": 1, "maxItems": MAX_CRITERIA},
                    "villages": {"minItems": 1, "maxItems": MAX_CRITERIA},
                    "weight": {"maximum": MAX_WEIGHT},
                    "id": {"minLength": 1, "maxLength": 100},
                    "column": {"minLength": 1, "maxLength": 100},
                },
            ),
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "weights": {
            "title": 'Weight changes by criterion id, applied to the profile (e.g. {"poor_rate": 0.4})',
            "description": "Ids of the server's profile; with a whole profile, set the weights in it instead",
            "schema": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0, "maximum": 1e6}},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "draws": {
            "title": "Monte-Carlo weight draws (0: none, for a quick re-rank)",
            "description": "2,000 draws over the villages with 50 criteria take about 8 s; with 0 the ranking has "
            "no Monte-Carlo columns (rank_p05_mc, rank_p95_mc, tier_share_mc are null)",
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_DRAWS, "default": 500},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "limit": {
            "title": "How many of the highest ranked to return (default all)",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100_000},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "geometry": {
            "title": "Include geometries (default: only for villages)",
            "schema": {"type": "boolean"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
    },
    "outputs": {
        "priority": {
            "title": "Summary and ranking (GeoJSON FeatureCollection, highest priority first)",
            "schema": {"type": "object", "contentMediaType": "application/json"},
        }
    },
    "example": {"inputs": {"scope": "units", "weights": {"poor_rate": 0.4}, "limit": 10}},
}


def _features(frame: pd.DataFrame, geometry: bool, id_field: str) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of a (Geo)DataFrame; geometry null when not asked for."""
    if isinstance(frame, gpd.GeoDataFrame) and geometry and len(frame):
        collection: dict[str, Any] = json.loads(frame.to_crs("EPSG:4326").to_json(na="null", drop_id=True))
        for feature, key in zip(collection["features"], frame[id_field], strict=True):
            feature["id"] = str(key)
        return collection
    table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    rows = json.loads(table.to_json(orient="records", force_ascii=False))
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "id": str(r[id_field]), "geometry": None, "properties": r} for r in rows],
    }


class PriorityProcessor(AtlasProcessor):
    """Rank units or villages by a profile (server default, given whole, or with weights changed)."""

    METADATA = PRIORITY_METADATA

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def)
        self.warehouse = open_store(processor_def["data"])
        self.profile_path = Path(processor_def["profile"])
        if self.profile_path.is_file():  # weights may name the criteria of the server's profile, no others
            server = Profile.load(self.profile_path)
            ids = sorted({c.id for c in (*server.units, *server.villages)})
            self.metadata = copy.deepcopy(PRIORITY_METADATA)
            self.metadata["inputs"]["weights"]["schema"] = {
                "type": "object",
                "additionalProperties": False,
                "properties": {i: {"type": "number", "minimum": 0, "maximum": MAX_WEIGHT} for i in ids},
            }

    def profile(self, data: dict[str, Any]) -> Profile:
        """The profile of a request: the given one or the server's, with weight changes applied."""
        given = data.get("profile")
        if given is not None and not isinstance(given, dict):
            raise ProcessorExecuteError("input 'profile' must be an object (a profile as JSON)")
        for scope in ("units", "villages"):
            criteria = (given or {}).get(scope)
            if isinstance(criteria, list) and len(criteria) > MAX_CRITERIA:
                raise ProcessorExecuteError(
                    f"input 'profile': {len(criteria)} {scope} criteria, more than the limit of {MAX_CRITERIA}"
                )
        profile = Profile.from_dict(given, "input 'profile'") if given else self._period_profile(data.get("period"))
        weights = data.get("weights") or {}
        if not isinstance(weights, dict):
            raise ProcessorExecuteError("input 'weights' must be an object of criterion id → weight")
        known = {c.id for c in (*profile.units, *profile.villages)}
        unknown = sorted(set(weights) - known)
        if unknown:
            raise ProcessorExecuteError(
                f"input 'weights': unknown criterion {', '.join(unknown)}; the profile has {', '.join(sorted(known))}"
            )
        if weights:
            raw = profile.model_dump()
            for scope in ("units", "villages"):
                for criterion in raw[scope]:
                    if criterion["id"] in weights:
                        criterion["weight"] = weights[criterion["id"]]
            raw["version"] = f"{profile.version}+weights"
            profile = Profile.from_dict(raw, "input 'weights'")
        return profile

    def _period_profile(self, period: Any) -> Profile:
        """The server's profile, or the profile of another policy period kept beside it."""
        server = Profile.load(self.profile_path)
        if period is None or period == server.period:
            return server
        if period not in ("2021-2025", "2026-2030"):
            raise ProcessorExecuteError("input 'period' must be '2021-2025' or '2026-2030'")
        path = self.profile_path.parent / f"{period}.yaml"
        if not path.is_file():
            raise ProcessorExecuteError(f"input 'period': the server has no profile for {period} ({path.name})")
        return Profile.load(path)

    def compute(self, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Score, rank and tier; return the summary and the ranking."""
        scope = data.get("scope", "units")
        if scope not in ("units", "villages"):
            raise ProcessorExecuteError("input 'scope' must be 'units' or 'villages'")
        draws, limit = data.get("draws", 500), data.get("limit")
        if not (draws == 0 or _whole(draws, 10, MAX_DRAWS)):
            raise ProcessorExecuteError(f"input 'draws' must be 0 (none) or a whole number from 10 to {MAX_DRAWS}")
        if limit is not None and not _whole(limit, 1, 100_000):
            raise ProcessorExecuteError("input 'limit' must be a whole number from 1 to 100000")
        geometry = data.get("geometry", scope == "villages")
        if not isinstance(geometry, bool):
            raise ProcessorExecuteError("input 'geometry' must be true or false")
        try:
            profile = self.profile(data)
            analysis = analysis_for(self.warehouse)
            ranked = analysis.rank(profile, draws=draws)
        except UNAVAILABLE:
            raise
        except GeoError as exc:
            raise ProcessorExecuteError(str(exc)) from exc
        table = ranked.units if scope == "units" else ranked.villages
        key = "unit_code" if scope == "units" else "village_id"
        if limit is not None:
            table = table.head(limit)
        criteria = profile.units if scope == "units" else profile.villages
        return "application/json", {
            "id": "priority",
            "scope": scope,
            "summary": ranked.summary(),
            "criteria": [c.model_dump() for c in criteria],
            "synthetic": bool(analysis.criteria.synthetic),
            "note": SYNTHETIC_NOTE if analysis.criteria.synthetic else None,
            "ranking": _features(table, geometry, key),
        }


# ----------------------------------------------------------------------------------------------------
# plan
# ----------------------------------------------------------------------------------------------------

VND = {"type": "number", "minimum": 1, "maximum": MAX_BUDGET}
COSTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "road_upgrade_per_km": {"type": "object", "additionalProperties": VND},
        "all_season_crossing": VND,
        "school": VND,
        "health_station": VND,
        "grid_fixed": {**VND, "minimum": 0},
        "grid_per_km": {**VND, "minimum": 0},
        "school_minutes": {"type": "number", "minimum": 1, "maximum": MAX_MINUTES},
        "health_minutes": {"type": "number", "minimum": 1, "maximum": MAX_MINUTES},
        "water_sanitation_fixed": {**VND, "minimum": 0},
        "water_sanitation_per_household": {**VND, "minimum": 0},
        "housing_support_per_household": {**VND, "minimum": 0},
        "connectivity": {**VND, "minimum": 0},
        "deprivation_min_share": {"type": "number", "minimum": 0, "maximum": 1},
    },
}
POSITION = {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "number"}}
CANDIDATES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_CANDIDATES,
            "items": {
                "type": "object",
                "required": ["type", "geometry", "properties"],
                "properties": {
                    "type": {"type": "string", "enum": ["Feature"]},
                    "geometry": {
                        "oneOf": [
                            {
                                "type": "object",
                                "required": ["type", "coordinates"],
                                "properties": {"type": {"type": "string", "enum": ["Point"]}, "coordinates": POSITION},
                            },
                            {
                                "type": "object",
                                "required": ["type", "coordinates"],
                                "properties": {
                                    "type": {"type": "string", "enum": ["LineString"]},
                                    "coordinates": {"type": "array", "minItems": 2, "items": POSITION},
                                },
                            },
                        ]
                    },
                    "properties": {
                        "type": "object",
                        "required": ["project_id", "kind"],
                        "properties": {
                            "project_id": {"type": "string", "minLength": 1, "maxLength": 100},
                            "kind": {"type": "string", "enum": list(PROJECT_KINDS)},
                            "name": {"type": "string", "maxLength": 200},
                            "cost_vnd": VND,
                        },
                    },
                },
            },
        },
    },
}

PLAN_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "plan",
    "title": {"vi": "Kế hoạch đầu tư hạ tầng", "en": "Infrastructure investment plan"},
    "description": {
        "vi": "Chọn các dự án (cứng hóa đường, cầu, điểm trường, điểm y tế, kéo điện lưới) phục vụ nhiều hộ "
        "nghèo nhất trong phạm vi ngân sách (quy hoạch tuyến tính nguyên, HiGHS).",
        "en": "Picks the projects (road upgrades, crossings, school and health sites, grid extensions) that "
        "serve the most poor households within the budget (mixed-integer programme, HiGHS).",
    },
    "jobControlOptions": ["sync-execute"],
    "keywords": ["investment", "đầu tư", "MILP", "budget"],
    "links": [],
    "inputs": {
        "budget": {
            "title": "Budget in VND (e.g. 50000000000 for 50 billion đồng)",
            "schema": {"type": "number", "minimum": 1, "maximum": MAX_BUDGET},
            "minOccurs": 1,
            "maxOccurs": 1,
        },
        "min_region_iii_share": {
            "title": "Minimum share of the spending in region III communes (0-1)",
            "schema": {"type": "number", "minimum": 0, "maximum": 1},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "max_projects_per_unit": {
            "title": "At most this many projects per 2025 unit",
            "schema": {"type": "integer", "minimum": 1, "maximum": 10_000},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "next_best": {
            "title": "How many next-best unfunded projects to list",
            "schema": {"type": "integer", "minimum": 0, "maximum": 100, "default": 10},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "costs": {
            "title": "Unit cost changes (keys of data/profiles/costs.yaml), applied to the server's costs",
            "schema": COSTS_SCHEMA,
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "candidates": {
            "title": "Extra candidate projects: GeoJSON FeatureCollection (EPSG:4326) with project_id and kind",
            "description": f"At most {MAX_CANDIDATES} features; project ids unique; each project near the villages "
            "or road links it serves. Placing 1,000 candidates takes about 15 s, before the solver's time limit",
            "schema": CANDIDATES_SCHEMA,
            "minOccurs": 0,
            "maxOccurs": 1,
        },
    },
    "outputs": {
        "plan": {
            "title": "Totals, chosen projects (GeoJSON) and next best unfunded projects",
            "schema": {"type": "object", "contentMediaType": "application/json"},
        }
    },
    "example": {"inputs": {"budget": 50e9, "min_region_iii_share": 0.6}},
}


class PlanProcessor(AtlasProcessor):
    """The portfolio of candidate projects that serves the most poor households within a budget."""

    METADATA = PLAN_METADATA

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def)
        self.warehouse = open_store(processor_def["data"])
        self.costs_path = Path(processor_def["costs"])
        self.time_limit = float(processor_def.get("time_limit", 30.0))

    def costs(self, data: dict[str, Any]) -> Costs:
        """The server's unit costs with the request's changes."""
        try:
            costs = Costs.load(self.costs_path)
        except GeoError as exc:
            raise ProcessorExecuteError(str(exc)) from exc
        change = data.get("costs") or {}
        if not isinstance(change, dict):
            raise ProcessorExecuteError("input 'costs' must be an object of cost name → value")
        unknown = sorted(set(change) - set(Costs.model_fields))
        if unknown:
            raise ProcessorExecuteError(
                f"input 'costs': unknown entry {', '.join(unknown)}; known: {', '.join(Costs.model_fields)}"
            )
        if not change:
            return costs
        raw = costs.model_dump()
        if isinstance(change.get("road_upgrade_per_km"), dict):
            change = change | {"road_upgrade_per_km": raw["road_upgrade_per_km"] | change["road_upgrade_per_km"]}
        raw |= change
        raw["version"] = f"{costs.version}+request"
        try:
            return Costs.model_validate(raw)
        except ValidationError as exc:
            raise ProcessorExecuteError(f"input 'costs': {validation_problem(exc.errors())}") from exc

    def compute(self, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Solve the plan; return totals, the chosen projects as GeoJSON and the next best ones."""
        if "budget" not in data:
            raise ProcessorExecuteError("input 'budget' (VND) is required")
        budget = data["budget"]
        if isinstance(budget, bool) or not isinstance(budget, int | float) or not 1 <= budget <= MAX_BUDGET:
            raise ProcessorExecuteError(f"input 'budget' must be a number of VND from 1 to {MAX_BUDGET:.0e}")
        for name, high in (("max_projects_per_unit", 10_000), ("next_best", 100)):
            if data.get(name) is not None and not _whole(data[name], 0, high):
                raise ProcessorExecuteError(f"input '{name}' must be a whole number of at most {high}")
        try:
            options = PlanOptions.model_validate(
                {
                    k: data[k]
                    for k in ("budget", "min_region_iii_share", "max_projects_per_unit", "next_best")
                    if data.get(k) is not None
                }
                | {"time_limit": self.time_limit}
            )
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ProcessorExecuteError(f"input '{'.'.join(map(str, err['loc']))}': {err['msg']}") from exc
        costs = self.costs(data)
        imported: list[tuple[gpd.GeoDataFrame, str]] = []
        given = data.get("candidates")
        if given:
            if not isinstance(given, dict) or given.get("type") != "FeatureCollection":
                raise ProcessorExecuteError("input 'candidates' must be a GeoJSON FeatureCollection")
            features = given.get("features")
            if not isinstance(features, list) or not all(isinstance(f, dict) for f in features):
                raise ProcessorExecuteError("input 'candidates': 'features' must be a list of GeoJSON features")
            if len(features) > MAX_CANDIDATES:
                raise ProcessorExecuteError(
                    f"input 'candidates': {len(features)} features, more than the limit of {MAX_CANDIDATES}"
                )
            try:
                frame = gpd.GeoDataFrame.from_features(given["features"], crs="EPSG:4326")
            except Exception as exc:  # shapely/geopandas raise several kinds on bad GeoJSON
                raise ProcessorExecuteError(f"input 'candidates' is not readable GeoJSON: {exc}") from exc
            frame.columns = [c if c == "geometry" else str(c).strip().lower() for c in frame.columns]
            imported.append((frame, "input 'candidates'"))
        try:
            analysis = analysis_for(self.warehouse)
            result = analysis.plan(costs, options, imported)
            points, _ = analysis.plan_layers(result, costs)
        except UNAVAILABLE:
            raise
        except GeoError as exc:
            raise ProcessorExecuteError(str(exc)) from exc
        synthetic = bool(analysis.criteria.synthetic)
        return "application/json", {
            "id": "plan",
            "totals": result.totals | {"costs_version": costs.version},
            "synthetic": synthetic,
            "note": SYNTHETIC_NOTE if synthetic else None,
            "chosen": _features(points, True, "project_id"),
            "next_best": json.loads(result.next_best.to_json(orient="records", force_ascii=False)),
        }
