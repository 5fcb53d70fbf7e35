"""The layer catalog: every warehouse layer declared once, with titles, sources and what valid looks like."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the warehouse and of the services built on it."""

    id: str
    title_vi: str
    title_en: str
    description_vi: str
    description_en: str
    geometry_type: str | None  # "MultiPolygon", "Point" or None for a table
    vintage: str
    sources: tuple[str, ...]
    key: str | None = None
    code_width: int | None = None
    expected_count: int | None = None
    synthetic: bool = False
    required_columns: tuple[str, ...] = field(default_factory=tuple)

    @property
    def is_spatial(self) -> bool:
        """Whether the layer has geometry."""
        return self.geometry_type is not None


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


def get_layer(layer_id: str) -> LayerSpec:
    """The catalog entry of a layer; KeyError if the catalog has none."""
    for spec in CATALOG:
        if spec.id == layer_id:
            return spec
    raise KeyError(layer_id)
