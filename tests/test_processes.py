"""OGC API - Processes `priority` and `plan` over real HTTP, compared with the warehouse layers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from layers.warehouse import read_table
from tests.conftest import Built, LiveServer


@pytest.fixture(scope="module")
def ogc(built: Built) -> Iterator[str]:
    with LiveServer(built.path, env={"ATLAS_CACHE_DIR": str(built.settings.cache_dir)}) as live:
        yield f"{live.url}/ogc"


CRITERION = {"id": "a", "column": "poor_rate", "weight": 1}


def execute(ogc: str, process: str, inputs: dict[str, Any]) -> httpx.Response:
    """POST a synchronous execution request."""
    return httpx.post(f"{ogc}/processes/{process}/execution", json={"inputs": inputs}, timeout=300)


def properties(collection: dict[str, Any]) -> list[dict[str, Any]]:
    """The properties of every feature of a FeatureCollection."""
    assert collection["type"] == "FeatureCollection"
    return [f["properties"] for f in collection["features"]]


def test_processes_are_listed_with_their_inputs(ogc: str) -> None:
    landing = httpx.get(ogc.removesuffix("/ogc") + "/", params={"f": "json"}, timeout=30).json()
    href = next(link["href"] for link in landing["links"] if link["rel"].endswith("/processes"))
    listing = httpx.get(href, params={"f": "json"}, timeout=30).json()
    assert {"priority", "plan", "carry-to-2025"} <= {p["id"] for p in listing["processes"]}
    plan = httpx.get(f"{ogc}/processes/plan", params={"f": "json"}, timeout=30).json()
    assert plan["inputs"]["budget"]["minOccurs"] == 1
    assert {"min_region_iii_share", "max_projects_per_unit", "costs", "candidates"} <= set(plan["inputs"])
    priority = httpx.get(f"{ogc}/processes/priority", params={"f": "json"}, timeout=30).json()
    assert {"scope", "profile", "weights"} <= set(priority["inputs"])


def test_priority_with_the_default_profile_is_the_warehouse_layer(ogc: str, built: Built) -> None:
    response = execute(ogc, "priority", {})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["synthetic"] is True and "demo" in body["note"]["en"]
    rows = properties(body["ranking"])
    assert len(rows) == 75 and [r["rank"] for r in rows] == list(range(1, 76))
    stored = read_table(built.path, "priority_units_2025").set_index("unit_code")
    for r in rows:
        assert r["score"] == pytest.approx(stored.loc[r["unit_code"], "score"], abs=1e-9)
        assert r["rank"] == stored.loc[r["unit_code"], "rank"]
        assert r["tier_label"] == stored.loc[r["unit_code"], "tier_label"]
        contributions = sum(v for k, v in r.items() if k.startswith("c_"))
        assert contributions == pytest.approx(r["score"], abs=1e-9)
    assert body["ranking"]["features"][0]["geometry"] is None  # unit polygons only on request
    assert body["summary"]["units_by_tier"] and sum(body["summary"]["units_by_tier"].values()) == 75


def test_priority_weights_change_the_ranking(ogc: str) -> None:
    default = execute(ogc, "priority", {}).json()
    ids = [c["id"] for c in default["criteria"]]
    only_poverty = {i: (1.0 if i == "poor_rate" else 0.0) for i in ids}
    body = execute(ogc, "priority", {"weights": only_poverty, "draws": 50}).json()
    rows = properties(body["ranking"])
    rates = np.array([r["poor_rate"] for r in rows])
    assert (np.diff(rates) <= 1e-9).all(), "with all weight on the poverty rate, rank follows the rate"
    assert rows[0]["score"] == pytest.approx(100.0) and rows[-1]["score"] == pytest.approx(0.0)
    assert body["summary"]["version"].endswith("+weights")
    assert [r["unit_code"] for r in rows] != [f["id"] for f in default["ranking"]["features"]]


def test_priority_of_the_earlier_period_ranks_by_its_own_figures(ogc: str) -> None:
    current = execute(ogc, "priority", {"draws": 50}).json()
    earlier = execute(ogc, "priority", {"period": "2021-2025", "draws": 50}).json()
    assert current["summary"]["period"] == "2026-2030" and current["summary"]["trend"] == "2022→2026"
    assert earlier["summary"]["period"] == "2021-2025" and earlier["summary"]["trend"] == "2022→2025"
    columns = {c["column"] for c in earlier["criteria"]}
    assert {"poor_rate_2025", "region_iii_household_share_2021_2025"} <= columns
    assert "deprivation_intensity" in {c["column"] for c in current["criteria"]}
    rows = properties(earlier["ranking"])
    assert all(r["trend_from"] == 2022 and r["trend_to"] == 2025 for r in rows)
    assert [r["unit_code"] for r in rows] != [r["unit_code"] for r in properties(current["ranking"])]
    bad = execute(ogc, "priority", {"period": "2016-2020"})
    assert bad.status_code == 400 and "period" in bad.json()["description"]


def test_priority_of_villages_returns_points_in_the_province(ogc: str) -> None:
    body = execute(ogc, "priority", {"scope": "villages", "limit": 20, "draws": 50}).json()
    features = body["ranking"]["features"]
    assert len(features) == 20 and [f["properties"]["rank"] for f in features] == list(range(1, 21))
    for f in features:
        lon, lat = f["geometry"]["coordinates"]
        assert f["geometry"]["type"] == "Point" and 103.0 < lon < 105.5 and 20.5 < lat < 22.1


def test_plan_at_the_build_budget_matches_the_warehouse_layer(ogc: str, built: Built) -> None:
    budget = built.settings.plan_budget
    response = execute(ogc, "plan", {"budget": budget, "next_best": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    totals = body["totals"]
    chosen = properties(body["chosen"])
    assert totals["cost_vnd"] <= budget and totals["status"] == "Optimal"
    assert sum(r["cost_vnd"] for r in chosen) == pytest.approx(totals["cost_vnd"], abs=len(chosen))
    assert sum(r["poor_households_served"] for r in chosen) == pytest.approx(totals["poor_households_served"], abs=1)
    stored = read_table(built.path, "investment_plan")
    assert {r["project_id"] for r in chosen} == set(stored["project_id"])
    # optimality: any unfunded project that adds poor households costs more than the money left
    left = budget - totals["cost_vnd"]
    assert body["next_best"] and all(r["added_cost_vnd"] > left for r in body["next_best"])
    assert all(f["geometry"]["type"] == "Point" for f in body["chosen"]["features"])


def test_plan_options_change_the_portfolio(ogc: str) -> None:
    base = execute(ogc, "plan", {"budget": 20e9}).json()
    region = execute(ogc, "plan", {"budget": 20e9, "min_region_iii_share": 1.0}).json()
    assert region["totals"]["region_iii_cost_share"] == pytest.approx(1.0)
    assert all(r["region_iii"] for r in properties(region["chosen"]))
    assert region["totals"]["poor_households_served"] <= base["totals"]["poor_households_served"]
    one = execute(ogc, "plan", {"budget": 20e9, "max_projects_per_unit": 1}).json()
    units = [r["unit_2025_code"] for r in properties(one["chosen"])]
    assert len(units) == len(set(units))
    cheap = execute(ogc, "plan", {"budget": 20e9, "costs": {"school": 1e6}}).json()
    assert cheap["totals"]["costs_version"].endswith("+request")
    assert any(r["kind"] == "school" for r in properties(cheap["chosen"]))


def test_plan_takes_candidates_as_geojson(ogc: str, built: Built) -> None:
    candidates = read_table(built.path, "investment_candidates")
    site = candidates[candidates["kind"] == "school"].iloc[0]
    extra = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [site.geometry.x, site.geometry.y]},
                "properties": {"project_id": "MY-SCHOOL-1", "kind": "school", "name": "Điểm trường Bản thử"},
            }
        ],
    }
    body = execute(ogc, "plan", {"budget": 50e9, "candidates": extra}).json()
    base = execute(ogc, "plan", {"budget": 50e9}).json()
    assert body["totals"]["candidates"] == base["totals"]["candidates"] + 1


@pytest.mark.parametrize(
    ("process", "inputs", "message"),
    [
        ("plan", {}, "budget"),
        ("plan", {"budget": -5}, "budget"),
        ("plan", {"budget": 1e9, "min_region_iii_share": 2}, "min_region_iii_share"),
        ("plan", {"budget": 1e9, "costs": {"asphalt": 1}}, "unknown entry asphalt"),
        ("plan", {"budget": 1e9, "costs": {"school": -1}}, "school"),
        ("plan", {"budget": 1e9, "candidates": {"type": "Feature"}}, "input 'candidates'"),
        (
            "plan",
            {
                "budget": 1e9,
                "candidates": {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "geometry": {"type": "Point", "coordinates": [104.0, 21.3]},
                            "properties": {"project_id": "X", "kind": "airport"},
                        }
                    ],
                },
            },
            "airport",
        ),
        ("priority", {"scope": "districts"}, "scope"),
        (
            "priority",
            {"weights": {"poverty": 1}},
            "input 'weights': unknown entry poverty; known: deprivation, difficult_villages",
        ),
        (
            "priority",
            {
                "profile": {
                    "profile": "x",
                    "version": "1",
                    "units": [],
                    "villages": [{"id": "a", "column": "b", "weight": 1}],
                }
            },
            "input 'profile.units': [] should be non-empty",
        ),
        ("priority", {"draws": 1}, "draws"),
        ("priority", {"limit": None}, "input 'limit' is null"),
        ("priority", {"scope": "units", "colour": "red"}, "unknown input colour"),
        ("carry-to-2025", {"rows": [{"unit_code": "03646", "year": 2024}]}, "at least one of the other entries"),
    ],
)
def test_bad_process_inputs_are_400_naming_the_input(
    ogc: str, process: str, inputs: dict[str, Any], message: str
) -> None:
    response = execute(ogc, process, inputs)
    assert response.status_code == 400, response.text
    assert message in response.json()["description"]
