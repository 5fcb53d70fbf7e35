"""The 2026-2030 period in the built warehouse: the classification, deprivations and the series break."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo.policy import Standards, read_policy_facts, read_target
from layers.warehouse import read_table
from tests.conftest import Built

pytestmark = pytest.mark.integration


def test_classification_reproduces_decision_60(built: Built, shared_data: Path) -> None:
    facts = read_policy_facts(shared_data / "policy/facts_2026.csv")
    c = read_table(built.path, "classification_2026_2030")
    assert len(c) == read_target(facts, "sonla_commune_units_total") == 75
    assert (c["region_class"] == 3).sum() == read_target(facts, "sonla_region_III_communes")
    assert set(c["region_class"]) == {1, 2, 3}
    assert (c["source"] == "demo").all() and c["synthetic"].all()
    assert (c["document"].str.startswith("60/QĐ-BDTTG")).all() and (c["document_date"] == "2026-01-29").all()
    # statuses derived by Decree 272: by persons, 15% or 4,500; the region class itself is left to the list
    share_ok = c["ethnic_minority_person_share"] >= 15
    assert (c["ethnic_minority"] == (share_ok | (c["ethnic_minority_persons"] >= 4500))).all()
    assert c["region_class_derived"].isna().sum() == int((c["ethnic_minority"] | c["mountainous"]).sum())
    assert c.loc[c["region_class_derived"].isna(), "derived_reason"].str.contains("official list").all()
    # wards are classified like communes and the villages' flags add up to each unit's count
    assert (c["unit_type"] == "Phường").sum() == 8
    villages = read_table(built.path, "demo_villages")
    counts = villages.groupby("unit_2025_code")["especially_difficult_2026_2030"].sum()
    assert (c.set_index("unit_code")["n_especially_difficult_villages"] == counts.reindex(c["unit_code"])).all()
    assert villages["especially_difficult_2026_2030"].sum() == round(
        villages["especially_difficult"].sum() * 12368 / 13222
    )


def test_deprivations_are_consistent_with_poor_and_near_poor_counts(built: Built) -> None:
    standards = Standards.load()
    village = read_table(built.path, "village_deprivations")
    years = read_table(built.path, "village_indicators").drop(columns="standard").set_index(["village_id", "year"])
    per = village.groupby(["village_id", "year"]).agg(
        poor_lacked=("poor_households_deprived", "sum"),
        near_lacked=("near_poor_households_deprived", "sum"),
        most_poor=("poor_households_deprived", "max"),
        most=("households_deprived", "max"),
        n=("indicator", "size"),
        standard=("standard", "first"),
    )
    joined = per.join(years)
    k = joined["standard"].map(lambda s: standards.get(s).poor_min_deprivations)
    assert (joined["poor_lacked"] >= k * joined["poor_households"]).all()
    assert (joined["near_lacked"] <= (k - 1) * joined["near_poor_households"]).all()
    assert (joined["most_poor"] <= joined["poor_households"]).all()
    assert (joined["most"] <= joined["households"]).all()
    assert (joined["n"] == joined["standard"].map(lambda s: len(standards.get(s).indicators))).all()
    assert set(joined.index.get_level_values("year")) == {2022, 2023, 2024, 2025, 2026}
    assert (joined["standard"] == "ND07-2021").all()
    # the unit table is the sum of its villages, and the wide layer is the unit table, one column an indicator
    units = read_table(built.path, "deprivations")
    unit_rows = units[units["vintage"] == "2025"]
    vil = read_table(built.path, "demo_villages")[["village_id", "unit_2025_code"]]
    summed = (
        village.merge(vil, on="village_id")
        .groupby(["unit_2025_code", "year", "indicator"])["households_deprived"]
        .sum()
    )
    stored = unit_rows.set_index(["unit_code", "year", "indicator"])["households_deprived"]
    assert (stored.sort_index().to_numpy() == summed.sort_index().to_numpy()).all()
    wide = read_table(built.path, "deprivations_units_2025")
    assert len(wide) == 75 * 5 and wide.geometry.notna().all()
    row = wide[(wide["unit_code"] == wide["unit_code"].iloc[0]) & (wide["year"] == 2024)].iloc[0]
    lacking_water = stored.loc[(row["unit_code"], 2024, "water_source")]
    assert row["d_water_source"] == lacking_water
    assert row["pct_water_source"] == pytest.approx(100 * lacking_water / row["households"], abs=0.01)
    assert pd.isna(row["d_internet"])  # an indicator of Decree 351/2025, not of the 2024 standard
    assert set(wide["top_need"]) <= {"water_sanitation", "housing_support", "school", "health_station", "connectivity"}


def test_series_mark_the_change_of_standard_and_trends_do_not_cross_it(built: Built) -> None:
    view = read_table(built.path, "indicators_units_2025")
    assert (view["latest_year"] == 2026).all() and (view["poor_rate_change_from"] == 2022).all()
    assert (view["series_breaks"] == "2021 QD59-2015 → 2022 ND07-2021").all()
    np.testing.assert_allclose(view["poor_rate_change"], (view["poor_rate_2026"] - view["poor_rate_2022"]).round(2))
    indicators = read_table(built.path, "commune_indicators")
    standard = indicators.drop_duplicates("year").set_index("year")["standard"]
    assert standard.to_dict() == {
        2021: "QD59-2015",
        2022: "ND07-2021",
        2023: "ND07-2021",
        2024: "ND07-2021",
        2025: "ND07-2021",
        2026: "ND07-2021",
    }
    priority = read_table(built.path, "priority_units_2025")
    assert (priority["trend_from"] == 2022).all() and (priority["trend_to"] == 2026).all()
    np.testing.assert_allclose(
        priority["poor_rate_change_pp"], (priority["poor_rate_2026"] - priority["poor_rate_2022"]).round(2)
    )
