"""The web intake over real HTTP: credentials, roles and units, CSRF, limits, personal data, row-by-row reports,
review, approval into a new release seen by the OGC API and the maps, the audit log, and a server killed while
it publishes."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from geo.settings import DataSettings
from layers.accounts import AccountStore
from layers.intake import META_SHEET, accounts_for
from layers.publish import GeoPackagePublisher, current, publish
from layers.warehouse import read_build_info, read_table
from tests.conftest import Built, LiveServer, isolated_copy, needs_database
from tests.test_cli import _atlas

pytestmark = pytest.mark.integration
PASSWORD = "mật khẩu đủ dài"


@pytest.fixture
def deployment(built: Built, tmp_path: Path) -> DataSettings:
    """A private copy of the built warehouse, numbered as release 1, with two officers and a reviewer."""
    return make_deployment(built, tmp_path)


def make_deployment(built: Built, tmp_path: Path) -> DataSettings:
    """A private copy of the built warehouse as release 1; officer.a has two units, officer.b one; a reviewer."""
    settings = isolated_copy(built, tmp_path)
    GeoPackagePublisher(settings.warehouse).publish()
    store = accounts_for(settings)
    units = sorted(read_table(settings.warehouse, "units_2025")["code"].astype(str))
    store.add_user("officer.a", PASSWORD, "officer")
    store.assign("officer.a", units[:2])
    store.add_user("officer.b", PASSWORD, "officer")
    store.assign("officer.b", units[2:3])
    store.add_user("reviewer", PASSWORD, "reviewer")
    return settings


def server_env(settings: DataSettings, **extra: str) -> dict[str, str]:
    """The environment of `atlas serve` for a deployment."""
    return {
        "ATLAS_IMPORTS_DIR": str(settings.imports_dir),
        "ATLAS_CACHE_DIR": str(settings.cache_dir),
        "ATLAS_MIRROR": str(settings.mirror),
        "ATLAS_USE_SHARED_MIRROR": "false",
        "ATLAS_PRELOAD": "false",
        "ATLAS_INTAKE_REVIEW_YEAR": "2026",
        "ATLAS_TILE_CACHE_DIR": str(settings.warehouse.parent / "tiles"),
        **extra,
    }


def login(url: str, username: str) -> httpx.Client:
    """A client with the session cookie of an account (JSON login)."""
    client = httpx.Client(base_url=url, timeout=600)
    answer = client.post("/login", json={"username": username, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return client


def csrf(client: httpx.Client, path: str = "/intake/") -> str:
    """The CSRF token of a page's forms."""
    page = client.get(path, headers={"accept": "text/html"})
    found = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def filled(template: bytes, errors: bool = False, households: int = 150) -> bytes:
    """The template with every village filled; with `errors`, two mistakes (poor > households, a word)."""
    wb = load_workbook(io.BytesIO(template))
    ws = wb.worksheets[0]
    assert ws.cell(4, 1).value == "Mã thôn / Village id"
    for row in range(5, ws.max_row + 1):
        for col, value in ((5, households), (6, 12), (7, 9), (8, households - 10)):
            ws.cell(row, col, value)
        for col in range(9, ws.max_column + 1):
            ws.cell(row, col, 20)
    if errors:
        ws.cell(6, 6, households + 50)
        ws.cell(7, 5, "một trăm")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def upload(client: httpx.Client, data: bytes, name: str = "ra-soat.xlsx", **headers: str) -> httpx.Response:
    """POST a file to the intake (JSON answer)."""
    return client.post(
        "/intake/submissions", files={"file": (name, data)}, headers={"accept": "application/json", **headers}
    )


def test_writes_need_credentials_roles_units_and_csrf(built: Built, deployment: DataSettings) -> None:
    store = accounts_for(deployment)
    before = read_build_info(deployment.warehouse)
    env = server_env(deployment, ATLAS_MAX_BODY_BYTES="400000", ATLAS_LOGIN_ATTEMPTS="4")
    with LiveServer(deployment.warehouse, env=env) as server:
        anonymous = httpx.Client(base_url=server.url, timeout=60)
        # reads stay open; writes without credentials: 401, nothing read or stored
        assert anonymous.get("/releases?f=json").json()["releases"][0]["number"] == 1
        refused = upload(anonymous, b"x" * 1000)
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
        assert "Bearer" in refused.json()["description"]
        assert anonymous.get("/audit").status_code == 401
        assert anonymous.get("/intake/", headers={"accept": "text/html"}).status_code in (303, 307)

        officer = login(server.url, "officer.a")
        me = officer.get("/intake/?f=json").json()
        assert me["review_year"] == 2026 and me["standard"] == "ND07-2021"
        mine = officer.get("/intake/template.xlsx")
        assert mine.status_code == 200 and mine.headers["content-type"].startswith("application/vnd.openxml")
        wb = load_workbook(io.BytesIO(mine.content))
        units_in_template = {wb.worksheets[0].cell(r, 2).value for r in range(5, wb.worksheets[0].max_row + 1)}
        assert units_in_template == set(me["user"]["units"])
        assert len(wb.worksheets[0].data_validations.dataValidation) >= 2  # whole numbers, poor <= households
        assert wb.worksheets[0].max_column == 8 + 12  # the 12 indicators of ND07-2021

        # CSRF: the session cookie alone does not make a write
        no_token = upload(officer, filled(mine.content))
        assert no_token.status_code == 403 and "CSRF" in no_token.json()["description"]
        assert store.submissions() == []

        # another unit: 403 naming it
        reviewer = login(server.url, "reviewer")
        other_unit = store.user("officer.b").units[0]
        foreign = reviewer.get(f"/intake/template.xlsx?units={other_unit}")
        assert foreign.status_code == 200
        assert officer.get(f"/intake/template.xlsx?units={other_unit}").status_code == 403
        token = officer.post("/account/tokens", json={"name": "script"}, headers={"x-csrf-token": csrf(officer)})
        assert token.status_code == 201
        bearer = {"authorization": f"Bearer {token.json()['token']}"}
        scripted = httpx.Client(base_url=server.url, timeout=600, headers=bearer)
        wrong = upload(scripted, filled(foreign.content))
        assert wrong.status_code == 403 and other_unit in wrong.json()["description"]

        # household-level columns: 422, nothing stored
        personal = "Mã thôn / Village id,Họ và tên chủ hộ,Số CCCD,Tổng số hộ\n03646-01,Lò Văn A,012345678901,1\n"
        refused = upload(scripted, personal.encode(), "danh-sach-ho.csv")
        assert refused.status_code == 422 and "household-level" in refused.json()["description"]
        assert "Họ và tên chủ hộ" in refused.json()["description"]

        # a year the warehouse holds no village rows for: 422, not a release that changes nothing
        wb_2027 = load_workbook(io.BytesIO(mine.content))
        wb_2027[META_SHEET]["B1"] = "2027"
        later = io.BytesIO()
        wb_2027.save(later)
        refused = upload(scripted, later.getvalue())
        assert refused.status_code == 422 and "template of 2027" in refused.json()["description"]

        # oversized: 413 before the route reads it
        big = upload(scripted, b"0" * 500_000, "big.csv")
        assert big.status_code == 413 and "ATLAS_MAX_BODY_BYTES" in big.json()["description"]

        # two mistakes: 422 with row, column and how to fix each
        bad = upload(scripted, filled(mine.content, errors=True))
        assert bad.status_code == 422
        lines = [line for line in bad.json()["report"]["lines"] if line["status"] == "error"]
        assert [line["row"] for line in lines] == [6, 7]
        assert "column F" in lines[0]["message"] and "exceed households" in lines[0]["message"]
        assert "column E" in lines[1]["message"] and "whole number" in lines[1]["message"]
        assert store.submissions() == []

        # valid: a pending submission, not a change
        good = upload(scripted, filled(mine.content))
        assert good.status_code == 201, good.text
        sub = good.json()
        assert sub["status"] == "pending" and good.headers["location"].endswith(f"/intake/submissions/{sub['id']}")
        assert read_build_info(deployment.warehouse) == before

        # a commune table (pre-merger communes) is read by the commune importer; the file's name is only shown
        communes = read_table(deployment.warehouse, "communes_2024")
        commune = str(communes[communes["unit_2025_code"].astype(str) == me["user"]["units"][0]]["code"].iloc[0])
        table = f"Mã xã,Năm,Tổng số hộ,Số hộ nghèo,Số hộ cận nghèo\n{commune},2024,1000,50,40\n"
        sent = upload(scripted, table.encode(), "../../../tmp/../ra-soat-xa.csv")
        assert sent.status_code == 201, sent.text
        assert sent.json()["kind"] == "commune_indicators" and sent.json()["file_name"] == "ra-soat-xa.csv"
        assert not list(Path("/tmp").glob("ra-soat-xa.csv")) and not list(
            deployment.warehouse.parent.rglob("ra-soat-xa*")
        )
        lines = reviewer.get(f"/intake/submissions/{sent.json()['id']}?f=json").json()["comparison"]
        assert [(c["indicator"], c["submitted"]) for c in lines][:2] == [
            ("households", 1000.0),
            ("poor_households", 50.0),
        ]

        # an infrastructure layer of the officer's unit (its kind named), and one reaching into another unit
        stations = _stations(deployment, me["user"]["units"][0], 2)
        layer = scripted.post(
            "/intake/submissions",
            files={"file": ("tram-y-te.geojson", stations)},
            data={"kind": "health_stations"},
            headers={"accept": "application/json"},
        )
        assert layer.status_code == 201, layer.text
        assert layer.json()["kind"] == "health_stations" and layer.json()["units"] == [me["user"]["units"][0]]
        counts = reviewer.get(f"/intake/submissions/{layer.json()['id']}?f=json").json()["comparison"]
        assert [c["submitted"] for c in counts] == [2.0] and counts[0]["published"] is not None
        no_kind = upload(scripted, stations, "tram-y-te.geojson")
        assert no_kind.status_code == 422 and "health_stations" in no_kind.json()["description"]
        elsewhere = scripted.post(
            "/intake/submissions",
            files={"file": ("tram.geojson", _stations(deployment, other_unit, 1))},
            data={"kind": "health_stations"},
        )
        assert elsewhere.status_code == 403 and other_unit in elsewhere.json()["description"]

        # the officer may not review; the reviewer sees old, new and difference, and rejects with a reason
        assert scripted.post(f"/intake/submissions/{sub['id']}/approve").status_code == 403
        detail = reviewer.get(f"/intake/submissions/{sub['id']}?f=json").json()
        households = [c for c in detail["comparison"] if c["indicator"] == "households"]
        assert {c["unit_code"] for c in households} == set(me["user"]["units"])
        assert all(c["difference"] == c["submitted"] - c["published"] for c in households)
        rates = [c for c in detail["comparison"] if c["indicator"] == "poor_rate"]
        assert all(c["submitted"] == 8.0 for c in rates)  # 12 of 150 households in every village
        no_reason = reviewer.post(
            f"/intake/submissions/{sub['id']}/reject", data={"reason": "", "csrftoken": csrf(reviewer)}
        )
        assert no_reason.status_code == 400
        rejected = reviewer.post(
            f"/intake/submissions/{sub['id']}/reject",
            data={"reason": "Thiếu số liệu thôn Pá Khôm / village missing", "csrftoken": csrf(reviewer)},
            headers={"accept": "application/json"},
        )
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        seen = next(s for s in officer.get("/intake/?f=json").json()["submissions"] if s["id"] == sub["id"])
        assert seen["status"] == "rejected" and seen["reason"].startswith("Thiếu số liệu")

        # a revoked token: 401 at once
        revoke = officer.post(f"/account/tokens/{token.json()['id']}/revoke", headers={"x-csrf-token": csrf(officer)})
        assert revoke.status_code == 200
        assert upload(scripted, filled(mine.content)).status_code == 401

        # the audit log: reviewers only, every step, as CSV too
        assert officer.get("/audit").status_code == 403
        actions = [e["action"] for e in reviewer.get("/audit?f=json").json()["entries"]]
        for action in ("login", "token-created", "token-write", "upload-refused", "upload", "reject", "token-revoked"):
            assert action in actions, action
        exported = reviewer.get("/audit.csv")
        rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert len(rows) == len(actions) and rows[0]["action"] == actions[0]

        # failed logins are limited per address and per name
        codes = [
            anonymous.post("/login", json={"username": "officer.b", "password": "wrong password"}).status_code
            for _ in range(5)
        ]
        assert codes == [401, 401, 401, 401, 429]  # ATLAS_LOGIN_ATTEMPTS=4 failures, then a wait
        assert anonymous.post("/login", json={"username": "officer.b", "password": PASSWORD}).status_code == 429
    assert [s.status for s in store.submissions()] == ["pending", "pending", "rejected"]
    assert read_build_info(deployment.warehouse) == before


def test_cookies_are_secure_behind_https(built: Built, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import ServerSettings

    settings = isolated_copy(built, tmp_path)
    accounts_for(settings).add_user("reviewer", PASSWORD, "reviewer")
    server = ServerSettings(
        _env_file=None,  # type: ignore[call-arg]
        warehouse=settings.warehouse,
        cache_dir=settings.cache_dir,
        tile_cache_dir=tmp_path / "tiles",
        public_url="https://atlas.sonla.example",
        preload=False,
    )
    with TestClient(create_app(server), base_url="https://atlas.sonla.example") as client:
        page = client.get("/login")
        assert "Secure" in page.headers["set-cookie"] and "HttpOnly" in page.headers["set-cookie"]
        answer = client.post("/login", json={"username": "reviewer", "password": PASSWORD})
        cookie = answer.headers["set-cookie"]
        assert answer.status_code == 200 and cookie.startswith("atlas_session=")
        for flag in ("Secure", "HttpOnly", "SameSite=lax", "Path=/"):
            assert flag in cookie, flag
        assert client.get("/intake/?f=json").json()["user"]["username"] == "reviewer"
        assert client.get("/intake/?f=json").headers["cache-control"] == "no-store"


def _stations(settings: DataSettings, unit: str, count: int) -> bytes:
    """A GeoJSON of `count` health stations inside a 2025 unit."""
    units = read_table(settings.warehouse, "units_2025")
    inside = units[units["code"].astype(str) == unit].geometry.iloc[0].representative_point()
    features = [
        {
            "type": "Feature",
            "properties": {"ten_tram": f"Trạm y tế mới {i + 1}", "loai": "trạm y tế xã"},
            "geometry": {"type": "Point", "coordinates": [inside.x + 0.0005 * i, inside.y]},
        }
        for i in range(count)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False).encode()


@contextmanager
def _serving(settings: DataSettings, **env: str) -> Iterator[LiveServer]:
    with LiveServer(settings.warehouse, env=server_env(settings, **env)) as server:
        yield server


def _pending_submission(url: str, store: AccountStore) -> tuple[httpx.Client, int, dict[str, Any]]:
    officer = login(url, "officer.a")
    template = officer.get("/intake/template.xlsx").content
    sent = officer.post(
        "/intake/submissions",
        files={"file": ("ra-soat.xlsx", filled(template, households=200))},
        data={"csrftoken": csrf(officer)},
        headers={"accept": "application/json"},
    )
    assert sent.status_code == 201, sent.text
    return login(url, "reviewer"), int(sent.json()["id"]), sent.json()


def test_killed_publish_loses_nothing(built: Built, deployment: DataSettings) -> None:
    """A server killed mid-rebuild serves the previous release afterwards, the submission still pending; one
    killed after publishing but before recording finishes the approval when it starts again."""
    store = accounts_for(deployment)
    before = read_build_info(deployment.warehouse)
    with _serving(deployment, ATLAS_TEST_KILL_AT="build:layers") as server:
        reviewer, number, _ = _pending_submission(server.url, store)
        with pytest.raises(httpx.HTTPError):
            reviewer.post(f"/intake/submissions/{number}/approve", headers={"x-csrf-token": csrf(reviewer)})
        assert server.process is not None and server.process.wait(timeout=60) != 0
    assert read_build_info(deployment.warehouse) == before
    with _serving(deployment) as server:
        assert httpx.get(f"{server.url}/health").json()["release"]["number"] == 1
        assert store.submission(number).status == "pending"
    with _serving(deployment, ATLAS_TEST_KILL_AT="intake:published") as server:
        reviewer = login(server.url, "reviewer")
        with pytest.raises(httpx.HTTPError):
            reviewer.post(f"/intake/submissions/{number}/approve", headers={"x-csrf-token": csrf(reviewer)})
    assert read_build_info(deployment.warehouse) != before  # the rebuild committed before the kill
    assert store.submission(number).status == "pending"
    with _serving(deployment) as server:
        done = store.submission(number)
        assert done.status == "approved" and done.release == 2
        listed = httpx.get(f"{server.url}/releases?f=json").json()["releases"]
        assert [(r["number"], r["action"], r["submission_id"]) for r in listed][:1] == [(2, "submission", number)]
        assert httpx.get(f"{server.url}/health").json()["release"]["number"] == 2
    # a rollback from the command line is a new release serving the old file; history stays
    env = {"ATLAS_WAREHOUSE": str(deployment.warehouse), "ATLAS_IMPORTS_DIR": str(deployment.imports_dir)}
    rolled = _atlas("releases", "rollback", "1", env=env)
    assert rolled.returncode == 0, rolled.stderr
    assert read_build_info(deployment.warehouse) == before
    releases = store.releases_by_number()
    assert releases[3].action == "rollback" and releases[3].rollback_of == 1 and releases[2].action == "submission"
    assert "rollback" in [e.action for e in store.audit_log()]


@needs_database
def test_intake_on_postgis(built: Built, tmp_path: Path, database: str) -> None:
    """With ATLAS_DATABASE_URL the accounts live in the database, an approval publishes a new schema that the
    server switches to, and every kept release downloads from the database."""
    settings = isolated_copy(built, tmp_path)
    settings = settings.model_copy(update={"database_url": database})
    first, _ = publish(database, settings.warehouse)
    store = accounts_for(settings)
    assert store.address == database
    unit = sorted(read_table(settings.warehouse, "units_2025")["code"].astype(str))[5]
    store.add_user("officer.a", PASSWORD, "officer")
    store.assign("officer.a", [unit])
    store.add_user("reviewer", PASSWORD, "reviewer")
    _, officer_token = store.new_token("officer.a", "script")
    _, reviewer_token = store.new_token("reviewer", "script")
    env = server_env(settings, ATLAS_DATABASE_URL=database, ATLAS_DATABASE_POLL_SECONDS="0.5")
    with LiveServer(settings.warehouse, env=env) as server:
        officer = httpx.Client(base_url=server.url, timeout=600, headers={"authorization": f"Bearer {officer_token}"})
        template = officer.get("/intake/template.xlsx").content
        sent = upload(officer, filled(template, households=300))
        assert sent.status_code == 201, sent.text
        reviewer = httpx.Client(base_url=server.url, timeout=900, headers={"authorization": f"Bearer {reviewer_token}"})
        approved = reviewer.post(f"/intake/submissions/{sent.json()['id']}/approve")
        assert approved.status_code == 200, approved.text
        assert approved.json()["release"]["number"] == first.number + 1 == current(database).number
        wb = load_workbook(io.BytesIO(template)).worksheets[0]
        villages = sum(1 for r in range(5, wb.max_row + 1) if wb.cell(r, 2).value == unit)
        deadline = time.monotonic() + 30
        while True:  # the server notices the new publish within its poll interval
            items = httpx.get(
                f"{server.url}/ogc/collections/indicators_units_2025/items",
                params={"unit_code": unit, "f": "json"},
                timeout=60,
            )
            if items.json()["features"][0]["properties"]["households"] == 300 * villages:
                break
            assert time.monotonic() < deadline, items.json()["features"][0]["properties"]["households"]
            time.sleep(0.5)
        assert items.headers["atlas-release"].startswith(f"{first.number + 1}; ")
        others = httpx.get(f"{server.url}/ogc/collections/health_stations/items?f=json&limit=1000", timeout=60)
        before = [f["properties"] for f in others.json()["features"]]
        layer = officer.post(
            "/intake/submissions",
            files={"file": ("tram.geojson", _stations(settings, unit, 2))},
            data={"kind": "health_stations"},
            headers={"accept": "application/json"},
        )
        assert layer.status_code == 201, layer.text
        assert reviewer.post(f"/intake/submissions/{layer.json()['id']}/approve").status_code == 200
        deadline = time.monotonic() + 30
        while True:
            after = httpx.get(f"{server.url}/ogc/collections/health_stations/items?f=json&limit=1000", timeout=60)
            mine = [f["properties"] for f in after.json()["features"] if f["properties"]["unit_2025_code"] == unit]
            if len(mine) == 2 and all(p["name"].startswith("Trạm y tế mới") for p in mine):
                break
            assert time.monotonic() < deadline, mine
            time.sleep(0.5)

        def kept(features: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
            return sorted(
                (f["properties"]["facility_id"], f["properties"]["name"], str(f["geometry"]["coordinates"]))
                for f in features
                if f["properties"]["unit_2025_code"] != unit
            )

        assert kept(after.json()["features"]) == kept(others.json()["features"])  # other units unchanged
        assert len(before) > len(kept(after.json()["features"]))
        listed = httpx.get(f"{server.url}/releases?f=json").json()["releases"]
        assert [r["action"] for r in listed] == ["submission", "submission", "build"]
        old = httpx.get(f"{server.url}/releases/{first.number}/warehouse.gpkg", timeout=120)
        assert old.status_code == 200 and old.content[:16] == b"SQLite format 3\x00"
        assert hashlib.sha256(old.content).hexdigest() != listed[0]["sha256"]  # the new release is another file
        assert read_build_info_bytes(old.content, tmp_path)["fingerprint"] == first.fingerprint
    assert [s.status for s in AccountStore(database).submissions()] == ["approved", "approved"]


def read_build_info_bytes(data: bytes, folder: Path) -> dict[str, str]:
    """The build metadata of a GeoPackage given as bytes."""
    path = folder / "downloaded.gpkg"
    path.write_bytes(data)
    info = read_build_info(path)
    assert info is not None
    return info
