"""The official lists of region I/II/III communes and ĐBKK villages, written here in the published layouts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from openpyxl import Workbook

from geo.encodings import from_unicode
from geo.errors import InputDataError
from geo.importing import ImportFailed, ImportLimits, ImportReport
from geo.official_lists import PERIODS, ListUnits, OfficialList, import_official_list
from tests.conftest import Built

# A few of the 75 units of 1 July 2025, with real codes and names.
UNITS_2025 = pd.DataFrame(
    [
        ("03646", "Phường Tô Hiệu"),
        ("03679", "Phường Chiềng Sinh"),
        ("03850", "Xã Chiềng Hoa"),
        ("03979", "Phường Mộc Sơn"),
        ("03985", "Xã Chiềng Sơn"),
        ("04018", "Xã Tô Múa"),
        ("04096", "Xã Lóng Phiêng"),
        ("04105", "Xã Mai Sơn"),
        ("04108", "Xã Chiềng Sung"),
        ("04132", "Xã Chiềng Mai"),
        ("04195", "Xã Chiềng Sơ"),
        ("04231", "Xã Sốp Cộp"),
    ],
    columns=["code", "name"],
)
OLD_NAMES = pd.DataFrame(
    [
        ("Xã Chiềng Ban", "04132", "Xã Chiềng Mai"),
        ("Xã Chiềng Khoa", "04018", "Xã Tô Múa"),
        ("Thị trấn Hát Lót", "04105", "Xã Mai Sơn"),
        ("Xã Chiềng Xuân", "03985", "Xã Chiềng Sơn"),
    ],
    columns=["old_name", "new_code", "new_name"],
)
VILLAGES_2025 = pd.DataFrame(
    [
        ("03985-01", "Bản Xà", "03985"),
        ("03985-02", "Bản Xà", "03985"),
        ("03985-03", "Bản Xa", "03985"),
        ("04056-01", "Bản Lương", "03985"),
        ("04105-02", "Bản Dồm", "04105"),
        ("04105-03", "Bản Huổi Búng", "04105"),
        ("04105-04", "Tiểu Khu Mười Một", "04105"),
        ("04135-12", "Phiêng Lặp", "04105"),
    ],
    columns=["village_id", "name", "unit_code"],
)
# A few of the 200 pre-merger communes, with their former districts: two "Chiềng Chung", a town and a
# commune both called Hát Lót, a name written "Hòa" in the atlas and spelling variants.
COMMUNES_2024 = pd.DataFrame(
    [
        ("03985", "Xã Chiềng Sơn", "123", ""),
        ("04015", "Xã Chiềng Chung", "123", ""),
        ("04006", "Xã Song Khủa", "128", ""),
        ("04009", "Xã Liên Hòa", "128", ""),
        ("04066", "Xã Sặp Vạt", "124", "Xã Sập Vạt"),
        ("04084", "Xã Chiềng On", "124", ""),
        ("04105", "Thị trấn Hát Lót", "125", ""),
        ("04117", "Xã Mường Chanh", "125", "Xã Mương Chanh; Xã Mường Tranh"),
        ("04120", "Xã Chiềng Ban", "125", ""),
        ("04129", "Xã Chiềng Chung", "125", ""),
        ("04132", "Xã Chiềng Mai", "125", ""),
        ("04135", "Xã Hát Lót", "125", ""),
    ],
    columns=["code", "name", "district_code", "name_variants"],
)
DISTRICTS_2024 = pd.DataFrame(
    [("123", "Thị xã Mộc Châu"), ("124", "Huyện Yên Châu"), ("125", "Huyện Mai Sơn"), ("128", "Huyện Vân Hồ")],
    columns=["code", "name"],
)
VILLAGES_2024 = pd.DataFrame(
    [("04120-01", "Bản Úng", "04120"), ("04120-05", "Bản San", "04120"), ("04135-03", "Bản Lót", "04135")],
    columns=["village_id", "name", "unit_code"],
)

TITLE_2026 = "DANH SÁCH CÁC XÃ KHU VỰC III, KHU VỰC II, KHU VỰC I GIAI ĐOẠN 2026-2030"
DOC_2026 = "(Kèm theo Quyết định số 60/QĐ-BDTTG ngày 29/01/2026 của Bộ trưởng Bộ Dân tộc và Tôn giáo)"


@pytest.fixture
def units_2026() -> ListUnits:
    return ListUnits("2026-2030", UNITS_2025, None, OLD_NAMES, VILLAGES_2025)


@pytest.fixture
def units_2021() -> ListUnits:
    return ListUnits("2021-2025", COMMUNES_2024, DISTRICTS_2024, None, VILLAGES_2024)


def _csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    """A CSV as an office saves it: CRLF, quoted cells with commas, UTF-8 with BOM or legacy bytes."""
    width = max(len(r) for r in rows)

    def quoted(cell: str) -> str:
        return '"' + cell.replace('"', '""') + '"' if any(ch in cell for ch in ',"') else cell

    text = "\r\n".join(",".join(quoted(c) for c in [*r, *[""] * (width - len(r))]) for r in rows) + "\r\n"
    if encoding == "utf-8":
        path.write_bytes(text.encode("utf-8-sig"))
    else:
        path.write_bytes(from_unicode(text, encoding).encode("cp1252"))
    return path


def _region_rows(body: list[list[str]], title: tuple[str, ...] = (TITLE_2026, DOC_2026)) -> list[list[str]]:
    """Title rows, the header, the column numbering row and the province section above `body`."""
    return [
        *[[t] for t in title],
        ["STT", "Tên xã, phường", "Khu vực", "Ghi chú"],
        ["1", "2", "3", "4"],
        ["I", "TỈNH SƠN LA", "", ""],
        *body,
        ["", "Tổng cộng", "", ""],
    ]


def _lines(report: ImportReport, status: str) -> dict[int | str, str]:
    return {line.row: line.message for line in report.lines if line.status == status}


def _failed(path: Path, units: ListUnits, **kwargs: object) -> ImportReport:
    with pytest.raises(ImportFailed) as caught:
        import_official_list(path, units, **kwargs)  # type: ignore[arg-type]
    assert f"{path}:" in str(caught.value) and "nothing was imported" in str(caught.value)
    return caught.value.report


# -- region lists, 2026-2030 ----------------------------------------------------------------------------


def test_region_list_exact_names(tmp_path: Path, units_2026: ListUnits) -> None:
    body = [
        ["1", "Xã Chiềng Sơn", "III", ""],
        ["2", "Xã Chiềng Sơ", "KV III", ""],
        ["3", "Phường Tô Hiệu", "I", "Phường"],
        ["4", "Mai Sơn", "2", ""],  # no type prefix, an Arabic numeral
        ["5", "XÃ SỐP CỘP", "Khu vực III", ""],  # capitals
        ["6", "Xã Lóng Phiêng", "khu vuc ii", ""],  # lower case, no accents
    ]
    path = _csv(tmp_path / "kv_2026.csv", _region_rows(body))
    found, report = import_official_list(path, units_2026)
    assert isinstance(found, OfficialList) and found.period == "2026-2030"
    assert (found.document, found.date) == ("60/QĐ-BDTTG", "2026-01-29")  # read from the title
    assert list(found.communes["unit_code"]) == ["03985", "04195", "03646", "04105", "04231", "04096"]
    assert list(found.communes["region_class"]) == [3, 3, 1, 2, 3, 2]
    assert str(found.communes["region_class"].dtype) == "Int64"
    assert list(found.communes["row"]) == [6, 7, 8, 9, 10, 11]
    assert list(found.communes["listed_name"])[3] == "Mai Sơn"
    assert found.communes["region_class"].value_counts().to_dict() == {3: 3, 2: 2, 1: 1}
    assert report.details["communes by region"] == "I: 1, II: 2, III: 3"
    assert report.details["units not listed"].startswith("6: ")
    assert _lines(report, "skipped") == {
        4: "column numbering row",
        5: "province section (TỈNH SƠN LA)",
        12: "totals row (Tổng cộng)",
    }
    assert report.count("warning") == 0 and report.count("imported") == 6
    assert "Xã Chiềng Sơ (04195), khu vực III" in _lines(report, "imported")[7]
    assert found.villages.empty and list(found.villages.columns) == ["unit_code", "listed_name", "village_id", "row"]


def test_misspelt_names_are_taken_with_a_warning(tmp_path: Path, units_2026: ListUnits) -> None:
    body = [
        ["1", "Chieng Son", "III", ""],  # without accents
        ["2", "Xã Lóng Phiên", "II", ""],  # one letter missing
        ["3", "Xã Chiềng Sơ", "III", ""],  # exact: not taken for Chiềng Sơn, one letter away
        ["4", "Phường Mộc Sơnn", "I", ""],  # one letter too many
    ]
    found, report = import_official_list(_csv(tmp_path / "typos.csv", _region_rows(body)), units_2026)
    assert list(found.communes["unit_code"]) == ["03985", "04096", "04195", "03979"]
    assert list(found.communes["listed_name"]) == ["Chieng Son", "Xã Lóng Phiên", "Xã Chiềng Sơ", "Phường Mộc Sơnn"]
    warnings = _lines(report, "warning")
    assert sorted(warnings) == [6, 7, 9]
    assert warnings[6] == "'Chieng Son' taken as Xã Chiềng Sơn (03985): the accents differ"
    assert warnings[7] == "'Xã Lóng Phiên' taken as Xã Lóng Phiêng (04096): one letter differs"
    assert "taken as Phường Mộc Sơn (03979)" in warnings[9]


@pytest.mark.parametrize(
    ("name", "region", "message"),
    [
        (  # an old name one letter from a 2025 unit (Chiềng Hoa) is still reported as an old name
            "Xã Chiềng Khoa",
            "III",
            "'Xã Chiềng Khoa' is a pre-merger commune, merged into Xã Tô Múa (04018) on 1 July 2025",
        ),
        ("Xã Chiềng Ban", "III", "'Xã Chiềng Ban' is a pre-merger commune, merged into Xã Chiềng Mai (04132)"),
        ("Xã Không Có", "II", "no unit of 1 July 2025 named 'Xã Không Có'"),
        ("Chiềng Sunh", "II", "it is close to several: Phường Chiềng Sinh (03679), Xã Chiềng Sung (04108)"),
        ("Xã Chiềng Mai", "IV", "region class 'IV' is not I, II or III (commune 'Xã Chiềng Mai')"),
        ("Xã Chiềng Mai", "", "'Xã Chiềng Mai' has no region class: its 'Khu vực' cell is empty"),
    ],
    ids=["old-name-one-letter-from-a-unit", "old-name", "unknown-name", "typo-close-to-two", "region-IV", "no-region"],
)
def test_a_bad_row_is_an_error_naming_its_row(
    tmp_path: Path, units_2026: ListUnits, name: str, region: str, message: str
) -> None:
    body = [["1", "Xã Chiềng Sơn", "III", ""], ["2", name, region, ""], ["3", "Xã Tô Múa", "I", ""]]
    report = _failed(_csv(tmp_path / "bad.csv", _region_rows(body)), units_2026)
    errors = _lines(report, "error")
    assert list(errors) == [7] and message in errors[7]
    assert report.count("imported") == 0


def test_a_unit_listed_twice_is_an_error_naming_both_rows(tmp_path: Path, units_2026: ListUnits) -> None:
    body = [["1", "Xã Chiềng Sơn", "III", ""], ["2", "Xã Tô Múa", "I", ""], ["3", "Chiềng Sơn", "II", ""]]
    report = _failed(_csv(tmp_path / "twice.csv", _region_rows(body)), units_2026)
    assert _lines(report, "error") == {8: "Xã Chiềng Sơn (03985) is listed 2 times, on rows 6 and 8"}


def test_three_region_columns_under_one_khu_vuc_header(tmp_path: Path, units_2026: ListUnits) -> None:
    rows = [
        ["STT", "Tên đơn vị", "Khu vực", "", ""],
        ["", "", "I", "II", "III"],
        ["1", "2", "3", "4", "5"],
        ["1", "Phường Tô Hiệu", "x", "", ""],
        ["2", "Xã Tô Múa", "", "", "X"],
        ["3", "Xã Chiềng Mai", "", "x", ""],
    ]
    found, report = import_official_list(_csv(tmp_path / "marks.csv", rows), units_2026)
    assert report.details["header rows"] == "1, 2"
    assert report.details["columns"] == "1:stt, 2:commune, 3:region I, 4:region II, 5:region III"
    assert list(zip(found.communes["unit_code"], found.communes["region_class"], strict=True)) == [
        ("03646", 1),
        ("04018", 3),
        ("04132", 2),
    ]
    rows[5] = ["3", "Xã Chiềng Mai", "x", "x", ""]
    report = _failed(_csv(tmp_path / "two_marks.csv", rows), units_2026)
    assert _lines(report, "error") == {6: "marked in several region columns (I, II) (commune 'Xã Chiềng Mai')"}


def test_rows_of_another_province_are_skipped(tmp_path: Path, units_2026: ListUnits) -> None:
    rows = [
        ["STT", "Tên xã", "Khu vực"],
        ["I", "TỈNH ĐIỆN BIÊN", ""],
        ["1", "Xã Mường Nhé", "III"],
        ["2", "Xã Chiềng Sơ", "III"],  # a Sơn La name under Điện Biên is still Điện Biên's row
        ["II", "TỈNH SƠN LA", ""],
        ["1", "Xã Chiềng Sơ", "II"],
        ["2", "Phường Tô Hiệu", "I"],
        ["III", "Lai Châu", ""],  # a bare name numbered in Roman is a province
        ["1", "Xã Mường Tè", "III"],
    ]
    found, report = import_official_list(_csv(tmp_path / "provinces.csv", rows), units_2026)
    assert list(found.communes["unit_code"]) == ["04195", "03646"]
    assert list(found.communes["region_class"]) == [2, 1]
    skipped = _lines(report, "skipped")
    assert skipped[2] == "section of another province (TỈNH ĐIỆN BIÊN): its rows are skipped"
    assert skipped[3] == skipped[4] == "row under TỈNH ĐIỆN BIÊN, not Sơn La"
    assert skipped[5] == "province section (TỈNH SƠN LA)"
    assert skipped[9] == "row under Lai Châu, not Sơn La"
    assert not report.errors and report.count("warning") == 0


def test_document_arguments_and_a_title_of_another_period(tmp_path: Path, units_2026: ListUnits) -> None:
    body = [["1", "Xã Chiềng Sơn", "III", ""]]
    path = _csv(tmp_path / "kv.csv", _region_rows(body))
    found, report = import_official_list(path, units_2026, document="61/QĐ-BDTTG", date="30/01/2026")
    assert (found.document, found.date) == ("61/QĐ-BDTTG", "2026-01-30")
    assert [(line.row, line.message) for line in report.lines if line.status == "warning"] == [
        ("title", "the title names 60/QĐ-BDTTG; 61/QĐ-BDTTG (given) kept"),
        ("title", "the title is dated 2026-01-29; 2026-01-30 (given) kept"),
    ]
    assert (report.details["document"], report.details["date"]) == ("61/QĐ-BDTTG", "2026-01-30")
    old_title = ("DANH SÁCH CÁC XÃ KHU VỰC III GIAI ĐOẠN 2021 - 2025", "(Kèm theo Quyết định số 861/QĐ-TTg)")
    report = _failed(_csv(tmp_path / "old.csv", _region_rows(body, old_title)), units_2026)
    assert _lines(report, "error") == {"title": "the title is for giai đoạn 2021-2025, not 2026-2030"}
    with pytest.raises(InputDataError, match="date '31/02/2026' is not a date"):
        import_official_list(path, units_2026, date="31/02/2026")


# -- region lists, 2021-2025 ----------------------------------------------------------------------------


def _list_2021(extra: list[str]) -> list[list[str]]:
    return [
        ["DANH SÁCH CÁC XÃ KHU VỰC III, KHU VỰC II, KHU VỰC I GIAI ĐOẠN 2021-2025"],
        ["(Kèm theo Quyết định số 861/QĐ-TTg ngày 04/6/2021 của Thủ tướng Chính phủ)"],
        ["TT", "Tên đơn vị", "Khu vực"],
        ["I", "TỈNH SƠN LA", ""],
        ["1", "Thị xã Mộc Châu", ""],
        ["1", "Xã Chiềng Sơn", "III"],
        ["2", "Xã Chiềng Chung", "III"],
        ["2", "Huyện Mai Sơn", ""],
        ["1", "Thị trấn Hát Lót", "I"],
        ["2", "Xã Hát Lót", "II"],
        ["3", "Xã Chiềng Chung", "III"],  # the same name as in Mộc Châu: placed by the section
        ["4", "Xã Mường Tranh", "III"],  # a spelling variant of Mường Chanh
        extra,
        ["3", "Vân Hồ", ""],  # a district section without its type
        ["1", "Xã Liên Hoà", "II"],  # the atlas writes Hòa
        ["", "Cộng", "", ""],
    ]


def test_2021_list_by_district_sections(tmp_path: Path, units_2021: ListUnits) -> None:
    path = _csv(tmp_path / "kv_2021.csv", _list_2021(["5", "Xã Chiềng Ban", "III"]))
    found, report = import_official_list(path, units_2021)
    assert (found.document, found.date) == ("861/QĐ-TTg", "2021-06-04")
    assert list(found.communes["unit_code"]) == ["03985", "04015", "04105", "04135", "04129", "04117", "04120", "04009"]
    assert list(found.communes["region_class"]) == [3, 3, 1, 2, 3, 3, 3, 2]
    assert report.details["communes by region"] == "I: 1, II: 2, III: 5"
    skipped = _lines(report, "skipped")
    assert skipped[5] == "district section (Thị xã Mộc Châu: 123)"
    assert skipped[14] == "district section (Vân Hồ: 128)"
    assert report.count("warning") == 0 and not report.errors


def test_2021_name_that_no_longer_exists(tmp_path: Path, units_2021: ListUnits) -> None:
    path = _csv(tmp_path / "kv_2021.csv", _list_2021(["5", "Xã Nà Mường Cũ", "III"]))
    report = _failed(path, units_2021)
    assert _lines(report, "error") == {13: "no pre-merger commune named 'Xã Nà Mường Cũ' in Huyện Mai Sơn"}
    found, report = import_official_list(path, units_2021, allow_unmatched=True)
    assert _lines(report, "warning") == {
        13: "no pre-merger commune named 'Xã Nà Mường Cũ' in Huyện Mai Sơn; left out (allow_unmatched)"
    }
    assert list(found.communes["unit_code"]) == ["03985", "04015", "04105", "04135", "04129", "04117", "04009"]
    assert 13 not in set(found.communes["row"])
    # a name of another district is not taken from there
    report = _failed(_csv(tmp_path / "moved.csv", _list_2021(["5", "Xã Song Khủa", "III"])), units_2021)
    assert "there is one in Huyện Vân Hồ (Xã Song Khủa (04006))" in _lines(report, "error")[13]


def test_xlsx_with_merged_title_and_header_cells(tmp_path: Path, units_2021: ListUnits) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["DANH SÁCH CÁC XÃ KHU VỰC III, KHU VỰC II, KHU VỰC I VÙNG ĐỒNG BÀO DÂN TỘC THIỂU SỐ VÀ MIỀN NÚI"])
    ws.append(["(Kèm theo Quyết định số 861/QĐ-TTg ngày 04 tháng 6 năm 2021 của Thủ tướng Chính phủ)"])
    ws.append(["STT", "Tên tỉnh, huyện, xã", "Khu vực", None, None])
    ws.append([None, None, "I", "II", "III"])
    ws.append([1, 2, 3, 4, 5])
    ws.append(["I", "Tỉnh Sơn La"])
    ws.append([1, "Huyện Mai Sơn"])
    ws.append([1, "Thị trấn Hát Lót", "x", None, None])
    ws.append([2, "Xã Chiềng Chung", None, None, "x"])
    ws.append([3, "Xã Mương Chanh", None, "x", None])
    ws.append([2, "Huyện Yên Châu"])
    ws.append([1, "Xã Sập Vạt", None, "x", None])
    ws.append([2, "Chiềng On", None, None, "x"])
    for cells in ("A1:E1", "A2:E2", "A3:A4", "B3:B4", "C3:E3", "B6:E6", "B7:E7", "B11:E11"):
        ws.merge_cells(cells)
    path = tmp_path / "861.xlsx"
    wb.save(path)
    found, report = import_official_list(path, units_2021)
    assert (found.document, found.date) == ("861/QĐ-TTg", "2021-06-04")
    assert report.details["header rows"] == "3, 4"
    assert list(found.communes["unit_code"]) == ["04105", "04129", "04117", "04066", "04084"]
    assert list(found.communes["region_class"]) == [1, 3, 2, 2, 3]
    assert list(found.communes["row"]) == [8, 9, 10, 12, 13]
    assert report.details["communes by region"] == "I: 1, II: 2, III: 2"
    assert report.count("warning") == 0 and report.count("skipped") == 4


# -- village lists --------------------------------------------------------------------------------------


def test_village_list_with_commune_section_rows(tmp_path: Path, units_2026: ListUnits) -> None:
    rows = [
        ["DANH SÁCH THÔN ĐẶC BIỆT KHÓ KHĂN GIAI ĐOẠN 2026-2030"],
        ["(Kèm theo Quyết định số 60/QĐ-BDTTG ngày 29 tháng 01 năm 2026)"],
        ["STT", "Tên thôn, bản", "Ghi chú"],
        ["I", "TỈNH SƠN LA", ""],
        ["1", "Xã Chiềng Sơn", ""],
        ["1", "Bản Xa", ""],
        ["2", "Bản Lương", ""],
        ["3", "Bản Xà", ""],  # the atlas has two villages of that name in the unit: none chosen
        ["2", "XÃ MAI SƠN", ""],
        ["1", "Dồm", ""],  # without 'Bản'
        ["2", "Bản Nà Mới", ""],  # not among the atlas's villages
        ["3", "Bản Huổi Búng; Phiêng Lặp", ""],  # two villages in one cell
        ["4", "Tiểu khu Mười Một", ""],
    ]
    found, report = import_official_list(_csv(tmp_path / "dbkk.csv", rows), units_2026)
    assert report.kind == "official_list_villages"
    assert (found.document, found.date) == ("60/QĐ-BDTTG", "2026-01-29")
    assert list(found.communes["unit_code"]) == ["03985", "04105"]
    assert list(found.communes["listed_name"]) == ["Xã Chiềng Sơn", "XÃ MAI SƠN"]
    assert found.communes["region_class"].isna().all() and str(found.communes["region_class"].dtype) == "Int64"
    assert list(found.villages["unit_code"]) == ["03985"] * 3 + ["04105"] * 5
    assert list(found.villages["listed_name"]) == [
        "Bản Xa",
        "Bản Lương",
        "Bản Xà",
        "Dồm",
        "Bản Nà Mới",
        "Bản Huổi Búng",
        "Phiêng Lặp",
        "Tiểu khu Mười Một",
    ]
    assert list(found.villages["village_id"]) == [
        "03985-03",
        "04056-01",
        None,
        "04105-02",
        None,
        "04105-03",
        "04135-12",
        "04105-04",
    ]
    assert list(found.villages["row"]) == [6, 7, 8, 10, 11, 12, 12, 13]
    warnings = _lines(report, "warning")
    assert sorted(warnings) == [8, 11]
    assert warnings[8] == (
        "village 'Bản Xà' of Xã Chiềng Sơn (03985): several of the atlas's villages have this name "
        "(03985-01, 03985-02); none chosen; kept without a village_id"
    )
    assert warnings[11] == (
        "village 'Bản Nà Mới' of Xã Mai Sơn (04105): not among the atlas's villages of this unit; "
        "kept without a village_id"
    )
    assert report.details["villages"] == "8 (6 matched to the atlas's villages)"


def test_village_list_with_an_unmatched_commune_is_an_error(tmp_path: Path, units_2026: ListUnits) -> None:
    rows = [
        ["STT", "Tên thôn, bản"],
        ["1", "Bản Mồ Côi"],  # no commune above it
        ["1", "Xã Chiềng Ban"],
        ["1", "Bản Úng"],
    ]
    report = _failed(_csv(tmp_path / "dbkk.csv", rows), units_2026)
    errors = _lines(report, "error")
    assert sorted(errors) == [2, 3]
    assert errors[2].startswith("village 'Bản Mồ Côi' has no commune")
    assert "merged into Xã Chiềng Mai (04132)" in errors[3]
    assert _lines(report, "skipped")[4] == "village 'Bản Úng': its commune 'Xã Chiềng Ban' (row 3) was not matched"


def test_village_list_xlsx_with_merged_sections_and_commune_cells(tmp_path: Path, units_2026: ListUnits) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["DANH SÁCH THÔN ĐẶC BIỆT KHÓ KHĂN"])
    ws.append(["STT", "Xã", "Thôn, bản", "Ghi chú"])
    ws.append(["I. TỈNH SƠN LA"])  # merged across the row: every cell shows it
    ws.append([1, "Chiềng Sơn", "Bản Lương", None])
    ws.append([2, None, "Bản Xa", None])
    ws.append([3, "Mai Sơn", "Bản Dồm", None])
    ws.append([4, None, "Bản Mới", None])
    ws.append([None, "Sốp Cộp"])  # a commune section merged over the commune and village columns
    ws.append([5, None, "Bản Cộp"])
    for cells in ("A1:D1", "A3:D3", "B4:B5", "B6:B7", "B8:C8"):
        ws.merge_cells(cells)
    path = tmp_path / "dbkk.xlsx"
    wb.save(path)
    found, report = import_official_list(path, units_2026)
    assert _lines(report, "skipped") == {3: "province section (I. TỈNH SƠN LA)"}
    assert list(found.communes["unit_code"]) == ["03985", "04105", "04231"]
    assert list(found.communes["row"]) == [4, 6, 8]
    assert list(found.villages["village_id"]) == ["04056-01", "03985-03", "04105-02", None, None]
    assert list(found.villages["unit_code"]) == ["03985", "03985", "04105", "04105", "04231"]
    assert list(found.villages["listed_name"]) == ["Bản Lương", "Bản Xa", "Bản Dồm", "Bản Mới", "Bản Cộp"]
    warnings = _lines(report, "warning")
    assert list(warnings) == [7, 9] and "the atlas has no village points in this unit" in warnings[9]


def test_regions_and_villages_in_one_list(tmp_path: Path, units_2026: ListUnits) -> None:
    rows = [
        ["STT", "Tên xã", "Khu vực", "Thôn ĐBKK"],
        ["1", "Xã Chiềng Sơn", "III", ""],
        ["", "", "", "Bản Lương"],
        ["2", "Phường Tô Hiệu", "I", ""],
        ["3", "Xã Mai Sơn", "II", "Bản Dồm"],
        ["", "Xã Mai Sơn", "II", "Bản Huổi Búng"],  # the commune repeated on each village row
        ["", "Xã Mai Sơn", "III", "Tiểu khu Mười Một"],  # … with another region
    ]
    report = _failed(_csv(tmp_path / "both.csv", rows), units_2026)
    assert _lines(report, "error") == {7: "'Xã Mai Sơn' is in khu vực II on row 5 but III here"}
    rows[6][2] = "II"
    found, report = import_official_list(_csv(tmp_path / "both.csv", rows), units_2026)
    assert report.kind == "official_list_regions_villages"
    assert list(zip(found.communes["unit_code"], found.communes["region_class"], strict=True)) == [
        ("03985", 3),
        ("03646", 1),
        ("04105", 2),
    ]
    assert list(found.villages["village_id"]) == ["04056-01", "04105-02", "04105-03", "04105-04"]
    assert list(found.villages["row"]) == [3, 5, 6, 7]


def test_village_list_in_tcvn3_with_district_and_commune_columns(tmp_path: Path, units_2021: ListUnits) -> None:
    rows = [
        ["DANH SÁCH THÔN ĐẶC BIỆT KHÓ KHĂN TỈNH SƠN LA"],
        ["(Kèm theo Quyết định số 612/QĐ-UBDT ngày 16/9/2021 của Bộ trưởng, Chủ nhiệm Ủy ban Dân tộc)"],
        ["STT", "Huyện", "Tên xã", "Tên thôn ĐBKK"],
        ["1", "Huyện Mai Sơn", "Xã Chiềng Ban", "Bản Úng"],
        ["2", "", "", "Bản San"],  # commune cell empty: the one above (a vertically merged cell saved as CSV)
        ["3", "", "Xã Chiềng Chung", "Bản Mới"],
        ["4", "", "Xã Hát Lót", "Bản Lót"],
        ["5", "Thị xã Mộc Châu", "Xã Chiềng Chung", "Bản Cũ"],
    ]
    path = _csv(tmp_path / "dbkk_tcvn3.csv", rows, "tcvn3")
    assert "Chiềng" not in path.read_bytes().decode("cp1252")  # really written in TCVN3
    found, report = import_official_list(path, units_2021)
    assert "tcvn3" in report.details["encoding"]
    assert (found.document, found.date) == ("612/QĐ-UBDT", "2021-09-16")
    assert list(found.communes["unit_code"]) == ["04120", "04129", "04135", "04015"]
    assert list(found.villages["unit_code"]) == ["04120", "04120", "04129", "04135", "04015"]
    assert list(found.villages["village_id"]) == ["04120-01", "04120-05", None, "04135-03", None]
    assert list(found.villages["listed_name"])[:2] == ["Bản Úng", "Bản San"]
    assert sorted(_lines(report, "warning")) == [6, 8]


# -- errors before the rows, units from the warehouse layers ----------------------------------------------


def test_file_without_a_list_header_and_limits(tmp_path: Path, units_2026: ListUnits) -> None:
    path = _csv(tmp_path / "indicators.csv", [["Mã xã", "Tổng số hộ"], ["03985", "1200"]])
    with pytest.raises(InputDataError, match=r"indicators\.csv: no header row of an official list"):
        import_official_list(path, units_2026)
    body = [[str(i), "Xã Chiềng Sơn", "III", ""] for i in range(10)]
    path = _csv(tmp_path / "long.csv", _region_rows(body))
    with pytest.raises(InputDataError, match="more than 5 rows"):
        import_official_list(path, units_2026, limits=ImportLimits(max_rows=5))
    with pytest.raises(InputDataError, match="unknown period '2020-2025'"):
        ListUnits("2020-2025", UNITS_2025, None, None, None)


def test_units_from_layers(tmp_path: Path) -> None:
    layers = {
        "units_2025": UNITS_2025.assign(
            full_name=UNITS_2025["name"], name=UNITS_2025["name"].str.split(" ", n=1).str[1]
        ),
        "communes_2024": COMMUNES_2024,
        "districts_2024": DISTRICTS_2024,
        "crosswalk_2025": OLD_NAMES.assign(old_name_variants=["Xã Chiềng Bán", "", "", ""]),
        "demo_villages": VILLAGES_2025.rename(columns={"unit_code": "unit_2025_code"}).assign(
            commune_2024_code=lambda f: f["village_id"].str[:5]
        ),
    }
    units = ListUnits.from_layers("2026-2030", layers)
    assert units.units["name"].iloc[0] == "Phường Tô Hiệu" and units.districts is None
    assert units.old_names is not None and "Xã Chiềng Bán" in set(units.old_names["old_name"])
    assert units.villages is not None and list(units.villages["unit_code"])[:4] == ["03985"] * 4
    old = ListUnits.from_layers("2021-2025", layers)
    assert old.districts is not None and len(old.units) == 12 and old.old_names is None
    assert old.villages is not None and list(old.villages["unit_code"])[3] == "04056"
    with pytest.raises(InputDataError, match="has no layer 'districts_2024'"):
        ListUnits.from_layers("2021-2025", {"communes_2024": COMMUNES_2024})


@pytest.mark.integration
def test_warehouse_layers_all_75_units(built: Built, tmp_path: Path) -> None:
    names = ("units_2025", "communes_2024", "districts_2024", "crosswalk_2025", "demo_villages")
    layers = {name: pyogrio.read_dataframe(built.path, layer=name, read_geometry=False) for name in names}
    units = ListUnits.from_layers(PERIODS[1], layers)
    assert len(units.units) == 75 and units.units["name"].str.startswith("Phường ").sum() == 8
    rows = [[str(i), name, "III" if i % 2 else "II", ""] for i, name in enumerate(units.units["name"], start=1)]
    found, report = import_official_list(_csv(tmp_path / "all.csv", _region_rows(rows)), units)
    assert list(found.communes["unit_code"]) == list(units.units["code"])
    assert report.details["units not listed"] == "0" and report.count("warning") == 0
    old = ListUnits.from_layers(PERIODS[0], layers)
    assert len(old.units) == 200
    rows = [["1", "Xã Chiềng Ban", "III", ""]]
    report = _failed(_csv(tmp_path / "old.csv", _region_rows(rows)), units)
    assert "merged into Xã Chiềng Mai (04132)" in _lines(report, "error")[6]
