"""The programme register on small registers checked by hand: rates, sums per unit and tier, pre-merger codes
carried through the crosswalk, the equity flags, and bad rows refused with the row and column named."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.demo.params import SEED
from geo.demo.programme import programme_register
from geo.importing import ImportFailed
from geo.programme import (
    Quarter,
    candidate_key,
    check_register,
    equity,
    spending_by,
    unit_quarters,
)
from geo.programme_layers import Register, programme_layers

UNITS = {"04240": "Xã Mường Lèo", "04144": "Xã Phiêng Cằm", "03646": "Phường Tô Hiệu"}
CROSSWALK = {"04141": "04144", "04144": "04144", "03646": "03646"}  # Chiềng Nơi is in Phiêng Cằm since 2025


def _row(**values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "project_id": "P1", "programme": "1719", "component": "roads", "name": "Đường bản Nam",
        "unit_2025_code": "04240", "commune_2024_code": None, "budget_central": 1_000_000_000.0,
        "budget_provincial": 200_000_000.0, "budget_other": 0.0, "status": "completed",
        "proposed_date": "2025-09-01", "approved_date": "2026-01-15", "completed_date": "2026-05-20",
        "cancelled_date": None, "output_value": 2.5, "output_unit": "km", "beneficiary_households": 120.0,
        "beneficiary_poor": 60.0, "beneficiary_near_poor": 20.0,
    }  # fmt: skip
    return base | values


def _register() -> tuple[pd.DataFrame, pd.DataFrame]:
    register = pd.DataFrame(
        [
            _row(),
            _row(project_id="P2", unit_2025_code=None, commune_2024_code="04141", component="housing_support",
                 budget_central=400_000_000.0, budget_provincial=0.0, output_value=10.0, output_unit="houses",
                 completed_date="31/03/2026", beneficiary_households=10.0, beneficiary_poor=10.0,
                 beneficiary_near_poor=0.0),
            _row(project_id="P3", unit_2025_code="03646", status="approved", completed_date=None,
                 budget_central=300_000_000.0, budget_provincial=0.0, output_value=None, output_unit=None),
            _row(project_id="P4", status="proposed", approved_date=None, completed_date=None,
                 budget_central=5_000_000_000.0),
        ]
    )  # fmt: skip
    disbursements = pd.DataFrame(
        [
            {"project_id": "P1", "period": "2026Q1", "amount": 600_000_000.0},
            {"project_id": "P1", "period": "Q2/2026", "amount": 500_000_000.0},
            {"project_id": "P2", "period": "2026-Q1", "amount": 400_000_000.0},
            {"project_id": "P3", "period": "2026Q2", "amount": 30_000_000.0},
        ]
    )
    return register, disbursements


def test_quarters_parse_and_end() -> None:
    assert Quarter.parse("2026Q1") == Quarter.parse("Q1/2026") == Quarter.parse("2026-q1") == Quarter(2026, 1)
    assert Quarter(2026, 4).end == dt.date(2026, 12, 31) and Quarter(2026, 1).end == dt.date(2026, 3, 31)
    with pytest.raises(ValueError, match="2026Q1"):
        Quarter.parse("2026-05")


def test_candidate_keys_survive_row_order_and_tiny_moves() -> None:
    key = candidate_key("road", "04240", 103.28578, 20.84195)
    assert key == "road:04240:103.286,20.842"
    assert candidate_key("road", "04240", 103.28581, 20.84199) == key  # 4 m away: the same candidate
    assert candidate_key("road", "04240", 103.2901, 20.84195) != key
    assert candidate_key("housing", "04240", None, None) == "housing:04240"


def test_sums_rates_and_crosswalk_by_hand() -> None:
    register, disbursements = _register()
    checked, paid = check_register(register, disbursements, UNITS, CROSSWALK)
    assert checked.loc[1, "unit_2025_code"] == "04144"  # pre-merger Chiềng Nơi carried to Phiêng Cằm
    assert list(paid["period"]) == ["2026Q1", "2026Q2", "2026Q1", "2026Q2"]
    poor = {"04240": 572.0, "04144": 500.0, "03646": 7.0}

    q1 = unit_quarters(checked, paid, poor, Quarter(2026, 1)).set_index("unit_2025_code")
    # Mường Lèo: P1 approved 1.2 bn in January, 0.6 bn paid in Q1; not completed until May
    assert q1.loc["04240", "approved_vnd"] == 1_200_000_000
    assert q1.loc["04240", "disbursed_vnd"] == 600_000_000
    assert q1.loc["04240", "disbursement_rate"] == 50.0
    assert q1.loc["04240", "disbursed_per_poor_household"] == round(600_000_000 / 572)
    assert q1.loc["04240", "projects_completed"] == 0
    # Phiêng Cằm: the housing package, paid in full and completed on 31 March
    assert q1.loc["04144", "disbursement_rate"] == 100.0
    assert q1.loc["04144", "output_housing_support_houses"] == 10
    assert q1.loc["04144", "beneficiary_poor"] == 10
    # the proposed 5 bn project (P4) counts nowhere
    assert q1["approved_vnd"].sum() == 1_200_000_000 + 400_000_000 + 300_000_000

    q2 = unit_quarters(checked, paid, poor, Quarter(2026, 2)).set_index("unit_2025_code")
    assert q2.loc["04240", "disbursed_vnd"] == 1_100_000_000  # cumulative
    assert q2.loc["04240", "disbursement_rate"] == pytest.approx(91.7)
    assert q2.loc["04240", "output_roads_km"] == 2.5
    assert q2.loc["03646", "disbursement_rate"] == 10.0

    flagged = equity(q2.reset_index(), {"04240": 3, "04144": 2, "03646": 0}, {"04240": 3, "04144": 3, "03646": 1})
    # VND per poor household: Mường Lèo 1.92 m, Phiêng Cằm 0.8 m, Tô Hiệu 4.29 m; the lowest quarter is
    # Phiêng Cằm's, a high-tier unit: flagged
    assert flagged.set_index("unit_2025_code")["least_funded_top_tier"].to_dict() == {
        "03646": False, "04144": True, "04240": False,
    }  # fmt: skip
    by_tier = spending_by(flagged, "tier").set_index("tier")
    assert by_tier.loc[3, "disbursed_vnd"] == 1_100_000_000 and by_tier.loc[3, "poor_households"] == 572
    by_region = spending_by(flagged, "region_class").set_index("region_class")
    assert by_region.loc[3, "disbursed_per_poor_household"] == round(1_500_000_000 / 1072)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"budget_central": -5.0}, "row 2: column 'budget_central': -5 VND is negative"),
        ({"completed_date": "2025-12-01"}, "row 2: column 'completed_date': completed on 2025-12-01 before it was"),
        ({"unit_2025_code": "99999"}, "row 2: column 'unit_2025_code': 99999 is not a 2025 unit"),
        ({"unit_2025_code": None, "commune_2024_code": "09999"}, "column 'commune_2024_code': 09999 is not a pre-"),
        ({"output_unit": None}, "row 2: column 'output_unit': an output needs its unit"),
        ({"output_unit": "houses"}, "column 'output_unit': 'houses': roads outputs are counted in km"),
        ({"status": "done"}, "row 2: column 'status': 'done' is not one of"),
        ({"approved_date": "15.01.2026"}, "row 2: column 'approved_date': '15.01.2026' is not a date"),
        ({"beneficiary_poor": 110.0}, "row 2: column 'beneficiary_poor': poor and near-poor (130) exceed"),
        ({"budget_central": 100_000_000.0, "budget_provincial": 0.0}, "row 2: column 'budget_*': 1,100,000,000 VND "
         "disbursed is more than the 100,000,000 approved for P1"),
    ],
)  # fmt: skip
def test_bad_rows_are_refused_with_row_and_column(change: dict[str, object], expected: str) -> None:
    register, disbursements = _register()
    for column, value in change.items():
        register.loc[0, column] = value
    with pytest.raises(ImportFailed, match="nothing was imported") as failed:
        check_register(register, disbursements, UNITS, CROSSWALK)
    assert any(expected in f"row {e.row}: {e.message}" for e in failed.value.report.errors), failed.value.report


def test_bad_disbursement_rows_are_named() -> None:
    register, disbursements = _register()
    disbursements.loc[1, "amount"] = -1.0
    disbursements.loc[2, "period"] = "2026-05"
    disbursements.loc[3, "project_id"] = "P9"
    with pytest.raises(ImportFailed) as failed:
        check_register(register, disbursements, UNITS, CROSSWALK)
    lines = [f"{e.row}: {e.message}" for e in failed.value.report.errors]
    assert "disbursements row 3: column 'amount': -1 VND is negative" in lines
    assert any(line.startswith("disbursements row 4: column 'period'") for line in lines)
    assert "disbursements row 5: column 'project_id': P9 is not in the register" in lines
    duplicate = pd.concat([register, register.iloc[[0]]], ignore_index=True)
    with pytest.raises(ImportFailed, match="P1 is also on row 2"):
        check_register(duplicate, disbursements.iloc[:1], UNITS, CROSSWALK)


def _demo_inputs() -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    rng = np.random.default_rng(3)
    codes = [f"{4000 + 7 * i:05d}" for i in range(12)]
    units = pd.DataFrame(
        {
            "unit_2025_code": codes,
            "poor_households_2021": rng.integers(5, 900, len(codes)),
            "tier": [i % 4 for i in range(len(codes))],
            "lon": rng.uniform(103.3, 104.9, len(codes)),
            "lat": rng.uniform(20.7, 21.9, len(codes)),
        }
    )
    kinds = ["road", "school", "health_station", "water_sanitation", "grid", "crossing"]
    candidates = pd.DataFrame(
        {
            "kind": [kinds[i % len(kinds)] for i in range(120)],
            "unit_2025_code": [codes[i % len(codes)] for i in range(120)],
            "lon": rng.uniform(103.3, 104.9, 120),
            "lat": rng.uniform(20.7, 21.9, 120),
            "cost_vnd": rng.uniform(0.5e9, 6e9, 120).round(),
            "planned": [i % 10 == 0 for i in range(120)],  # 12 projects of the plan, in any tier
        }
    )
    targets = {
        "houses_built_for_poor": 3058, "workers_job_connection": 9300, "poor_near_poor_vocational_training": 13000,
        "disbursed_1719_to_2025q2": 3434e9, "disbursed_gnbv_to_2025q4": 758e9,
    }  # fmt: skip
    return units, candidates, targets


def test_demo_register_reproduces_the_published_programme_figures() -> None:
    units, candidates, targets = _demo_inputs()
    register, payments, notes = programme_register(units, candidates, targets, np.random.default_rng(SEED))
    again = programme_register(units, candidates, targets, np.random.default_rng(SEED))
    pd.testing.assert_frame_equal(register, again[0])  # seeded: the same register every build
    assert register["synthetic"].all() and register["source"].str.startswith("demo: synthetic").all()
    checked, paid = check_register(
        register, payments, dict.fromkeys(units["unit_2025_code"], "unit"), {}, file="demo register"
    )
    done = checked[
        (checked["status"] == "completed") & checked["completed_date"].map(lambda d: d is not None and d.year <= 2025)
    ]
    outputs = done.groupby(["component", "output_unit"])["output_value"].sum()
    assert outputs[("housing_support", "houses")] == 3058  # seed article, 2021-2025
    assert outputs[("job_connection", "people")] == 9300
    assert outputs[("vocational_training", "people")] == 13000
    programme = paid.merge(checked[["project_id", "programme"]], on="project_id")
    until = programme["period"].map(Quarter.parse)
    assert programme.loc[(programme["programme"] == "1719") & (until <= Quarter(2025, 2)), "amount"].sum() == 3434e9
    assert programme.loc[(programme["programme"] == "GNBV") & (until <= Quarter(2025, 4)), "amount"].sum() == 758e9
    approved = checked[
        (checked["programme"] == "1719") & checked["approved_date"].map(lambda d: d <= dt.date(2025, 6, 30))
    ]
    assert 3434e9 / approved["budget_total"].sum() == pytest.approx(0.70, abs=0.005)  # "about 70% of plan"
    keys = {candidate_key(r.kind, r.unit_2025_code, r.lon, r.lat) for r in candidates.itertuples()}
    realised = checked["candidate_key"].dropna()
    assert len(realised) == 40 and set(realised) <= keys
    planned = {
        candidate_key(r.kind, r.unit_2025_code, r.lon, r.lat) for r in candidates[candidates["planned"]].itertuples()
    }
    assert planned <= set(realised)  # every project of the plan is approved (there are fewer than 25) …
    top = set(units.loc[units["tier"] >= 2, "unit_2025_code"])
    others = checked[checked["candidate_key"].notna() & ~checked["candidate_key"].isin(planned)]
    assert set(others["unit_2025_code"]) <= top  # … and the rest are candidates of the top tiers
    support = ("housing_support", "livelihoods", "vocational_training", "job_connection")
    unplanned = checked[
        (checked["programme"] == "MTQG-2026") & checked["candidate_key"].isna() & ~checked["component"].isin(support)
    ]
    assert len(unplanned) == 8 and any("in no plan" in n for n in notes)


def _small_layers() -> dict[str, pd.DataFrame]:
    """Three 2025 units with the layers the programme step reads, one candidate of the plan in Mường Lèo."""
    codes = list(UNITS)
    squares = [shapely.box(103 + i, 21, 103.5 + i, 21.5) for i in range(3)]
    units = gpd.GeoDataFrame({"code": codes, "full_name": list(UNITS.values())}, geometry=squares, crs=4326)
    poor = {"poor_households_2021": [600.0, 500.0, 10.0], "poor_households_2026": [572.0, 500.0, 7.0]}
    candidates = gpd.GeoDataFrame(
        {"project_id": ["road-1"], "kind": ["road"], "unit_2025_code": ["04240"], "cost_vnd": [1e9]},
        geometry=[shapely.Point(103.2, 21.2)],
        crs=4326,
    )
    return {
        "units_2025": units,
        "crosswalk_2025": pd.DataFrame({"old_code": list(CROSSWALK), "new_code": list(CROSSWALK.values())}),
        "indicators_units_2025": pd.DataFrame({"unit_code": codes, **poor}),
        "priority_units_2025": pd.DataFrame({"unit_code": codes, "tier": [3, 2, 0]}),
        "classification_2026_2030": pd.DataFrame({"unit_code": codes, "region_class": [3, 3, 1]}),
        "investment_candidates": candidates,
        "investment_plan": pd.DataFrame({"project_id": ["road-1"], "cost_vnd": [1e9]}),
    }


def test_carry_over_province_row_and_the_plan_by_hand() -> None:
    layers = _small_layers()
    key = candidate_key("road", "04240", 103.2, 21.2)
    register = pd.DataFrame(
        [
            _row(project_id="OLD", approved_date="2025-10-01", status="under_construction", completed_date=None,
                 output_value=None, output_unit=None, budget_central=1_000_000_000.0, budget_provincial=0.0),
            _row(project_id="NEW", unit_2025_code="04144", approved_date="2026-02-01", status="approved",
                 completed_date=None, output_value=None, output_unit=None, budget_central=500_000_000.0,
                 budget_provincial=0.0, candidate_key=key),
        ]
    )  # fmt: skip
    paid = pd.DataFrame(
        [
            {"project_id": "OLD", "period": "2025Q4", "amount": 400_000_000.0},
            {"project_id": "OLD", "period": "2026Q1", "amount": 300_000_000.0},
            {"project_id": "NEW", "period": "2026Q1", "amount": 100_000_000.0},
        ]
    )
    out = programme_layers(layers, {}, Register(register, paid, "register.csv", synthetic=False))
    summary = out.layers["programme_unit_quarters"].set_index(["unit_code", "period"])
    assert sorted(set(summary.index.get_level_values("period"))) == ["2025Q4", "2026Q1"]
    # 2025Q4, period 2021-2025: 1 bn approved, 0.4 bn paid
    assert summary.loc[("04240", "2025Q4"), "disbursement_rate"] == 40.0
    # 2026Q1, period 2026-2030: OLD's unpaid 0.6 bn is carried over; 0.3 bn of it paid in the quarter
    q1 = summary.loc[("04240", "2026Q1")]
    assert q1["carried_over_vnd"] == 600_000_000 and q1["approved_vnd"] == 600_000_000
    assert q1["disbursed_vnd"] == 300_000_000 and q1["disbursement_rate"] == 50.0
    assert q1["disbursed_per_poor_household"] == round(300_000_000 / 572)  # poor households of 2026
    province = summary.loc[("14", "2026Q1")]
    assert province["approved_vnd"] == 1_100_000_000 and province["disbursed_vnd"] == 400_000_000
    assert province["disbursement_rate"] == round(100 * 4 / 11, 1) and province["poor_households"] == 1079
    projects = out.layers["programme_projects"].set_index("project_id")
    assert projects.loc["NEW", "plan_match"] == "plan" and projects.loc["OLD", "plan_match"] == "earlier"
    plan = layers["investment_plan"].iloc[0]
    assert plan["programme_project_id"] == "NEW" and plan["programme_status"] == "approved"
    assert out.calibration is None and len(out.layers["programme_units_2025"]) == 3
    assert list(out.layers["programme_sites"]["project_id"]) == []  # neither has a location

    proposed = register.assign(status="proposed", approved_date=None)
    only = programme_layers(_small_layers(), {}, Register(proposed, paid.iloc[:0], "register.csv", False))
    rows = only.layers["programme_unit_quarters"]
    assert set(rows["period"]) == {"2026Q1"} and rows["approved_vnd"].sum() == 0
