"""Importers on small files written here in each encoding and layout, and broken files of each kind."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from openpyxl import Workbook
from pyproj import CRS
from shapely.geometry import LineString, MultiLineString, MultiPoint, Point

from geo.encodings import detect, from_unicode, to_unicode
from geo.errors import InputDataError
from geo.importing import ImportFailed, ImportLimits, UnitIndex, import_indicators, import_vector
from geo.spreadsheets import Cell, parse_count, parse_rate
from layers.warehouse import read_table
from tests.conftest import Built


@pytest.fixture(scope="module")
def reference(built: Built) -> tuple[UnitIndex, gpd.GeoDataFrame, pd.DataFrame]:
    communes = read_table(built.path, "communes_2024")
    assert isinstance(communes, gpd.GeoDataFrame)
    return UnitIndex(communes, read_table(built.path, "districts_2024")), communes, communes.set_index("code")


def _pick(communes: pd.DataFrame, district: str, n: int) -> pd.DataFrame:
    return communes[communes["district_code"] == district].sort_index().head(n)


# -- encodings -----------------------------------------------------------------------------------------


def test_legacy_encodings_against_known_strings() -> None:
    assert to_unicode("B¶o Th¾ng", "tcvn3") == "Bảo Thắng"
    assert to_unicode("B¸t X¸t", "tcvn3") == "Bát Xát"
    assert to_unicode("M\xadêng Kh\xad¬ng", "tcvn3") == "Mường Khương"
    assert to_unicode("Xin chaøo caùc baïn", "vni") == "Xin chào các bạn"
    assert detect(["Tæng sè hé nghÌo", "HuyÖn Mai S¬n"]) == "tcvn3"
    assert detect(["Toång soá hoä ngheøo", "Huyeän Mai Sôn"]) == "vni"
    assert detect(["Tổng số hộ nghèo", "Huyện Mai Sơn"]) == "unicode"


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        (Cell("1.234"), 1234),
        (Cell("12 345"), 12345),
        (Cell("1,234"), 1234),
        (Cell("", 1234.0), 1234),
        (Cell("87"), 87),
        (Cell(""), None),
    ],
)
def test_counts_as_offices_write_them(cell: Cell, value: int | None) -> None:
    assert parse_count(cell) == value


@pytest.mark.parametrize("text", ["-5", "12,5", "abc", "1.23"])
def test_bad_counts(text: str) -> None:
    with pytest.raises(ValueError):
        parse_count(Cell(text))


def test_rates() -> None:
    assert parse_rate(Cell("12,5")) == 12.5
    assert parse_rate(Cell("12.5%")) == 12.5
    assert parse_rate(Cell("", 0.125, percent=True)) == pytest.approx(12.5)


# -- tables --------------------------------------------------------------------------------------------


def _office_csv(rows: list[list[str]], encoding: str) -> bytes:
    lines = [",".join(f'"{c}"' if "," in c else c for c in row) for row in rows]
    text = "\r\n".join(lines) + "\r\n"
    if encoding == "utf-8":
        return text.encode("utf-8-sig")
    return from_unicode(text, encoding).encode("cp1252")


def _report_rows(sample: pd.DataFrame, district_name: str) -> list[list[str]]:
    """A district report: title, two-row merged header, numbering row, section row, totals row."""
    body = []
    for i, (code, rec) in enumerate(sample.iterrows(), start=1):
        hh = 1200 + 100 * i
        poor = 150 + 10 * i
        body.append(
            [
                str(i),
                code,
                rec["name"],
                f"{hh:,}".replace(",", "."),
                f"{poor}",
                f"{100 * poor / hh:.2f}".replace(".", ","),
                str(40 + i),
            ]
        )
    return [
        ["BÁO CÁO KẾT QUẢ RÀ SOÁT HỘ NGHÈO, HỘ CẬN NGHÈO NĂM 2024", "", "", "", "", "", ""],
        ["STT", "Mã xã", "Tên đơn vị", "Tổng số hộ", "Hộ nghèo", "", "Số hộ cận nghèo"],
        ["", "", "", "", "Số hộ", "Tỷ lệ (%)", ""],
        ["1", "2", "3", "4", "5", "6=5/4", "7"],
        [f"I. {district_name}", "", "", "", "", "", ""],
        *body,
        ["", "", "Tổng cộng", "", "", "", ""],
    ]


@pytest.mark.parametrize("encoding", ["utf-8", "tcvn3", "vni"])
def test_district_report_csv_in_each_encoding(tmp_path: Path, reference: tuple, encoding: str) -> None:
    index, _, communes = reference
    sample = _pick(communes, "125", 4)
    path = tmp_path / f"mai_son_{encoding}.csv"
    path.write_bytes(_office_csv(_report_rows(sample, "Huyện Mai Sơn"), encoding))
    frame, report = import_indicators(path, index)
    assert list(frame["unit_code"]) == list(sample.index)
    assert set(frame["year"]) == {2024}  # from the title row
    assert list(frame["households"]) == [1300, 1400, 1500, 1600]  # "1.300" read as 1300
    assert list(frame["poor_households"]) == [160, 170, 180, 190]
    assert list(frame["near_poor_households"]) == [41, 42, 43, 44]
    assert report.count("skipped") == 3  # numbering, section and totals rows
    assert not report.errors and "Hộ nghèo" not in report.details["columns"]
    assert ("tcvn3" in report.details["encoding"]) == (encoding == "tcvn3")


def test_xlsx_with_merged_header_tcvn3_cells_and_name_matching(tmp_path: Path, reference: tuple) -> None:
    index, _, communes = reference
    sample = _pick(communes, "119", 3)
    wb = Workbook()
    ws = wb.active
    ws.append([from_unicode("DANH SÁCH HỘ NGHÈO THEO XÃ", "tcvn3")])
    ws.append(
        [
            from_unicode(h, "tcvn3") if h else None
            for h in [
                "STT",
                "Huyện",
                "Xã, phường, thị trấn",
                "Năm",
                "Tổng số hộ",
                "Hộ nghèo",
                None,
                "Hộ cận nghèo",
                None,
            ]
        ]
    )
    ws.append(
        [
            None,
            None,
            None,
            None,
            None,
            from_unicode("Số hộ", "tcvn3"),
            from_unicode("Tỷ lệ", "tcvn3"),
            from_unicode("Số hộ", "tcvn3"),
            from_unicode("Tỷ lệ", "tcvn3"),
        ]
    )
    for col in ("A", "B", "C", "D", "E"):
        ws.merge_cells(f"{col}2:{col}3")
    ws.merge_cells("F2:G2")
    ws.merge_cells("H2:I2")
    for i, (_, rec) in enumerate(sample.iterrows(), start=1):
        bare = rec["name"].split(" ", 1)[1] if rec["name"].startswith("Xã ") else rec["name"]
        ws.append(
            [
                i,
                from_unicode("Thuận Châu", "tcvn3"),
                from_unicode(bare, "tcvn3"),
                2023,
                "2.000",
                400 + i,
                (400 + i) / 2000,
                100,
                0.05,
            ]
        )
        ws.cell(ws.max_row, 7).number_format = "0.00%"
        ws.cell(ws.max_row, 9).number_format = "0.00%"
    ws.append([None, from_unicode("Cộng", "tcvn3"), None, None, 6000, 1206, None, 300, None])
    path = tmp_path / "thuan_chau.xlsx"
    wb.save(path)
    frame, report = import_indicators(path, index)
    assert list(frame["unit_code"]) == list(sample.index)
    assert list(frame["year"]) == [2023] * 3 and list(frame["households"]) == [2000] * 3
    assert list(frame["poor_households"]) == [401, 402, 403]
    assert report.count("warning") == 0  # the percentages agree with the counts
    assert all("matched by name" in line.message for line in report.lines if line.status == "imported")


def _simple_csv(tmp_path: Path, rows: list[list[str]], name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(_office_csv([["Mã xã", "Năm", "Tổng số hộ", "Số hộ nghèo", "Số hộ cận nghèo"], *rows], "utf-8"))
    return path


@pytest.mark.parametrize(
    ("row_changes", "message"),
    [
        ({0: "09999"}, r"row 2: unknown code 09999"),
        ({3: "2500"}, r"row 2: poor households 2500 exceed households 2000"),
        ({3: "-3"}, r"row 2: negative count -3"),
        ({3: "1500", 4: "600"}, r"row 2: poor \(1500\) and near-poor \(600\) households exceed households 2000"),
        ({1: "1999"}, r"year 1999 is outside"),
    ],
)
def test_broken_rows_are_errors_naming_the_row(
    tmp_path: Path, reference: tuple, row_changes: dict[int, str], message: str
) -> None:
    index, _, communes = reference
    code = communes.index[0]
    row = [code, "2024", "2000", "300", "100"]
    for k, v in row_changes.items():
        row[k] = v
    with pytest.raises(ImportFailed, match=message) as caught:
        import_indicators(_simple_csv(tmp_path, [row, [communes.index[1], "2024", "1000", "10", "5"]]), index)
    assert "nothing was imported" in str(caught.value)


def test_duplicate_rows(tmp_path: Path, reference: tuple) -> None:
    index, _, communes = reference
    code = communes.index[5]
    path = _simple_csv(tmp_path, [[code, "2024", "2000", "300", "100"], [code, "2024", "2000", "310", "100"]])
    with pytest.raises(ImportFailed, match=rf"duplicate row: {code} .* for 2024 on rows 2, 3"):
        import_indicators(path, index)


def test_bad_encoding_is_a_clear_error(tmp_path: Path, reference: tuple) -> None:
    index, _, _ = reference
    path = tmp_path / "garbled.csv"
    path.write_bytes("市町村コード,世帯数\n1,2\n".encode("shift_jis"))
    with pytest.raises(InputDataError, match=r"garbled\.csv: no header row with known columns.*--encoding"):
        import_indicators(path, index)
    binary = tmp_path / "old.csv"
    binary.write_bytes(b"\xd0\xcf\x11\xe0\x00\x00binary")
    with pytest.raises(InputDataError, match="NUL bytes"):
        import_indicators(binary, index)


def test_truncated_utf16_is_one_line_naming_the_file(tmp_path: Path, reference: tuple) -> None:
    index, _, communes = reference
    whole = f"Mã xã,Năm,Tổng số hộ,Số hộ nghèo\n{communes.index[0]},2024,1000,100\n".encode("utf-16")
    path = tmp_path / "cut.csv"
    path.write_bytes(whole[:-1])  # an odd number of bytes: the last character is cut in half
    with pytest.raises(InputDataError, match=r"cut\.csv: starts with a UTF-16 byte-order mark.*truncated") as caught:
        import_indicators(path, index)
    assert "\n" not in str(caught.value)
    path.write_bytes(whole)
    frame, _ = import_indicators(path, index)
    assert list(frame["poor_households"]) == [100]


def test_limits_stop_long_and_large_files_early(tmp_path: Path, reference: tuple) -> None:
    index, _, communes = reference
    rows = [[code, "2024", "1000", "100", "50"] for code in communes.index[:30]]
    path = _simple_csv(tmp_path, rows)
    with pytest.raises(InputDataError, match=r"t\.csv: has more than 20 rows.*ATLAS_IMPORT_MAX_ROWS"):
        import_indicators(path, index, limits=ImportLimits(max_rows=20))
    with pytest.raises(InputDataError, match=rf"t\.csv: is {path.stat().st_size:,} bytes.*ATLAS_IMPORT_MAX_BYTES"):
        import_indicators(path, index, limits=ImportLimits(max_bytes=100))
    assert len(import_indicators(path, index, limits=ImportLimits(max_rows=31))[0]) == 30
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(["Mã xã", "Năm", "Tổng số hộ", "Số hộ nghèo"])
    for i in range(5000):
        ws.append([communes.index[i % 200], 2015 + i // 200, 1000, 100])
    big = tmp_path / "big.xlsx"
    wb.save(big)
    with pytest.raises(InputDataError, match=r"big\.xlsx: has more than 1,000 rows"):
        import_indicators(big, index, limits=ImportLimits(max_rows=1000))
    points = tmp_path / "many.geojson"
    gpd.GeoDataFrame(geometry=[Point(103.9, 21.3)] * 12, crs="EPSG:4326").to_file(points)
    with pytest.raises(InputDataError, match=r"many\.geojson: has 12 features, more than the import limit of 10"):
        import_vector(points, "schools", communes.reset_index(), limits=ImportLimits(max_rows=10))


def test_ambiguous_name_without_district(tmp_path: Path, reference: tuple) -> None:
    index, _, _ = reference
    path = tmp_path / "names.csv"
    path.write_bytes(_office_csv([["Tên xã", "Năm", "Tổng số hộ"], ["Chiềng Chung", "2024", "1000"]], "utf-8"))
    with pytest.raises(ImportFailed, match=r"row 2: ambiguous name 'Chiềng Chung': \d{5} Xã Chiềng Chung, \d{5}"):
        import_indicators(path, index)
    frame, _ = import_indicators(path, index, district="Mai Sơn")
    assert len(frame) == 1 and index.district_of[frame["unit_code"].iloc[0]] == "125"


# -- vector layers and VN-2000 -------------------------------------------------------------------------

# Circular 973/2001/TT-TCĐC: VN-2000 -> WGS 84 seven parameters (coordinate frame rotation, EPSG:6959-like).
TX, TY, TZ = -191.90441429, -39.30318279, -111.45032835
RX, RY, RZ = (math.radians(v / 3600) for v in (-0.00928836, 0.01975479, -0.00427372))
DS = 0.252906278e-6
A_WGS, F_WGS = 6378137.0, 1 / 298.257223563


def _to_cartesian(lon: float, lat: float) -> np.ndarray:
    e2 = F_WGS * (2 - F_WGS)
    lon_r, lat_r = math.radians(lon), math.radians(lat)
    n = A_WGS / math.sqrt(1 - e2 * math.sin(lat_r) ** 2)
    return np.array(
        [n * math.cos(lat_r) * math.cos(lon_r), n * math.cos(lat_r) * math.sin(lon_r), n * (1 - e2) * math.sin(lat_r)]
    )


def _to_geodetic(xyz: np.ndarray) -> tuple[float, float]:
    e2 = F_WGS * (2 - F_WGS)
    x, y, z = xyz
    lon = math.atan2(y, x)
    p = math.hypot(x, y)
    lat = math.atan2(z, p * (1 - e2))
    for _ in range(10):
        n = A_WGS / math.sqrt(1 - e2 * math.sin(lat) ** 2)
        lat = math.atan2(z + e2 * n * math.sin(lat), p)
    return math.degrees(lon), math.degrees(lat)


def wgs84_to_vn2000(lon: float, lat: float) -> tuple[float, float]:
    """Hand-written inverse of the coordinate-frame Helmert VN-2000 -> WGS 84 (independent of PROJ)."""
    rot = np.array([[1, RZ, -RY], [-RZ, 1, RX], [RY, -RX, 1]])  # coordinate frame convention
    wgs = _to_cartesian(lon, lat)
    vn = np.linalg.solve((1 + DS) * rot, wgs - np.array([TX, TY, TZ]))
    return _to_geodetic(vn)


def tm_forward(lon: float, lat: float, lon0: float = 104.0, k0: float = 0.9999) -> tuple[float, float]:
    """Transverse Mercator (Krüger series to n^3), WGS 84 ellipsoid, false easting 500 km."""
    n = F_WGS / (2 - F_WGS)
    a_hat = A_WGS / (1 + n) * (1 + n**2 / 4 + n**4 / 64)
    alpha = (n / 2 - 2 * n**2 / 3 + 5 * n**3 / 16, 13 * n**2 / 48 - 3 * n**3 / 5, 61 * n**3 / 240)
    phi, lam = math.radians(lat), math.radians(lon - lon0)
    e = math.sqrt(F_WGS * (2 - F_WGS))
    t = math.sinh(math.atanh(math.sin(phi)) - e * math.atanh(e * math.sin(phi)))
    xi, eta = math.atan2(t, math.cos(lam)), math.atanh(math.sin(lam) / math.sqrt(1 + t * t))
    x = eta + sum(a * math.cos(2 * j * xi) * math.sinh(2 * j * eta) for j, a in enumerate(alpha, 1))
    y = xi + sum(a * math.sin(2 * j * xi) * math.cosh(2 * j * eta) for j, a in enumerate(alpha, 1))
    return 500000 + k0 * a_hat * x, k0 * a_hat * y


KNOWN = (103.9096, 21.3261)  # WGS 84 position near the provincial People's Committee, Sơn La city


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return math.hypot((a[0] - b[0]) * 111320 * math.cos(math.radians(a[1])), (a[1] - b[1]) * 110574)


ESRI_TM3_104 = (
    'PROJCS["VN_2000_KT104_3",GEOGCS["GCS_VN_2000",DATUM["D_Vietnam_2000",SPHEROID["WGS_1984",6378137.0,'
    '298.257223563]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Transverse_Mercator"],'
    'PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",104.0],'
    'PARAMETER["Scale_Factor",0.9999],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]'
)


@pytest.mark.parametrize(
    ("fmt", "crs", "lon0", "k0"),
    [
        ("GeoJSON", "EPSG:9206", 104.0, 0.9999),
        ("GPKG", "EPSG:3405", 105.0, 0.9996),
        ("ESRI Shapefile", ESRI_TM3_104, 104.0, 0.9999),
    ],
)
def test_vn2000_layers_land_within_2_m(
    tmp_path: Path, reference: tuple, fmt: str, crs: str, lon0: float, k0: float
) -> None:
    _, communes, _ = reference
    vn = wgs84_to_vn2000(*KNOWN)
    x, y = tm_forward(*vn, lon0=lon0, k0=k0)
    assert _metres(vn, KNOWN) > 100  # the datum shift is large: a file read without it is far off
    suffix = {"GeoJSON": ".geojson", "GPKG": ".gpkg", "ESRI Shapefile": ".shp"}[fmt]
    path = tmp_path / f"tram_y_te{suffix}"
    frame = gpd.GeoDataFrame({"ten": ["Trạm y tế Chiềng Lề"], "loai": ["trạm y tế"]}, geometry=[Point(x, y)])
    frame = frame.set_crs(CRS.from_user_input(crs), allow_override=True)
    frame.to_file(path, driver=fmt)
    if fmt == "ESRI Shapefile":
        path.with_suffix(".prj").write_text(ESRI_TM3_104)  # as Vietnamese GIS software writes it
    out, report = import_vector(path, "health_stations", communes)
    got = (out.geometry.iloc[0].x, out.geometry.iloc[0].y)
    assert _metres(got, KNOWN) < 2.0, report.details
    assert out["commune_2024_code"].iloc[0] in set(communes["code"])
    assert out["name"].iloc[0] == "Trạm y tế Chiềng Lề" and not out["synthetic"].any()


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_wrong_crs_is_caught(tmp_path: Path, reference: tuple) -> None:
    _, communes, _ = reference
    x, y = tm_forward(*wgs84_to_vn2000(*KNOWN))
    path = tmp_path / "schools.geojson"
    gpd.GeoDataFrame({"ten": ["Trường"]}, geometry=[Point(x, y)], crs="EPSG:4326").to_file(path)
    with pytest.raises(InputDataError, match=r"schools\.geojson: no feature falls in Sơn La.*pass --crs"):
        import_vector(path, "schools", communes)
    no_crs = tmp_path / "no_crs.gpkg"
    gpd.GeoDataFrame({"ten": ["Trường"]}, geometry=[Point(x, y)]).to_file(no_crs)
    with pytest.raises(InputDataError, match="declares no coordinate reference system"):
        import_vector(no_crs, "schools", communes)
    out, _ = import_vector(no_crs, "schools", communes, crs="vn2000-104")
    assert _metres((out.geometry.iloc[0].x, out.geometry.iloc[0].y), KNOWN) < 2.0


def test_roads_with_surface_classes(tmp_path: Path, reference: tuple) -> None:
    _, communes, _ = reference
    path = tmp_path / "duong.geojson"
    lines = [LineString([(103.90, 21.32), (103.93, 21.34)]), LineString([(103.95, 21.30), (103.97, 21.31)])]
    gpd.GeoDataFrame(
        {"ten_duong": ["QL6", "Bản Mòng"], "mat_duong": ["Nhựa", "Đất"]}, geometry=lines, crs="EPSG:4326"
    ).to_file(path)
    out, _ = import_vector(path, "roads", communes)
    assert list(out["surface"]) == ["nhựa / asphalt", "đất / earth"]
    assert out["length_km"].iloc[0] == pytest.approx(3.86, rel=0.05)
    with pytest.raises(ImportFailed, match="a health_stations layer needs Points"):
        import_vector(path, "health_stations", communes)


def test_multi_part_features_are_split_by_part_never_dropped(tmp_path: Path, reference: tuple) -> None:
    _, communes, _ = reference
    apart = MultiLineString([[(103.90, 21.30), (103.95, 21.32)], [(104.00, 21.35), (104.05, 21.37)]])
    joined = MultiLineString([[(103.90, 21.40), (103.92, 21.41)], [(103.92, 21.41), (103.94, 21.43)]])
    path = tmp_path / "r.geojson"
    gpd.GeoDataFrame({"ten": ["QL6", "ĐT 108"]}, geometry=[apart, joined], crs="EPSG:4326").to_file(path)
    out, report = import_vector(path, "roads", communes)
    assert list(out.geom_type) == ["LineString"] * 3  # two parts apart, two that join into one line
    assert list(out["name"]) == ["QL6", "QL6", "ĐT 108"]
    assert out.geometry.iloc[2].length == pytest.approx(joined.length)
    assert [(w.row, w.message) for w in report.lines if w.status == "warning"] == [
        (1, "MultiLineString of 2 parts stored as 2 roads")
    ]
    assert [line.row for line in report.lines if line.status == "imported"] == [1, 1, 2]
    schools = tmp_path / "s.geojson"
    multi = MultiPoint([(103.90, 21.32), (103.95, 21.30)])
    gpd.GeoDataFrame({"ten": ["Trường A"]}, geometry=[multi], crs="EPSG:4326").to_file(schools)
    out, _ = import_vector(schools, "schools", communes)
    assert [(g.x, g.y) for g in out.geometry] == [(103.90, 21.32), (103.95, 21.30)]


def test_one_point_line_is_refused_naming_its_row(tmp_path: Path, reference: tuple) -> None:
    _, communes, _ = reference
    path = tmp_path / "one.geojson"
    path.write_text(
        '{"type":"FeatureCollection","features":['
        '{"type":"Feature","properties":{"ten":"a"},"geometry":{"type":"LineString","coordinates":[[103.9,21.3],[104,21.3]]}},'
        '{"type":"Feature","properties":{"ten":"b"},"geometry":{"type":"LineString","coordinates":[[103.9,21.3]]}}]}',
        encoding="utf-8",
    )
    with pytest.raises(
        ImportFailed, match=r"one\.geojson: 1 problem.*row 2: malformed geometry: a line with a single point"
    ):
        import_vector(path, "roads", communes)
