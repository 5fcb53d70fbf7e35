"""The priority index, its sensitivity and the trend rule, on small tables with hand-checked answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo.errors import InputDataError
from geo.priority import Criterion, Profile, normalise, priority, tiers, trend
from geo.settings import PROJECT_ROOT


def _profile(units: list[dict[str, object]], **extra: object) -> Profile:
    return Profile.from_dict({"profile": "t", "version": 1, "units": units, "villages": units, **extra})


def test_normalise_min_max_direction_log_and_missing() -> None:
    table = pd.DataFrame({"a": [0.0, 5.0, 10.0], "b": [10.0, 20.0, np.nan], "c": [0.0, np.e - 1, np.e**2 - 1]})
    criteria = [
        Criterion(id="a", column="a", weight=2),
        Criterion(id="b", column="b", weight=1, direction="lower"),
        Criterion(id="c", column="c", weight=1, transform="log"),
    ]
    norm = normalise(table, criteria, "median")
    np.testing.assert_allclose(norm.values[:, 0], [0, 0.5, 1])
    # lower is needier: 10 → 1, 20 → 0; the gap takes the median of the scaled values (0.5)
    np.testing.assert_allclose(norm.values[:, 1], [1, 0, 0.5])
    # log1p turns 0, e-1, e²-1 into 0, 1, 2
    np.testing.assert_allclose(norm.values[:, 2], [0, 0.5, 1])
    np.testing.assert_allclose(norm.weights, [0.5, 0.25, 0.25])
    assert norm.filled == {"a": 0, "b": 1, "c": 0}
    assert normalise(table, criteria, "worst").values[2, 1] == 1.0
    assert normalise(table, criteria, "best").values[2, 1] == 0.0


def test_scores_are_the_sum_of_contributions_hand_checked() -> None:
    table = pd.DataFrame({"code": ["A", "B", "C"], "poor": [10.0, 20.0, 30.0], "minutes": [0.0, 60.0, 30.0]})
    profile = _profile(
        [{"id": "poor", "column": "poor", "weight": 3}, {"id": "access", "column": "minutes", "weight": 1}],
        tiers={"classifier": "Quantiles", "k": 2},
    )
    result = priority(table, "code", profile.units, profile, draws=50).table.set_index("code")
    # poor scaled 0, .5, 1 with weight .75; minutes scaled 0, 1, .5 with weight .25
    assert result.loc["A", "score"] == 0
    assert result.loc["B", "score"] == pytest.approx(100 * (0.75 * 0.5 + 0.25 * 1))  # 62.5
    assert result.loc["C", "score"] == pytest.approx(100 * (0.75 * 1 + 0.25 * 0.5))  # 87.5
    assert result.loc["B", "c_poor"] == pytest.approx(37.5)
    assert result.loc["B", "c_access"] == pytest.approx(25)
    np.testing.assert_allclose(result["c_poor"] + result["c_access"], result["score"], atol=1e-9)
    assert result["rank"].to_dict() == {"A": 3, "B": 2, "C": 1}


def test_tiers_follow_the_mapclassify_classifier() -> None:
    scores = np.array([1, 2, 3, 4, 5, 6, 7, 8], dtype=float)
    np.testing.assert_array_equal(tiers(scores, "Quantiles", 4), [0, 0, 1, 1, 2, 2, 3, 3])
    # too few distinct scores for k classes: one tier, not an invented split
    np.testing.assert_array_equal(tiers(np.array([5.0, 5.0, 5.0]), "Quantiles", 4), [0, 0, 0])


def test_sensitivity_separates_a_dominant_unit_from_a_weight_dependent_pair() -> None:
    # D is worst on both criteria; B and C trade places depending on the weights
    table = pd.DataFrame(
        {
            "code": ["A", "B", "C", "D"],
            "x": [0.0, 6.0, 4.0, 10.0],
            "y": [0.0, 4.0, 6.1, 10.0],
        }
    )
    profile = _profile(
        [{"id": "x", "column": "x", "weight": 1}, {"id": "y", "column": "y", "weight": 1}],
        tiers={"classifier": "Quantiles", "k": 4},
    )
    out = priority(table, "code", profile.units, profile, draws=400).table.set_index("code")
    assert out.loc["D", ["rank", "rank_min_20pct", "rank_max_20pct", "rank_p05_mc", "rank_p95_mc"]].tolist() == [
        1,
        1,
        1,
        1,
        1,
    ]
    assert out.loc["D", "stability"].endswith("stable")
    # C leads B at equal weights (6.1+4 > 6+4 scaled); +20% on x puts B first
    assert out.loc["C", "rank"] == 2
    assert out.loc["C", "rank_min_20pct"] == 2 and out.loc["C", "rank_max_20pct"] == 3
    assert out.loc["B", "rank_min_20pct"] == 2 and out.loc["B", "rank_max_20pct"] == 3
    assert out.loc["B", "tier_share_mc"] < 0.8 and out.loc["C", "tier_share_mc"] < 0.8
    assert out.loc["B", "stability"].endswith("depends on weights")


def test_trend_flags_units_falling_behind() -> None:
    rates = pd.DataFrame({"code": ["fast", "slow", "low"], "r21": [40.0, 30.0, 6.0], "r25": [15.0, 25.0, 5.5]})
    # province 20 → 10: relative fall 50%; "behind" = fell by less than 25% and still above 10%
    out = trend(rates, "code", "r21", "r25", 20.0, 10.0).set_index("code")
    assert out.loc["fast", "poor_rate_reduction_pct"] == pytest.approx(62.5)
    assert out.loc["slow", "poor_rate_change_pp"] == -5.0
    assert out["falling_behind"].to_dict() == {"fast": False, "slow": True, "low": False}


def test_default_profile_loads_and_names_every_criterion() -> None:
    profile = Profile.load(PROJECT_ROOT / "data" / "profiles" / "default.yaml")
    assert profile.profile == "default" and profile.version
    assert {c.id for c in profile.units} >= {"poor_rate", "region_iii", "health_access", "unpaved_roads", "grid_gap"}
    assert all(c.label_vi and c.label_en for c in profile.units + profile.villages)


def test_profile_errors_name_the_file_and_the_entry(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="does not exist"):
        Profile.load(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: x\nversion: 1\nunits:\n  - {id: a, column: a, weight: -1}\nvillages: []\n")
    with pytest.raises(InputDataError, match=r"bad\.yaml.*units\.0\.weight"):
        Profile.load(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("profile: [unclosed\n")
    with pytest.raises(InputDataError, match="not valid YAML"):
        Profile.load(broken)
    profile = _profile([{"id": "a", "column": "a", "weight": 1}])
    with pytest.raises(InputDataError, match="criterion a: column 'a' is not in the data"):
        priority(pd.DataFrame({"code": ["x"], "b": [1.0]}), "code", profile.units, profile)
