"""The source manifest and the fetcher that puts verified copies of each source in the cache."""

from __future__ import annotations

import functools
import hashlib
import shutil
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from geo.atomic import atomic_write
from geo.errors import ChecksumError, SourceError, validation_problem


class Source(BaseModel):
    """One external file the atlas is built from."""

    id: str
    path: str
    title: str
    upstream: str
    licence: str
    licence_url: str
    attribution: str
    vintage: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    url: str | None = None

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        p = Path(value)
        if p.is_absolute() or ".." in p.parts:
            raise ValueError(f"path must be relative and inside the mirror, got {value!r}")
        return value


class Manifest(BaseModel):
    """All sources, as declared in data/sources.toml."""

    manifest_version: int
    sources: dict[str, Source]

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read and validate a manifest file; errors name the file and the faulty entry."""
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise SourceError(f"manifest {path} does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SourceError(f"manifest {path} is not valid TOML: {exc}") from exc
        for key, entry in (raw.get("sources") or {}).items():
            if isinstance(entry, dict):
                entry.setdefault("id", key)
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise SourceError(f"manifest {path} is invalid: {validation_problem(exc.errors(), every=True)}") from exc

    def get(self, source_id: str) -> Source:
        """The source with this id; SourceError if the manifest does not declare it."""
        try:
            return self.sources[source_id]
        except KeyError:
            raise SourceError(f"source '{source_id}' is not declared in the manifest") from None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _copy(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)


@dataclass(frozen=True)
class FetchResult:
    """Where a source ended up and where it came from."""

    source_id: str
    path: Path
    origin: str
    cached: bool


class Fetcher:
    """Put a verified copy of every declared source in the cache folder."""

    def __init__(
        self,
        manifest: Manifest,
        cache_dir: Path,
        mirrors: list[Path] | None = None,
        mirror_url: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.manifest = manifest
        self.cache_dir = Path(cache_dir)
        self.mirrors = [Path(m) for m in (mirrors or [])]
        self.mirror_url = mirror_url
        self.timeout = timeout

    def cached_path(self, source_id: str) -> Path:
        """Path of the cached copy (which may not exist yet)."""
        return self.cache_dir / self.manifest.get(source_id).path

    def path(self, source_id: str) -> Path:
        """Path of a verified cached copy, fetching it first if needed."""
        return self.fetch(source_id).path

    def fetch(self, source_id: str) -> FetchResult:
        """Fetch one source into the cache unless a verified copy is already there."""
        source = self.manifest.get(source_id)
        target = self.cache_dir / source.path
        if target.is_file():
            actual = sha256_file(target)
            if actual == source.sha256:
                return FetchResult(source_id, target, "cache", True)
        tried: list[str] = []
        for mirror in self.mirrors:
            candidate = mirror / source.path
            tried.append(str(candidate))
            if candidate.is_file():
                self._install(source, target, functools.partial(_copy, candidate), str(candidate))
                return FetchResult(source_id, target, str(candidate), False)
        urls = []
        if self.mirror_url:
            urls.append(self.mirror_url.rstrip("/") + "/" + urllib.parse.quote(source.path))
        if source.url:
            urls.append(source.url)
        errors: list[str] = []
        for url in urls:
            tried.append(url)
            try:
                self._install(source, target, functools.partial(self._download, url), url)
            except SourceError as exc:
                if isinstance(exc, ChecksumError):
                    raise
                errors.append(str(exc))
                continue
            return FetchResult(source_id, target, url, False)
        detail = "; ".join(errors) if errors else "no mirror holds it and it has no download url"
        raise SourceError(
            f"source '{source_id}' ({source.path}) could not be fetched: {detail}. "
            f"Looked in: {', '.join(tried) or 'nowhere'}. Set ATLAS_MIRROR to a folder holding "
            f"{source.path}, or ATLAS_MIRROR_URL to a server that does."
        )

    def fetch_all(self, progress: Callable[[FetchResult], None] | None = None) -> list[FetchResult]:
        """Fetch every source of the manifest, in manifest order."""
        results = []
        for source_id in self.manifest.sources:
            result = self.fetch(source_id)
            results.append(result)
            if progress is not None:
                progress(result)
        return results

    def _download(self, url: str, dst: Path) -> None:
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response, open(dst, "wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SourceError(f"download of {url} failed: {exc}") from exc

    def _install(self, source: Source, target: Path, write: Callable[[Path], None], origin: str) -> None:
        """Write to a temporary file beside the target, verify its checksum, then move it in place."""
        with atomic_write(target) as tmp:
            write(tmp)
            actual = sha256_file(tmp)
            if actual != source.sha256:
                raise ChecksumError(source.id, origin, source.sha256, actual)
