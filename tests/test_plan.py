"""Access to services and the investment plan on small networks with hand-checked answers; MILP vs brute force."""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely import LineString, Point

from geo.access import village_access
from geo.errors import InputDataError
from geo.harmonise import METRIC_CRS
from geo.plan import (
    Candidates,
    Costs,
    PlanInputs,
    PlanOptions,
    add_imported,
    network_candidates,
    next_best,
    optimise,
    plan,
    read_candidate_file,
)
from geo.settings import PROJECT_ROOT

LON0, LAT0 = 104.0, 21.3
TO_METRIC = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
TO_LONLAT = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
X0, Y0 = TO_METRIC.transform(LON0, LAT0)


def at(east_km: float, north_km: float) -> Point:
    """A point so many km east and north of the origin in the metric CRS the atlas measures lengths in."""
    return Point(*TO_LONLAT.transform(X0 + 1000 * east_km, Y0 + 1000 * north_km))


COSTS = Costs(
    road_upgrade_per_km={"đất": 1.6e9, "cấp phối": 1.2e9},
    all_season_crossing=2.5e9,
    school=6e9,
    health_station=8e9,
    grid_fixed=0.5e9,
    grid_per_km=0.6e9,
    school_minutes=30,
    health_minutes=60,
)


def world(
    villages: list[tuple[str, str, Point, bool, int, float]],
    roads: list[tuple[str, str, str, str]],
    region_iii: dict[str, bool],
    facilities_at: tuple[str, ...] = ("C",),
) -> PlanInputs:
    """villages: (id, commune, point, is_centre, poor households, grid share); roads: (id, from, to, surface)."""
    v = gpd.GeoDataFrame(
        {
            "village_id": [r[0] for r in villages],
            "name": [f"Bản {r[0]}" for r in villages],
            "commune_2024_code": [r[1] for r in villages],
            "is_commune_centre": [r[3] for r in villages],
            "households_2025": [100] * len(villages),
            "poor_households_2025": [r[4] for r in villages],
            "grid_power_share": [r[5] for r in villages],
        },
        geometry=[r[2] for r in villages],
        crs="EPSG:4326",
    )
    where = dict(zip(v["village_id"], v.geometry, strict=True))
    r = gpd.GeoDataFrame(
        {"road_id": [x[0] for x in roads], "surface": [x[3] for x in roads]},
        geometry=[LineString([where[x[1]], where[x[2]]]) for x in roads],
        crs="EPSG:4326",
    )
    fac = gpd.GeoDataFrame({"facility_id": list(facilities_at)}, geometry=[where[f] for f in facilities_at], crs=4326)
    communes = pd.DataFrame(
        {
            "code": list(region_iii),
            "name": [f"Xã {c}" for c in region_iii],
            "unit_2025_code": ["10001"] * len(region_iii),
            "region_iii": list(region_iii.values()),
            "persons_per_household": [4.5] * len(region_iii),
        }
    )
    return PlanInputs(v, r, fac, fac, communes)


def small_world() -> PlanInputs:
    """C is the centre of commune 00001; V1 2 km up an earth track, V2 1 km further on gravel.
    V3 is the centre of commune 00002 (region III), 1 km from C on concrete, without grid power."""
    return world(
        [
            ("C", "00001", at(0, 0), True, 0, 1.0),
            ("V1", "00001", at(0, 2), False, 10, 1.0),
            ("V2", "00001", at(0, 3), False, 20, 1.0),
            ("V3", "00002", at(1, 0), True, 5, 0.0),
        ],
        [("e1", "C", "V1", "đất / earth"), ("e2", "V1", "V2", "cấp phối / gravel"), ("e3", "C", "V3", "bê tông")],
        {"00001": False, "00002": True},
    )


def test_travel_time_by_surface_speed_and_the_walk_to_the_road() -> None:
    inputs = small_world()
    villages = pd.concat(
        [inputs.villages, gpd.GeoDataFrame({"village_id": ["off"]}, geometry=[at(-1, 0)], crs=4326)],
        ignore_index=True,
    )
    out = village_access(villages, inputs.roads, {"health_stations": inputs.health_stations}).table
    out = out.set_index("village_id")
    # earth 8 km/h: 2 km = 15 min; gravel 15 km/h: 1 km = 4 min; concrete 25 km/h: 1 km = 2.4 min
    assert out.loc["V1", "minutes_to_health_stations"] == pytest.approx(15, abs=0.1)
    assert out.loc["V2", "minutes_to_health_stations"] == pytest.approx(19, abs=0.1)
    assert out.loc["V3", "minutes_to_health_stations"] == pytest.approx(2.4, abs=0.1)
    assert out.loc["V2", "km_to_health_stations"] == pytest.approx(3, abs=0.01)
    assert out.loc["V2", "straight_km_to_health_stations"] == pytest.approx(3, abs=0.01)
    # a village 1 km off the network walks to its nearest node at 4 km/h: 15 min, 1 km
    assert out.loc["off", "snap_km"] == pytest.approx(1, abs=0.01)
    assert out.loc["off", "minutes_to_health_stations"] == pytest.approx(15, abs=0.1)


def test_candidates_and_needs_come_from_the_network() -> None:
    cand = network_candidates(small_world(), COSTS)
    assert set(cand.projects) == {"road-V1", "road-V2", "bridge-e1", "grid-V3"}
    assert cand.projects["road-V2"].components == ("road:e1", "road:e2")
    assert cand.projects["road-V2"].length_km == pytest.approx(3, abs=0.01)
    assert cand.components["road:e1"].cost == pytest.approx(3.2e9, rel=0.01)
    assert cand.components["road:e2"].cost == pytest.approx(1.2e9, rel=0.01)
    assert cand.components["grid:V3"].cost == pytest.approx(0.5e9 + 0.6e9 * 1, rel=0.01)
    assert cand.components["grid:V3"].region_iii and not cand.components["road:e1"].region_iii
    needs = {(n.village_id, n.kind): n.poor_households for n in cand.needs}
    assert needs == {
        ("V1", "road"): 10,
        ("V1", "all_season"): 10,
        ("V2", "road"): 20,
        ("V2", "all_season"): 20,
        ("V3", "grid"): 5,
    }
    alone = cand.table().set_index("project_id")
    # the crossing on e1 makes both villages' routes passable all year: 10 + 20
    assert alone.loc["bridge-e1", "poor_households_served"] == 30
    assert alone.loc["road-V2", "poor_households_served"] == 60
    assert alone.loc["road-V2", "people_reached"] == 2 * 100 * 4.5


@pytest.mark.parametrize(
    ("budget", "served", "projects"),
    [
        (1.0e9, 0, set()),
        (2.6e9, 30, {"bridge-e1"}),  # the crossing serves both villages' all-season need
        (3.3e9, 40, {"road-V1"}),  # concrete to V1: V1's road and all-season needs, V2's all-season need
        (4.45e9, 60, {"road-V2"}),  # road-V1 is inside road-V2: one project, links paid once
        (5.6e9, 65, {"road-V2", "grid-V3"}),
    ],
)
def test_plan_hand_checked(budget: float, served: float, projects: set[str]) -> None:
    result = plan(network_candidates(small_world(), COSTS), PlanOptions(budget=budget))
    assert result.totals["poor_households_served"] == served
    assert set(result.chosen["project_id"]) == projects
    assert result.totals["cost_vnd"] <= budget
    assert result.chosen["poor_households_served"].sum() == pytest.approx(served)
    assert result.chosen["cost_vnd"].sum() == pytest.approx(result.totals["cost_vnd"], abs=2)


def test_region_iii_share_and_projects_per_unit_constraints() -> None:
    cand = network_candidates(small_world(), COSTS)
    # at 4.45 billion the best is road-V2 (60), none of it in region III; with ≥25% in region III the
    # best is road-V1 + grid-V3 (40 + 5, 1.1 of 4.3 billion in region III)
    result = plan(cand, PlanOptions(budget=4.45e9, min_region_iii_share=0.25))
    assert set(result.chosen["project_id"]) == {"road-V1", "grid-V3"}
    assert result.totals["poor_households_served"] == 45
    assert result.totals["region_iii_cost_share"] >= 0.25
    # one project per unit (all four sit in unit 10001): road-V2 alone
    result = plan(cand, PlanOptions(budget=5.6e9, max_projects_per_unit=1))
    assert set(result.chosen["project_id"]) == {"road-V2"}
    # all spending in region III: only the grid extension qualifies
    result = plan(cand, PlanOptions(budget=5.6e9, min_region_iii_share=1.0))
    assert set(result.chosen["project_id"]) == {"grid-V3"}


def test_next_best_reports_what_each_unfunded_project_would_add() -> None:
    cand = network_candidates(small_world(), COSTS)
    result = plan(cand, PlanOptions(budget=3.3e9))
    nb = result.next_best.set_index("project_id")
    # on top of road-V1: road-V2 adds e2 (1.2 billion) for V2's road need (20)
    assert nb.loc["road-V2", "added_cost_vnd"] == pytest.approx(1.2e9, rel=0.01)
    assert nb.loc["road-V2", "added_poor_households_served"] == 20
    assert nb.loc["grid-V3", "added_poor_households_served"] == 5
    assert "bridge-e1" not in nb.index  # adds nothing once e1 is concrete
    assert list(nb.index) == list(next_best(cand, ["road-V1"], 10).set_index("project_id").index)


def test_school_and_health_sites_cover_villages_within_the_threshold() -> None:
    # V4 and V5 lie beyond 30 min from the school at C; a site at V4 also covers V5, 1 km away on gravel
    inputs = world(
        [
            ("C", "00001", at(0, 0), True, 0, 1.0),
            ("V4", "00001", at(0, 5), False, 8, 1.0),
            ("V5", "00001", at(0, 6), False, 4, 1.0),
        ],
        [("a", "C", "V4", "đất / earth"), ("b", "V4", "V5", "cấp phối / gravel")],
        {"00001": True},
    )
    cand = network_candidates(inputs, COSTS)
    school = {n.village_id: n.clauses for n in cand.needs if n.kind == "school"}
    assert set(school) == {"V4", "V5"}
    assert cand.clauses["school:V5"] == {"school:V4", "school:V5"}
    assert cand.evaluate(["school-V4"]).poor_households_served == 12
    assert cand.evaluate(["school-V5"]).poor_households_served == 12
    # 37.5 and 41.5 min from the health station at C: within the hour, no health need
    assert not [n for n in cand.needs if n.kind == "health"]


def test_imported_candidates_are_matched_to_the_network(tmp_path: Path) -> None:
    inputs = small_world()
    cand = network_candidates(inputs, COSTS)
    csv = tmp_path / "candidates.csv"
    csv.write_text(
        "project_id,kind,name,cost_vnd,wkt\n"
        f"B1,bridge,Ngầm suối Nậm,900000000,{at(0, 1).wkt}\n"
        f'R1,road,Đường C–V1 (vốn 1719),,"{LineString([at(0, 0), at(0, 2)]).wkt}"\n',
        encoding="utf-8",
    )
    added = add_imported(cand, inputs, COSTS, read_candidate_file(csv), "candidates.csv")
    assert added == 2
    assert cand.components["import-B1:bridge"].cost == 0.9e9
    assert "import-B1:bridge" in cand.clauses["allseason:e1"]
    assert "import-R1:road" in cand.clauses["paved:e1"]
    assert cand.components["import-R1:road"].cost == pytest.approx(3.2e9, rel=0.01)  # unit price of e1
    # the cheaper imported crossing now serves the all-season need of V1 and V2 for 0.9 billion
    result = plan(cand, PlanOptions(budget=1.0e9))
    assert set(result.chosen["project_id"]) == {"import-B1"}
    assert result.totals["poor_households_served"] == 30
    assert result.chosen.iloc[0]["source"] == "imported: candidates.csv"


def test_imported_candidate_errors_name_the_row(tmp_path: Path) -> None:
    inputs = small_world()
    cand = network_candidates(inputs, COSTS)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"project_id,kind,lon,lat\nX,school,{LON0},{LAT0}\nY,airport,{LON0},{LAT0}\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"bad\.csv, row 3, column 'kind': kind 'airport'"):
        add_imported(cand, inputs, COSTS, read_candidate_file(bad), str(bad))
    far = tmp_path / "far.csv"
    far.write_text("project_id,kind,lon,lat\nZ,bridge,105.5,21.3\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="row 2: no earth road link"):
        add_imported(cand, inputs, COSTS, read_candidate_file(far), str(far))
    nocoords = tmp_path / "nocoords.csv"
    nocoords.write_text("project_id,kind\nA,school\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="lon and lat columns, or a wkt column"):
        read_candidate_file(nocoords)


def test_costs_file_loads_and_errors_name_the_entry(tmp_path: Path) -> None:
    costs = Costs.load(PROJECT_ROOT / "data" / "profiles" / "costs.yaml")
    assert costs.road_upgrade_per_km["đất"] > costs.road_upgrade_per_km["cấp phối"] > 0
    bad = tmp_path / "costs.yaml"
    bad.write_text("road_upgrade_per_km: {đất: 1}\nall_season_crossing: -1\n", encoding="utf-8")
    with pytest.raises(InputDataError, match="all_season_crossing"):
        Costs.load(bad)


# ----------------------------------------------------------------------------------------------------
# The MILP against exhaustive search
# ----------------------------------------------------------------------------------------------------


def random_world(seed: int) -> PlanInputs:
    """Two communes of random tree tracks with random surfaces, poverty and grid power."""
    rng = np.random.default_rng(seed)
    villages: list[tuple[str, str, Point, bool, int, float]] = []
    roads: list[tuple[str, str, str, str]] = []
    for c, (cx, code) in enumerate(((0.0, "00001"), (12.0, "00002"))):
        centre = f"C{c}"
        villages.append((centre, code, at(cx, 0), True, int(rng.integers(0, 10)), 1.0))
        placed = [(centre, cx, 0.0)]
        for k in range(int(rng.integers(2, 4))):
            parent, px, py = placed[int(rng.integers(0, len(placed)))]
            x, y = px + rng.uniform(-2, 2), py + rng.uniform(1, 4)
            vid = f"V{c}{k}"
            grid = float(rng.choice([1.0, 1.0, 0.5, 0.0]))
            villages.append((vid, code, at(x, y), False, int(rng.integers(1, 40)), grid))
            surface = str(rng.choice(["đất / earth", "cấp phối / gravel", "bê tông / concrete"], p=[0.5, 0.3, 0.2]))
            roads.append((f"r{c}{k}", parent, vid, surface))
            placed.append((vid, x, y))
    roads.append(("link", "C0", "C1", "nhựa / asphalt"))
    return world(villages, roads, {"00001": bool(rng.integers(0, 2)), "00002": True}, ("C0", "C1"))


def every_subset(cand: Candidates) -> list[tuple[float, float, float, int]]:
    """Cost, poor households served, region III cost and most projects in one unit, for every subset."""
    ids = list(cand.projects)
    units = [cand.projects[p].unit_2025_code for p in ids]
    region_iii = np.array([cand.components[c].region_iii for c in cand.compile()["comp_ids"]])
    costs = np.array([cand.components[c].cost for c in cand.compile()["comp_ids"]])
    rows = []
    for r in range(len(ids) + 1):
        for idx in itertools.combinations(range(len(ids)), r):
            ev = cand.evaluate([ids[i] for i in idx])
            built = np.asarray(cand.built([ids[i] for i in idx]), dtype=bool)
            crowded = max((sum(units[i] == u for i in idx) for u in set(units)), default=0)
            rows.append((ev.cost, ev.poor_households_served, float(costs[built & region_iii].sum()), crowded))
    return rows


def exhaustive(table: list[tuple[float, float, float, int]], options: PlanOptions) -> float:
    """The best poor households served over every subset of projects that meets the constraints."""
    best = 0.0
    for cost, served, region_cost, crowded in table:
        if cost > options.budget:
            continue
        if options.max_projects_per_unit and crowded > options.max_projects_per_unit:
            continue
        if options.min_region_iii_share and region_cost < options.min_region_iii_share * cost - 1e-6:
            continue
        best = max(best, served)
    return best


@pytest.mark.parametrize("seed", [3, 6, 8, 14, 18, 19])
def test_milp_matches_brute_force_on_small_instances(seed: int) -> None:
    cand = network_candidates(
        random_world(seed), COSTS.model_copy(update={"school_minutes": 12.0, "health_minutes": 15.0})
    )
    assert {p.kind for p in cand.projects.values()} >= {"road", "grid", "school", "health_station"}
    assert 3 <= len(cand.projects) <= 14, "instance outside the size brute force can check"
    everything = cand.evaluate(list(cand.projects)).cost
    table = every_subset(cand)
    for fraction, share, per_unit in ((0.2, None, None), (0.5, None, None), (0.5, 0.6, None), (0.7, None, 2)):
        options = PlanOptions(budget=fraction * everything, min_region_iii_share=share, max_projects_per_unit=per_unit)
        chosen, status, _ = optimise(cand, options)
        assert status == "Optimal"
        ev = cand.evaluate(chosen)
        assert ev.cost <= options.budget + 1
        # TIE_BREAK may give up under 0.001 households for a cheaper plan; brute force ignores cost
        assert ev.poor_households_served == pytest.approx(exhaustive(table, options), abs=1e-3), (fraction, share)


def test_a_project_is_worth_the_households_lacking_what_it_addresses() -> None:
    """C is the centre; V1 2 km out on concrete, V2 4 km further on earth (34.8 min: beyond a school).
    V1: 30 of 100 households lack water or a latrine (8 poor). V2: 25 lack decent housing (15 poor), 40 telecom
    (20 poor), 12 have children out of school (9 poor), 15 lack water (15%: below the 20% a candidate needs)."""
    inputs = world(
        [
            ("C", "00001", at(0, 0), True, 0, 1.0),
            ("V1", "00001", at(0, 2), False, 10, 1.0),
            ("V2", "00001", at(0, 6), False, 20, 1.0),
        ],
        [("e1", "C", "V1", "bê tông"), ("e2", "V1", "V2", "đất / earth")],
        {"00001": True},
    )
    lacking = {
        "water_sanitation": ([0, 30, 15], [0, 8, 5]),
        "housing_support": ([0, 10, 25], [0, 4, 15]),
        "connectivity": ([0, 0, 40], [0, 0, 20]),
        "school": ([0, 0, 12], [0, 0, 9]),
        "health_station": ([0, 0, 0], [0, 0, 0]),
    }
    for kind, (households, poor) in lacking.items():
        inputs.villages[f"deprived_{kind}"] = households
        inputs.villages[f"poor_deprived_{kind}"] = poor
    cand = network_candidates(inputs, COSTS)
    table = cand.table().set_index("project_id")
    water = table.loc["water-sanitation-V1"]
    assert water["cost_vnd"] == 0.8e9 + 30 * 5e6 and water["households_served"] == 30
    assert water["poor_households_served"] == 8
    assert "water-sanitation-V2" not in table.index  # 15% of households: under deprivation_min_share
    assert "housing-support-V1" not in table.index
    housing = table.loc["housing-support-V2"]
    assert housing["cost_vnd"] == 25 * 60e6 and housing["households_served"] == 25
    assert table.loc["connectivity-V2", "households_served"] == 40
    # the school at V2 is worth the 12 households with children out of school, not V2's 20 poor households
    school = table.loc["school-V2"]
    assert school["households_served"] == 12 and school["poor_households_served"] == 9
    # a road addresses no indicator of the standard: still worth V2's poor households, for its road and its
    # all-season need (20 each)
    road = table[table["kind"] == "road"].iloc[0]
    assert road["households_served"] == road["poor_households_served"] == 40
    # 2.2 billion buy the telecom connection and the water scheme (40 + 30), not housing (1.5 + 0.95 > 2.2)
    result = plan(cand, PlanOptions(budget=2.2e9))
    assert set(result.chosen["project_id"]) == {"connectivity-V2", "water-sanitation-V1"}
    assert result.totals["households_served"] == 70 and result.totals["poor_households_served"] == 28
    best = next_best(cand, list(result.chosen["project_id"]), 3)
    assert best.iloc[0]["project_id"] == "housing-support-V2" and best.iloc[0]["added_households_served"] == 25


def test_without_deprivation_counts_projects_are_worth_poor_households() -> None:
    cand = network_candidates(small_world(), COSTS)
    table = cand.table()
    assert not set(table["kind"]) & {"water_sanitation", "housing_support", "connectivity"}
    assert (table["households_served"] == table["poor_households_served"]).all()
    assert any("no deprivation counts" in note for note in cand.notes)
