"""The programme register as offices send it: read by hand-checked files, refused with row and column named, stored
and applied by the build; the quarterly report read back with openpyxl equals the layers it is made from."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import openpyxl
import pandas as pd
import pytest

from geo.errors import InputDataError
from geo.importing import ImportFailed
from geo.programme import Quarter
from geo.programme_import import HEADERS, header_of, read_register, template_workbook
from geo.settings import DataSettings
from geo.sources import sha256_file
from layers.build import import_file, remove_import
from layers.imports import ImportStore
from layers.intake import accounts_for, file_tables
from layers.programme_report import SHEETS, UNIT_COLUMNS, ReportError, programme_report
from layers.warehouse import read_table
from tests.conftest import Built, LiveServer, isolated_copy
from tests.test_intake import csrf, login, make_deployment, server_env, upload

UNITS = {"04240": "Xã Mường Lèo", "04144": "Xã Phiêng Cằm", "03646": "Phường Tô Hiệu"}
CROSSWALK = {"04141": "04144", "04144": "04144", "03646": "03646"}  # Chiềng Nơi is in Phiêng Cằm since 2025
HEADER = (
    "Mã dự án,Tên dự án,Chương trình,Hạng mục,Mã xã 2025,Mã xã cũ (trước 01/7/2025),Vốn trung ương (triệu đồng),"
    "Vốn địa phương (triệu đồng),Trạng thái,Ngày phê duyệt,Ngày hoàn thành,Khối lượng hoàn thành,Đơn vị tính,"
    "Giải ngân Q1/2026 (triệu đồng),Giải ngân Q2/2026 (triệu đồng)"
)


def _write(path: Path, *rows: str, title: bool = True) -> Path:
    lines = ["SỔ THEO DÕI DỰ ÁN CÁC CHƯƠNG TRÌNH MTQG,,,", ""] if title else []
    path.write_text("\n".join([*lines, HEADER, *rows]) + "\n", encoding="utf-8")
    return path


GOOD = (
    'P1,Đường bản Nam,1719,Đường giao thông,04240,,"1.000",200,hoàn thành,15/01/2026,20/05/2026,"2,5",km,600,500',
    "P2,Nhà ở hộ nghèo,giảm nghèo,housing_support,,04141,400,0,Đã hoàn thành,15/01/2026,31/03/2026,10,căn,400,",
    "P3,Điểm trường,MTQG-2026,schools,03646,,300,,đang thi công,2026-01-15,,,,,30",
)


def test_a_register_as_offices_write_it(tmp_path: Path) -> None:
    frame, report = read_register(_write(tmp_path / "so.csv", *GOOD), UNITS, CROSSWALK)
    rows = frame.set_index("project_id")
    # money in million VND with "." thousands: 1.000 triệu is 1 bn VND
    assert rows.loc["P1", "budget_central"] == 1_000_000_000 and rows.loc["P1", "budget_provincial"] == 200_000_000
    assert rows.loc["P1", "disbursed_2026Q1"] == 600_000_000 and rows.loc["P1", "disbursed_2026Q2"] == 500_000_000
    assert rows.loc["P1", "component"] == "roads" and rows.loc["P1", "status"] == "completed"
    assert rows.loc["P1", "output_value"] == 2.5 and rows.loc["P1", "output_unit"] == "km"
    assert rows.loc["P2", "programme"] == "GNBV" and rows.loc["P2", "output_unit"] == "houses"
    assert rows.loc["P2", "commune_2024_code"] == "04141"
    assert rows.loc["P3", "status"] == "under_construction"
    assert list(rows["source"]) == ["so.csv row 4", "so.csv row 5", "so.csv row 6"]  # every row keeps its source
    assert report.count("ok") == 1


def test_headers_name_fields_and_quarters() -> None:
    assert header_of("Giải ngân Q3/2026 (tỷ đồng)") == "disbursed_2026Q3"
    assert header_of("Disbursed 2027Q1 (million VND)") == "disbursed_2027Q1"
    assert header_of("Trong đó hộ cận nghèo") == "beneficiary_near_poor"
    assert header_of("Trong đó hộ nghèo") == "beneficiary_poor"
    assert header_of("Ngày phê duyệt") == "approved_date"
    for field, (vi, en) in HEADERS.items():  # the template's own headers read back as their fields
        assert header_of(f"{vi} / {en}") == ("ignore" if field == "note" else field)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("P1,x,1719,roads,04240,,100,0,completed,15/01/2026,20/05/2026,2,km,150,",
         "row 4: columns G 'Vốn trung ương (triệu đồng)', H 'Vốn địa phương (triệu đồng)': 150,000,000 VND disbursed "
         "is more than the 100,000,000 approved for P1"),
        ("P1,x,1719,roads,04240,,100,0,completed,15/01/2026,20/12/2025,2,km,,",
         "row 4: column K 'Ngày hoàn thành': completed on 2025-12-20 before it was approved on 2026-01-15"),
        ("P1,x,1719,roads,09999,,100,0,approved,15/01/2026,,,,,",
         "row 4: column E 'Mã xã 2025': 09999 is not a 2025 unit of Sơn La"),
        ("P1,x,1719,roads,,04999,100,0,approved,15/01/2026,,,,,",
         "row 4: column F 'Mã xã cũ (trước 01/7/2025)': 04999 is not a pre-merger commune of Sơn La"),
        ("P1,x,1719,roads,04240,,-5,0,approved,15/01/2026,,,,,",
         "row 4: column G 'Vốn trung ương (triệu đồng)': -5,000,000 VND is negative"),
        ("P1,x,1719,roads,04240,,100,0,approved,15/01/2026,,,,-3,",
         "row 4: column N 'Giải ngân Q1/2026 (triệu đồng)': -3,000,000 VND is negative"),
        ("P1,x,1719,roads,04240,,100,0,completed,15/01/2026,20/03/2026,2,,,",
         "row 4: column M 'Đơn vị tính': an output needs its unit"),
        ("P1,x,1719,roads,04240,,abc,0,approved,15/01/2026,,,,,",
         "row 4: column G 'Vốn trung ương (triệu đồng)': 'abc' is not an amount"),
    ],
)  # fmt: skip
def test_bad_rows_are_refused_with_row_and_column(tmp_path: Path, row: str, expected: str) -> None:
    with pytest.raises(ImportFailed, match="nothing was imported") as failed:
        read_register(_write(tmp_path / "so.csv", row), UNITS, CROSSWALK)
    lines = [f"row {e.row}: {e.message}" for e in failed.value.report.errors]
    assert any(line.startswith(expected) for line in lines), lines


def test_amounts_need_their_unit_and_the_key_columns_must_be_there(tmp_path: Path) -> None:
    bare = tmp_path / "bare.csv"
    bare.write_text(
        "Mã dự án,Chương trình,Hạng mục,Mã xã 2025,Vốn trung ương,Trạng thái\nP1,1719,roads,04240,1,approved\n"
    )
    with pytest.raises(InputDataError, match=r"column E 'Vốn trung ương': say the unit of the amounts"):
        read_register(bare, UNITS, CROSSWALK)
    short = tmp_path / "short.csv"
    short.write_text("Mã dự án,Tên dự án,Mã xã 2025\nP1,x,04240\n")
    with pytest.raises(InputDataError, match=r"missing column.*'Chương trình"):
        read_register(short, UNITS, CROSSWALK)


def test_the_template_reads_back(tmp_path: Path) -> None:
    data = template_workbook(Quarter(2026, 1), Quarter(2026, 4))
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    headers = [c.value for c in sheet[4] if c.value]
    assert headers[0] == "Mã dự án / Project id" and headers[-1].startswith("Giải ngân Q4/2026 (triệu đồng)")
    values = {"project_id": "P9", "name": "Đường", "programme": "1719", "component": "roads",
              "unit_2025_code": "04240", "budget_central": 1500, "budget_provincial": 100, "status": "approved",
              "approved_date": "15/01/2026"}  # fmt: skip
    sheet.append([values.get(field) for field in HEADERS] + [250, None, None, None])
    filled = tmp_path / "filled.xlsx"
    book.save(filled)
    frame, _ = read_register(filled, UNITS, CROSSWALK)
    rec = frame.iloc[0]
    assert rec["budget_central"] == 1_500_000_000 and rec["disbursed_2026Q1"] == 250_000_000
    assert rec["source"] == "filled.xlsx row 5"


def test_import_replaces_the_demo_register_and_a_bad_file_changes_nothing(built: Built, tmp_path: Path) -> None:
    settings = isolated_copy(built, tmp_path)
    store = ImportStore(settings.imports_dir)
    crosswalk = read_table(settings.warehouse, "crosswalk_2025").set_index("old_code")["new_code"]
    old = "04141"  # Chiềng Nơi (Mai Sơn), part of Xã Phiêng Cằm since 1 July 2025
    bad = _write(tmp_path / "bad.csv", "P1,x,1719,roads,04240,,100,0,completed,15/01/2026,20/12/2025,2,km,,")
    before = sha256_file(settings.warehouse)
    with pytest.raises(ImportFailed, match="row 4: column K"):
        import_file(settings, "programme_register", bad)
    assert sha256_file(settings.warehouse) == before and store.entries() == []

    outcome = import_file(settings, "programme_register", _write(tmp_path / "so-2026.csv", *GOOD))
    assert "replace the demo register" in outcome.report.details["replaces"]
    projects = read_table(settings.warehouse, "programme_projects").set_index("project_id")
    assert list(projects.index) == ["P1", "P2", "P3"] and not projects["synthetic"].any()
    assert projects.loc["P2", "unit_2025_code"] == crosswalk[old] == "04144"  # carried through the crosswalk
    assert projects.loc["P2", "source"] == "so-2026.csv row 5"
    assert projects.loc["P1", "disbursement_rate"] == pytest.approx(91.7)
    calibration = read_table(settings.warehouse, "calibration")
    assert "houses_built_for_poor" not in set(calibration["target"])  # no demo register, nothing to calibrate
    summary = read_table(settings.warehouse, "programme_unit_quarters")
    q2 = summary[summary["period"] == "2026Q2"].set_index("unit_code")
    assert q2.loc["04240", "disbursed_vnd"] == 1_100_000_000 and q2.loc["04240", "approved_vnd"] == 1_200_000_000
    assert q2.loc["14", "disbursed_vnd"] == 1_100_000_000 + 400_000_000 + 30_000_000  # the province row
    assert q2.loc["14", "disbursement_rate"] == round(100 * 1_530_000_000 / 1_900_000_000, 1)
    assert set(summary["period"]) == {"2026Q1", "2026Q2"}

    remove_import(settings, store.entries()[0].id)
    assert read_table(settings.warehouse, "programme_projects")["synthetic"].all()  # the demo register is back


def test_report_read_back_equals_the_layer(built: Built, tmp_path: Path) -> None:
    tables = file_tables(built.path)
    data = programme_report(tables, Quarter(2026, 1), release="test")
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert list(book.sheetnames) == list(SHEETS.values())
    sheet = book[SHEETS["units"]]
    assert "DEMO DATA" in sheet["A1"].value and "2026Q1" in sheet["A1"].value
    values = [r for r in sheet.iter_rows(min_row=4, values_only=True) if r[0]]
    read = pd.DataFrame(values, columns=[c.field for c in UNIT_COLUMNS]).set_index("unit_code")
    layer = tables("programme_unit_quarters")
    layer = layer[layer["period"] == "2026Q1"].set_index("unit_code")
    assert set(read.index) == set(layer.index) and len(read) == 76  # 75 units and the province
    for column in UNIT_COLUMNS[1:]:
        expected = layer.loc[read.index, column.field]
        got = read[column.field]
        if column.field == "least_funded_top_tier":
            assert list(got.astype(bool)) == list(expected.astype(bool))
        elif column.field == "unit_name":
            assert list(got) == list(expected)
        else:
            pd.testing.assert_series_equal(
                got.astype(float), expected.astype(float), check_names=False, check_index=False
            )
    flagged = [r[0] for r in book[SHEETS["equity"]].iter_rows(values_only=True) if r[0] in set(layer.index)]
    assert sorted(flagged) == sorted(layer.index[layer["least_funded_top_tier"].astype(bool)])
    with pytest.raises(ReportError, match="2019Q1: the register has no figures for that quarter"):
        programme_report(tables, Quarter(2019, 1))


@pytest.fixture
def deployment(built: Built, tmp_path: Path) -> DataSettings:
    """A private copy of the built warehouse as release 1, with two officers and a reviewer."""
    return make_deployment(built, tmp_path)


@pytest.mark.integration
def test_register_through_the_web_intake(built: Built, deployment: DataSettings) -> None:
    """An officer sends the register of their units; another unit's project is refused; the reviewer sees old and
    new per unit and approves it into a release whose OGC API serves the register."""
    store = accounts_for(deployment)
    mine = store.user("officer.a").units
    other = store.user("officer.b").units[0]
    with LiveServer(deployment.warehouse, env=server_env(deployment)) as server:
        officer, reviewer = login(server.url, "officer.a"), login(server.url, "reviewer")
        template = officer.get("/intake/programme-template.xlsx")
        assert template.status_code == 200 and template.content[:2] == b"PK"
        headers = [c.value for c in openpyxl.load_workbook(io.BytesIO(template.content)).worksheets[0][4]]
        assert headers[0] == "Mã dự án / Project id"
        rows = (
            f"P1,Đường bản A,1719,roads,{mine[0]},,1.500,300,đang thi công,15/01/2026,,,,400,200",
            f"P2,Nước sinh hoạt,MTQG-2026,water,{mine[1]},,800,0,approved,20/02/2026,,,,100,",
        )
        body = _write(Path(deployment.warehouse.parent / "so.csv"), *rows).read_bytes()
        token = {"x-csrf-token": csrf(officer)}
        foreign = f"P3,x,1719,roads,{other},,100,0,approved,15/01/2026,,,,,"
        refused = upload(officer, _write(Path(deployment.warehouse.parent / "x.csv"), foreign).read_bytes(), "x.csv",
                         **token)  # fmt: skip
        assert refused.status_code == 403 and other in refused.json()["description"]
        bad = upload(officer, body.replace(b"15/01/2026", b"15.01.2026"), "so.csv", **token)
        assert bad.status_code == 422
        assert any(
            "row 4: column J" in f"row {line['row']}: {line['message']}" for line in bad.json()["report"]["lines"]
        )
        sent = upload(officer, body, "so-theo-doi.csv", **token)
        assert sent.status_code == 201, sent.text
        assert sent.json()["kind"] == "programme_register" and sent.json()["units"] == sorted(mine[:2])
        detail = reviewer.get(f"/intake/submissions/{sent.json()['id']}?f=json").json()["comparison"]
        first = {c["indicator"]: c for c in detail if c["unit_code"] == mine[0]}
        assert first["programme_projects"]["submitted"] == 1.0  # the demo register is replaced whole
        assert first["budget_total"]["submitted"] == 1_800_000_000 and first["disbursed_vnd"]["submitted"] == 6e8
        approved = reviewer.post(
            f"/intake/submissions/{sent.json()['id']}/approve", headers={"x-csrf-token": csrf(reviewer)}
        )
        assert approved.status_code == 200, approved.text
        items = httpx.get(f"{server.url}/ogc/collections/programme_projects/items?f=json", timeout=60).json()
        got = {f["properties"]["project_id"]: f["properties"] for f in items["features"]}
        assert set(got) == {"P1", "P2"} and got["P1"]["source"] == "so-theo-doi.csv row 4"
        assert got["P1"]["disbursed_vnd"] == 600_000_000 and got["P1"]["synthetic"] is False
