"""The commune_indicators schema, provenance, and aggregation of pre-merger figures to new units.

Counts are summed; rates are recomputed from the summed counts, never averaged. Region classes do not
aggregate: a 2025 unit gets the number of its predecessors in each class and the share of its
households living in region III communes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COUNTS = (
    "households",
    "persons",
    "poor_households",
    "near_poor_households",
    "ethnic_minority_households",
    "poor_ethnic_minority_households",
    "n_villages",
    "n_especially_difficult_villages",
)
STATUS = ("new_rural", "region_class")
INDICATORS = COUNTS + STATUS
VINTAGES = ("2024", "2025", "district", "province")


def add_rates(frame: pd.DataFrame) -> pd.DataFrame:
    """Rates in percent recomputed from the counts of each row (None where the denominator is 0)."""
    out = frame.copy()
    hh = out["households"].astype("float64").where(out["households"] > 0)
    out["poor_rate"] = (100 * out["poor_households"] / hh).round(2)
    out["near_poor_rate"] = (100 * out["near_poor_households"] / hh).round(2)
    out["ethnic_minority_share"] = (100 * out["ethnic_minority_households"] / hh).round(2)
    dtts = out["ethnic_minority_households"].astype("float64").where(out["ethnic_minority_households"] > 0)
    out["poor_rate_ethnic_minority"] = (100 * out["poor_ethnic_minority_households"] / dtts).round(2)
    return out


def long_values(table: pd.DataFrame, source_columns: dict[str, str]) -> pd.DataFrame:
    """One row per (vintage, unit, year, indicator) with its value and provenance.

    `source_columns` maps each indicator to the column of `table` holding its source label; a source
    starting with "demo:" is synthetic.
    """
    parts = []
    for indicator in INDICATORS:
        src = table[source_columns[indicator]]
        parts.append(
            pd.DataFrame(
                {
                    "vintage": table["vintage"],
                    "unit_code": table["unit_code"],
                    "year": table["year"],
                    "indicator": indicator,
                    "value": pd.to_numeric(table[indicator], errors="coerce").astype("float64"),
                    "source": src,
                    "synthetic": src.str.startswith("demo:"),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def aggregate(table: pd.DataFrame, mapping: pd.Series, vintage: str) -> pd.DataFrame:
    """Carry a vintage-2024 table (one row per commune and year) to the units `mapping` sends each commune to."""
    base = table.assign(target=table["unit_code"].map(mapping))
    if base["target"].isna().any():
        missing = sorted(base.loc[base["target"].isna(), "unit_code"].unique())
        raise ValueError(f"communes without a {vintage} unit: {', '.join(missing[:5])}")
    grouped = base.groupby(["target", "year"], sort=True)
    out = grouped[list(COUNTS)].sum().reset_index().rename(columns={"target": "unit_code"})
    region = base["region_class"].astype("float64")
    counts = (
        base.assign(
            r3=(region == 3).astype(int),
            r2=(region == 2).astype(int),
            r1=(region == 1).astype(int),
            ntm=base["new_rural"].astype(bool).astype(int),
            hh3=np.where(region == 3, base["households"], 0),
            n=1,
            synthetic=base["synthetic"].astype(bool),
        )
        .groupby(["target", "year"], sort=True)
        .agg(
            n_region_iii_communes=("r3", "sum"),
            n_region_ii_communes=("r2", "sum"),
            n_region_i_communes=("r1", "sum"),
            n_new_rural_communes=("ntm", "sum"),
            region_iii_households=("hh3", "sum"),
            n_communes_2024=("n", "sum"),
            synthetic=("synthetic", "any"),
            sources=("sources", lambda s: "; ".join(sorted({p for v in s for p in str(v).split("; ") if p}))),
        )
        .reset_index(drop=True)
    )
    out = pd.concat([out, counts], axis=1)
    out["region_iii_household_share"] = (100 * out["region_iii_households"] / out["households"]).round(2)
    out = out.drop(columns="region_iii_households")
    out.insert(0, "vintage", vintage)
    return add_rates(out)
