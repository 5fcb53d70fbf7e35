"""The layer catalog: every warehouse layer declared once, with titles, sources and what valid looks like."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

GeometryKind = Literal["point", "line", "polygon"]
GEOMETRY_KINDS: dict[str, GeometryKind] = {
    "Point": "point",
    "MultiPoint": "point",
    "LineString": "line",
    "MultiLineString": "line",
    "Polygon": "polygon",
    "MultiPolygon": "polygon",
}


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the warehouse and of the services built on it."""

    id: str
    title_vi: str
    title_en: str
    description_vi: str
    description_en: str
    geometry_type: str | None  # a key of GEOMETRY_KINDS ("MultiPolygon", "Point", …), or None for a table
    vintage: str
    sources: tuple[str, ...]
    key: str | None = None
    code_width: int | None = None
    expected_count: int | None = None
    synthetic: bool = False
    required_columns: tuple[str, ...] = field(default_factory=tuple)
    unique: tuple[str, ...] = ()  # columns that together identify a row, when `key` alone does not
    collection: bool = True  # served as an OGC API collection (False: GeoPackage and downloads only)

    def __post_init__(self) -> None:
        if self.geometry_type is not None and self.geometry_type not in GEOMETRY_KINDS:
            raise ValueError(
                f"layer {self.id}: geometry_type {self.geometry_type!r} is not one of {', '.join(GEOMETRY_KINDS)}"
            )

    @property
    def is_spatial(self) -> bool:
        """Whether the layer has geometry."""
        return self.geometry_type is not None

    @property
    def geometry_kind(self) -> GeometryKind | None:
        """What the layer's features are drawn as, single or multi: point, line or polygon (None for a table)."""
        return None if self.geometry_type is None else GEOMETRY_KINDS[self.geometry_type]


CATALOG: tuple[LayerSpec, ...] = (
    LayerSpec(
        id="province",
        title_vi="Tỉnh Sơn La",
        title_en="Sơn La province",
        description_vi="Ranh giới tỉnh, hợp của 75 đơn vị hành chính cấp xã năm 2025.",
        description_en="Province outline, the union of the 75 commune-level units of 2025.",
        geometry_type="MultiPolygon",
        vintage="2025-07-01",
        sources=("units_2025",),
        key="code",
        code_width=2,
        expected_count=1,
        required_columns=("code", "name", "area_km2"),
    ),
    LayerSpec(
        id="districts_2024",
        title_vi="Huyện, thành phố, thị xã (trước 01/7/2025)",
        title_en="Former districts (abolished 1 July 2025)",
        description_vi="12 đơn vị hành chính cấp huyện đã bãi bỏ từ ngày 01/7/2025.",
        description_en="The 12 district-level units abolished on 1 July 2025.",
        geometry_type="MultiPolygon",
        vintage="2025-06-30",
        sources=("districts_2024", "units_2025_03"),
        key="code",
        code_width=3,
        expected_count=12,
        required_columns=("code", "name", "unit_type", "n_communes_2024", "area_km2"),
    ),
    LayerSpec(
        id="communes_2009",
        title_vi="Xã, phường, thị trấn theo Tổng điều tra 2009",
        title_en="Communes of the 2009 census",
        description_vi="204 xã theo ranh giới Tổng điều tra dân số 2009 (ranh giới thô), kèm dân số 2009.",
        description_en="The 204 communes of the 2009 census (coarse boundaries) with their 2009 population.",
        geometry_type="MultiPolygon",
        vintage="2009-04-01",
        sources=("communes_2009",),
        key="census_id",
        code_width=7,
        expected_count=204,
        required_columns=("census_id", "name", "district_code", "population_2009", "communes_2024"),
    ),
    LayerSpec(
        id="communes_2024",
        title_vi="Xã, phường, thị trấn trước sáp nhập (đến 30/6/2025)",
        title_en="Communes before the 2025 merger (to 30 June 2025)",
        description_vi=(
            "200 đơn vị cấp xã trước sáp nhập, dựng lại từ ranh giới 2009 và cắt theo đơn vị 2025 "
            "chứa nó; mỗi đơn vị ghi độ tin cậy hình học (exact/derived/approximate) và phương pháp."
        ),
        description_en=(
            "The 200 pre-merger commune-level units, rebuilt from the 2009 polygons and clipped to their "
            "2025 parent so that they tile it; each carries geometry_quality (exact/derived/approximate) "
            "and its method."
        ),
        geometry_type="MultiPolygon",
        vintage="2025-06-30",
        sources=("communes_2009", "units_2025", "crosswalk_2025", "worldpop_2020"),
        key="code",
        code_width=5,
        expected_count=200,
        required_columns=("code", "name", "district_code", "unit_2025_code", "geometry_quality", "method"),
    ),
    LayerSpec(
        id="units_2025",
        title_vi="Xã, phường từ 01/7/2025",
        title_en="Communes and wards from 1 July 2025",
        description_vi="75 đơn vị hành chính cấp xã (67 xã, 8 phường) theo Nghị quyết 1681/NQ-UBTVQH15.",
        description_en="The 75 commune-level units (67 communes, 8 wards) of Resolution 1681/NQ-UBTVQH15.",
        geometry_type="MultiPolygon",
        vintage="2025-07-01",
        sources=("units_2025", "crosswalk_2025"),
        key="code",
        code_width=5,
        expected_count=75,
        required_columns=("code", "name", "full_name", "unit_type", "n_communes_2024", "area_km2"),
    ),
    LayerSpec(
        id="crosswalk_2025",
        title_vi="Bảng chuyển đổi 200 → 75 đơn vị cấp xã",
        title_en="Crosswalk of the 200 pre-merger units to the 75 units of 2025",
        description_vi="Mỗi đơn vị cũ, huyện cũ, đơn vị mới và khoản của Nghị quyết 1681/NQ-UBTVQH15.",
        description_en="Each old unit, its former district, its new unit and the clause of Resolution 1681.",
        geometry_type=None,
        vintage="2025-07-01",
        sources=("crosswalk_2025", "units_2025_03", "resolution_1681"),
        key="old_code",
        code_width=5,
        expected_count=200,
        required_columns=("old_code", "old_name", "district_code", "new_code", "new_name", "clause"),
    ),
    LayerSpec(
        id="villages",
        title_vi="Bản và điểm dân cư (GeoNames)",
        title_en="Villages and populated places (GeoNames)",
        description_vi="Điểm dân cư GeoNames, gắn với xã trước sáp nhập, xã/phường 2025 và huyện cũ.",
        description_en="GeoNames populated places with their pre-merger commune, 2025 unit and former district.",
        geometry_type="Point",
        vintage="2020-01-15",
        sources=("places", "units_2025", "communes_2009"),
        key="geonameid",
        required_columns=("geonameid", "name", "commune_2024_code", "unit_2025_code", "district_code"),
    ),
    LayerSpec(
        id="boundary_quality",
        title_vi="Chất lượng ranh giới dựng lại",
        title_en="Quality of the rebuilt boundaries",
        description_vi=(
            "Với mỗi đơn vị 2025: IoU giữa ranh giới 2009 của các xã cũ và ranh giới thật, chênh lệch "
            "diện tích, khe hở, chồng lấn và sai số ghép."
        ),
        description_en=(
            "For each 2025 unit: IoU of its predecessors' 2009 polygons with its real polygon, area "
            "difference, gap, overlap and spill areas, and the tiling error of the rebuilt communes."
        ),
        geometry_type=None,
        vintage="2025-07-01",
        sources=("communes_2009", "units_2025"),
        key="unit_2025_code",
        code_width=5,
        expected_count=75,
        required_columns=("unit_2025_code", "iou_sources", "gap_km2", "tiling_error_m2"),
    ),
)


DEMO_NOTE_VI = "Dữ liệu minh họa (mô phỏng), không phải số liệu chính thức. "
DEMO_NOTE_EN = "Synthetic demo data, not official figures. "
DEMO_SOURCES = ("communes_2009", "units_2025", "places", "worldpop_2020", "published_aggregates", "seed_figures")


def _demo_points(layer_id: str, vi: str, en: str, desc_vi: str, desc_en: str, key: str, count: int | None) -> LayerSpec:
    return LayerSpec(
        id=layer_id,
        title_vi=vi,
        title_en=en,
        description_vi=DEMO_NOTE_VI + desc_vi,
        description_en=DEMO_NOTE_EN + desc_en,
        geometry_type="Point",
        vintage="2021-2025",
        sources=DEMO_SOURCES,
        key=key,
        expected_count=count,
        synthetic=True,
        required_columns=(key, "name", "facility_type", "commune_2024_code", "unit_2025_code", "synthetic"),
    )


CATALOG = (
    *CATALOG,
    LayerSpec(
        id="commune_indicators",
        title_vi="Chỉ tiêu nghèo theo xã và năm",
        title_en="Poverty indicators by unit and year",
        description_vi=DEMO_NOTE_VI
        + (
            "Hộ, nhân khẩu, hộ nghèo, cận nghèo, tỷ lệ, hộ DTTS, nông thôn mới, khu vực I/II/III, số bản và bản "
            "ĐBKK, 2021-2025 cho xã trước sáp nhập (2024), huyện cũ, và 2021-2026 cho xã/phường 2025 và toàn "
            "tỉnh; số đếm cộng dồn, tỷ lệ tính lại từ số đếm; mỗi dòng ghi giai đoạn (period) và chuẩn nghèo "
            "(standard): không so sánh tỷ lệ nghèo giữa hai chuẩn khác nhau."
        ),
        description_en=DEMO_NOTE_EN
        + (
            "Households, persons, poor and near-poor households and rates, ethnic-minority households, new-rural "
            "status, region class I/II/III, villages and especially difficult villages, 2021-2025 for the "
            "pre-merger communes (vintage 2024) and the former districts, 2021-2026 for the 2025 units and the "
            "province; counts summed, rates recomputed from counts; each row carries its policy period and its "
            "poverty standard: rates of two standards are not comparable."
        ),
        geometry_type=None,
        vintage="2021-2026",
        sources=DEMO_SOURCES,
        synthetic=True,
        unique=("vintage", "unit_code", "year"),
        required_columns=(
            "vintage",
            "unit_code",
            "year",
            "households",
            "poor_households",
            "poor_rate",
            "near_poor_rate",
            "region_class",
            "synthetic",
            "sources",
            "period",
            "standard",
        ),
    ),
    LayerSpec(
        id="indicator_values",
        title_vi="Giá trị chỉ tiêu và nguồn",
        title_en="Indicator values with provenance",
        description_vi=DEMO_NOTE_VI + "Mỗi giá trị của xã trước sáp nhập kèm nguồn (mô phỏng hay nhập từ tệp).",
        description_en=DEMO_NOTE_EN + "Every value of the pre-merger communes with its source (demo or imported file).",
        geometry_type=None,
        vintage="2021-2025",
        sources=DEMO_SOURCES,
        synthetic=True,
        unique=("vintage", "unit_code", "year", "indicator"),
        required_columns=("vintage", "unit_code", "year", "indicator", "value", "source", "synthetic"),
    ),
    LayerSpec(
        id="demo_villages",
        title_vi="Bản (dữ liệu minh họa)",
        title_en="Villages (demo data)",
        description_vi=DEMO_NOTE_VI
        + (
            "2.303 bản: vị trí GeoNames hoặc mô phỏng; hộ, hộ nghèo, bản ĐBKK theo Điều 6 QĐ 33/2020/QĐ-TTg, "
            "đường đến trung tâm xã, điện lưới, nước sạch."
        ),
        description_en=DEMO_NOTE_EN
        + (
            "2,303 villages at GeoNames or synthetic positions: households, poor households, the especially "
            "difficult flag by Art. 6 of Decision 33/2020/QĐ-TTg, road to the commune centre, grid power, water."
        ),
        geometry_type="Point",
        vintage="2021-2025",
        sources=DEMO_SOURCES,
        key="village_id",
        synthetic=True,
        required_columns=(
            "village_id",
            "name",
            "commune_2024_code",
            "unit_2025_code",
            "district_code",
            "households",
            "especially_difficult",
            "paved_road_to_centre",
            "synthetic",
        ),
    ),
    LayerSpec(
        id="village_indicators",
        title_vi="Chỉ tiêu bản theo năm (minh họa)",
        title_en="Village figures by year (demo data)",
        description_vi=DEMO_NOTE_VI
        + "Hộ, hộ nghèo, cận nghèo, hộ DTTS của từng bản, 2021-2026, kèm chuẩn nghèo áp dụng (standard).",
        description_en=DEMO_NOTE_EN
        + (
            "Households, poor, near-poor and ethnic-minority households per village, 2021-2026, with the "
            "poverty standard each year was measured by (standard)."
        ),
        geometry_type=None,
        vintage="2021-2026",
        sources=DEMO_SOURCES,
        synthetic=True,
        unique=("village_id", "year"),
        required_columns=("village_id", "year", "households", "poor_households", "standard", "synthetic"),
    ),
    _demo_points(
        "health_stations",
        "Trạm y tế xã (minh họa)",
        "Commune health stations (demo data)",
        "Một trạm y tế ở trung tâm mỗi xã trước sáp nhập.",
        "One health station at the centre of each pre-merger commune.",
        "facility_id",
        200,
    ),
    _demo_points(
        "schools",
        "Trường học (minh họa)",
        "Schools (demo data)",
        "Trường tiểu học và THCS ở trung tâm xã, điểm trường ở các bản lớn xa trung tâm.",
        "Primary and lower-secondary schools at commune centres, primary sites in larger remote villages.",
        "facility_id",
        None,
    ),
    _demo_points(
        "markets",
        "Chợ (minh họa)",
        "Markets (demo data)",
        "Chợ xã ở các xã lớn, chợ phiên ở bản lớn xa trung tâm.",
        "Commune markets in larger communes, periodic markets in large remote villages.",
        "facility_id",
        None,
    ),
    LayerSpec(
        id="roads",
        title_vi="Đường giao thông (minh họa)",
        title_en="Roads (demo data)",
        description_vi=DEMO_NOTE_VI
        + "Mạng đường sơ đồ: đường thôn bản, liên xã, quốc lộ/tỉnh lộ, theo loại mặt đường.",
        description_en=DEMO_NOTE_EN
        + (
            "A schematic network: village roads, inter-commune roads and national or provincial roads, "
            "with surface class."
        ),
        geometry_type="LineString",
        vintage="2021-2025",
        sources=DEMO_SOURCES,
        key="road_id",
        synthetic=True,
        required_columns=("road_id", "road_class", "surface", "length_km", "synthetic"),
    ),
    LayerSpec(
        id="bridges",
        title_vi="Cầu (minh họa)",
        title_en="Bridges (demo data)",
        description_vi=DEMO_NOTE_VI + "Vị trí minh họa trên các đoạn đường dài; không có dữ liệu sông suối.",
        description_en=DEMO_NOTE_EN + "Illustrative positions on long road links; there is no river data.",
        geometry_type="Point",
        vintage="2021-2025",
        sources=DEMO_SOURCES,
        key="bridge_id",
        synthetic=True,
        required_columns=("bridge_id", "bridge_type", "road_id", "synthetic"),
    ),
    *(
        LayerSpec(
            id=f"indicators_{layer}",
            title_vi=f"Chỉ tiêu nghèo – {vi} (minh họa)",
            title_en=f"Poverty indicators – {en} (demo data)",
            description_vi=DEMO_NOTE_VI
            + (
                f"Một đối tượng cho mỗi {vi_unit}: số liệu năm mới nhất và chuỗi theo năm (tỷ lệ nghèo, hộ "
                "nghèo, cận nghèo), thay đổi tỷ lệ nghèo từ năm đầu cùng chuẩn nghèo (poor_rate_change_from); "
                "series_breaks ghi các lần đổi chuẩn."
            ),
            description_en=DEMO_NOTE_EN
            + (
                f"One feature per {en_unit}: the latest year's figures and the series by year (poverty rate, "
                "poor and near-poor households), and the change in poverty rate since the first year of the same "
                "poverty standard (poor_rate_change_from); series_breaks names the changes of standard."
            ),
            geometry_type="MultiPolygon",
            vintage="2021-2025",
            sources=DEMO_SOURCES,
            key="unit_code",
            expected_count=count,
            synthetic=True,
            required_columns=("unit_code", "unit_name", "poor_rate", "poor_rate_2021", "latest_year", "synthetic"),
        )
        for layer, vi, en, vi_unit, en_unit, count in (
            ("units_2025", "xã, phường 2025", "2025 units", "xã/phường 2025", "2025 unit", 75),
            (
                "communes_2024",
                "xã trước sáp nhập",
                "pre-merger communes",
                "xã trước sáp nhập",
                "pre-merger commune",
                200,
            ),
            ("districts_2024", "huyện cũ", "former districts", "huyện cũ", "former district", 12),
        )
    ),
    LayerSpec(
        id="calibration",
        title_vi="Hiệu chỉnh theo số liệu công bố",
        title_en="Calibration against published figures",
        description_vi="Mỗi số liệu công bố bên cạnh giá trị dữ liệu minh họa tái tạo được.",
        description_en="Each published figure beside the value the demo dataset reproduces.",
        geometry_type=None,
        vintage="2021-2025",
        sources=("published_aggregates", "seed_figures"),
        key="target",
        required_columns=("target", "published", "reproduced", "status"),
    ),
)


POLICY_SOURCES = (*DEMO_SOURCES, "policy_facts_2026")
DEPRIVATION_NOTE_VI = (
    "Số hộ thiếu hụt từng chỉ số của chuẩn nghèo đa chiều áp dụng cho năm đó (NĐ 07/2021 đến hết 2026, NĐ "
    "351/2025 từ 2027); hộ nghèo thiếu hụt ít nhất 3 chỉ số, hộ cận nghèo dưới 3. "
)
DEPRIVATION_NOTE_EN = (
    "Households deprived in each indicator of the multidimensional poverty standard of the year (Decree "
    "07/2021 to the end of 2026, Decree 351/2025 from 2027); a poor household lacks at least 3, a near-poor "
    "one fewer than 3. "
)

CATALOG = (
    *CATALOG,
    LayerSpec(
        id="classification_2026_2030",
        title_vi="Phân định khu vực I, II, III giai đoạn 2026-2030 (minh họa)",
        title_en="Region I/II/III classification 2026-2030 (demo data)",
        description_vi=DEMO_NOTE_VI
        + (
            "Mỗi xã, phường 2025: khu vực I/II/III (region_class), xã DTTS theo số người (≥15% hoặc ≥4.500 "
            "người, NĐ 272/2025), xã miền núi, số thôn ĐBKK 2026-2030; nguồn (source: official nếu nhập từ "
            "danh sách, derived theo tiêu chí, demo nếu mô phỏng), số và ngày văn bản; khu vực suy ra theo "
            "tiêu chí đặt cạnh khu vực trong danh sách, kèm tiêu chí khác biệt. Mô phỏng theo 66/75 xã khu "
            "vực III của QĐ 60/QĐ-BDTTG."
        ),
        description_en=DEMO_NOTE_EN
        + (
            "Each 2025 unit: region class I/II/III (region_class), ethnic-minority commune by persons (15% or "
            "4,500 people, Decree 272/2025), mountainous commune, especially difficult villages of 2026-2030; "
            "source (official when loaded from a list, derived by the rules, demo when generated), the list's "
            "document and date; the derived class beside the listed one with the criterion that differs. The "
            "demo reproduces Decision 60/QĐ-BDTTG's 66 of 75 units in region III."
        ),
        geometry_type="MultiPolygon",
        vintage="2026-2030",
        sources=(*POLICY_SOURCES,),
        key="unit_code",
        code_width=5,
        expected_count=75,
        synthetic=True,
        required_columns=(
            "unit_code",
            "unit_name",
            "period",
            "region_class",
            "ethnic_minority",
            "mountainous",
            "n_especially_difficult_villages",
            "source",
            "document",
            "document_date",
            "region_class_derived",
            "derived_reason",
            "synthetic",
        ),
    ),
    LayerSpec(
        id="deprivations",
        title_vi="Hộ thiếu hụt dịch vụ xã hội cơ bản theo chỉ số (minh họa)",
        title_en="Households deprived by indicator (demo data)",
        description_vi=DEMO_NOTE_VI
        + DEPRIVATION_NOTE_VI
        + "Dạng dài: mỗi xã, phường 2025 (vintage 2025) và toàn tỉnh, năm, chuẩn, chỉ số; loại dự án giải quyết.",
        description_en=DEMO_NOTE_EN
        + DEPRIVATION_NOTE_EN
        + (
            "Long form: one row per 2025 unit (vintage 2025) or the province, year, standard and indicator, "
            "with the kind of project that addresses it (need_kind)."
        ),
        geometry_type=None,
        vintage="2022-2026",
        sources=POLICY_SOURCES,
        synthetic=True,
        unique=("vintage", "unit_code", "year", "indicator"),
        required_columns=(
            "vintage",
            "unit_code",
            "year",
            "standard",
            "indicator",
            "households_deprived",
            "poor_households_deprived",
            "near_poor_households_deprived",
            "synthetic",
        ),
    ),
    LayerSpec(
        id="village_deprivations",
        title_vi="Hộ thiếu hụt theo chỉ số, từng bản (minh họa)",
        title_en="Households deprived by indicator, per village (demo data)",
        description_vi=DEMO_NOTE_VI + DEPRIVATION_NOTE_VI + "Dạng dài, mỗi bản, năm và chỉ số (chỉ trong GeoPackage).",
        description_en=DEMO_NOTE_EN
        + DEPRIVATION_NOTE_EN
        + "Long form, one row per village, year and indicator (in the GeoPackage and downloads only).",
        geometry_type=None,
        vintage="2022-2026",
        sources=POLICY_SOURCES,
        synthetic=True,
        unique=("village_id", "year", "indicator"),
        collection=False,
        required_columns=("village_id", "year", "standard", "indicator", "households_deprived", "synthetic"),
    ),
    LayerSpec(
        id="deprivations_units_2025",
        title_vi="Thiếu hụt đa chiều – xã, phường 2025 (minh họa)",
        title_en="Multidimensional deprivations – 2025 units (demo data)",
        description_vi=DEMO_NOTE_VI
        + DEPRIVATION_NOTE_VI
        + (
            "Một đối tượng cho mỗi xã, phường và năm: số hộ thiếu hụt (d_*) và tỷ lệ hộ thiếu hụt (pct_*) "
            "theo từng chỉ số, chỉ số thiếu hụt nhiều nhất (top_indicator) và nhu cầu nổi bật nhất so với "
            "toàn tỉnh (top_need)."
        ),
        description_en=DEMO_NOTE_EN
        + DEPRIVATION_NOTE_EN
        + (
            "One feature per unit and year: households deprived (d_*) and the share deprived (pct_*) in each "
            "indicator, the indicator most lacked (top_indicator) and the need that stands out most against the "
            "province (top_need)."
        ),
        geometry_type="MultiPolygon",
        vintage="2022-2026",
        sources=POLICY_SOURCES,
        key="row_id",
        expected_count=375,
        synthetic=True,
        required_columns=("row_id", "unit_code", "unit_name", "year", "standard", "top_need", "synthetic"),
    ),
)

ANALYSIS_SOURCES = (*DEMO_SOURCES,)
PROJECT_COLUMNS = (
    "project_id",
    "kind",
    "name_vi",
    "name_en",
    "unit_2025_code",
    "cost_vnd",
    "households_served",
    "poor_households_served",
)

CATALOG = (
    *CATALOG,
    LayerSpec(
        id="priority_units_2025",
        title_vi="Mức ưu tiên xã, phường 2025 (minh họa)",
        title_en="Priority of the 2025 units (demo data)",
        description_vi=DEMO_NOTE_VI
        + (
            "Chỉ số ưu tiên tổng hợp theo hồ sơ trọng số (data/profiles/default.yaml): điểm, hạng, mức (rất cao / "
            "cao / trung bình / thấp), đóng góp của từng tiêu chí (c_*), độ nhạy khi trọng số thay đổi ±20% và "
            "Monte Carlo, xu hướng tỷ lệ nghèo 2021→2025 và cờ tụt hậu; thời gian đi đến trạm y tế, trường, chợ."
        ),
        description_en=DEMO_NOTE_EN
        + (
            "Composite priority index by the weight profile (data/profiles/default.yaml): score, rank, tier (very "
            "high / high / medium / low), each criterion's contribution (c_*), rank ranges when weights move ±20% "
            "and under Monte-Carlo weights, the 2021→2025 poverty trend and a falling-behind flag; travel time to "
            "health stations, schools and markets."
        ),
        geometry_type="MultiPolygon",
        vintage="2025",
        sources=ANALYSIS_SOURCES,
        key="unit_code",
        code_width=5,
        expected_count=75,
        synthetic=True,
        required_columns=(
            "unit_code",
            "unit_name",
            "score",
            "rank",
            "tier_label",
            "stability",
            "falling_behind",
            "profile",
            "synthetic",
        ),
    ),
    LayerSpec(
        id="priority_villages",
        title_vi="Mức ưu tiên các bản (minh họa)",
        title_en="Priority of villages (demo data)",
        description_vi=DEMO_NOTE_VI
        + (
            "Chỉ số ưu tiên của từng bản: điểm, hạng trong tỉnh và trong xã (rank_in_unit), mức, đóng góp tiêu chí, "
            "độ nhạy; thời gian và quãng đường theo đường bộ và đường chim bay đến trạm y tế, trường, chợ gần nhất."
        ),
        description_en=DEMO_NOTE_EN
        + (
            "Priority index of each village: score, rank in the province and in its unit (rank_in_unit), tier, "
            "criterion contributions, sensitivity; road time and distance and straight-line distance to the "
            "nearest health station, school and market."
        ),
        geometry_type="Point",
        vintage="2025",
        sources=ANALYSIS_SOURCES,
        key="village_id",
        synthetic=True,
        required_columns=(
            "village_id",
            "name",
            "unit_2025_code",
            "score",
            "rank",
            "rank_in_unit",
            "tier_label",
            "minutes_to_health_stations",
            "straight_km_to_health_stations",
            "synthetic",
        ),
    ),
    LayerSpec(
        id="investment_candidates",
        title_vi="Dự án đầu tư đề xuất (minh họa)",
        title_en="Candidate investment projects (demo data)",
        description_vi=DEMO_NOTE_VI
        + (
            "Mọi dự án ứng viên tính từ mạng đường và các bản: cứng hóa đường đến trung tâm xã, ngầm tràn/cầu dân "
            "sinh, điểm trường, điểm y tế, kéo điện lưới, cấp nước và nhà tiêu, hỗ trợ nhà ở, kết nối viễn thông; "
            "chi phí (đơn giá data/profiles/costs.yaml), số hộ được phục vụ (hộ thiếu hụt chỉ số mà dự án giải "
            "quyết, data/profiles/needs.yaml; hộ nghèo với đường, cầu, điện) và số hộ nghèo, nếu làm riêng dự án đó."
        ),
        description_en=DEMO_NOTE_EN
        + (
            "Every candidate project computed from the road network and villages: concrete road to the commune "
            "centre, all-season crossing, school site, health post, grid extension, water and latrines, housing "
            "support, telecom connection; cost (unit prices in data/profiles/costs.yaml), the households it "
            "serves on its own (those lacking the indicators it addresses, data/profiles/needs.yaml; poor "
            "households for roads, crossings and grid) and the poor households among them."
        ),
        geometry_type="Point",
        vintage="2025",
        sources=ANALYSIS_SOURCES,
        key="project_id",
        synthetic=True,
        required_columns=PROJECT_COLUMNS,
    ),
    LayerSpec(
        id="investment_plan",
        title_vi="Danh mục đầu tư tối ưu (minh họa)",
        title_en="Optimal investment plan (demo data)",
        description_vi=DEMO_NOTE_VI
        + (
            "Các dự án được chọn để phục vụ nhiều hộ nhất trong ngân sách (hộ thiếu hụt chỉ số mà dự án giải quyết; "
            "hộ nghèo với đường, cầu, điện; mặc định 50 tỷ đồng; quy hoạch nguyên MILP, HiGHS); chi phí, số hộ và "
            "số hộ nghèo tăng thêm của từng dự án."
        ),
        description_en=DEMO_NOTE_EN
        + (
            "The projects chosen to serve the most households within the budget (those lacking the indicators "
            "each project addresses; poor households for roads, crossings and grid; 50 billion VND by default; "
            "MILP solved with HiGHS), with each project's added cost, households and poor households served."
        ),
        geometry_type="Point",
        vintage="2025",
        sources=ANALYSIS_SOURCES,
        key="project_id",
        synthetic=True,
        required_columns=(*PROJECT_COLUMNS, "budget_vnd"),
    ),
    LayerSpec(
        id="investment_plan_roads",
        title_vi="Đường được chọn cứng hóa (minh họa)",
        title_en="Road upgrades in the plan (demo data)",
        description_vi=DEMO_NOTE_VI + "Tuyến đường của các dự án cứng hóa đường trong danh mục đầu tư tối ưu.",
        description_en=DEMO_NOTE_EN + "The road lines of the road projects in the optimal investment plan.",
        geometry_type="MultiLineString",
        vintage="2025",
        sources=ANALYSIS_SOURCES,
        key="project_id",
        synthetic=True,
        required_columns=(*PROJECT_COLUMNS, "budget_vnd"),
    ),
)


PROGRAMME_SOURCES = (*DEMO_SOURCES, "policy_facts_2026")
PROGRAMME_NOTE_VI = (
    "Sổ theo dõi dự án các chương trình MTQG; dữ liệu minh họa tái tạo số liệu công bố (3.058 nhà ở cho hộ nghèo, "
    "9.300 lao động kết nối việc làm, 13.000 người được đào tạo theo bài viết gốc; 3.434 tỷ đồng CT 1719 giải ngân "
    "đến 6/2025, 758 tỷ đồng CT giảm nghèo đến 2025) cho đến khi sổ của tỉnh được nhập. "
)
PROGRAMME_NOTE_EN = (
    "Register of national target programme projects; the demo reproduces the published figures (3,058 houses for "
    "poor households, 9,300 workers connected to jobs, 13,000 people trained, from the seed article; 3,434 bn VND "
    "of Programme 1719 disbursed to June 2025, 758 bn VND of the poverty reduction programme to 2025) until the "
    "province's register is imported. "
)
SUMMARY_NOTE_VI = (
    "Lũy kế từ đầu giai đoạn chương trình (2021-2025, 2026-2030) đến hết quý: vốn được giao (cả vốn chưa giải ngân "
    "của dự án giai đoạn trước chuyển sang), giải ngân, tỷ lệ giải ngân, giải ngân trên mỗi hộ nghèo (hộ nghèo năm "
    "đầu giai đoạn), kết quả theo hạng mục, người hưởng lợi; mức ưu tiên, khu vực 2026-2030 và cờ xã ưu tiên cao "
    "nhận ít nhất (least_funded_top_tier: mức cao/rất cao và giải ngân/hộ nghèo thuộc 1/4 thấp nhất). "
)
SUMMARY_NOTE_EN = (
    "Cumulative from the start of the programme period (2021-2025, 2026-2030) to the end of the quarter: money "
    "approved (with what earlier projects still had to pay, carried over), disbursed, the disbursement rate, VND "
    "per poor household (poor households of the period's first year), outputs by component, beneficiaries; the "
    "priority tier, the 2026-2030 region class and a flag for top-tier units that received least "
    "(least_funded_top_tier: tier high or very high and VND per poor household in the lowest quarter). "
)
REGISTER_REQUIRED = (
    "project_id",
    "programme",
    "component",
    "unit_2025_code",
    "budget_total",
    "status",
    "approved_date",
    "disbursed_vnd",
    "output_value",
    "output_unit",
    "candidate_key",
    "plan_match",
    "source",
    "synthetic",
)
SUMMARY_REQUIRED = (
    "row_id",
    "unit_code",
    "unit_name",
    "scope",
    "period",
    "programme_period",
    "approved_vnd",
    "disbursed_vnd",
    "disbursement_rate",
    "disbursed_per_poor_household",
    "tier",
    "region_class",
    "least_funded_top_tier",
    "synthetic",
)

CATALOG = (
    *CATALOG,
    LayerSpec(
        id="programme_projects",
        title_vi="Dự án các chương trình mục tiêu quốc gia (minh họa)",
        title_en="National target programme projects (demo data)",
        description_vi=DEMO_NOTE_VI
        + PROGRAMME_NOTE_VI
        + (
            "Mỗi dự án hoặc gói hỗ trợ: chương trình, hạng mục, xã 2025 (mã xã cũ chuyển qua bảng sắp xếp), vị trí "
            "(lon, lat) nếu có, vốn theo nguồn, trạng thái và ngày, đã giải ngân, kết quả và đơn vị, người hưởng "
            "lợi; dự án ứng viên mà nó thực hiện (candidate_key) và quan hệ với danh mục đầu tư (plan_match)."
        ),
        description_en=DEMO_NOTE_EN
        + PROGRAMME_NOTE_EN
        + (
            "Each project or support package: programme, component, 2025 unit (pre-merger codes carried through the "
            "crosswalk), location (lon, lat) where it has one, budget by source, status with dates, disbursed, "
            "outputs with their unit, beneficiaries; the investment candidate it realises (candidate_key) and how "
            "it relates to the investment plan (plan_match)."
        ),
        geometry_type=None,
        vintage="2021-2030",
        sources=PROGRAMME_SOURCES,
        key="project_id",
        synthetic=True,
        required_columns=REGISTER_REQUIRED,
    ),
    LayerSpec(
        id="programme_sites",
        title_vi="Vị trí dự án chương trình MTQG (minh họa)",
        title_en="Sites of national target programme projects (demo data)",
        description_vi=DEMO_NOTE_VI + PROGRAMME_NOTE_VI + "Các dự án của sổ theo dõi có vị trí, dạng điểm.",
        description_en=DEMO_NOTE_EN + PROGRAMME_NOTE_EN + "The register's projects that have a location, as points.",
        geometry_type="Point",
        vintage="2021-2030",
        sources=PROGRAMME_SOURCES,
        key="project_id",
        synthetic=True,
        required_columns=REGISTER_REQUIRED,
    ),
    LayerSpec(
        id="programme_disbursements",
        title_vi="Giải ngân theo quý (minh họa)",
        title_en="Disbursements by quarter (demo data)",
        description_vi=DEMO_NOTE_VI + PROGRAMME_NOTE_VI + "Số tiền giải ngân của mỗi dự án trong mỗi quý (đồng).",
        description_en=DEMO_NOTE_EN + PROGRAMME_NOTE_EN + "What each project disbursed in each quarter (VND).",
        geometry_type=None,
        vintage="2021-2030",
        sources=PROGRAMME_SOURCES,
        synthetic=True,
        unique=("project_id", "period"),
        required_columns=("project_id", "period", "amount_vnd", "unit_2025_code", "programme", "source", "synthetic"),
    ),
    LayerSpec(
        id="programme_unit_quarters",
        title_vi="Giải ngân và kết quả theo xã và quý (minh họa)",
        title_en="Disbursement and outputs by unit and quarter (demo data)",
        description_vi=DEMO_NOTE_VI
        + SUMMARY_NOTE_VI
        + "Mỗi xã, phường 2025 và toàn tỉnh (scope province, mã 14), mỗi quý.",
        description_en=DEMO_NOTE_EN
        + SUMMARY_NOTE_EN
        + "One row per 2025 unit and the province (scope province, code 14) and quarter.",
        geometry_type=None,
        vintage="2021-2030",
        sources=PROGRAMME_SOURCES,
        key="row_id",
        synthetic=True,
        unique=("unit_code", "period"),
        required_columns=SUMMARY_REQUIRED,
    ),
    LayerSpec(
        id="programme_units_2025",
        title_vi="Tiến độ giải ngân xã, phường 2025, quý gần nhất (minh họa)",
        title_en="Disbursement by 2025 unit, latest quarter (demo data)",
        description_vi=DEMO_NOTE_VI + SUMMARY_NOTE_VI + "Một đối tượng cho mỗi xã, phường, quý gần nhất có giải ngân.",
        description_en=DEMO_NOTE_EN
        + SUMMARY_NOTE_EN
        + "One feature per 2025 unit, for the latest quarter with disbursements.",
        geometry_type="MultiPolygon",
        vintage="2021-2030",
        sources=PROGRAMME_SOURCES,
        key="unit_code",
        code_width=5,
        expected_count=75,
        synthetic=True,
        required_columns=SUMMARY_REQUIRED,
    ),
)


def get_layer(layer_id: str) -> LayerSpec:
    """The catalog entry of a layer; KeyError if the catalog has none."""
    for spec in CATALOG:
        if spec.id == layer_id:
            return spec
    raise KeyError(layer_id)
