"""Policy periods and poverty standards as data (data/policy/*.yaml), and the cited policy facts.

A period (`2021-2025`, `2026-2030`) has its units, its rules module, its official lists; a poverty
standard (`ND07-2021`, …) has the years it covers, its income lines, how many deprivations make a
low-income household poor, and its indicators. Every poverty figure carries the standard it was
measured by, and a series or a trend compares only figures of one standard.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from geo.errors import InputDataError, validation_problem

POLICY_DIR = Path(__file__).resolve().parent.parent / "data" / "policy"
NEEDS_FILE = Path(__file__).resolve().parent.parent / "data" / "profiles" / "needs.yaml"


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputDataError(path, "file does not exist") from None
    except yaml.YAMLError as exc:
        raise InputDataError(path, f"is not valid YAML: {exc}") from exc


def _text(value: object) -> str:
    return str(value)


M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], path: Path) -> M:
    """A model from a YAML file, read once while the file is unchanged; errors name the file and the entry.

    Maps, prints and the priority process ask for the policy data per popup or request: they share one parse.
    """
    try:
        stamp = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise InputDataError(path, "file does not exist") from None
    return _parsed(model, path.resolve(), stamp)


@lru_cache(maxsize=32)
def _parsed(model: type[M], path: Path, stamp: int) -> M:
    """The model of a file as it was at `stamp` (the cache key; the callers do not change the models)."""
    try:
        return model.model_validate(_read_yaml(path))
    except ValidationError as exc:
        raise InputDataError(path, validation_problem(exc.errors())) from exc


class Indicator(BaseModel):
    """One deprivation indicator of a poverty standard."""

    id: str
    dimension: str
    vi: str
    en: str

    @property
    def label(self) -> str:
        """ "Vietnamese / English"."""
        return f"{self.vi} / {self.en}"


class Standard(BaseModel):
    """A multidimensional poverty standard and the years it applies to."""

    id: str
    document: str
    title_vi: str
    title_en: str
    first_year: int
    last_year: int
    income_line_rural: int = Field(gt=0)
    income_line_urban: int = Field(gt=0)
    poor_min_deprivations: int = Field(ge=1)
    status: Literal["read", "draft", "inferred"]
    note: str = ""
    indicators: list[Indicator] = Field(default_factory=list)

    @model_validator(mode="after")
    def _years(self) -> Standard:
        if self.last_year < self.first_year:
            raise ValueError(f"standard {self.id}: last_year {self.last_year} is before first_year {self.first_year}")
        ids = [i.id for i in self.indicators]
        if len(set(ids)) != len(ids):
            raise ValueError(f"standard {self.id}: indicator ids repeat")
        return self

    def covers(self, year: int) -> bool:
        """Whether figures of `year` are measured by this standard."""
        return self.first_year <= year <= self.last_year

    @property
    def indicator_ids(self) -> list[str]:
        """The indicator ids, in the standard's order."""
        return [i.id for i in self.indicators]


class Standards(BaseModel):
    """Every poverty standard, without gaps or overlaps between their years."""

    version: str
    standards: list[Standard]

    _version = field_validator("version", mode="before")(_text)

    @model_validator(mode="after")
    def _contiguous(self) -> Standards:
        ordered = sorted(self.standards, key=lambda s: s.first_year)
        for a, b in itertools.pairwise(ordered):
            if b.first_year != a.last_year + 1:
                raise ValueError(f"standards {a.id} ({a.last_year}) and {b.id} ({b.first_year}) leave a gap or overlap")
        return self

    @classmethod
    def load(cls, path: Path | None = None) -> Standards:
        """Read data/policy/standards.yaml (or `path`); errors name the file and the entry."""
        return _validated(cls, Path(path or POLICY_DIR / "standards.yaml"))

    def for_year(self, year: int) -> Standard:
        """The standard poverty figures of `year` are measured by."""
        for standard in self.standards:
            if standard.covers(year):
                return standard
        raise InputDataError("data/policy/standards.yaml", f"no poverty standard covers {year}")

    def get(self, standard_id: str) -> Standard:
        """The standard with this id."""
        for standard in self.standards:
            if standard.id == standard_id:
                return standard
        raise KeyError(standard_id)

    def same_standard(self, first: int, last: int) -> bool:
        """Whether figures of the two years can be compared (one standard measures both)."""
        return self.for_year(first).id == self.for_year(last).id

    def comparable_start(self, years: Sequence[int], last: int) -> int:
        """The earliest of `years` measured by the same standard as `last`: where a like-with-like trend starts."""
        standard = self.for_year(last)
        return min(y for y in years if standard.covers(y))

    def breaks(self, years: Sequence[int]) -> list[tuple[int, int]]:
        """Consecutive pairs of `years` between which the standard changes."""
        ordered = sorted(set(years))
        return [(a, b) for a, b in itertools.pairwise(ordered) if not self.same_standard(a, b)]


class ListRef(BaseModel):
    """An official list: its document number and date."""

    document: str
    date: str

    _date = field_validator("date", mode="before")(_text)


class Period(BaseModel):
    """A policy period: its years, units, rules and official lists."""

    id: str
    title_vi: str
    title_en: str
    first_year: int
    last_year: int
    units: str
    rules: str
    criteria: str
    region_list: ListRef
    village_list: ListRef

    @property
    def label(self) -> str:
        """ "Giai đoạn … / Period …"."""
        return f"{self.title_vi} / {self.title_en}"

    @property
    def layer(self) -> str:
        """The classification layer of this period."""
        return f"classification_{self.id.replace('-', '_')}"


class Periods(BaseModel):
    """The policy periods and which one is current."""

    version: str
    current: str
    periods: list[Period]

    _version = field_validator("version", mode="before")(_text)

    @model_validator(mode="after")
    def _known(self) -> Periods:
        if self.current not in {p.id for p in self.periods}:
            raise ValueError(f"current period {self.current!r} is not one of the periods")
        return self

    @classmethod
    def load(cls, path: Path | None = None) -> Periods:
        """Read data/policy/periods.yaml (or `path`); errors name the file and the entry."""
        return _validated(cls, Path(path or POLICY_DIR / "periods.yaml"))

    def get(self, period_id: str) -> Period:
        """The period with this id; InputDataError naming the known ones otherwise."""
        for period in self.periods:
            if period.id == period_id:
                return period
        known = ", ".join(p.id for p in self.periods)
        raise InputDataError("period", f"{period_id!r} is not a policy period (known: {known})")

    @property
    def ids(self) -> list[str]:
        """Period ids, oldest first."""
        return [p.id for p in sorted(self.periods, key=lambda p: p.first_year)]

    def for_year(self, year: int) -> Period:
        """The period a year belongs to."""
        for period in self.periods:
            if period.first_year <= year <= period.last_year:
                return period
        raise InputDataError("data/policy/periods.yaml", f"no policy period covers {year}")


class NeedKind(BaseModel):
    """A kind of project and the deprivation indicators it addresses."""

    vi: str
    en: str
    indicators: list[str]


class Needs(BaseModel):
    """Which project kinds address which deprivation indicators (data/profiles/needs.yaml)."""

    version: str
    kinds: dict[str, NeedKind]
    unaddressed: list[str] = Field(default_factory=list)

    _version = field_validator("version", mode="before")(_text)

    @classmethod
    def load(cls, path: Path | None = None, standards: Standards | None = None) -> Needs:
        """Read a needs file; every indicator named must belong to some standard."""
        path = Path(path or NEEDS_FILE)
        needs = _validated(cls, path)
        known = {i for s in (standards or Standards.load()).standards for i in s.indicator_ids}
        for kind, spec in needs.kinds.items():
            unknown = sorted(set(spec.indicators) - known)
            if unknown:
                raise InputDataError(path, f"kinds.{kind}: indicator(s) {', '.join(unknown)} are in no standard")
        return needs

    def kind_of(self, indicator: str) -> str | None:
        """The project kind that addresses an indicator, or None."""
        for kind, spec in self.kinds.items():
            if indicator in spec.indicators:
                return kind
        return None


@dataclass(frozen=True)
class PolicyFact:
    """One row of the policy facts file (facts_2026.csv): a cited number and how sure it is."""

    key: str
    scope: str
    period: str
    value: str
    unit: str
    source_url: str
    source_doc: str
    note: str
    line: int

    @property
    def status(self) -> str:
        """read, draft, secondary or inferred: the first word of the note."""
        first = self.note.strip().split(";")[0].split(" ")[0].strip(",:").lower()
        return first if first in {"read", "draft", "secondary", "inferred", "expected", "estimate"} else "other"

    @property
    def number(self) -> float:
        """The value as a number."""
        return float(self.value)


POLICY_FACT_COLUMNS = ("key", "scope", "period", "value", "unit", "source_url", "source_doc", "note")


def read_policy_facts(path: Path) -> dict[str, PolicyFact]:
    """Every row of the policy facts file by key; a missing column or repeated key names the file and row."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(path, "file does not exist")
    out: dict[str, PolicyFact] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in POLICY_FACT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputDataError(path, f"missing column(s) {', '.join(missing)}")
        for line, row in enumerate(reader, start=2):
            key = (row["key"] or "").strip()
            if key in out:
                raise InputDataError(path, f"key {key!r} repeats row {out[key].line}", row=line, column="key")
            out[key] = PolicyFact(**{c: (row[c] or "").strip() for c in POLICY_FACT_COLUMNS}, line=line)
    return out


def read_target(facts: dict[str, PolicyFact], key: str, path: Path | str = "policy facts") -> float:
    """A calibration target from the policy facts: the row must exist and be marked read."""
    fact = facts.get(key)
    if fact is None:
        raise InputDataError(path, f"calibration target {key!r} is missing")
    if fact.status != "read":
        raise InputDataError(path, f"{key} is marked {fact.status!r}, only 'read' figures are targets", row=fact.line)
    try:
        return fact.number
    except ValueError:
        raise InputDataError(path, f"value {fact.value!r} is not a number", row=fact.line, column="value") from None
