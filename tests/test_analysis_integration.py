"""Priority and investment-plan layers of the built warehouse, and `atlas priority` / `atlas plan`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyogrio
import pytest

from geo.plan import Costs
from layers.warehouse import read_table
from tests.conftest import Built

pytestmark = pytest.mark.integration


def _atlas(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.cli", *args], capture_output=True, text=True, timeout=600, env=dict(os.environ)
    )


def test_priority_units_explain_their_scores(built: Built) -> None:
    units = read_table(built.path, "priority_units_2025")
    assert len(units) == 75 and sorted(units["rank"]) == list(range(1, 76))
    contributions = units[[c for c in units.columns if c.startswith("c_")]].sum(axis=1)
    np.testing.assert_allclose(contributions, units["score"], atol=1e-9)
    assert (np.diff(units.sort_values("rank")["score"].to_numpy()) <= 1e-9).all()
    assert set(units["tier_label"]) == {"thấp / low", "trung bình / medium", "cao / high", "rất cao / very high"}
    assert units["synthetic"].all() and (units["profile"] == "default").all()
    # the unit figures are the 2025 units' latest figures
    latest = read_table(built.path, "indicators_units_2025").set_index("unit_code")
    merged = units.set_index("unit_code")
    np.testing.assert_allclose(merged["poor_rate"], latest.loc[merged.index, "poor_rate"], atol=1e-9)
    assert ((merged["rank_min_20pct"] <= merged["rank"]) & (merged["rank"] <= merged["rank_max_20pct"])).all()
    assert ((merged["rank_p05_mc"] <= merged["rank_p95_mc"]) & merged["tier_share_mc"].between(0, 1)).all()


def test_unit_travel_times_are_household_weighted_village_times(built: Built) -> None:
    units = read_table(built.path, "priority_units_2025").set_index("unit_code")
    villages = read_table(built.path, "priority_villages")
    assert len(villages) == len(read_table(built.path, "demo_villages"))
    for code, group in list(villages.groupby("unit_2025_code"))[:10]:
        ok = group["minutes_to_health_stations"].notna()
        expected = np.average(group.loc[ok, "minutes_to_health_stations"], weights=group.loc[ok, "households_2025"])
        assert units.loc[code, "mean_minutes_to_health_stations"] == pytest.approx(expected, abs=0.01)
        assert sorted(group["rank_in_unit"]) == list(range(1, len(group) + 1))
    reached = villages.dropna(subset=["minutes_to_schools"])
    # nothing moves faster than asphalt at 35 km/h, and no road is shorter than the straight line
    assert (reached["minutes_to_schools"] >= 60 * reached["straight_km_to_schools"] / 35 - 1e-6).all()
    assert (reached["km_to_schools"] >= reached["straight_km_to_schools"] - 1e-6).all()


def test_investment_plan_layers_stay_within_the_budget(built: Built) -> None:
    chosen = read_table(built.path, "investment_plan")
    roads = read_table(built.path, "investment_plan_roads")
    candidates = read_table(built.path, "investment_candidates")
    assert len(chosen) > 0 and chosen["cost_vnd"].sum() <= built.settings.plan_budget
    assert set(chosen["project_id"]) <= set(candidates["project_id"])
    assert set(roads["project_id"]) == set(chosen.loc[chosen["kind"] == "road", "project_id"])
    assert chosen["synthetic"].all() and (chosen["budget_vnd"] == built.settings.plan_budget).all()
    # every candidate's cost and households come from the network: costs follow the unit costs
    costs = Costs.load(built.settings.costs)
    schools = candidates[candidates["kind"] == "school"]
    assert len(schools) and (schools["cost_vnd"] == costs.school).all()
    assert (candidates["poor_households_served"] >= 0).all()


def test_atlas_priority_writes_layers_and_reports(built: Built, tmp_path: Path) -> None:
    profile = tmp_path / "poverty_only.yaml"
    profile.write_text(
        "profile: poverty_only\nversion: 1\nunits:\n  - {id: poor_rate, column: poor_rate, weight: 1}\n"
        "villages:\n  - {id: poor_rate, column: poor_rate_2025, weight: 1}\n",
        encoding="utf-8",
    )
    result = _atlas(
        "priority", "--warehouse", str(built.path), "--profile", str(profile), "--draws", "50", "--out", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert "synthetic demo data" in result.stdout and "poverty_only" in result.stdout
    units = pyogrio.read_dataframe(tmp_path / "priority.gpkg", layer="priority_units_2025")
    top = units.sort_values("rank").iloc[0]
    assert top["poor_rate"] == units["poor_rate"].max() and top["score"] == pytest.approx(100)
    assert top["unit_name"] in result.stdout
    assert (tmp_path / "priority_units_2025.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    bad = tmp_path / "bad.yaml"
    bad.write_text("profile: x\nversion: 1\nunits: []\nvillages: []\n", encoding="utf-8")
    failed = _atlas("priority", "--warehouse", str(built.path), "--profile", str(bad), "--out", str(tmp_path))
    assert failed.returncode == 1 and "bad.yaml" in failed.stderr and "units" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_atlas_plan_writes_the_portfolio(built: Built, tmp_path: Path) -> None:
    result = _atlas("plan", "--warehouse", str(built.path), "--budget", "10e9", "--next", "3", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    totals = json.loads((tmp_path / "investment_plan_totals.json").read_text(encoding="utf-8"))
    assert 0 < totals["cost_vnd"] <= 10e9 and totals["status"] == "Optimal"
    chosen = pyogrio.read_dataframe(tmp_path / "investment_plan.gpkg", layer="investment_plan")
    assert len(chosen) == totals["projects"]
    assert chosen["poor_households_served"].sum() == pytest.approx(totals["poor_households_served"], abs=1)
    assert "Next best unfunded projects" in result.stdout
    failed = _atlas("plan", "--warehouse", str(built.path), "--budget", "-1", "--out", str(tmp_path))
    assert failed.returncode == 1 and "budget" in failed.stderr and "Traceback" not in failed.stderr
