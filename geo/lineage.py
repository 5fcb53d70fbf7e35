"""The documented lineage rules of data/boundaries/lineage.toml: spellings and 2009 predecessors."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ValidationError, field_validator

from geo.errors import InputDataError, validation_problem
from geo.names import clean_name, normalize_code


class _UnitRule(BaseModel):
    """A rule about one pre-merger unit, keyed by its 5-digit statistics-office code."""

    code: str
    note: str = ""

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        return normalize_code(value, 5)


class NameRule(_UnitRule):
    """The spelling the atlas shows for a pre-merger unit, and the spellings met in sources."""

    name: str
    variants: list[str] = []


class LineageRule(_UnitRule):
    """The 2009 communes a pre-merger unit was formed from; an empty list means none is known."""

    from_2009: list[str]


class UnassignedRule(BaseModel):
    """A 2009 commune that deliberately seeds no pre-merger unit."""

    district_code: str
    name: str
    note: str = ""

    @field_validator("district_code")
    @classmethod
    def _code(cls, value: str) -> str:
        return normalize_code(value, 3)


class Lineage(BaseModel):
    """All rules of lineage.toml, indexed by statistics-office code."""

    version: int
    names: list[NameRule] = []
    lineage: list[LineageRule] = []
    unassigned_2009: list[UnassignedRule] = []

    @classmethod
    def load(cls, path: Path) -> Lineage:
        """Read lineage.toml; errors name the file and the entry."""
        path = Path(path)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
            rules = cls.model_validate(raw)
        except FileNotFoundError:
            raise InputDataError(path, "file does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise InputDataError(path, f"is not valid TOML: {exc}") from exc
        except ValidationError as exc:
            raise InputDataError(path, validation_problem(exc.errors())) from exc
        for kind, codes in (("names", [r.code for r in rules.names]), ("lineage", [r.code for r in rules.lineage])):
            dup = sorted({c for c in codes if codes.count(c) > 1})
            if dup:
                raise InputDataError(path, f"code {dup[0]} has more than one [[{kind}]] entry")
        return rules

    def display_name(self, code: str, fallback: str) -> str:
        """The atlas's spelling of a unit: the rule's name if there is one, else the cleaned fallback."""
        for rule in self.names:
            if rule.code == code:
                return clean_name(rule.name)
        return clean_name(fallback)

    def variants(self, code: str) -> list[str]:
        """Other spellings of a unit declared in the rules."""
        for rule in self.names:
            if rule.code == code:
                return [clean_name(v) for v in rule.variants]
        return []

    def predecessors(self, code: str) -> LineageRule | None:
        """The lineage rule of a unit, if the rules give one."""
        for rule in self.lineage:
            if rule.code == code:
                return rule
        return None
