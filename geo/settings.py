"""Settings read from ATLAS_* environment variables and .env when instantiated (never at import time).

`AtlasSettings` holds what the data pipeline and the server share (where the warehouse, the manifest and the
cache are; the priority profile and unit costs); `DataSettings` adds the pipeline's own settings, and the
server's (api/settings.py `ServerSettings`) derive from the same base, so each setting is declared once.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class AtlasSettings(BaseSettings):
    """What the pipeline and the server share: warehouse, manifest, cache folder, priority profile, unit costs."""

    model_config = SettingsConfigDict(env_prefix="ATLAS_", env_file=".env", extra="ignore")

    warehouse: Path = PROJECT_ROOT / "data" / "warehouse.gpkg"  # built by `atlas build`, served by `atlas serve`
    manifest: Path = PROJECT_ROOT / "data" / "sources.toml"
    cache_dir: Path = PROJECT_ROOT / "data" / "cache"  # verified sources (the population raster is read there)
    profile: Path = PROJECT_ROOT / "data" / "profiles" / "default.yaml"  # priority layers, `priority` process
    costs: Path = PROJECT_ROOT / "data" / "profiles" / "costs.yaml"  # investment plan layers, `plan` process
    database_url: str | None = None  # postgresql://user:password@host:port/database: publish and serve there
    accounts_db: Path | None = None  # the intake's shared store; default: the database, else accounts.sqlite
    keep_publishes: int = Field(default=5, ge=1)  # numbered builds kept on either store (the current one among them)

    @property
    def sources_dir(self) -> Path:
        """Folder of the verified source files."""
        return self.cache_dir / "sources"


class DataSettings(AtlasSettings):
    """Where sources and imports live, and what the build reads: lineage, mirrors, download timeout, budget."""

    lineage: Path = PROJECT_ROOT / "data" / "boundaries" / "lineage.toml"
    imports_dir: Path = PROJECT_ROOT / "data" / "imports"
    mirror: Path | None = None
    mirror_url: str | None = None
    use_shared_mirror: bool = True
    download_timeout: float = 60.0
    plan_budget: float = 50e9

    def mirrors(self) -> list[Path]:
        """Mirror folders to look in, in order: ATLAS_MIRROR, then ../shared/data when it exists."""
        found: list[Path] = []
        if self.mirror is not None:
            found.append(self.mirror)
        shared = PROJECT_ROOT.parent / "shared" / "data"
        if self.use_shared_mirror and shared.is_dir() and shared not in found:
            found.append(shared)
        return found
