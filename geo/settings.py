"""Settings of the data pipeline, read from ATLAS_* environment variables and .env at call time."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class DataSettings(BaseSettings):
    """Where sources, cache and warehouse live; the priority profile, unit costs and budget the build uses."""

    model_config = SettingsConfigDict(env_prefix="ATLAS_", env_file=".env", extra="ignore")

    manifest: Path = PROJECT_ROOT / "data" / "sources.toml"
    lineage: Path = PROJECT_ROOT / "data" / "boundaries" / "lineage.toml"
    cache_dir: Path = PROJECT_ROOT / "data" / "cache"
    warehouse: Path = PROJECT_ROOT / "data" / "warehouse.gpkg"
    imports_dir: Path = PROJECT_ROOT / "data" / "imports"
    mirror: Path | None = None
    mirror_url: str | None = None
    use_shared_mirror: bool = True
    download_timeout: float = 60.0
    profile: Path = PROJECT_ROOT / "data" / "profiles" / "default.yaml"
    costs: Path = PROJECT_ROOT / "data" / "profiles" / "costs.yaml"
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

    @property
    def sources_dir(self) -> Path:
        """Folder of the verified source files."""
        return self.cache_dir / "sources"
