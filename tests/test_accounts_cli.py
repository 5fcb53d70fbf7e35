"""`atlas users`, `atlas releases`, `atlas backup` and `atlas restore` as an administrator runs them."""

from __future__ import annotations

import zipfile
from pathlib import Path

from layers.accounts import AccountStore
from layers.intake import accounts_for
from layers.publish import GeoPackagePublisher
from layers.warehouse import read_build_info, read_table
from tests.conftest import Built, isolated_copy
from tests.test_cli import _atlas


def _env(settings: object) -> dict[str, str]:
    from geo.settings import DataSettings

    assert isinstance(settings, DataSettings)
    return {
        "ATLAS_WAREHOUSE": str(settings.warehouse),
        "ATLAS_IMPORTS_DIR": str(settings.imports_dir),
        "ATLAS_CACHE_DIR": str(settings.cache_dir),
        "ATLAS_USE_SHARED_MIRROR": "false",
    }


def test_users_from_the_command_line(built: Built, tmp_path: Path) -> None:
    settings = isolated_copy(built, tmp_path)
    env = _env(settings)
    unit = sorted(read_table(settings.warehouse, "units_2025")["code"].astype(str))[0]
    added = _atlas("users", "add", "admin", "--role", "admin", "--password-stdin", env=env, stdin="quản trị viên 01\n")
    assert added.returncode == 0, added.stderr
    officer = _atlas(
        "users", "add", "chiengan", "--units", unit, "--name", "UBND phường", "--password-stdin", env=env,
        stdin="một mật khẩu dài\n",
    )  # fmt: skip
    assert officer.returncode == 0, officer.stderr
    unknown = _atlas("users", "assign", "chiengan", "99999", env=env)
    assert unknown.returncode == 1 and "unknown 2025 unit code(s): 99999" in unknown.stderr
    short = _atlas("users", "add", "x1", "--password-stdin", env=env, stdin="short\n")
    assert short.returncode == 1 and "at least 10" in short.stderr and "Traceback" not in short.stderr
    listed = _atlas("users", "list", env=env)
    assert "chiengan" in listed.stdout and unit in listed.stdout and "admin" in listed.stdout
    token = _atlas("users", "token", "chiengan", "--name", "qgis", env=env)
    secret = token.stdout.strip().splitlines()[-1]
    store = accounts_for(settings)
    assert secret.startswith("atlas_") and store.token_user(secret) is not None
    assert _atlas("users", "revoke", "1", env=env).returncode == 0
    assert store.token_user(secret) is None
    assert _atlas("users", "disable", "chiengan", env=env).returncode == 0
    assert store.authenticate("chiengan", "một mật khẩu dài") is None
    assert _atlas("users", "disable", "chiengan", "--enable", env=env).returncode == 0
    assert (
        _atlas("users", "passwd", "chiengan", "--password-stdin", env=env, stdin="mật khẩu mới dài\n").returncode == 0
    )
    assert store.authenticate("chiengan", "mật khẩu mới dài") is not None
    actions = [e.action for e in store.audit_log()]
    for action in ("account-added", "token-created", "token-revoked", "account-disabled", "password-reset"):
        assert action in actions


def test_backup_and_restore(built: Built, tmp_path: Path) -> None:
    settings = isolated_copy(built, tmp_path)
    env = _env(settings)
    GeoPackagePublisher(settings.warehouse).publish()
    store = accounts_for(settings)
    store.add_user("reviewer", "a long password", "reviewer")
    (Path(settings.imports_dir)).mkdir(parents=True, exist_ok=True)
    (Path(settings.imports_dir) / "index.json").write_text("[]", encoding="utf-8")
    target = tmp_path / "backup.zip"
    done = _atlas("backup", str(target), env=env)
    assert done.returncode == 0, done.stderr
    names = set(zipfile.ZipFile(target).namelist())
    assert {"tables.json", "format.json", "imports/index.json", "publishes/warehouse.1.gpkg"} <= names
    before = read_build_info(settings.warehouse)
    # later changes, then a damaged warehouse: restore brings back the accounts and serves release 1
    store.add_user("later", "a long password", "officer")
    settings.warehouse.write_bytes(b"damaged")
    restored = _atlas("restore", str(target), env=env)
    assert restored.returncode == 0, restored.stderr
    assert [u.username for u in AccountStore(store.address).users()] == ["reviewer"]
    assert read_build_info(settings.warehouse) == before
    assert "restore" in [e.action for e in store.audit_log()]
    bad = tmp_path / "not-a-backup.zip"
    bad.write_bytes(b"PK nothing")
    refused = _atlas("restore", str(bad), env=env)
    assert refused.returncode == 1 and "not an atlas backup" in refused.stderr
