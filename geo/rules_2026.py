"""Classification rules of Decree 272/2025/NĐ-CP (criteria for 2026-2030), where they are known.

Known (read in the decree's summaries, ../shared/data/policy):
- Art. 1: "xã" means every commune-level unit: xã, phường (ward) and đặc khu; "thôn" every village-level one.
- Ethnic-minority village: at least 15% of its *people* are ethnic minority, living stably as a community.
- Ethnic-minority commune: at least 15% of its people, or at least 4,500 people, are ethnic minority.
  (Decision 33/2020 counted households and had no absolute alternative.)
- Art. 4, mountainous village: at least 2/3 of its natural area at 200 m or more above sea level, or at
  least 2/3 of its area with a terrain slope of 15% (percent, not degrees) or more.
- Art. 4, mountainous commune: at least 2/3 of its natural area at 200 m or more, or at least 2/3 of its
  villages mountainous. Where no elevation data is loaded, the unit's own mountainous flag (from the
  official list or the province) stands in for the area test, and says so.

Not known: the thresholds of the 12 criteria that place a commune in region I, II or III, and the
criteria of an especially difficult village. For those the official list decides: the derived value is
None ("unknown"), never guessed, with the reason saying why. A commune in neither the ethnic-minority
nor the mountainous area is outside the classification (region 0) — that part is decidable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EM_SHARE = 0.15
EM_PERSONS = 4500
HIGH_GROUND_M = 200
SLOPE_PERCENT = 15
TWO_THIRDS = 2 / 3

EM_REASONS = (
    "ND 272: ethnic-minority people 15% or more",
    "ND 272: ethnic-minority people 4,500 or more (share below 15%)",
    "ND 272: ethnic-minority people below 15% and below 4,500",
)
MOUNTAIN_REASONS = (
    "ND 272 Art. 4: 2/3 or more of the natural area at 200 m or higher",
    "ND 272 Art. 4: 2/3 or more of its villages are mountainous",
    "ND 272 Art. 4: the unit's mountainous flag (no elevation data loaded)",
    "ND 272 Art. 4: under 2/3 of the area at 200 m and under 2/3 of villages mountainous",
    "ND 272 Art. 4: no elevation, village or flag data: unknown",
)
VILLAGE_MOUNTAIN_REASONS = (
    "ND 272 Art. 4: 2/3 or more of the natural area at 200 m or higher",
    "ND 272 Art. 4: 2/3 or more of the area with slope 15% or more",
    "ND 272 Art. 4: the village's mountainous flag (no elevation data loaded)",
    "ND 272 Art. 4: under 2/3 of the area at 200 m and under 2/3 with slope 15% or more",
    "ND 272 Art. 4: no elevation, slope or flag data: unknown",
)
REGION_OUTSIDE = "ND 272: neither an ethnic-minority nor a mountainous commune, outside the classification"
REGION_UNKNOWN = (
    "ND 272: the thresholds of the 12 criteria for region I/II/III are not published here; the official list decides"
)
VILLAGE_UNKNOWN = (
    "ND 272: the criteria for especially difficult villages are not published here; the official list decides"
)


def _opt(values: np.ndarray | None, n: int) -> np.ndarray:
    """A float array with NaN where unknown (None means all unknown)."""
    if values is None:
        return np.full(n, np.nan)
    return np.asarray(values, dtype=float)


def ethnic_minority_communes(em_persons: np.ndarray, persons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each commune (xã or phường alike) is an ethnic-minority commune, and its reason index."""
    em = np.asarray(em_persons, dtype=float)
    total = np.asarray(persons, dtype=float)
    share = np.divide(em, total, out=np.zeros_like(em), where=total > 0)
    reason = np.select([share >= EM_SHARE, em >= EM_PERSONS], [0, 1], default=2)
    return reason < 2, reason


def ethnic_minority_villages(em_persons: np.ndarray, persons: np.ndarray) -> np.ndarray:
    """Whether each village is an ethnic-minority village (15% of its people or more; no absolute alternative)."""
    em = np.asarray(em_persons, dtype=float)
    total = np.asarray(persons, dtype=float)
    share = np.divide(em, total, out=np.zeros_like(em), where=total > 0)
    return share >= EM_SHARE


def mountainous_villages(
    high_share: np.ndarray | None = None,
    slope_share: np.ndarray | None = None,
    flag: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mountainous status of villages (float: 1, 0, NaN unknown) and reason index.

    `high_share`: fraction of the natural area at 200 m or more; `slope_share`: fraction with slope 15% or
    more; `flag`: a mountainous flag used only where neither share is known.
    """
    arrays = [a for a in (high_share, slope_share, flag) if a is not None]
    n = max(len(a) for a in arrays) if arrays else 0
    high, slope = _opt(high_share, n), _opt(slope_share, n)
    flagged = _opt(None if flag is None else np.asarray(flag, dtype=float), n)
    measured = ~np.isnan(high) | ~np.isnan(slope)
    reason = np.select(
        [
            np.nan_to_num(high) >= TWO_THIRDS,
            np.nan_to_num(slope) >= TWO_THIRDS,
            ~measured & ~np.isnan(flagged),
            measured,
        ],
        [0, 1, 2, 3],
        default=4,
    )
    value = np.where(reason < 2, 1.0, np.where(reason == 3, 0.0, np.where(reason == 2, flagged, np.nan)))
    return value, reason


def mountainous_communes(
    high_share: np.ndarray | None = None,
    mountainous_village_share: np.ndarray | None = None,
    flag: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mountainous status of communes (float: 1, 0, NaN unknown) and reason index (MOUNTAIN_REASONS).

    The commune test has no slope alternative: area at 200 m or more, or the share of mountainous villages.
    """
    arrays = [a for a in (high_share, mountainous_village_share, flag) if a is not None]
    n = max(len(a) for a in arrays) if arrays else 0
    high, villages = _opt(high_share, n), _opt(mountainous_village_share, n)
    flagged = _opt(None if flag is None else np.asarray(flag, dtype=float), n)
    high_known = ~np.isnan(high)
    reason = np.select(
        [
            np.nan_to_num(high) >= TWO_THIRDS,
            np.nan_to_num(villages) >= TWO_THIRDS,
            ~high_known & ~np.isnan(flagged),
            high_known | ~np.isnan(villages),
        ],
        [0, 1, 2, 3],
        default=4,
    )
    value = np.where(reason < 2, 1.0, np.where(reason == 3, 0.0, np.where(reason == 2, flagged, np.nan)))
    return value, reason


def region_classes(ethnic_minority: np.ndarray, mountainous: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Derived region class: 0 outside the area, NaN (unknown: the list decides) inside it; with reasons."""
    em = np.asarray(ethnic_minority, dtype=float)
    mountain = np.asarray(mountainous, dtype=float)
    outside = (em == 0) & (mountain == 0)
    value = np.where(outside, 0.0, np.nan)
    return value, [REGION_OUTSIDE if o else REGION_UNKNOWN for o in outside]


def _one(x: float | bool | None) -> np.ndarray:
    """A one-value array, NaN for unknown."""
    return np.array([np.nan if x is None else float(x)])


@dataclass(frozen=True)
class Decision:
    """A classification (None when unknown) and the criterion that decided it."""

    value: int | bool | None
    reason: str


def ethnic_minority_commune(*, em_persons: float, persons: float) -> Decision:
    """Whether one commune or ward is an ethnic-minority commune, with the deciding criterion."""
    value, reason = ethnic_minority_communes(np.array([em_persons]), np.array([persons]))
    return Decision(bool(value[0]), EM_REASONS[int(reason[0])])


def mountainous_commune(
    *,
    high_share: float | None = None,
    mountainous_village_share: float | None = None,
    flag: bool | None = None,
) -> Decision:
    """Whether one commune is mountainous (None when nothing is known), with the deciding criterion."""
    value, reason = mountainous_communes(_one(high_share), _one(mountainous_village_share), _one(flag))
    v = value[0]
    return Decision(None if np.isnan(v) else bool(v), MOUNTAIN_REASONS[int(reason[0])])


def mountainous_village(
    *, high_share: float | None = None, slope_share: float | None = None, flag: bool | None = None
) -> Decision:
    """Whether one village is mountainous (None when nothing is known), with the deciding criterion."""
    value, reason = mountainous_villages(_one(high_share), _one(slope_share), _one(flag))
    v = value[0]
    return Decision(None if np.isnan(v) else bool(v), VILLAGE_MOUNTAIN_REASONS[int(reason[0])])


def region_class(*, ethnic_minority: bool, mountainous: bool | None) -> Decision:
    """Derived region class of one commune: 0 outside the area, None (the list decides) inside it."""
    value, reasons = region_classes(
        np.array([float(ethnic_minority)]), np.array([np.nan if mountainous is None else float(mountainous)])
    )
    v = value[0]
    return Decision(None if np.isnan(v) else int(v), reasons[0])


def especially_difficult_village() -> Decision:
    """Derived especially difficult status of a village: unknown, the official list decides."""
    return Decision(None, VILLAGE_UNKNOWN)
