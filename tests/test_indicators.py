"""Aggregation to new units (counts summed, rates recomputed) and exact integer allocation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo.alloc import CalibrationError, allocate
from geo.indicators import COUNTS, add_rates, aggregate


def _table() -> pd.DataFrame:
    rows = [
        # code, year, households, poor, near-poor, dtts, poor dtts, region, ntm
        ("A", 2021, 100, 50, 10, 90, 49, 3, False),
        ("B", 2021, 900, 9, 30, 300, 6, 1, True),
        ("C", 2021, 400, 100, 40, 380, 99, 3, False),
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "unit_code",
            "year",
            "households",
            "poor_households",
            "near_poor_households",
            "ethnic_minority_households",
            "poor_ethnic_minority_households",
            "region_class",
            "new_rural",
        ],
    )
    for col in COUNTS:
        if col not in frame:
            frame[col] = 1
    frame["persons"] = frame["households"] * 4
    frame["synthetic"] = [True, False, True]
    frame["sources"] = ["demo: x", "import: f.csv", "demo: x"]
    return frame


def test_counts_are_summed_and_rates_recomputed() -> None:
    out = aggregate(_table(), pd.Series({"A": "N1", "B": "N1", "C": "N2"}), "2025").set_index("unit_code")
    assert out.loc["N1", "households"] == 1000 and out.loc["N1", "poor_households"] == 59
    assert out.loc["N1", "poor_rate"] == pytest.approx(5.9)  # 59 / 1000, not the mean of 50% and 1%
    assert out.loc["N1", "near_poor_rate"] == pytest.approx(4.0)
    assert out.loc["N1", "poor_rate_ethnic_minority"] == pytest.approx(round(100 * 55 / 390, 2))
    assert out.loc["N1", "n_region_iii_communes"] == 1 and out.loc["N1", "n_new_rural_communes"] == 1
    assert out.loc["N1", "region_iii_household_share"] == pytest.approx(10.0)
    assert out.loc["N1", "n_communes_2024"] == 2
    assert bool(out.loc["N1", "synthetic"]) and not np.isnan(out.loc["N2", "poor_rate"])
    assert out.loc["N1", "sources"] == "demo: x; import: f.csv"
    assert out.loc["N2", "poor_rate"] == pytest.approx(25.0)


def test_unmapped_commune_is_an_error() -> None:
    with pytest.raises(ValueError, match="communes without a 2025 unit: C"):
        aggregate(_table(), pd.Series({"A": "N1", "B": "N1"}), "2025")


def test_zero_households_give_no_rate() -> None:
    frame = add_rates(
        pd.DataFrame(
            {
                "households": [0],
                "poor_households": [0],
                "near_poor_households": [0],
                "ethnic_minority_households": [0],
                "poor_ethnic_minority_households": [0],
            }
        )
    )
    assert frame["poor_rate"].isna().all()


def test_allocate_is_exact_and_bounded() -> None:
    expected = np.array([1.4, 2.6, 3.5, 0.5])
    out = allocate(expected, 8)
    assert out.sum() == 8 and np.all(np.abs(out - expected) < 1)
    bounded = allocate(np.array([5.0, 5.0]), 10, upper=np.array([3, 10]))
    assert bounded.tolist() == [3, 7]
    with pytest.raises(CalibrationError):
        allocate(np.array([1.0, 1.0]), 10, upper=np.array([3, 3]))
