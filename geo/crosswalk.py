"""The 200 -> 75 crosswalk, checked against the 1 March 2025 unit list, the 2025 polygons and Resolution 1681."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo.errors import CrosswalkError
from geo.frames import rows
from geo.lineage import Lineage
from geo.names import fold_ascii, match_key, split_unit_type

RESOLUTION_REF = "Nghị quyết 1681/NQ-UBTVQH15, Điều 1 khoản {clause}"


def _mentions(text: str, name: str) -> bool:
    """Whether a clause of the resolution names a unit (accents and tone placement ignored)."""
    bare = fold_ascii(split_unit_type(name)[1])
    return re.search(rf"(?<![\w]){re.escape(bare)}(?![\w])", fold_ascii(text)) is not None


def build_crosswalk(
    crosswalk: pd.DataFrame,
    admin: pd.DataFrame,
    units: gpd.GeoDataFrame,
    clauses: dict[int, str],
    lineage: Lineage,
    crosswalk_path: Path,
    admin_path: Path,
) -> pd.DataFrame:
    """Validate the crosswalk and return it with atlas spellings, types, districts and clause texts."""
    admin_by_code = admin.set_index("code")
    unit_by_code = units.set_index("code")
    records: list[dict[str, object]] = []
    for rec in rows(crosswalk):

        def fail(message: str, column: str, line: int = int(rec.line)) -> CrosswalkError:
            return CrosswalkError(crosswalk_path, message, row=line, column=column)

        if rec.old_code not in admin_by_code.index:
            raise fail(
                f"unknown old code {rec.old_code} ({rec.old_name}): not in the 1 March 2025 list {admin_path}",
                "old_code",
            )
        if rec.new_code not in unit_by_code.index:
            raise fail(f"unknown new code {rec.new_code} ({rec.new_name}): not one of the 2025 units", "new_code")
        old = admin_by_code.loc[rec.old_code]
        new = unit_by_code.loc[rec.new_code]
        if rec.old_district_code != old["district_code"]:
            raise fail(
                f"district {rec.old_district_code} of {rec.old_code} differs from {old['district_code']} "
                f"in {admin_path}",
                "old_district_code",
            )
        if match_key(rec.new_name) != match_key(new["full_name"]):
            raise fail(
                f"new name {rec.new_name!r} differs from the 2025 unit {rec.new_code} {new['full_name']!r}", "new_name"
            )
        name = lineage.display_name(rec.old_code, old["name"])
        spellings = [name, rec.old_name, old["name"], *lineage.variants(rec.old_code)]
        clause = clauses.get(rec.clause)
        if clause is None:
            raise fail(f"cites clause {rec.clause}, which Resolution 1681 does not have", "citation")
        if not any(_mentions(clause, s) for s in spellings):
            raise fail(f"clause {rec.clause} of Resolution 1681 does not name {name} ({rec.old_code})", "citation")
        if not _mentions(clause, new["full_name"]):
            raise fail(
                f"clause {rec.clause} of Resolution 1681 does not name the new unit {new['full_name']}", "citation"
            )
        variants = sorted({s for s in spellings if s != name})
        records.append(
            {
                "old_code": rec.old_code,
                "old_name": name,
                "old_type": split_unit_type(name)[0] or old["unit_type"],
                "old_name_variants": "; ".join(variants),
                "district_code": old["district_code"],
                "district_name": old["district_name"],
                "new_code": rec.new_code,
                "new_name": new["full_name"],
                "new_type": new["unit_type"],
                "clause": rec.clause,
                "resolution_ref": RESOLUTION_REF.format(clause=rec.clause),
                "resolution_text": clause,
                "confidence": rec.confidence,
            }
        )
    out = pd.DataFrame(records)
    missing = sorted(set(admin["code"]) - set(out["old_code"]))
    if missing:
        names = admin.set_index("code").loc[missing, "name"]
        listed = ", ".join(f"{c} {n}" for c, n in names.items())
        raise CrosswalkError(crosswalk_path, f"{len(missing)} unit(s) of {admin_path} have no row: {listed}")
    orphans = sorted(set(units["code"]) - set(out["new_code"]))
    if orphans:
        names = unit_by_code.loc[orphans, "full_name"]
        listed = ", ".join(f"{c} {n}" for c, n in names.items())
        raise CrosswalkError(crosswalk_path, f"2025 unit(s) with no pre-merger unit: {listed}")
    return out.sort_values("old_code", ignore_index=True)
