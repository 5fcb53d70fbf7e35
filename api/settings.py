"""Settings of the HTTP service, read from ATLAS_* environment variables and .env when instantiated."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field

from geo.settings import PROJECT_ROOT, AtlasSettings


class ServerSettings(AtlasSettings):
    """Where to listen and what to serve (warehouse, manifest, cache folder, profile, costs: AtlasSettings)."""

    host: str = "127.0.0.1"
    port: int = 8000
    title: str = "Atlas nghèo Sơn La / Sơn La Poverty Atlas"
    public_url: str | None = None  # the address clients use, when not http://host:port (proxy)
    tile_cache_dir: Path | None = None  # tiles of each build; default cache_dir / "tiles"
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1)  # larger request bodies are refused (413)
    cors_origins: str = ""  # comma-separated origins allowed to call the API from a browser; none by default
    process_workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)  # `priority`/`plan` at once
    process_retry_after: int = Field(default=10, ge=1)  # seconds a client is told to wait when all are busy (429)
    process_idle_seconds: float = Field(default=300, gt=0)  # idle solver processes stop and free their memory
    plan_time_limit: float = Field(default=30.0, gt=0)  # seconds the `plan` solver may run per request
    response_cache_mb: int = Field(default=256, ge=1)  # answers kept in memory with their gzip/Brotli/zstd codings
    response_cache_entry_mb: int = Field(default=64, ge=1)  # larger answers are streamed as they are, never kept
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)  # server processes (`atlas serve`)
    forwarded_allow_ips: str = "127.0.0.1"  # proxies whose X-Forwarded-For/-Proto are trusted (comma-separated)
    keep_alive: int = Field(default=5, ge=1)  # seconds an idle client connection is kept open
    tile_memory_mb: float = Field(default=64, gt=0)  # tiles kept in memory per worker (empty tiles counted)
    tile_disk_mb: float = Field(default=512, gt=0)  # tiles kept on disk per build, shared by the workers
    tile_geometry_mb: float = Field(default=160, gt=0)  # simplified layer geometries per worker (one set per zoom)
    map_cache_mb: float = Field(default=64, gt=0)  # web maps and printed sheets kept in memory per worker
    database_poll_seconds: float = Field(default=2.0, gt=0)  # how often a server looks for a new publish
    database_pool: int = Field(default=8, ge=1)  # database connections per server process
    database_geometry_mb: float = Field(default=128, gt=0)  # GeoJSON of served geometries kept per worker
    session_hours: float = Field(default=12, gt=0)  # a browser session of the intake lasts this long
    login_attempts: int = Field(default=10, ge=1)  # failed logins per address and per user name in login_window s
    login_window: int = Field(default=900, ge=1)
    upload_attempts: int = Field(default=30, ge=1)  # intake uploads per account in upload_window seconds
    upload_window: int = Field(default=3600, ge=1)
    node_modules: Path = PROJECT_ROOT / "node_modules"  # `npm ci` installs MapLibre GL JS here for /app
    preload: bool = True  # each worker loads every layer and its tile geometries when it starts, not on first use

    def base_url(self) -> str:
        """Root URL of the service as clients see it."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
