"""`atlas import official_list` end to end: listed classes and villages replace the demo's, by period."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from geo.importing import ImportFailed
from geo.settings import DataSettings
from geo.sources import sha256_file
from layers.build import import_file, remove_import
from layers.imports import ImportStore
from layers.warehouse import read_table
from tests.conftest import Built, isolated_copy

pytestmark = pytest.mark.integration


def _settings(built: Built, tmp_path: Path) -> tuple[DataSettings, Path]:
    settings = isolated_copy(built, tmp_path)
    return settings, settings.warehouse


def test_a_2026_2030_list_replaces_the_demo_classes_of_the_units_it_names(built: Built, tmp_path: Path) -> None:
    settings, warehouse = _settings(built, tmp_path)
    demo = read_table(warehouse, "classification_2026_2030").set_index("unit_code")
    villages = read_table(warehouse, "demo_villages")
    # two region III units listed as region I and II, one ward as region III: what a real list might change
    iii = demo.index[demo["region_class"] == 3][:2]
    ward = demo.index[(demo["unit_type"] == "Phường") & (demo["region_class"] != 3)][0]
    names = demo["unit_name"]
    region_csv = tmp_path / "phu_luc_1.csv"
    region_csv.write_text(
        "DANH SÁCH XÃ KHU VỰC I, II, III GIAI ĐOẠN 2026-2030\n"
        "(Kèm theo Quyết định số 60/QĐ-BDTTG ngày 29/01/2026)\n"
        "STT,Tên xã,Khu vực\n"
        "I,TỈNH SƠN LA,\n"
        f"1,{names[iii[0]]},I\n2,{names[iii[1]]},II\n3,{names[ward]},III\n",
        encoding="utf-8",
    )
    # a village list for the first unit: two of the atlas's villages and one it does not have
    unit = iii[0]
    own = villages[villages["unit_2025_code"] == unit].sort_values("village_id")
    picked = own["name"].drop_duplicates(keep=False).iloc[:2].tolist()
    village_csv = tmp_path / "phu_luc_2.csv"
    village_csv.write_text(
        "DANH SÁCH THÔN ĐẶC BIỆT KHÓ KHĂN GIAI ĐOẠN 2026-2030\n"
        "(Kèm theo Quyết định số 60/QĐ-BDTTG ngày 29/01/2026)\n"
        "STT,Tên thôn\n"
        f"1,{names[unit]}\n1.1,{picked[0]}\n1.2,{picked[1]}\n1.3,Bản Không Có Trong Atlas\n",
        encoding="utf-8",
    )
    outcome = import_file(settings, "official_list", region_csv, options={"period": "2026-2030"})
    assert outcome.report.details["document"] == "60/QĐ-BDTTG"
    import_file(settings, "official_list", village_csv, options={"period": "2026-2030"})
    assert [e.kind for e in ImportStore(tmp_path / "imports").entries()] == ["official_list", "official_list"]

    after = read_table(warehouse, "classification_2026_2030").set_index("unit_code")
    assert after.loc[iii[0], "region_class"] == 1 and after.loc[iii[1], "region_class"] == 2
    assert after.loc[ward, "region_class"] == 3
    listed = [iii[0], iii[1], ward]
    assert (after.loc[listed, "source"] == "official").all()
    assert (after.loc[listed, "document"] == "60/QĐ-BDTTG").all()
    assert (after.loc[listed, "document_date"] == "2026-01-29").all()
    others = after.index.difference(listed)
    assert (after.loc[others, "source"] == "demo").all()
    assert (after.loc[others, "region_class"] == demo.loc[others, "region_class"]).all()
    # the list's count of villages, the atlas's villages it names flagged and the unit's others not
    assert after.loc[unit, "n_especially_difficult_villages"] == 3 and after.loc[unit, "villages_source"] == "official"
    flagged = read_table(warehouse, "demo_villages")
    mine = flagged[flagged["unit_2025_code"] == unit]
    assert set(mine.loc[mine["especially_difficult_2026_2030"].astype(bool), "name"]) == set(picked)
    assert (mine["especially_difficult_2026_2030_source"] == "official").all()
    assert not bool(after.loc[ward, "synthetic"]) or after.loc[ward, "villages_source"] == "demo"
    # the 2026 rows of the indicator table follow the list
    ind = read_table(warehouse, "commune_indicators")
    rows = ind[(ind["vintage"] == "2025") & (ind["year"] == 2026)].set_index("unit_code")
    assert rows.loc[iii[0], "region_class"] == 1 and rows.loc[ward, "region_iii_household_share"] == 100


def test_a_bad_list_changes_nothing_and_a_2021_2025_list_sets_the_old_classes(built: Built, tmp_path: Path) -> None:
    settings, warehouse = _settings(built, tmp_path)
    before = sha256_file(warehouse)
    bad = tmp_path / "bad.csv"
    bad.write_text("STT,Tên xã,Khu vực\n1,Xã Không Tồn Tại,III\n", encoding="utf-8")
    with pytest.raises(ImportFailed, match="row 2"):
        import_file(settings, "official_list", bad, options={"period": "2026-2030"})
    with pytest.raises(Exception, match="--period"):
        import_file(settings, "official_list", bad)
    assert sha256_file(warehouse) == before

    communes = read_table(warehouse, "communes_2024")
    districts = read_table(warehouse, "districts_2024").set_index("code")["name"]
    ind = read_table(warehouse, "commune_indicators")
    old = ind[(ind["vintage"] == "2024") & (ind["year"] == 2021)].set_index("unit_code")
    pick = communes[communes["code"].map(old["region_class"]) == 3].iloc[0]
    old_list = tmp_path / "qd861.csv"
    old_list.write_text(
        "DANH SÁCH CÁC XÃ KHU VỰC III, KHU VỰC II, KHU VỰC I GIAI ĐOẠN 2021-2025\n"
        "(Kèm theo Quyết định số 861/QĐ-TTg ngày 04/6/2021)\n"
        "STT,Tên xã,Khu vực\n"
        f"1,{districts[pick['district_code']]},\n1,{pick['name']},I\n",
        encoding="utf-8",
    )
    outcome = import_file(settings, "official_list", old_list, options={"period": "2021-2025"})
    ind = read_table(warehouse, "commune_indicators")
    rows = ind[(ind["vintage"] == "2024") & (ind["unit_code"] == pick["code"])]
    assert (rows["region_class"] == 1).all() and len(rows) == 5
    assert rows["region_reason"].str.startswith("official list 861/QĐ-TTg").all()
    # the 2026-2030 classification is untouched by a 2021-2025 list
    assert (read_table(warehouse, "classification_2026_2030")["source"] == "demo").all()
    remove_import(settings, outcome.entry.id)
    ind = read_table(warehouse, "commune_indicators")
    rows = ind[(ind["vintage"] == "2024") & (ind["unit_code"] == pick["code"])]
    assert (rows["region_class"] == 3).all()


def test_the_command_prints_the_report(built: Built, tmp_path: Path) -> None:
    _, warehouse = _settings(built, tmp_path)
    listing = tmp_path / "list.csv"
    listing.write_text("STT,Tên xã,Khu vực\n1,Xã Chieng Son,III\n", encoding="utf-8")  # no accents: a warning
    env = {"ATLAS_WAREHOUSE": str(warehouse), "ATLAS_IMPORTS_DIR": str(tmp_path / "imports")}
    done = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "import", "official_list", str(listing), "--period", "2026-2030"],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning" in done.stdout and "Chiềng Sơn" in done.stdout
    table = pd.DataFrame(read_table(warehouse, "classification_2026_2030"))
    assert (table["source"] == "official").sum() == 1
