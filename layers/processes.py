"""OGC API - Processes of the atlas (pygeoapi processors).

`carry-to-2025`: figures a planner holds for the pre-merger communes (keyed by their statistics-office
codes) carried to the 2025 units through the crosswalk: counts summed, rates recomputed from the sums.
The prioritisation and investment-planning processes come with issue #6.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

from geo.indicators import COUNTS, aggregate
from layers.provider import load_layer

COUNT_SCHEMA = {"type": "integer", "minimum": 0}

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
                "items": {
                    "type": "object",
                    "required": ["unit_code", "year"],
                    "properties": {
                        "unit_code": {"type": "string", "pattern": "^[0-9]{5}$"},
                        "year": {"type": "integer"},
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
            "schema": {"type": "array", "contentMediaType": "application/json"},
        }
    },
    "example": {"inputs": {"rows": [{"unit_code": "03646", "year": 2024, "households": 1200, "poor_households": 12}]}},
}


class CarryTo2025Processor(BaseProcessor):
    """Sum pre-merger figures into the 2025 units (rates recomputed; `complete` says all predecessors were given)."""

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, CARRY_METADATA)
        self.warehouse = Path(processor_def["data"])

    def execute(self, data: dict[str, Any], outputs: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Validate the rows and return their sums per 2025 unit and year."""
        rows = data.get("rows")
        if not isinstance(rows, list) or not rows:
            raise ProcessorExecuteError("input 'rows' must be a non-empty list of objects")
        frame = pd.DataFrame(rows)
        if not {"unit_code", "year"} <= set(frame.columns):
            raise ProcessorExecuteError("every row needs unit_code and year")
        crosswalk = load_layer(self.warehouse, "crosswalk_2025", "old_code").frame.set_index("old_code")["new_code"]
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
