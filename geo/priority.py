"""The priority index: an explainable weighted sum of normalised criteria, tiers, and its sensitivity.

score = 100 × Σ wᵢ · nᵢ, where nᵢ is criterion i scaled to 0..1 over the units being ranked (min-max,
after an optional log transform, reversed when a lower value means more need) and the weights wᵢ sum to 1.
Each unit's contributions 100 · wᵢ · nᵢ are returned with its score, so the score is their sum.
Missing values are filled by the profile's rule (median, worst or best) and counted per criterion.
Tiers come from a mapclassify classifier on the scores. The sensitivity analysis moves each weight by
±20% (one at a time) and draws random weights around the profile (Monte Carlo); a unit whose tier holds
in at least 80% of the draws is "stable".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from geo.errors import InputDataError, validation_problem

TIER_LABELS = ("thấp / low", "trung bình / medium", "cao / high", "rất cao / very high")
STABLE_SHARE = 0.8
TIE_TOLERANCE = 1e-3  # score points; Monte-Carlo scores are float32
NOT_DRAWN = "không tính / not computed"  # stability when no Monte-Carlo draws were asked for


class Criterion(BaseModel):
    """One criterion of a profile."""

    id: str
    column: str
    weight: float = Field(ge=0)
    direction: Literal["higher", "lower"] = "higher"
    transform: Literal["none", "log"] = "none"
    label_vi: str = ""
    label_en: str = ""


class Tiers(BaseModel):
    """How scores become tiers."""

    classifier: Literal["Quantiles", "NaturalBreaks", "EqualInterval", "FisherJenksSampled"] = "Quantiles"
    k: int = Field(4, ge=2, le=4)


class Profile(BaseModel):
    """A versioned priority profile (data/profiles/*.yaml)."""

    profile: str
    version: str
    period: str = "2026-2030"  # the policy period whose classification and figures the criteria read
    title_vi: str = ""
    title_en: str = ""
    missing: Literal["median", "worst", "best"] = "median"
    tiers: Tiers = Field(default_factory=lambda: Tiers(classifier="Quantiles", k=4))
    units: list[Criterion]
    villages: list[Criterion]

    @field_validator("version", mode="before")
    @classmethod
    def _text(cls, value: object) -> str:
        return str(value)

    @field_validator("units", "villages")
    @classmethod
    def _weights(cls, criteria: list[Criterion]) -> list[Criterion]:
        if not criteria or sum(c.weight for c in criteria) <= 0:
            raise ValueError("needs at least one criterion with a positive weight")
        ids = [c.id for c in criteria]
        if len(set(ids)) != len(ids):
            raise ValueError(f"criterion ids repeat: {ids}")
        return criteria

    @classmethod
    def load(cls, path: Path) -> Profile:
        """Read a profile file; errors name the file and the entry."""
        path = Path(path)
        try:
            return cls.from_dict(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
        except FileNotFoundError:
            raise InputDataError(path, "profile file does not exist") from None
        except yaml.YAMLError as exc:
            raise InputDataError(path, f"is not valid YAML: {exc}") from exc

    @classmethod
    def from_dict(cls, data: Any, where: str = "profile") -> Profile:
        """A profile from parsed YAML or JSON; errors name the entry."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InputDataError(where, validation_problem(exc.errors())) from exc


@dataclass
class Normalised:
    """Criteria scaled to 0..1 (rows: items, columns: criteria), with the weights and the fill report."""

    values: np.ndarray
    weights: np.ndarray
    criteria: list[Criterion]
    filled: dict[str, int] = field(default_factory=dict)


def normalise(table: pd.DataFrame, criteria: list[Criterion], missing: str) -> Normalised:
    """Scale every criterion to 0..1 (1 = most in need), filling missing values by the rule."""
    n = len(table)
    values = np.zeros((n, len(criteria)))
    filled: dict[str, int] = {}
    for j, crit in enumerate(criteria):
        if crit.column not in table:
            raise InputDataError(
                "profile",
                f"criterion {crit.id}: column {crit.column!r} is not in the data "
                f"(available: {', '.join(sorted(map(str, table.columns)))})",
            )
        raw = pd.to_numeric(table[crit.column].astype("float64"), errors="coerce").to_numpy(dtype="float64")
        if crit.transform == "log":
            raw = np.log1p(np.clip(raw, 0, None))
        gaps = np.isnan(raw)
        filled[crit.id] = int(gaps.sum())
        if gaps.all():
            values[:, j] = 0.0
            continue
        lo, hi = np.nanmin(raw), np.nanmax(raw)
        scaled = (raw - lo) / (hi - lo) if hi > lo else np.zeros(n)
        if crit.direction == "lower":
            scaled = 1.0 - scaled
        if gaps.any():
            fill = {"median": float(np.nanmedian(scaled)), "worst": 1.0, "best": 0.0}[missing]
            scaled[gaps] = fill
        values[:, j] = scaled
    weights = np.array([c.weight for c in criteria], dtype="float64")
    return Normalised(values, weights / weights.sum(), criteria, filled)


def tiers(scores: np.ndarray, classifier: str, k: int) -> np.ndarray:
    """Tier index (0 = lowest … k-1 = highest) of each score, by a mapclassify classifier."""
    import mapclassify

    if len(np.unique(scores)) < k:
        return np.zeros(len(scores), dtype=int) if len(scores) else np.zeros(0, dtype=int)
    cls = getattr(mapclassify, classifier)
    return np.asarray(cls(scores, k=k).yb, dtype=int)


def _ranks(scores: np.ndarray, stable: bool = True) -> np.ndarray:
    """Rank 1 = highest score along the last axis (ties broken by position when stable)."""
    order = np.argsort(-scores, axis=-1, kind="stable" if stable else "quicksort")
    ranks = np.empty(order.shape, dtype=np.int32)
    positions = np.arange(1, scores.shape[-1] + 1, dtype=np.int32)
    if scores.ndim == 1:
        ranks[order] = positions
    else:
        ranks[np.arange(order.shape[0])[:, None], order] = positions
    return ranks


@dataclass
class PriorityResult:
    """Scores with their contributions, ranks and tiers; the fill report; the sensitivity table."""

    table: pd.DataFrame
    filled: dict[str, int]
    sensitivity: pd.DataFrame


def priority(
    table: pd.DataFrame, key: str, criteria: list[Criterion], profile: Profile, draws: int = 500, seed: int = 7
) -> PriorityResult:
    """Score, rank and tier the rows of `table`, with contributions and sensitivity."""
    norm = normalise(table, criteria, profile.missing)
    contributions = 100 * norm.values * norm.weights
    scores = contributions.sum(axis=1)
    shown = np.round(contributions, 3)  # the published score is the sum of the published contributions
    rank = _ranks(scores)
    tier = tiers(scores, profile.tiers.classifier, profile.tiers.k)
    offset = len(TIER_LABELS) - profile.tiers.k
    out = pd.DataFrame(
        {
            key: table[key].to_numpy(),
            "score": np.round(shown.sum(axis=1), 3),
            "rank": rank,
            "tier": tier,
            "tier_label": [TIER_LABELS[t + offset] for t in tier],
        }
    )
    for j, crit in enumerate(criteria):
        out[f"c_{crit.id}"] = shown[:, j]
    sensitivity = _sensitivity(norm, scores, tier, profile, draws, seed)
    out = pd.concat([out, sensitivity.drop(columns=["rank"])], axis=1)
    return PriorityResult(out, norm.filled, sensitivity)


def _sensitivity(
    norm: Normalised, scores: np.ndarray, tier: np.ndarray, profile: Profile, draws: int, seed: int
) -> pd.DataFrame:
    """Ranks under ±20% on each weight, and Monte-Carlo ranks and tier shares under random weights (none when
    draws is 0)."""
    m = norm.values.shape[1]
    one_at_a_time = []
    for j in range(m):
        for factor in (0.8, 1.2):
            w = norm.weights.copy()
            w[j] *= factor
            one_at_a_time.append(w / w.sum())
    oat_scores = norm.values @ np.array(one_at_a_time).T  # n x 2m
    oat_ranks = _ranks(oat_scores.T)  # 2m x n
    base_rank = _ranks(scores)
    if draws == 0:  # no Monte-Carlo: the one-at-a-time ranks only (the workspace re-ranks on every slider move)
        return pd.DataFrame(
            {
                "rank": base_rank,
                "rank_min_20pct": oat_ranks.min(axis=0),
                "rank_max_20pct": oat_ranks.max(axis=0),
                "rank_p05_mc": np.full(len(scores), np.nan),
                "rank_p95_mc": np.full(len(scores), np.nan),
                "tier_share_mc": np.full(len(scores), np.nan),
                "stability": np.full(len(scores), NOT_DRAWN, dtype=object),
            }
        )
    rng = np.random.default_rng(seed)
    random_weights = norm.weights[None, :] * rng.uniform(0.8, 1.2, size=(draws, m))
    random_weights /= random_weights.sum(axis=1, keepdims=True)
    mc_scores = (100 * random_weights.astype(np.float32)) @ norm.values.T.astype(np.float32)  # draws x n
    mc_ranks = _ranks(mc_scores, stable=False)
    # a draw's tier: the base classification's lower score bounds applied to the draw's scores
    mc_tiers = np.zeros(mc_scores.shape, dtype=np.int8)
    for t in range(1, int(tier.max()) + 1 if len(tier) else 1):
        mc_tiers += mc_scores >= scores[tier >= t].min() - TIE_TOLERANCE  # float32 noise
    same = (mc_tiers == tier[None, :]).mean(axis=0)
    low, high = np.percentile(mc_ranks, [5, 95], axis=0, method="nearest")
    return pd.DataFrame(
        {
            "rank": base_rank,
            "rank_min_20pct": oat_ranks.min(axis=0),
            "rank_max_20pct": oat_ranks.max(axis=0),
            "rank_p05_mc": low.astype(int),
            "rank_p95_mc": high.astype(int),
            "tier_share_mc": np.round(same, 3),
            "stability": np.where(same >= STABLE_SHARE, "ổn định / stable", "phụ thuộc trọng số / depends on weights"),
        }
    )


def trend(
    rates: pd.DataFrame, key: str, first: str, last: str, province_first: float, province_last: float
) -> pd.DataFrame:
    """Change in poverty between two years of one poverty standard (the caller picks them, see
    geo.policy.Standards.comparable_start); units 'falling behind' reduce by less than half the province's
    relative reduction while staying above the province's latest rate."""
    change = rates[last] - rates[first]
    relative = np.where(rates[first] > 0, -change / rates[first], 0.0)
    province_relative = (province_first - province_last) / province_first if province_first else 0.0
    behind = (relative < province_relative / 2) & (rates[last] > province_last)
    return pd.DataFrame(
        {
            key: rates[key],
            "poor_rate_change_pp": change.round(2),
            "poor_rate_reduction_pct": np.round(100 * relative, 1),
            "falling_behind": behind,
        }
    )
