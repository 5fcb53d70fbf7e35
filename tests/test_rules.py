"""Decision 33/2020/QĐ-TTg rules on hand-made cases at and around every threshold."""

from __future__ import annotations

import numpy as np
import pytest

from geo.rules import especially_difficult_village, especially_difficult_villages, region_class


def _region(**kw: float | bool) -> int | None:
    args = {"ethnic_minority_share": 0.9, "poor_rate": 0.25, "poor_ethnic_minority_share": 0.9, "new_rural": False}
    args.update(kw)
    return region_class(**args).value  # type: ignore[arg-type, return-value]


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, 3),
        ({"poor_rate": 0.20}, 3),  # 20% is "từ 20% trở lên"
        ({"poor_rate": 0.1999, "poor_ethnic_minority_share": 0.61}, 3),  # 15-20% with criterion (a)
        ({"poor_rate": 0.17, "poor_ethnic_minority_share": 0.60}, 2),  # exactly 60% is not "trên 60%"
        (
            {
                "poor_rate": 0.17,
                "poor_ethnic_minority_share": 0.5,
                "district_road_km": 25.0,
                "district_road_unpaved_share": 0.6,
            },
            3,
        ),  # criterion (d)
        (
            {
                "poor_rate": 0.17,
                "poor_ethnic_minority_share": 0.5,
                "district_road_km": 20.0,
                "district_road_unpaved_share": 0.6,
            },
            2,
        ),  # 20 km is not "trên 20 km"
        ({"poor_rate": 0.15, "poor_ethnic_minority_share": 0.9}, 3),
        ({"poor_rate": 0.1499}, 2),
        ({"poor_rate": 0.10}, 2),
        ({"poor_rate": 0.0999}, 1),  # Art. 5: below 10%
        ({"new_rural": True}, 1),  # new-rural communes are never region III
        ({"ethnic_minority_share": 0.1499}, None),  # Art. 2: outside the area
        ({"ethnic_minority_share": 0.15}, 3),
    ],
)
def test_region_class(kw: dict[str, float | bool], expected: int | None) -> None:
    assert _region(**kw) == expected


def test_region_reasons_name_the_article() -> None:
    assert region_class(
        ethnic_minority_share=0.9, poor_rate=0.3, poor_ethnic_minority_share=0.9, new_rural=False
    ).reason.startswith("Art. 3.1")
    assert region_class(
        ethnic_minority_share=0.9, poor_rate=0.12, poor_ethnic_minority_share=0.9, new_rural=False
    ).reason.startswith("Art. 4")


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"poor_rate": 0.20}, True),
        ({"poor_rate": 0.19}, False),
        ({"poor_rate": 0.19, "poor_ethnic_minority_share": 0.61}, True),
        ({"poor_rate": 0.19, "hard_road": True}, True),
        ({"poor_rate": 0.19, "grid_share": 0.69}, True),
        ({"poor_rate": 0.19, "grid_share": 0.70}, False),  # exactly 30% without grid is not "trên 30%"
        ({"poor_rate": 0.149, "hard_road": True, "grid_share": 0.0}, False),
        ({"poor_rate": 0.5, "ethnic_minority_share": 0.1}, False),
    ],
)
def test_especially_difficult_village(kw: dict[str, float | bool], expected: bool) -> None:
    args: dict[str, float | bool] = {
        "ethnic_minority_share": 0.9,
        "poor_rate": 0.25,
        "poor_ethnic_minority_share": 0.5,
        "hard_road": False,
        "grid_share": 1.0,
    }
    args.update(kw)
    assert especially_difficult_village(**args).value is expected  # type: ignore[arg-type]


def test_vector_and_scalar_forms_agree() -> None:
    rng = np.random.default_rng(1)
    n = 500
    share, rate, poor_share = rng.uniform(0, 1, n), rng.uniform(0, 0.4, n), rng.uniform(0, 1, n)
    road, grid = rng.uniform(size=n) < 0.3, rng.uniform(0, 1, n)
    flags, _ = especially_difficult_villages(share, rate, poor_share, road, grid)
    for k in range(n):
        one = especially_difficult_village(
            ethnic_minority_share=share[k],
            poor_rate=rate[k],
            poor_ethnic_minority_share=poor_share[k],
            hard_road=bool(road[k]),
            grid_share=grid[k],
        )
        assert one.value == bool(flags[k])
