"""The demo dataset and aggregations in the warehouse built from the real sources."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from geo.facts import read_facts, resolve_policy_targets, resolve_targets
from geo.indicators import COUNTS
from geo.policy import read_policy_facts
from geo.rules import especially_difficult_villages
from layers.catalog import CATALOG
from layers.warehouse import read_table
from tests.conftest import Built


@pytest.fixture(scope="module")
def published(shared_data: Path) -> dict[str, float]:
    facts = read_facts(shared_data / "facts/published_aggregates.csv", shared_data / "facts/seed_figures.csv")
    policy = shared_data / "policy/facts_2026.csv"
    resolved = resolve_targets(facts) | resolve_policy_targets(read_policy_facts(policy), policy)
    return {k: v for k, (_, _, v) in resolved.items()}


@pytest.fixture(scope="module")
def indicators(built: Built) -> pd.DataFrame:
    return read_table(built.path, "commune_indicators")


def _province(ind: pd.DataFrame, year: int) -> pd.Series:
    return ind[(ind["vintage"] == "province") & (ind["year"] == year)].iloc[0]


def test_calibration_report_all_within_tolerance(built: Built) -> None:
    report = read_table(built.path, "calibration")
    assert len(report) >= 20 and (report["status"] == "ok").all(), report[report["status"] != "ok"]


def test_published_counts_exact_and_rates_within_a_tenth(indicators: pd.DataFrame, published: dict[str, float]) -> None:
    p22 = _province(indicators, 2022)
    assert p22["households"] == published["households_2022"]
    assert p22["poor_households"] == published["poor_2022"]
    assert p22["near_poor_households"] == published["near_poor_2022"]
    assert p22["persons"] == published["persons_2022"]
    for year, key in (
        (2021, "poor_rate_2021"),
        (2022, "poor_rate_2022"),
        (2023, "poor_rate_2023"),
        (2024, "poor_rate_2024"),
        (2025, "poor_rate_2025"),
    ):
        assert abs(_province(indicators, year)["poor_rate"] - published[key]) <= 0.1, year
    sop_cop = indicators[(indicators["vintage"] == "district") & (indicators["unit_code"] == "127")]
    assert abs(sop_cop.set_index("year").loc[2023, "poor_rate"] - published["poor_rate_sop_cop_2023"]) <= 0.1
    assert abs(sop_cop.set_index("year").loc[2024, "poor_rate"] - published["poor_rate_sop_cop_2024"]) <= 0.1
    y21 = indicators[(indicators["vintage"] == "2024") & (indicators["year"] == 2021)]
    assert (y21["region_class"] == 3).sum() == published["region_iii_communes"]
    y25 = indicators[(indicators["vintage"] == "2024") & (indicators["year"] == 2025)]
    assert int(y25["new_rural"].sum()) == published["ntm_communes_2025"]


def test_the_two_poor_districts_are_the_poorest(indicators: pd.DataFrame) -> None:
    d22 = indicators[(indicators["vintage"] == "district") & (indicators["year"] == 2022)]
    poorest = set(d22.nlargest(2, "poor_rate")["unit_name"])
    assert poorest == {"Huyện Thuận Châu", "Huyện Sốp Cộp"}


def test_aggregates_equal_sums_of_predecessors(built: Built, indicators: pd.DataFrame) -> None:
    crosswalk = read_table(built.path, "crosswalk_2025").set_index("old_code")["new_code"]
    old = indicators[indicators["vintage"] == "2024"].assign(new=lambda f: f["unit_code"].map(crosswalk))
    summed = old.groupby(["new", "year"])[list(COUNTS)].sum()
    merged = indicators[(indicators["vintage"] == "2025") & (indicators["year"] <= 2025)]
    new = merged.set_index(["unit_code", "year"])[list(COUNTS)]
    pd.testing.assert_frame_equal(summed.sort_index(), new.sort_index(), check_names=False, check_dtype=False)
    rate = (100 * new["poor_households"] / new["households"]).round(2)
    stored = merged.set_index(["unit_code", "year"])["poor_rate"]
    assert np.allclose(rate.sort_index(), stored.sort_index())
    total = indicators[(indicators["vintage"] == "province") & (indicators["year"] <= 2025)].set_index("year")
    assert (old.groupby("year")["households"].sum() == total["households"]).all()
    # 2026 exists only on the 2025 units (the pre-merger communes are gone): the province is their sum
    y26 = indicators[indicators["year"] == 2026]
    assert set(y26["vintage"]) == {"2025", "province"}
    units26 = y26[y26["vintage"] == "2025"]
    assert len(units26) == 75
    assert units26["poor_households"].sum() == _province(indicators, 2026)["poor_households"]


def test_villages_follow_article_6(built: Built, published: dict[str, float]) -> None:
    villages = read_table(built.path, "demo_villages")
    assert len(villages) == published["villages_total"]
    flags, _ = especially_difficult_villages(
        villages["ethnic_minority_share"].to_numpy(),
        villages["poor_rate_2021"].to_numpy() / 100,
        villages["poor_ethnic_minority_share_2021"].to_numpy(),
        ~villages["all_season_road"].to_numpy(dtype=bool),
        villages["grid_power_share"].to_numpy(),
    )
    stored = villages["especially_difficult"].to_numpy(dtype=bool)
    assert (flags == stored).mean() > 0.995  # rates are stored rounded to 0.01 pp
    assert stored.sum() == published["especially_difficult_villages"]
    assert abs(100 * villages["paved_road_to_centre"].mean() - published["paved_road_share"]) <= 0.1
    assert villages["synthetic"].all()
    assert (villages.groupby("commune_2024_code")["is_commune_centre"].sum() == 1).all()


def test_every_village_reaches_its_commune_centre_by_road(built: Built) -> None:
    villages = read_table(built.path, "demo_villages")
    roads = read_table(built.path, "roads")
    graph = nx.Graph()
    for geom in roads.geometry:
        a, b = (tuple(np.round(c, 6)) for c in geom.coords)
        graph.add_edge(a, b)
    nodes = [tuple(np.round(p.coords[0], 6)) for p in villages.geometry]
    assert all(n in graph for n in nodes)
    components = {n: i for i, comp in enumerate(nx.connected_components(graph)) for n in comp}
    assert len(set(components[n] for n in nodes)) == 1  # one network joins the whole province


def test_infrastructure_layers(built: Built) -> None:
    health = read_table(built.path, "health_stations")
    communes = read_table(built.path, "communes_2024")
    assert set(health["commune_2024_code"]) == set(communes["code"])
    schools = read_table(built.path, "schools")
    assert set(schools["facility_type"]) >= {"tiểu học / primary", "trung học cơ sở / lower secondary"}
    for layer in ("health_stations", "schools", "markets", "roads", "bridges", "demo_villages"):
        assert read_table(built.path, layer)["synthetic"].all(), layer


def test_population_by_zonal_statistics(built: Built, shared_data: Path) -> None:
    facts = {(f.indicator, f.scope): f.value for f in read_facts(shared_data / "facts/published_aggregates.csv")}
    province = read_table(built.path, "province").iloc[0]
    assert province["population_worldpop_2020"] == pytest.approx(
        facts[("population_worldpop_2020", "Sơn La province")], rel=0.01
    )
    units = read_table(built.path, "units_2025")
    c09 = read_table(built.path, "communes_2009")
    for column in ("population_2009_area_weighted", "population_2009_pop_weighted"):
        assert units[column].sum() == pytest.approx(c09["population_2009"].sum(), rel=0.01), column
    assert not np.allclose(units["population_2009_area_weighted"], units["population_2009_pop_weighted"])


def test_synthetic_layers_are_flagged_in_metadata(built: Built) -> None:
    meta = read_table(built.path, "atlas_layers").set_index("layer")
    for spec in CATALOG:
        assert bool(meta.loc[spec.id, "synthetic"]) == spec.synthetic
        if spec.synthetic:
            assert "demo" in spec.description_en.lower() or "synthetic" in spec.description_en.lower()
    indicators = read_table(built.path, "commune_indicators")
    assert indicators["synthetic"].all() and indicators["sources"].str.contains("demo:").all()


def test_demo_generation_is_deterministic(built: Built, shared_data: Path, published: dict[str, float]) -> None:
    from geo.demo import generate_demo
    from geo.population import PopulationGrid

    communes = read_table(built.path, "communes_2024")
    places = read_table(built.path, "villages")
    grid = PopulationGrid.read(shared_data / "population/worldpop_2020_sonla_1km.tif")
    first = generate_demo(communes, places, grid, published)
    second = generate_demo(communes, places, grid, published)
    pd.testing.assert_frame_equal(first.communes, second.communes)
    pd.testing.assert_frame_equal(first.village_years, second.village_years)
    assert first.villages.geometry.equals(second.villages.geometry)
    stored = read_table(built.path, "commune_indicators")
    stored = stored[(stored["vintage"] == "2024")].sort_values(["year", "unit_code"])
    assert (
        stored["poor_households"].tolist()
        == first.communes.sort_values(["year", "unit_code"])["poor_households"].tolist()
    )
