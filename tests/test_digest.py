"""geo.digest: the code digest behind the build fingerprint, the ETags and the tile cache changes with the code."""

from __future__ import annotations

import shutil
from pathlib import Path

from geo.digest import code_digest


def _package(root: Path) -> Path:
    pkg = root / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("A = 1\n", encoding="utf-8")
    (pkg / "sub" / "b.py").write_text("B = 2\n", encoding="utf-8")
    (pkg / "page.html").write_text("<p>x</p>\n", encoding="utf-8")
    return pkg


def test_the_digest_follows_content_and_names_not_location(tmp_path: Path) -> None:
    pkg = _package(tmp_path / "one")
    first = code_digest(pkg)
    assert len(first) == 64 and code_digest(pkg) == first
    moved = shutil.copytree(pkg, tmp_path / "two" / "pkg")
    assert code_digest(moved) == first  # another checkout of the same code
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "a.cpython-311.py").write_text("cache", encoding="utf-8")
    (pkg / "notes.txt").write_text("not code", encoding="utf-8")
    assert code_digest(pkg) == first  # neither caches nor other suffixes count
    (pkg / "sub" / "b.py").write_text("B = 3\n", encoding="utf-8")
    assert code_digest(pkg) != first
    (moved / "sub" / "b.py").rename(moved / "sub" / "c.py")
    assert code_digest(moved) != first  # a renamed module is other code


def test_suffixes_and_single_files(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    python_only = code_digest(pkg)
    with_pages = code_digest(pkg, suffixes=(".py", ".html"))
    assert with_pages != python_only
    (pkg / "page.html").write_text("<p>y</p>\n", encoding="utf-8")
    assert code_digest(pkg) == python_only and code_digest(pkg, suffixes=(".py", ".html")) != with_pages
    files = code_digest(pkg / "a.py", pkg / "sub" / "b.py")
    assert files != python_only and files != code_digest(pkg / "sub" / "b.py", pkg / "a.py")  # order counts
