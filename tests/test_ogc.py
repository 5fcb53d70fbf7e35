"""OGC API - Features over real HTTP, read by clients no one here wrote: OWSLib and GDAL's OAPIF driver.

The backend contract: every test runs against both stores, the GeoPackage and the same build published to
PostgreSQL + PostGIS (answered by SQL there), and checks the answers against the built warehouse itself.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pyogrio
import pytest
import shapely
import shapely.geometry
from owslib.ogcapi.features import Features

from geo.names import fold_ascii
from layers.catalog import CATALOG
from layers.publish import publish
from layers.warehouse import read_table
from tests.conftest import Built, LiveServer, needs_database, new_database


@pytest.fixture(scope="module", params=["geopackage", pytest.param("postgis", marks=needs_database)])
def server(
    request: pytest.FixtureRequest, built: Built, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    env = {"ATLAS_CACHE_DIR": str(built.settings.cache_dir)}
    if request.param == "geopackage":
        with LiveServer(built.path, env=env) as live:
            yield live
        return
    env["ATLAS_TILE_CACHE_DIR"] = str(tmp_path_factory.mktemp("tiles"))
    with new_database() as url:
        publish(url, built.path)
        with LiveServer(built.path, env={**env, "ATLAS_DATABASE_URL": url}) as live:
            yield live


@pytest.fixture(scope="module")
def ogc(server: LiveServer) -> str:
    return f"{server.url}/ogc"


def test_owslib_lists_every_collection_and_reads_items(ogc: str, built: Built) -> None:
    client = Features(ogc)
    ids = set(client.feature_collections())
    assert {s.id for s in CATALOG if s.collection} <= ids
    # the long per-village rows stay in the GeoPackage and the download, not in a collection QGIS would page
    assert not {s.id for s in CATALOG if not s.collection} & ids and "village_deprivations" not in ids
    page = client.collection_items("units_2025", limit=5)
    assert page["numberMatched"] == 75 and len(page["features"]) == 5
    assert any(link["rel"] == "next" for link in page["links"])
    meta = client.collection("units_2025")
    assert "Nghị quyết 1681" in json.dumps(meta, ensure_ascii=False)
    assert any(link["rel"] == "license" for link in meta["links"])
    queryables = client.collection_queryables("units_2025")["properties"]
    assert queryables["n_communes_2024"]["type"] == "integer" and queryables["area_km2"]["type"] == "number"


@pytest.mark.parametrize("layer", [s.id for s in CATALOG if s.is_spatial and s.id not in ("roads",)])
def test_gdal_oapif_reads_each_spatial_collection_like_the_warehouse(ogc: str, built: Built, layer: str) -> None:
    remote = pyogrio.read_dataframe(f"OAPIF:{ogc}", layer=layer)
    local = read_table(built.path, layer)
    assert len(remote) == len(local)
    spec = next(s for s in CATALOG if s.id == layer)
    if spec.key:
        remote = remote.set_index(spec.key).sort_index()
        local = local.set_index(spec.key).sort_index()
        assert remote.index.equals(local.index)
        diff = shapely.symmetric_difference(remote.geometry.values, local.geometry.values)
        assert shapely.area(diff).max() < 1e-12


def test_gdal_oapif_filters_and_paging(ogc: str, built: Built) -> None:
    villages = pyogrio.read_dataframe(f"OAPIF:{ogc}", layer="demo_villages", where="district_code = '125'")
    local = read_table(built.path, "demo_villages")
    assert len(villages) == int((local["district_code"] == "125").sum())
    roads = pyogrio.read_dataframe(f"OAPIF:{ogc}", layer="roads")  # several pages of 1,000
    assert len(roads) == len(read_table(built.path, "roads")) > 1000


def _get(url: str, **params: str) -> httpx.Response:
    return httpx.get(url, params=params, timeout=60)


def test_cql2_text_and_json_filters(ogc: str, built: Built) -> None:
    url = f"{ogc}/collections/indicators_communes_2024/items"
    text = _get(url, f="json", filter="region_class = 3 AND poor_rate > 20", limit="1000", skipGeometry="true")
    assert text.status_code == 200
    local = read_table(built.path, "indicators_communes_2024")
    expected = local[(local["region_class"] == 3) & (local["poor_rate"] > 20)]
    assert text.json()["numberMatched"] == len(expected) > 0
    body = {
        "op": "and",
        "args": [
            {"op": "=", "args": [{"property": "region_class"}, 3]},
            {"op": ">", "args": [{"property": "poor_rate"}, 20]},
        ],
    }
    as_json = httpx.post(
        url,
        params={"f": "json", "limit": "1000", "skipGeometry": "true"},
        json=body,
        headers={"Content-Type": "application/query-cql-json"},
        timeout=60,
    )
    assert as_json.status_code == 200 and as_json.json()["numberMatched"] == len(expected)


def test_properties_sortby_bbox_datetime_and_text_search(ogc: str, built: Built) -> None:
    units = f"{ogc}/collections/units_2025/items"
    sorted_ = _get(units, f="json", sortby="-area_km2", limit="3", properties="name,area_km2", skipGeometry="true")
    areas = [f["properties"]["area_km2"] for f in sorted_.json()["features"]]
    assert areas == sorted(areas, reverse=True) and set(sorted_.json()["features"][0]["properties"]) == {
        "name",
        "area_km2",
    }
    box = _get(units, f="json", bbox="103.85,21.28,103.95,21.36", skipGeometry="true", limit="100")
    local = read_table(built.path, "units_2025")
    expected = local[local.intersects(shapely.box(103.85, 21.28, 103.95, 21.36))]
    assert {f["id"] for f in box.json()["features"]} == set(expected["code"])
    years = _get(
        f"{ogc}/collections/commune_indicators/items",
        f="json",
        datetime="2022-01-01/2023-12-31",
        vintage="province",
        skipGeometry="true",
    )
    assert sorted(f["properties"]["year"] for f in years.json()["features"]) == [2022, 2023]
    search = _get(units, f="json", q="muong", skipGeometry="true", limit="100").json()["features"]
    found = {f["id"] for f in search}
    assert set(local.loc[local["name"].str.contains("Mường"), "code"]) <= found  # accents not needed
    assert all("muong" in fold_ascii(" ".join(str(v) for v in f["properties"].values())) for f in search)


def test_crs_and_bbox_crs(ogc: str, built: Built) -> None:
    units = f"{ogc}/collections/units_2025/items/03646"
    local = read_table(built.path, "units_2025").set_index("code").geometry["03646"]
    utm = _get(units, f="json", crs="http://www.opengis.net/def/crs/EPSG/0/3405")
    assert utm.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/3405>"
    x, y = np.asarray(utm.json()["geometry"]["coordinates"][0][0][0])
    assert 300_000 < x < 500_000 and 2_300_000 < y < 2_450_000
    lat_lon = _get(units, f="json", crs="http://www.opengis.net/def/crs/EPSG/0/4326").json()
    first = lat_lon["geometry"]["coordinates"][0][0][0]
    assert abs(first[0] - local.exterior.coords[0][1] if local.geom_type == "Polygon" else first[0] - 21.3) < 0.2
    merc = _get(
        f"{ogc}/collections/units_2025/items",
        f="json",
        skipGeometry="true",
        limit="100",
        bbox="11568000,2420000,11580000,2430000",
        **{"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/3857"},
    )
    assert merc.status_code == 200 and merc.json()["numberMatched"] >= 1


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/collections/units_2025/items", {"bbox": "1,2,3"}, 400),
        ("/collections/units_2025/items", {"bbox": "a,b,c,d"}, 400),
        ("/collections/nope/items", {}, 404),
        ("/collections/units_2025/items/99999", {}, 404),
        ("/collections/units_2025/items", {"limit": "100000"}, 400),
        ("/collections/units_2025/items", {"limit": "-1"}, 400),
        ("/collections/units_2025/items", {"filter": "area_km2 >> 3"}, 400),
        ("/collections/units_2025/items", {"filter": "no_such_field = 3"}, 400),
        ("/collections/units_2025/items", {"crs": "http://www.opengis.net/def/crs/EPSG/0/9999"}, 400),
        ("/collections/units_2025/items", {"offset": "999999999999"}, 400),
        ("/collections/units_2025/items", {"offset": "x"}, 400),
        ("/collections/units_2025/items", {"sortby": "nope"}, 400),
        ("/collections/commune_indicators/items", {"datetime": "not-a-date"}, 400),
        (
            "/collections/units_2025/items",
            {"bbox": "0,0,1,1", "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/1"},
            400,
        ),
        ("/collections/..%2F..%2Fetc%2Fpasswd/items", {}, 404),
    ],
)
def test_bad_requests_get_ogc_exceptions(ogc: str, path: str, params: dict[str, str], status: int) -> None:
    response = _get(ogc + path, f="json", **params)
    assert response.status_code == status, response.text
    body = response.json()
    assert {"code", "description"} <= set(body)


def test_revalidation_and_gzip(ogc: str) -> None:
    url = f"{ogc}/collections/units_2025/items?f=json&limit=50"
    first = httpx.get(url, headers={"Accept-Encoding": "gzip"}, timeout=60)
    assert first.headers["Content-Encoding"] == "gzip" and first.json()["numberReturned"] == 50
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    again = httpx.get(url, headers={"If-None-Match": etag, "Accept-Encoding": "gzip"}, timeout=60)
    assert again.status_code == 304 and again.content == b""
    since = httpx.get(url, headers={"If-Modified-Since": modified, "Accept-Encoding": "gzip"}, timeout=60)
    assert since.status_code == 304
    other = httpx.get(url.replace("limit=50", "limit=51"), headers={"If-None-Match": etag}, timeout=60)
    assert other.status_code == 200
    raw = httpx.get(url, headers={"Accept-Encoding": "gzip"}, timeout=60, follow_redirects=True)
    assert (
        json.loads(
            gzip.decompress(raw.read())
            if raw.headers.get("content-encoding") == "gzip" and raw.content[:2] == b"\x1f\x8b"
            else raw.content
        )["numberReturned"]
        == 50
    )


def test_html_pages_are_bilingual(ogc: str) -> None:
    page = _get(f"{ogc}/collections/units_2025", f="html")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Xã, phường từ 01/7/2025" in page.text
    english = httpx.get(f"{ogc}/collections/units_2025", params={"f": "json", "lang": "en"}, timeout=60)
    assert english.json()["title"].startswith("Communes and wards")


def test_service_stays_inside_the_warehouse(ogc: str, tmp_path: Path) -> None:
    for path in ("/static/../../../../etc/passwd", "/collections/units_2025/items/..%2F..%2Fetc%2Fpasswd"):
        response = httpx.get(ogc + path, timeout=30)
        assert response.status_code in (400, 404) and "root:" not in response.text


def test_conformance_declares_only_what_works(ogc: str) -> None:
    classes = set(_get(f"{ogc}/conformance", f="json").json()["conformsTo"])
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in classes
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text" in classes
    assert not any("features-4" in c or "callback" in c for c in classes)  # no transactions, no callbacks


@pytest.mark.parametrize(
    ("cql", "expected"),
    [
        ("name LIKE 'Chiềng%'", lambda f: f["name"].str.startswith("Chiềng")),
        ("area_km2 BETWEEN 100 AND 200", lambda f: f["area_km2"].between(100, 200)),
        ("unit_type IN ('Phường')", lambda f: f["unit_type"] == "Phường"),
        ("S_INTERSECTS(geometry, POINT(103.91 21.33))", lambda f: f.intersects(shapely.Point(103.91, 21.33))),
    ],
)
def test_declared_cql2_classes_work(ogc: str, built: Built, cql: str, expected: object) -> None:
    local = read_table(built.path, "units_2025")
    want = set(local.loc[expected(local), "code"])  # type: ignore[operator]
    got = _get(f"{ogc}/collections/units_2025/items", f="json", filter=cql, limit="100", skipGeometry="true")
    assert got.status_code == 200, got.text
    assert {f["id"] for f in got.json()["features"]} == want and want


@pytest.mark.parametrize(
    "cql",
    [
        # ILIKE as QGIS 3.32 and later compile it for a server declaring case-insensitive comparison
        """CASEI("name") LIKE CASEI('chiềng%')""",
        """ACCENTI(CASEI("name")) LIKE ACCENTI(CASEI('CHIENG%'))""",
        """ACCENTI(name) LIKE ACCENTI('Chieng%')""",
    ],
)
def test_casei_and_accenti_find_what_the_accent_insensitive_q_finds(ogc: str, built: Built, cql: str) -> None:
    url = f"{ogc}/collections/units_2025/items"
    got = _get(url, f="json", filter=cql, limit="100", skipGeometry="true")
    assert got.status_code == 200, got.text
    searched = _get(url, f="json", q="chieng", limit="100", skipGeometry="true").json()
    local = read_table(built.path, "units_2025")
    want = set(local.loc[local["name"].str.startswith("Chiềng"), "code"])
    assert {f["id"] for f in got.json()["features"]} == {f["id"] for f in searched["features"]} == want
    assert got.json()["numberMatched"] == len(want)
    classes = set(_get(f"{ogc}/conformance", f="json").json()["conformsTo"])
    assert "http://www.opengis.net/spec/cql2/1.0/conf/accent-insensitive-comparison" in classes
    as_json = httpx.post(
        url,
        params={"f": "json", "limit": "100", "skipGeometry": "true"},
        json={"op": "=", "args": [{"op": "accenti", "args": [{"property": "name"}]}, "Chieng An"]},
        headers={"Content-Type": "application/query-cql-json"},
        timeout=60,
    )
    assert as_json.status_code == 200 and [f["id"] for f in as_json.json()["features"]] == ["03664"]
    unknown = _get(url, f="json", filter="UPPER(name) = 'X'")
    assert unknown.status_code == 400


def test_carry_to_2025_process_reproduces_the_aggregates(ogc: str, built: Built) -> None:
    indicators = read_table(built.path, "commune_indicators")
    old = indicators[(indicators["vintage"] == "2024") & (indicators["year"] == 2024)]
    rows = [
        {
            "unit_code": r.unit_code,
            "year": 2024,
            "households": int(r.households),
            "poor_households": int(r.poor_households),
        }
        for r in old.itertuples()
    ]
    response = httpx.post(f"{ogc}/processes/carry-to-2025/execution", json={"inputs": {"rows": rows}}, timeout=60)
    assert response.status_code == 200, response.text
    result = {r["unit_code"]: r for r in response.json()["value"]}
    new = indicators[(indicators["vintage"] == "2025") & (indicators["year"] == 2024)].set_index("unit_code")
    assert set(result) == set(new.index)
    for code, rec in result.items():
        assert rec["poor_households"] == new.loc[code, "poor_households"] and rec["complete"]
        assert rec["poor_rate"] == pytest.approx(new.loc[code, "poor_rate"])
    bad = httpx.post(
        f"{ogc}/processes/carry-to-2025/execution",
        json={"inputs": {"rows": [{"unit_code": "03646", "year": 2024, "households": -1}]}},
        timeout=60,
    )
    assert bad.status_code == 400
    assert "'rows[0].households' must be a whole number" in bad.json()["description"]  # names the row and figure


def test_generalised_units_are_light_and_still_tile(ogc: str, built: Built) -> None:
    url = f"{ogc}/collections/units_2025/items"
    full = _get(url, f="json", limit="100")
    light = _get(url, f="json", limit="100", **{"zoom-level": "8"})
    assert light.status_code == 200, light.text
    assert len(full.content) >= 5 * len(light.content)  # uncompressed GeoJSON bytes
    assert len(gzip.compress(light.content)) < 300_000
    whole, lighter = full.json()["features"], light.json()["features"]
    assert [f["id"] for f in lighter] == [f["id"] for f in whole] and len(lighter) == 75
    assert [f["properties"] for f in lighter] == [f["properties"] for f in whole]
    shapes = gpd.GeoSeries([shapely.geometry.shape(f["geometry"]) for f in lighter], crs=4326).to_crs(3405)
    assert shapes.is_valid.all()
    tree = shapely.STRtree(shapes.values)
    left, right = tree.query(shapes.values, predicate="intersects")
    pairs = [(a, b) for a, b in zip(left, right, strict=True) if a < b]
    overlap = sum(shapes.iloc[a].intersection(shapes.iloc[b]).area for a, b in pairs)
    union = shapely.union_all(shapes.values)
    gaps = shapely.Polygon(union.exterior).difference(union).area if union.geom_type == "Polygon" else 0.0
    assert overlap < 1.0 and gaps < 1.0  # m²: neighbours share their simplified borders
    projected = _get(
        url, f="json", limit="1", crs="http://www.opengis.net/def/crs/EPSG/0/3405", **{"zoom-level": "8"}
    ).json()["features"][0]["geometry"]["coordinates"]
    x, y = projected[0][0][0] if isinstance(projected[0][0][0], list) else projected[0][0]
    assert 300_000 < x < 700_000 and 2_200_000 < y < 2_500_000  # VN-2000 / UTM 48N metres
    assert _get(url, f="json", **{"zoom-level": "19"}).status_code == 400
    assert _get(f"{ogc}/collections/crosswalk_2025/items", f="json", precision="3").status_code == 400
