"""Deprivation profiles for the maps: the share of households lacking each indicator of a year's poverty standard.

A profile is household-weighted over the units of a scope (Σ households deprived / Σ households, from the
`d_<indicator>` counts of deprivations_units_2025), so the profile of a former district or of the province is
that of its households, not the mean of its units' shares. Labels are short and bilingual, for popups and
the printed panel; the standard's full labels stay in data/policy/standards.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.policy import Standard, Standards

# short labels of the indicators (Vietnamese, English); an indicator without one shows the standard's own
SHORT_LABELS: dict[str, tuple[str, str]] = {
    "employment": ("Việc làm", "employment"),
    "dependants": ("Người phụ thuộc", "dependants"),
    "nutrition": ("Dinh dưỡng", "nutrition"),
    "health_insurance": ("Bảo hiểm y tế", "health insurance"),
    "adult_education": ("Giáo dục người lớn", "adult education"),
    "school_attendance": ("Trẻ em đi học", "school attendance"),
    "housing_quality": ("Chất lượng nhà ở", "housing quality"),
    "housing_area": ("Diện tích nhà ở", "housing area"),
    "water_source": ("Nước sinh hoạt", "water"),
    "latrine": ("Nhà tiêu hợp vệ sinh", "latrine"),
    "telecom": ("Viễn thông", "telecom"),
    "information_means": ("Phương tiện thông tin", "information means"),
    "waste": ("Rác thải", "waste"),
    "internet": ("Internet", "internet"),
    "digital_services": ("Dịch vụ số", "digital services"),
}


@dataclass(frozen=True)
class Bar:
    """One indicator of a profile: its short labels and the share of households lacking it (percent)."""

    indicator: str
    vi: str
    en: str
    share: float

    @property
    def label(self) -> str:
        """ "Nước sinh hoạt / water"."""
        return f"{self.vi} / {self.en}"


@dataclass(frozen=True)
class DeprivationProfile:
    """The shares of households lacking each indicator of the year's standard, over the units of a scope."""

    year: int
    standard: Standard
    households: int
    bars: tuple[Bar, ...]
    top_need_label: str = ""  # a unit's need that stands out against the province (deprivations_units_2025)

    @property
    def top(self) -> Bar:
        """The indicator lacked by the most households."""
        return max(self.bars, key=lambda b: b.share)


def short_label(indicator: str, standard: Standard) -> tuple[str, str]:
    """The short (Vietnamese, English) labels of an indicator."""
    if indicator in SHORT_LABELS:
        return SHORT_LABELS[indicator]
    full = next(i for i in standard.indicators if i.id == indicator)
    return full.vi, full.en


def deprivation_profile(rows: pd.DataFrame, standards: Standards, top_need_label: str = "") -> DeprivationProfile:
    """The profile of some rows of deprivations_units_2025 of one year: Σ d_<indicator> / Σ households."""
    years = rows["year"].unique()
    if len(years) != 1:
        raise ValueError(f"a deprivation profile is of one year, not {sorted(years)}")
    year = int(years[0])
    standard = standards.for_year(year)
    households = float(rows["households"].astype(float).sum())
    bars = []
    for indicator in standard.indicator_ids:
        deprived = rows[f"d_{indicator}"].astype(float).sum() if f"d_{indicator}" in rows else np.nan
        share = 100 * deprived / households if households > 0 else np.nan
        vi, en = short_label(indicator, standard)
        bars.append(Bar(indicator, vi, en, float(share)))
    return DeprivationProfile(year, standard, round(households), tuple(bars), top_need_label)


def nice_ceiling(value: float) -> float:
    """The bar scale's end: 10, 20, 25, 40, 50, 60, 80 or 100 (percent), at least the value."""
    for end in (10, 20, 25, 40, 50, 60, 80, 100):
        if value <= end:
            return float(end)
    return 100.0
