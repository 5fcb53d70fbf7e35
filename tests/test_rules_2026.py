"""Decree 272/2025 rules on hand-made units, and the policy data they sit beside."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geo import rules, rules_2026
from geo.errors import InputDataError
from geo.policy import Needs, Periods, Standards, read_policy_facts, read_target


def test_ethnic_minority_counts_persons_not_households() -> None:
    # 1,000 households of which 140 are ethnic-minority (14%), but they are larger: 700 of 4,200 people (16.7%)
    by_households = rules.region_class(
        ethnic_minority_share=140 / 1000, poor_rate=0.25, poor_ethnic_minority_share=0.5, new_rural=False
    )
    assert by_households.value is None and by_households.reason.startswith("Art. 2")
    by_persons = rules_2026.ethnic_minority_commune(em_persons=700, persons=4200)
    assert by_persons.value is True and "15%" in by_persons.reason


def test_the_4500_alternative_for_large_merged_communes() -> None:
    # a merged commune of 40,000 people, 4,600 of them ethnic-minority (11.5%)
    large = rules_2026.ethnic_minority_commune(em_persons=4600, persons=40000)
    assert large.value is True and "4,500" in large.reason
    just_below = rules_2026.ethnic_minority_commune(em_persons=4499, persons=40000)
    assert just_below.value is False and "below 4,500" in just_below.reason
    # the absolute alternative is for communes only: a village of the same make-up is not ethnic-minority
    assert not rules_2026.ethnic_minority_villages(np.array([4600]), np.array([40000]))[0]
    assert rules_2026.ethnic_minority_villages(np.array([15]), np.array([100]))[0]


def test_wards_count_as_communes() -> None:
    # the rules take no unit type: a ward (phường) of 9,000 people with 1,500 ethnic-minority people qualifies
    units = [("Phường Tô Hiệu", 1500, 9000), ("Xã Mường Lạn", 1500, 9000), ("Phường Chiềng An", 900, 9000)]
    value, reason = rules_2026.ethnic_minority_communes(
        np.array([u[1] for u in units]), np.array([u[2] for u in units])
    )
    assert value.tolist() == [True, True, False]
    assert [rules_2026.EM_REASONS[i] for i in reason][2].endswith("below 4,500")


def test_mountainous_commune_by_share_of_villages() -> None:
    # no elevation data: 5 of 7 villages mountainous (71%) makes it mountainous; 4 of 7 (57%) does not
    yes = rules_2026.mountainous_commune(mountainous_village_share=5 / 7)
    assert yes.value is True and "villages" in yes.reason
    no = rules_2026.mountainous_commune(mountainous_village_share=4 / 7)
    assert no.value is False
    by_area = rules_2026.mountainous_commune(high_share=0.7, mountainous_village_share=0.1)
    assert by_area.value is True and "200 m" in by_area.reason
    # the flag stands in only where there is no elevation data, and says so
    flagged = rules_2026.mountainous_commune(flag=True)
    assert flagged.value is True and "flag" in flagged.reason
    assert rules_2026.mountainous_commune(high_share=0.2, flag=True).value is False
    assert rules_2026.mountainous_commune().value is None


def test_mountainous_village_by_slope_in_percent() -> None:
    assert rules_2026.mountainous_village(high_share=0.1, slope_share=0.7).value is True
    assert "slope" in rules_2026.mountainous_village(high_share=0.1, slope_share=0.7).reason
    assert rules_2026.mountainous_village(high_share=0.5, slope_share=0.5).value is False


def test_region_class_is_unknown_inside_the_area_and_never_guessed() -> None:
    inside = rules_2026.region_class(ethnic_minority=True, mountainous=None)
    assert inside.value is None and "official list" in inside.reason
    outside = rules_2026.region_class(ethnic_minority=False, mountainous=False)
    assert outside.value == 0 and "outside" in outside.reason
    assert rules_2026.region_class(ethnic_minority=False, mountainous=True).value is None
    assert rules_2026.especially_difficult_village().value is None


def test_standards_cover_every_year_once_and_mark_the_breaks() -> None:
    standards = Standards.load()
    assert standards.for_year(2021).id == "QD59-2015"
    assert [standards.for_year(y).id for y in (2022, 2025, 2026)] == ["ND07-2021"] * 3
    assert standards.for_year(2027).id == "ND351-2025"
    assert standards.breaks(range(2021, 2029)) == [(2021, 2022), (2026, 2027)]
    assert standards.comparable_start(range(2021, 2027), 2026) == 2022
    assert standards.comparable_start(range(2021, 2029), 2028) == 2027
    nd07 = standards.get("ND07-2021")
    assert len(nd07.indicators) == 12 and nd07.income_line_rural == 1_500_000
    assert len({i.dimension for i in nd07.indicators}) == 6


def test_a_gap_between_standards_is_refused(tmp_path: Path) -> None:
    text = Path("data/policy/standards.yaml").read_text(encoding="utf-8")
    text = text.replace("first_year: 2027", "first_year: 2028")
    bad = tmp_path / "standards.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(InputDataError, match="gap or overlap"):
        Standards.load(bad)


def test_periods_and_needs() -> None:
    periods = Periods.load()
    assert periods.current == "2026-2030" and periods.ids == ["2021-2025", "2026-2030"]
    assert periods.get("2026-2030").units == "units_2025"
    assert periods.get("2026-2030").layer == "classification_2026_2030"
    assert periods.for_year(2025).id == "2021-2025"
    with pytest.raises(InputDataError, match="2031-2035"):
        periods.get("2031-2035")
    needs = Needs.load()
    assert needs.kind_of("water_source") == "water_sanitation"
    assert needs.kind_of("school_attendance") == "school"
    assert needs.kind_of("employment") is None


def test_only_read_policy_facts_are_targets(tmp_path: Path) -> None:
    path = tmp_path / "facts.csv"
    path.write_text(
        "key,scope,period,value,unit,source_url,source_doc,note\n"
        "a,Sơn La,2026-2030,66,communes,u,d,read; 88%\n"
        'b,Sơn La,2026-2030,9,communes,u,d,"INFERRED: 75-66"\n'
        'c,Sơn La,end 2025,7.89,%,u,d,"expected, not official"\n',
        encoding="utf-8",
    )
    facts = read_policy_facts(path)
    assert read_target(facts, "a") == 66
    for key in ("b", "c"):
        with pytest.raises(InputDataError, match="only 'read' figures"):
            read_target(facts, key)
    with pytest.raises(InputDataError, match="missing"):
        read_target(facts, "d")
