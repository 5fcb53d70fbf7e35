"""The name resolver on the real boundaries: every vintage, with and without accents, and where a place is now."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from geo.errors import GeoError
from geo.resolver import AmbiguousName, NameNotFound, NameResolver, fold
from layers.mapdata import AmbiguousScope, MapError, UnknownMapError, map_data_for
from layers.places import resolver_for
from layers.store import Warehouse
from tests.conftest import Built, LiveServer
from tests.test_cli import _atlas

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def resolver(built: Built) -> NameResolver:
    return resolver_for(Warehouse.open(built.path))


def test_fold_drops_accents_unit_type_and_punctuation() -> None:
    assert fold("Xã Chiềng Nơi") == fold("chieng  noi") == fold("CHIỀNG-NƠI") == "chieng noi"
    assert fold("Đông Sang") == "dong sang"
    assert fold("Thị trấn Hát Lót") == "hat lot"


@pytest.mark.parametrize("query", ["chieng noi", "Chiềng Nơi", "xa chieng noi", "CHIENG NOI", "Chiêng Nơi"])
def test_a_pre_merger_commune_says_which_unit_holds_it_now(resolver: NameResolver, query: str) -> None:
    best = resolver.search(query, limit=3)[0]
    assert (best.kind, best.name, best.code) == ("commune_2024", "Xã Chiềng Nơi", "04141")
    assert best.unit_name == "Xã Phiêng Cằm"
    assert best.note_vi.endswith("là một phần của Xã Phiêng Cằm từ 01/7/2025")
    assert "is part of Xã Phiêng Cằm since 1 July 2025" in best.note_en
    minx, miny, maxx, maxy = best.bbox
    assert minx < best.lon < maxx and miny < best.lat < maxy
    assert 103 < best.lon < 105.5 and 20.5 < best.lat < 22.1


def test_units_come_before_districts_and_villages_of_the_same_name(resolver: NameResolver) -> None:
    found = resolver.search("muong la", limit=5)
    assert [(p.kind, p.name) for p in found[:2]] == [("unit_2025", "Xã Mường La"), ("district_2024", "Huyện Mường La")]
    assert "cấp huyện đã bãi bỏ" in found[1].note_vi
    # diacritics in the query rank the exact spelling first: Mường Lạn is not Mường La
    assert resolver.search("Mường Lạn", limit=1)[0].name == "Xã Mường Lạn"


def test_spelling_variants_of_the_sources_are_found(resolver: NameResolver) -> None:
    # communes_2024 lists "Xã Tòng Lệnh" as a variant of Xã Tông Lạnh
    best = resolver.search("tong lenh", limit=1)[0]
    assert best.name == "Xã Tông Lạnh" and best.kind == "commune_2024"


def test_villages_carry_their_unit_and_demo_flag(resolver: NameResolver) -> None:
    villages = resolver.search("ban lau", kinds=["village"])
    assert villages and all(p.kind == "village" for p in villages)
    assert all(p.unit_name.startswith(("Xã ", "Phường ")) for p in villages)
    codes = [p.code for p in villages]
    assert len(codes) == len(set(codes))  # a demo village on a GeoNames point is listed once


def test_resolve_refuses_unknown_and_ambiguous_names(resolver: NameResolver) -> None:
    with pytest.raises(NameNotFound, match="zzzz"):
        resolver.resolve("zzzz")
    with pytest.raises(AmbiguousName, match="equally well"):
        resolver.resolve("ban lau", kinds=["village"])
    with pytest.raises(GeoError, match="unknown kind"):
        resolver.search("x", kinds=["hamlet"])
    assert resolver.search("  ,. ") == []


def test_print_scopes_accept_any_name_the_resolver_knows(built: Built) -> None:
    data = map_data_for(Warehouse.open(built.path))
    assert data.scope("unit", "chieng noi").name == "Xã Phiêng Cằm"
    assert data.scope("district", "mai son").name == "Huyện Mai Sơn"
    assert data.by_slug("unit-chieng-noi").code == data.scope("unit", "Phiêng Cằm").code


def test_atlas_find(built: Built) -> None:
    result = _atlas("find", "chieng noi", "--warehouse", str(built.path))
    assert result.returncode == 0, result.stderr
    assert "Xã Chiềng Nơi" in result.stdout and "Xã Phiêng Cằm" in result.stdout
    missing = _atlas("find", "qqqq", "--warehouse", str(built.path))
    assert missing.returncode == 1 and "không tìm thấy" in missing.stderr


def test_old_names_and_codes_resolve_and_a_shared_name_lists_its_choices(built: Built) -> None:
    data = map_data_for(Warehouse.open(built.path))
    for name in ("Chiềng Nơi", "chieng noi", "04141"):  # a pre-merger commune, by name or code
        scope, place = data.resolve("unit", name)
        assert scope.name == "Xã Phiêng Cằm" and place is not None and place.kind == "commune_2024"
        assert place.name == "Xã Chiềng Nơi" and place.district_name == "Huyện Mai Sơn"
    scope, place = data.resolve("unit", "Phiêng Cằm")
    assert scope.name == "Xã Phiêng Cằm" and place is None  # the unit itself
    with pytest.raises(AmbiguousScope, match=r"unit 'chieng' is ambiguous: .*Phường Chiềng An \(03664"):
        data.resolve("unit", "chieng")  # many units start so: never a guess
    with pytest.raises(MapError, match="unknown unit 'qqqq'"):
        data.resolve("unit", "qqqq")
    assert data.resolve_slug("unit-04141")[0].name == "Xã Phiêng Cằm"
    with pytest.raises(AmbiguousScope):
        data.resolve_slug("unit-chieng")
    with pytest.raises(UnknownMapError):
        data.resolve_slug("unit-qqqq")


def test_print_by_an_old_name_says_where_it_is_and_prints_its_area(built: Built, tmp_path: Path) -> None:
    shared = _atlas("print", "--unit", "chieng", "--warehouse", str(built.path), "--out", str(tmp_path))
    assert shared.returncode == 1 and "is ambiguous" in shared.stderr and "Chiềng An" in shared.stderr
    assert not list(tmp_path.iterdir())
    old = _atlas(
        "print", "--unit", "Chiềng Nơi", "--paper", "A4", "--warehouse", str(built.path), "--out", str(tmp_path)
    )
    assert old.returncode == 0, old.stderr
    flat = " ".join(old.stdout.split())
    assert "Xã Chiềng Nơi (Huyện Mai Sơn cũ) là một phần của Xã Phiêng Cằm từ 01/7/2025" in flat
    assert "--former-area" in flat and (tmp_path / "unit-04144_A4_landscape_poverty.pdf").is_file()
    area = _atlas(
        "print", "--unit", "04141", "--former-area", "--paper", "A4", "--warehouse", str(built.path),
        "--out", str(tmp_path),
    )  # fmt: skip
    assert area.returncode == 0, area.stderr
    pdf = tmp_path / "unit-04144_former-04141_A4_landscape_poverty.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "XÃ PHIÊNG CẰM – VÙNG XÃ CHIỀNG NƠI CŨ" in text and "area of the former Xã Chiềng Nơi" in text


def test_print_addresses_resolve_old_names_over_http(built: Built) -> None:
    with LiveServer(built.path, env={"ATLAS_CACHE_DIR": str(built.settings.cache_dir)}) as server:
        shared = httpx.get(f"{server.url}/maps/print/unit-chieng.pdf", timeout=120)
        assert shared.status_code == 400 and "Chiềng An" in shared.json()["description"]
        area = httpx.get(
            f"{server.url}/maps/print/unit-chieng-noi.pdf", params={"paper": "A4", "former_area": "true"}, timeout=180
        )
        assert area.status_code == 200 and area.content[:4] == b"%PDF"
        assert "former-area" in area.headers["content-disposition"]
        plain = httpx.get(f"{server.url}/maps/print/unit-04144.pdf", params={"former_area": "true"}, timeout=60)
        assert plain.status_code == 400 and "pre-merger commune" in plain.json()["description"]
