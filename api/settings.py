"""Settings of the HTTP service, read from ATLAS_* environment variables and .env when instantiated."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.settings import PROJECT_ROOT


class ServerSettings(BaseSettings):
    """Where to listen and what to serve."""

    model_config = SettingsConfigDict(env_prefix="ATLAS_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    warehouse: Path = PROJECT_ROOT / "data" / "warehouse.gpkg"
    title: str = "Atlas nghèo Sơn La / Sơn La Poverty Atlas"
    public_url: str | None = None  # the address clients use, when not http://host:port (proxy)
    manifest: Path = PROJECT_ROOT / "data" / "sources.toml"
    cache_dir: Path = PROJECT_ROOT / "data" / "cache"  # verified sources (the population raster is read there)
    tile_cache_dir: Path | None = None  # tiles of each build; default cache_dir / "tiles"
    profile: Path = PROJECT_ROOT / "data" / "profiles" / "default.yaml"  # default of the `priority` process
    costs: Path = PROJECT_ROOT / "data" / "profiles" / "costs.yaml"  # unit costs of the `plan` process

    def base_url(self) -> str:
        """Root URL of the service as clients see it."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
