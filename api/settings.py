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
    title: str = "Atlas nghèo đa chiều Sơn La / Sơn La Poverty Atlas"
