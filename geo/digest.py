"""One digest of source code for cache keys: what changed in the code that made a cached thing changes its key.

Three keys use it, each over the code that shapes what it keys:
- the build fingerprint (layers.build.code_digest): every `.py` of the geo and layers packages;
- the ETags of the server (api.app.service_digest): every `.py` and `.html` of the api and layers packages;
- the tile cache folder (layers.tiles.CODE_VERSION): the tile renderer, the palette and the styles,
  `layers/tiles/`, `layers/palette.py` and `layers/styles.py`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

PYTHON = (".py",)


def _files(path: Path, suffixes: Iterable[str]) -> list[Path]:
    if path.is_file():
        return [path]
    wanted = tuple(suffixes)
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in wanted and "__pycache__" not in p.parts)


def code_digest(*paths: Path, suffixes: Iterable[str] = PYTHON) -> str:
    """sha256 over source files: each path is a file, or a folder searched for files with the suffixes.

    Each file counts by its name relative to the folder holding the given path (`geo/plan/solve.py`) and
    its bytes, so a moved or renamed file changes the digest and the checkout's location does not.
    """
    digest = hashlib.sha256()
    for path in paths:
        path = Path(path)
        for file in _files(path, suffixes):
            digest.update(file.relative_to(path.parent).as_posix().encode() + b"\0")
            digest.update(file.read_bytes())
    return digest.hexdigest()
