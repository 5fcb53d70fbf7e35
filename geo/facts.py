"""Published figures (facts/*.csv) and the calibration targets the demo dataset must reproduce."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from pathlib import Path

from geo.errors import InputDataError
from geo.policy import PolicyFact, read_target


@dataclass(frozen=True)
class Fact:
    """One published figure, as a row of a facts file."""

    indicator: str
    scope: str
    when: str
    value: float
    unit: str
    source: str
    note: str
    file: str
    line: int


def read_facts(*paths: Path) -> list[Fact]:
    """Every row of the facts CSV files (indicator, scope, year_or_date, value, unit, source, note); a source
    "same" is the source of the row above."""
    facts: list[Fact] = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise InputDataError(path, "file does not exist")
        with open(path, encoding="utf-8-sig", newline="") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                try:
                    value = float(row["value"])
                except (KeyError, TypeError, ValueError):
                    raise InputDataError(
                        path, f"value {row.get('value')!r} is not a number", row=line, column="value"
                    ) from None
                source = (row.get("source_url_or_repo") or row.get("source") or "").strip()
                if source.lower() == "same" and facts and facts[-1].file == path.name:
                    source = facts[-1].source  # "same": the row above's source
                facts.append(
                    Fact(
                        indicator=row["indicator"].strip(),
                        scope=row["scope"].strip(),
                        when=row["year_or_date"].strip(),
                        value=value,
                        unit=row.get("unit", "").strip(),
                        source=source,
                        note=(row.get("note") or "").strip(),
                        file=path.name,
                        line=line,
                    )
                )
    return facts


@dataclass(frozen=True)
class Target:
    """A published figure the demo dataset is calibrated to, and how to read it from the facts."""

    key: str
    indicator: str
    scope: str
    when: str
    kind: str  # "count" (reproduced exactly) or "rate" (within 0.1 percentage point)
    note_pattern: str | None = None  # read the value from the note instead of the value column
    description: str = ""


# The figures the generator targets. Years: "2022 (QĐ 87…)" means 2022; "end-2024" means 2024.
TARGETS: tuple[Target, ...] = (
    Target("households_2022", "total_households", "Sơn La province", "2022", "count"),
    Target("persons_2022", "total_persons", "Sơn La province", "2022", "count"),
    Target("persons_2024", "population", "Sơn La province", "31/12/2024", "count"),
    Target("poor_2022", "poor_households", "Sơn La province", "2022", "count"),
    Target("near_poor_2022", "near_poor_households", "Sơn La province", "2022", "count"),
    Target("ethnic_minority_households_2022", "ethnic_minority_households", "Sơn La province", "2022", "count"),
    Target("poor_rate_ethnic_minority_2022", "poor_rate_ethnic_minority", "Sơn La province", "2022", "rate"),
    Target("poor_rate_2021", "poor_rate", "Sơn La province", "2021", "rate"),
    Target("poor_rate_2022", "poor_rate", "Sơn La province", "2022", "rate"),
    Target("near_poor_rate_2022", "near_poor_rate", "Sơn La province", "2022", "rate"),
    Target("poor_rate_2024", "poor_rate", "Sơn La province", "end-2024", "rate"),
    Target(
        "poor_rate_2025", "poor_rate", "Sơn La province", "2025", "rate", description="seed article: about 10% in 2025"
    ),
    Target("poor_rate_sop_cop_2023", "poor_rate", "Sốp Cộp district", "2023", "rate"),
    Target("poor_rate_sop_cop_2024", "poor_rate", "Sốp Cộp district", "2024", "rate"),
    Target("poor_rate_mai_son_2023", "poor_rate", "Mai Sơn district", "end-2023", "rate"),
    Target(
        "poor_rate_chieng_noi",
        "poor_rate",
        "Chiềng Nơi commune (Mai Sơn)",
        "undated",
        "rate",
        description="undated; used as Chiềng Nơi's 2021 rate",
    ),
    Target("region_iii_communes", "region_III_communes", "Sơn La province", "2021-2025 (QĐ 861/QĐ-TTg)", "count"),
    Target("region_iii_mai_son", "region_III_communes", "Mai Sơn district", "07/2024", "count"),
    Target("region_iii_bac_yen", "region_III_communes", "Bắc Yên district", "~2023", "count"),
    Target("villages_total", "villages_total", "Sơn La province", "2022", "count"),
    Target(
        "especially_difficult_villages",
        "especially_difficult_villages",
        "Sơn La province",
        "2021-2025 (QĐ 612/QĐ-UBDT)",
        "count",
    ),
    Target(
        "especially_difficult_villages_mai_son", "especially_difficult_villages", "Mai Sơn district", "07/2024", "count"
    ),
    Target(
        "paved_road_share",
        "villages_with_paved_road_to_commune_centre",
        "Sơn La province",
        "2023 (article)",
        "rate",
        note_pattern=r"([\d.]+)% of villages",
        description="the article's 74.41% of villages (its count, 1,672, is on a smaller base)",
    ),
    Target("ntm_communes_2021", "ntm_communes", "Sơn La province", "end-2021", "count"),
    Target("ntm_communes_2025", "communes_meeting_ntm", "Sơn La province", "07/2025", "count"),
)


def _year_match(when: str, wanted: str) -> bool:
    return when == wanted or when.split(" ")[0] == wanted


def resolve_targets(facts: list[Fact], targets: tuple[Target, ...] = TARGETS) -> dict[str, tuple[Target, Fact, float]]:
    """Each target with the fact it comes from and its value; a missing or ambiguous fact is an error."""
    out: dict[str, tuple[Target, Fact, float]] = {}
    for target in targets:
        hits = [
            f
            for f in facts
            if f.indicator == target.indicator and f.scope == target.scope and _year_match(f.when, target.when)
        ]
        if len({f.value for f in hits}) == 1:
            hits = hits[:1]  # the same figure published twice
        if len(hits) != 1:
            files = sorted({f.file for f in facts})
            raise InputDataError(
                ", ".join(files),
                f"calibration target {target.key}: expected one row {target.indicator} / {target.scope} / "
                f"{target.when}, found {len(hits)}",
            )
        fact = hits[0]
        value = fact.value
        if target.note_pattern:
            m = re.search(target.note_pattern, fact.note)
            if not m:
                raise InputDataError(
                    fact.file, f"note does not match {target.note_pattern!r}", row=fact.line, column="note"
                )
            value = float(m.group(1))
        out[target.key] = (target, fact, value)
    return out


# Targets from the policy facts (facts_2026.csv); only rows marked "read" qualify (geo.policy.read_target).
# A key also in TARGETS replaces it: the read end-2024 rate (10.89%) replaces the December estimate (11.11%).
POLICY_TARGETS: tuple[Target, ...] = (
    Target("poor_rate_2023", "sonla_poverty_rate_2023", "Sơn La province", "end 2023", "rate"),
    Target("poor_rate_2024", "sonla_poverty_rate_2024", "Sơn La province", "end 2024", "rate"),
    Target("units_total", "sonla_commune_units_total", "Sơn La province", "2025", "count"),
    Target("wards_2025", "sonla_wards_2025", "Sơn La province", "2025", "count"),
    Target(
        "region_iii_2026",
        "sonla_region_III_communes",
        "Sơn La province",
        "2026-2030 (QĐ 60/QĐ-BDTTG)",
        "count",
    ),
)


def resolve_policy_targets(
    facts: dict[str, PolicyFact], path: Path | str, targets: tuple[Target, ...] = POLICY_TARGETS
) -> dict[str, tuple[Target, Fact, float]]:
    """Each policy target with its fact and value; a missing row or one not marked read is an error."""
    out: dict[str, tuple[Target, Fact, float]] = {}
    for target in targets:
        value = read_target(facts, target.indicator, path)
        row = facts[target.indicator]
        fact = Fact(
            indicator=row.key,
            scope=row.scope,
            when=row.period,
            value=value,
            unit=row.unit,
            source=row.source_url,
            note=f"{row.source_doc}; {row.note}",
            file=Path(path).name,
            line=row.line,
        )
        out[target.key] = (target, fact, value)
    return out


# The programme figures the demo register reproduces (geo.demo.programme). The seed article's outputs are
# confirmed by no other source; the disbursements are in billion VND in the policy facts, in VND here.
PROGRAMME_TARGETS: tuple[Target, ...] = (
    Target(
        "houses_built_for_poor",
        "houses_built_for_poor",
        "Sơn La province",
        "2020-2025",
        "count",
        description="seed article (221 above target); no other source confirms it",
    ),
    Target(
        "workers_job_connection",
        "workers_job_connection",
        "Sơn La province",
        "2021-2025",
        "count",
        description="seed article (more than); no other source confirms it",
    ),
    Target(
        "poor_near_poor_vocational_training",
        "poor_near_poor_vocational_training",
        "Sơn La province",
        "2021-2025",
        "count",
        description="seed article (more than); no other source confirms it",
    ),
)
PROGRAMME_POLICY_TARGETS: tuple[Target, ...] = (
    Target(
        "disbursed_1719_to_2025q2",
        "sonla_1719_disbursed_jul2025",
        "Sơn La province",
        "to 2025Q2",
        "count",
        description="Programme 1719 disbursed to early July 2025 (about 70% of plan); the demo counts it to June",
    ),
    Target(
        "disbursed_gnbv_to_2025q4",
        "sonla_gnbv_disbursed",
        "Sơn La province",
        "to 2025Q4",
        "count",
        description="sustainable poverty reduction programme disbursed 2021 to November 2025; the demo counts it to "
        "December",
    ),
)
BILLION = 1e9


def resolve_programme_targets(
    facts: list[Fact], policy: dict[str, PolicyFact], policy_path: Path | str
) -> dict[str, tuple[Target, Fact, float]]:
    """The programme outputs and disbursements the demo register reproduces (disbursements in VND)."""
    out = resolve_targets(facts, PROGRAMME_TARGETS)
    for key, (target, fact, value) in resolve_policy_targets(policy, policy_path, PROGRAMME_POLICY_TARGETS).items():
        out[key] = (target, replace(fact, value=value * BILLION, unit="VND"), value * BILLION)
    return out
