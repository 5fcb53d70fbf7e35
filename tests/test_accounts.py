"""The intake's shared store (layers.accounts) on SQLite and on PostgreSQL: accounts, sessions, tokens, rate
limits, submissions, releases, the audit log, and backup/restore of its tables."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from layers.accounts import AccountError, AccountStore, Release, UnknownAccount
from tests.conftest import ADMIN_URL, new_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AccountStore]:
    """An empty store of each kind (PostgreSQL where the test cluster is available)."""
    if request.param == "sqlite":
        yield AccountStore(str(tmp_path / "accounts.sqlite"))
        return
    if not ADMIN_URL:
        pytest.skip("no PostgreSQL (ATLAS_TEST_DATABASE_URL)")
    with new_database() as url:
        store = AccountStore(url)
        yield store
        store.engine.dispose()


def test_accounts_roles_and_passwords(store: AccountStore) -> None:
    user = store.add_user("Lan.Officer", "a long password", "officer", "Xã Chiềng Cơi")
    assert user.username == "lan.officer" and user.role == "officer" and not user.disabled
    assert store.authenticate("LAN.officer", "a long password") == user
    assert store.authenticate("lan.officer", "a wrong password") is None
    assert store.authenticate("nobody", "a long password") is None
    with pytest.raises(AccountError, match="already exists"):
        store.add_user("lan.officer", "another password", "officer")
    with pytest.raises(AccountError, match="role"):
        store.add_user("x1", "a long password", "superuser")
    with pytest.raises(AccountError, match="at least 10"):
        store.add_user("x2", "short", "officer")
    with pytest.raises(AccountError, match="user name"):
        store.add_user("has space", "a long password", "officer")
    row = store.dump()["users"][0]
    assert row["password_hash"].startswith("$argon2id$") and "a long password" not in str(row)
    store.set_password("lan.officer", "the new password")
    assert store.authenticate("lan.officer", "a long password") is None
    assert store.authenticate("lan.officer", "the new password") is not None


def test_units_sessions_and_disabling(store: AccountStore) -> None:
    store.add_user("officer", "a long password", "officer")
    with pytest.raises(AccountError, match="unknown 2025 unit"):
        store.assign("officer", ["99999"], known={"03646", "03664"})
    user = store.assign("officer", ["03664", "03646"], known={"03646", "03664"})
    assert user.units == ("03646", "03664") and user.may_send("03646") and not user.may_send("03700")
    assert store.unassign("officer", ["03664"]).units == ("03646",)
    session = store.new_session(user, "10.0.0.1", hours=1)
    assert store.session_user(session) is not None and store.session_user("forged") is None
    assert session not in str(store.dump()["sessions"])  # kept as its SHA-256 only
    store.set_disabled("officer", True)
    assert store.session_user(session) is None  # disabling ends sessions
    assert store.authenticate("officer", "a long password") is None
    store.set_disabled("officer", False)
    session = store.new_session(user, "10.0.0.1", hours=1)
    store.end_session(session)
    assert store.session_user(session) is None
    expired = store.new_session(user, "10.0.0.1", hours=-1)
    assert store.session_user(expired) is None


def test_tokens_revoked_at_once_for_every_reader(store: AccountStore, tmp_path: Path) -> None:
    store.add_user("script", "a long password", "officer")
    token, secret = store.new_token("script", "qgis")
    assert secret.startswith("atlas_") and token.name == "qgis"
    other = AccountStore(store.address)  # another server process reads the same store
    found = other.token_user(secret)
    assert found is not None and found[0].username == "script" and found[1] == token.id
    assert store.token(token.id).last_used_at is not None
    store.revoke_token(token.id)
    assert other.token_user(secret) is None
    with pytest.raises(UnknownAccount):
        store.revoke_token(9999)
    _, second = store.new_token("script", "cron")
    store.set_disabled("script", True)
    assert other.token_user(second) is None  # a disabled account's tokens stop working


def test_rate_limit_counts_across_stores(store: AccountStore) -> None:
    other = AccountStore(store.address)
    assert [store.hit("login:10.0.0.9", 3, 600) for _ in range(2)] == [None, None]
    assert other.hit("login:10.0.0.9", 3, 600) is None
    wait = other.hit("login:10.0.0.9", 3, 600)
    assert wait is not None and 0 < wait <= 600
    assert store.hit("login:10.0.0.10", 3, 600) is None  # another key has its own count


def test_secret_is_shared(store: AccountStore) -> None:
    assert store.secret() == AccountStore(store.address).secret() != ""


def test_submissions_releases_and_audit(store: AccountStore) -> None:
    officer = store.add_user("officer", "a long password", "officer")
    reviewer = store.add_user("reviewer", "a long password", "reviewer")
    sub = store.add_submission(
        officer,
        kind="village_figures",
        year=2026,
        standard="ND07-2021",
        units=["03646"],
        file_name="ra-soat.xlsx",
        original=b"PK\x03\x04 bytes",
        rows=[{"village_id": "03646-01", "households": 120}],
        report={"lines": []},
    )
    assert sub.status == "pending" and sub.units == ("03646",) and store.original(sub.id) == b"PK\x03\x04 bytes"
    assert [s.id for s in store.submissions("pending", "officer")] == [sub.id]
    decided = store.decide(sub.id, "rejected", reviewer, "thiếu thôn bản 03646-02")
    assert decided.status == "rejected" and decided.decided_by == "reviewer" and decided.reason
    with pytest.raises(AccountError, match="not pending"):
        store.decide(sub.id, "approved", reviewer)
    release = Release(3, "2026-12-03T10:00:00+00:00", "reviewer", "submission", "s", sub.id, None, "f", "b", "c", 10)
    store.add_release(release)
    store.add_release(release)  # recorded once
    assert list(store.releases_by_number()) == [3]
    store.record("officer", "login", "", "", "10.0.0.1")
    store.record("reviewer", "reject", f"submission {sub.id}", "reason", "10.0.0.2")
    assert [e.action for e in store.audit_log()] == ["reject", "login"]
    assert [e.action for e in store.audit_log(action="login")] == ["login"]


def test_dump_and_load_round_trip(store: AccountStore, tmp_path: Path) -> None:
    officer = store.add_user("officer", "a long password", "officer")
    store.assign("officer", ["03646"])
    store.add_submission(
        officer,
        kind="k",
        year=2026,
        standard="s",
        units=["03646"],
        file_name="f.csv",
        original=b"a,b",
        rows=[],
        report={},
    )
    store.record("officer", "upload")
    dump = store.dump()
    copy = AccountStore(str(tmp_path / "copy.sqlite"))
    copy.add_user("someone", "a long password", "admin")
    copy.load(dump)
    assert [u.username for u in copy.users()] == ["officer"] and copy.user("officer").units == ("03646",)
    assert copy.original(1) == b"a,b"
    copy.record("admin", "restore")  # ids continue after the restored ones
    assert [e.id for e in copy.audit_log()] == [2, 1]
