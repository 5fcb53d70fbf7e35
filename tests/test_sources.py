"""The source manifest and the fetcher: mirrors, downloads over real HTTP, checksum errors."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from geo.errors import ChecksumError, SourceError
from geo.settings import PROJECT_ROOT
from geo.sources import Fetcher, Manifest, sha256_file
from tests.conftest import free_port

CONTENT = "mã xã,tên\n03646,Phường Tô Hiệu\n".encode()


def _manifest(tmp: Path, content: bytes = CONTENT, extra: str = "") -> Path:
    path = tmp / "sources.toml"
    path.write_text(
        f"""manifest_version = 1
[sources.demo]
path = "tables/demo.csv"
title = "Demo"
upstream = "https://example.org/demo"
licence = "CC0"
licence_url = "https://example.org/licence"
attribution = "Demo"
vintage = "2025"
sha256 = "{hashlib.sha256(content).hexdigest()}"
{extra}
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    folder = tmp_path / "mirror"
    (folder / "tables").mkdir(parents=True)
    (folder / "tables" / "demo.csv").write_bytes(CONTENT)
    return folder


def test_fetch_copies_from_mirror_then_uses_cache(tmp_path: Path, mirror: Path) -> None:
    fetcher = Fetcher(Manifest.load(_manifest(tmp_path)), tmp_path / "cache", mirrors=[mirror])
    first = fetcher.fetch("demo")
    assert first.origin == str(mirror / "tables" / "demo.csv") and not first.cached
    assert first.path.read_bytes() == CONTENT
    second = fetcher.fetch("demo")
    assert second.cached and second.origin == "cache"


def test_checksum_mismatch_is_an_error_and_leaves_nothing(tmp_path: Path, mirror: Path) -> None:
    (mirror / "tables" / "demo.csv").write_bytes(CONTENT + b"tampered\n")
    fetcher = Fetcher(Manifest.load(_manifest(tmp_path)), tmp_path / "cache", mirrors=[mirror])
    with pytest.raises(ChecksumError, match=r"source 'demo': checksum mismatch for .*demo\.csv"):
        fetcher.fetch("demo")
    assert list((tmp_path / "cache").rglob("*")) == [tmp_path / "cache" / "tables"]


def test_corrupted_cache_is_replaced_from_mirror(tmp_path: Path, mirror: Path) -> None:
    fetcher = Fetcher(Manifest.load(_manifest(tmp_path)), tmp_path / "cache", mirrors=[mirror])
    fetcher.fetch("demo").path.write_bytes(b"broken")
    result = fetcher.fetch("demo")
    assert not result.cached and result.path.read_bytes() == CONTENT


def test_missing_source_names_the_file_and_the_remedy(tmp_path: Path) -> None:
    fetcher = Fetcher(Manifest.load(_manifest(tmp_path)), tmp_path / "cache", mirrors=[tmp_path / "empty"])
    with pytest.raises(SourceError, match=r"'demo' \(tables/demo\.csv\) could not be fetched.*ATLAS_MIRROR"):
        fetcher.fetch("demo")


@pytest.fixture
def http_mirror(mirror: Path) -> Iterator[str]:
    """The mirror folder served by Python's own HTTP server on a loopback port."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(mirror))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_fetch_downloads_from_mirror_server(tmp_path: Path, http_mirror: str) -> None:
    fetcher = Fetcher(Manifest.load(_manifest(tmp_path)), tmp_path / "cache", mirror_url=http_mirror)
    result = fetcher.fetch("demo")
    assert result.origin == f"{http_mirror}/tables/demo.csv"
    assert result.path.read_bytes() == CONTENT


def test_download_from_source_url_and_http_errors(tmp_path: Path, http_mirror: str) -> None:
    good = Fetcher(
        Manifest.load(_manifest(tmp_path, extra=f'url = "{http_mirror}/tables/demo.csv"')), tmp_path / "cache"
    )
    assert good.fetch("demo").path.read_bytes() == CONTENT
    bad = Fetcher(Manifest.load(_manifest(tmp_path, extra=f'url = "{http_mirror}/nope.csv"')), tmp_path / "c2")
    with pytest.raises(SourceError, match=r"download of .*nope\.csv failed"):
        bad.fetch("demo")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("manifest_version = [", "is not valid TOML"),
        (
            'manifest_version = 1\n[sources.x]\npath = "/etc/passwd"\ntitle="t"\nupstream="u"\nlicence="l"\n'
            'licence_url="u"\nattribution="a"\nvintage="v"\nsha256="' + "0" * 64 + '"',
            "path must be relative",
        ),
        (
            'manifest_version = 1\n[sources.x]\npath = "a"\ntitle="t"\nupstream="u"\nlicence="l"\n'
            'licence_url="u"\nattribution="a"\nvintage="v"\nsha256="abc"',
            "sources.x.sha256",
        ),
    ],
)
def test_bad_manifest_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError, match=message):
        Manifest.load(path)


def test_real_manifest_matches_the_shared_mirror(shared_data: Path) -> None:
    manifest = Manifest.load(PROJECT_ROOT / "data" / "sources.toml")
    assert len(manifest.sources) >= 10
    for source in manifest.sources.values():
        assert sha256_file(shared_data / source.path) == source.sha256, source.id
        assert source.licence and source.attribution and source.upstream.startswith("https://")
