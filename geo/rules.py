"""Official classification rules of Decision 33/2020/QĐ-TTg (criteria for 2021-2025), applied to indicators.

- Art. 2: a commune or village belongs to the ethnic-minority and mountain area (vùng đồng bào DTTS&MN)
  when ethnic-minority households are at least 15% of its households.
- Art. 3: region III commune (xã khu vực III): in that area, not recognised as meeting the new-rural
  standard, and a poverty rate of 20% or more, or of 15% to 20% with one of: (a) more than 60% of poor
  households are ethnic-minority households; (b) 20% or more of ethnic-minority people aged 15-60 cannot
  read and write the common language; (c) more than 80% of employed workers without 3 months of
  training; (d) more than 20 km of road from the district centre, over half of it not asphalt or concrete.
- Art. 5: region I commune: in that area, with a poverty rate below 10% or recognised as new-rural.
- Art. 4: region II commune: the other communes of that area.
- Art. 6: especially difficult village (thôn/bản đặc biệt khó khăn): in that area, with a poverty rate
  of 20% or more, or of 15% to 20% with one of: more than 60% of poor households are ethnic-minority
  households; no road to the commune centre, or one that is very hard to travel in the rainy season;
  no national grid power, or more than 30% of households without it.

Criteria (b) and (c) of Art. 3 need literacy and training data the atlas does not hold; they are
treated as not met. Every function returns, beside the class, the criterion that decided it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DTTS_AREA_SHARE = 0.15

REGION_REASONS = (
    "Art. 2: ethnic-minority households below 15%, outside the DTTS&MN area",
    "Art. 3.1: poverty rate 20% or more",
    "Art. 3.2a: poverty 15-20%, over 60% of poor households ethnic-minority",
    "Art. 3.2d: poverty 15-20%, over 20 km from the district centre, half of it unpaved",
    "Art. 5: recognised as meeting the new-rural standard",
    "Art. 5: poverty rate below 10%",
    "Art. 4: in the DTTS&MN area, neither region III nor region I",
)
REGION_VALUES = (0, 3, 3, 3, 1, 1, 2)  # 0: outside the area

VILLAGE_REASONS = (
    "Art. 2: ethnic-minority households below 15%",
    "Art. 6.1: poverty rate 20% or more",
    "Art. 6.2a: poverty 15-20%, over 60% of poor households ethnic-minority",
    "Art. 6.2b: poverty 15-20%, no all-season road to the commune centre",
    "Art. 6.2c: poverty 15-20%, over 30% of households without grid power",
    "Art. 6: poverty 15-20% but no further criterion met",
    "Art. 6: poverty rate below 15%",
)
VILLAGE_VALUES = (False, True, True, True, True, False, False)


def region_classes(
    ethnic_minority_share: np.ndarray,
    poor_rate: np.ndarray,
    poor_ethnic_minority_share: np.ndarray,
    new_rural: np.ndarray,
    district_road_km: np.ndarray | None = None,
    district_road_unpaved_share: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Region class (1, 2, 3; 0 outside the area) of each commune and the index of its deciding reason."""
    share = np.asarray(ethnic_minority_share, dtype=float)
    rate = np.asarray(poor_rate, dtype=float)
    poor_share = np.asarray(poor_ethnic_minority_share, dtype=float)
    ntm = np.asarray(new_rural, dtype=bool)
    road_km = np.zeros_like(rate) if district_road_km is None else np.asarray(district_road_km, dtype=float)
    unpaved = (
        np.zeros_like(rate)
        if district_road_unpaved_share is None
        else np.asarray(district_road_unpaved_share, dtype=float)
    )
    band = (rate >= 0.15) & (rate < 0.20) & ~ntm
    reason = np.select(
        [
            share < DTTS_AREA_SHARE,
            ~ntm & (rate >= 0.20),
            band & (poor_share > 0.60),
            band & (road_km > 20) & (unpaved > 0.5),
            ntm,
            rate < 0.10,
        ],
        [0, 1, 2, 3, 4, 5],
        default=6,
    )
    return np.asarray(REGION_VALUES)[reason], reason


def especially_difficult_villages(
    ethnic_minority_share: np.ndarray,
    poor_rate: np.ndarray,
    poor_ethnic_minority_share: np.ndarray,
    hard_road: np.ndarray,
    grid_share: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Whether each village is especially difficult (Art. 6) and the index of its deciding reason."""
    share = np.asarray(ethnic_minority_share, dtype=float)
    rate = np.asarray(poor_rate, dtype=float)
    band = (rate >= 0.15) & (rate < 0.20)
    reason = np.select(
        [
            share < DTTS_AREA_SHARE,
            rate >= 0.20,
            band & (np.asarray(poor_ethnic_minority_share) > 0.60),
            band & np.asarray(hard_road, dtype=bool),
            band & (np.asarray(grid_share) < 0.70),
            band,
        ],
        [0, 1, 2, 3, 4, 5],
        default=6,
    )
    return np.asarray(VILLAGE_VALUES)[reason], reason


@dataclass(frozen=True)
class Decision:
    """A classification and the criterion that decided it."""

    value: int | bool | None
    reason: str


def region_class(
    *,
    ethnic_minority_share: float,
    poor_rate: float,
    poor_ethnic_minority_share: float,
    new_rural: bool,
    district_road_km: float | None = None,
    district_road_unpaved_share: float | None = None,
) -> Decision:
    """Region class 1, 2 or 3 of one commune (Art. 3-5), or None outside the ethnic-minority area (Art. 2)."""
    value, reason = region_classes(
        np.array([ethnic_minority_share]),
        np.array([poor_rate]),
        np.array([poor_ethnic_minority_share]),
        np.array([new_rural]),
        np.array([district_road_km or 0.0]),
        np.array([district_road_unpaved_share or 0.0]),
    )
    return Decision(int(value[0]) or None, REGION_REASONS[int(reason[0])])


def especially_difficult_village(
    *,
    ethnic_minority_share: float,
    poor_rate: float,
    poor_ethnic_minority_share: float,
    hard_road: bool,
    grid_share: float,
) -> Decision:
    """Whether one village is especially difficult (Art. 6), with the deciding criterion."""
    value, reason = especially_difficult_villages(
        np.array([ethnic_minority_share]),
        np.array([poor_rate]),
        np.array([poor_ethnic_minority_share]),
        np.array([hard_road]),
        np.array([grid_share]),
    )
    return Decision(bool(value[0]), VILLAGE_REASONS[int(reason[0])])
