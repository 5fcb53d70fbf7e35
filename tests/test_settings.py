"""Settings are declared once (the shared base) and every ATLAS_* setting of every settings class is in .env.example."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from api.settings import ServerSettings
from geo.settings import PROJECT_ROOT, AtlasSettings, DataSettings

PACKAGES = ("geo", "layers", "api")


def settings_classes() -> list[type[BaseSettings]]:
    """Every pydantic-settings class of the project's packages (each module imported, so none is missed)."""
    for package in PACKAGES:
        for module in pkgutil.iter_modules([str(PROJECT_ROOT / package)]):
            importlib.import_module(f"{package}.{module.name}")
    found, stack = [], list(BaseSettings.__subclasses__())
    while stack:
        cls = stack.pop()
        stack += cls.__subclasses__()
        if cls.__module__.split(".")[0] in PACKAGES:
            found.append(cls)
    return found


def test_every_setting_is_in_env_example() -> None:
    classes = settings_classes()
    assert {ServerSettings, DataSettings, AtlasSettings} <= set(classes)
    declared = {
        (str(cls.model_config.get("env_prefix", "")) + name).upper() for cls in classes for name in cls.model_fields
    }
    example = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^# (ATLAS_[A-Z0-9_]+)=", example, re.MULTILINE))
    assert sorted(declared - documented) == []  # a setting nobody can find
    assert sorted(documented - declared) == []  # an example no class reads


def test_shared_settings_are_declared_once_and_read_alike(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shared = set(AtlasSettings.model_fields)
    assert shared == {
        "warehouse",
        "manifest",
        "cache_dir",
        "profile",
        "costs",
        "database_url",
        "keep_publishes",
        "accounts_db",
    }
    for cls in settings_classes():
        if cls is not AtlasSettings:
            assert not set(vars(cls).get("__annotations__", {})) & shared, cls  # no second declaration
    monkeypatch.setenv("ATLAS_WAREHOUSE", str(tmp_path / "w.gpkg"))
    monkeypatch.setenv("ATLAS_COSTS", str(tmp_path / "costs.yaml"))
    server = ServerSettings(_env_file=None)  # type: ignore[call-arg]
    data = DataSettings(_env_file=None)  # type: ignore[call-arg]
    assert server.warehouse == data.warehouse == tmp_path / "w.gpkg"
    assert server.costs == data.costs == tmp_path / "costs.yaml"
    assert server.sources_dir == data.sources_dir == data.cache_dir / "sources"
