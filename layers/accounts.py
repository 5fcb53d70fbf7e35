"""The shared store of the web intake: accounts, sessions, tokens, rate limits, submissions, releases, audit log.

Every server process and worker reads and writes these through one `AccountStore`, never through process
memory, so they all agree on who is logged in, how many attempts an address has left and which submissions
wait for review. The store is a SQLite file beside the warehouse by default, or tables in the schema
`atlas_accounts` of the PostgreSQL database when ATLAS_DATABASE_URL is set; SQLAlchemy Core speaks to both.

Secrets are never stored in clear: passwords are hashed with Argon2id (argon2-cffi), session and API tokens
are random (`secrets`) and kept as their SHA-256. The audit log is append-only: the store has no method that
changes or deletes an audit row.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection, Engine

from layers.errors import LayersError

ROLES = ("officer", "reviewer", "admin")  # viewers need no account
SCHEMA = "accounts"  # logical schema of the tables: atlas_accounts on PostgreSQL, none on SQLite
PG_SCHEMA = "atlas_accounts"
TOKEN_PREFIX = "atlas_"  # API tokens start with it (easy to spot in logs and secret scanners)
MIN_PASSWORD = 10
USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-@")

metadata = sa.MetaData(schema=SCHEMA)
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.Text, nullable=False, default=""),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.Text, nullable=False),
)
assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), primary_key=True),
    sa.Column("unit_code", sa.String(16), primary_key=True),
)
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),  # epoch seconds
    sa.Column("address", sa.Text, nullable=False, default=""),
)
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("last_used_at", sa.Text),
    sa.Column("revoked_at", sa.Text),
)
rate_limits = sa.Table(
    "rate_limits",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("window_start", sa.BigInteger, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
)
submissions = sa.Table(
    "submissions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("standard", sa.String(32), nullable=False),
    sa.Column("units", sa.Text, nullable=False),  # comma-separated 2025 unit codes it changes
    sa.Column("file_name", sa.Text, nullable=False),  # as the officer named it: shown, never used as a path
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("original", sa.LargeBinary, nullable=False),
    sa.Column("rows", sa.Text, nullable=False),  # the normalised rows, JSON records
    sa.Column("report", sa.Text, nullable=False),  # the validation report, JSON
    sa.Column("status", sa.String(16), nullable=False),  # pending, approved (published), rejected
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("decided_by", sa.Integer, sa.ForeignKey("users.id")),
    sa.Column("decided_at", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("release", sa.Integer),
)
releases = sa.Table(
    "releases",
    metadata,
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("published_at", sa.Text, nullable=False),
    sa.Column("username", sa.Text, nullable=False),  # or the command that made it ("atlas build")
    sa.Column("action", sa.String(16), nullable=False),  # build, import, submission, rollback
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("submission_id", sa.Integer),
    sa.Column("rollback_of", sa.Integer),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("built_at", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
)
audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Text, nullable=False),
    sa.Column("username", sa.Text, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target", sa.Text, nullable=False, default=""),
    sa.Column("detail", sa.Text, nullable=False, default=""),
    sa.Column("address", sa.Text, nullable=False, default=""),
)
store_settings = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
TABLES = (users, assignments, sessions, tokens, rate_limits, submissions, releases, audit, store_settings)


class AccountError(LayersError):
    """An account, token or submission operation that cannot be done (the message says why)."""


class UnknownAccount(AccountError):
    """No account, token or submission of that name or number."""


def now_text() -> str:
    """The current time in UTC, ISO 8601 to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def digest(token: str) -> str:
    """SHA-256 of a session or API token: what the store keeps instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    """An account."""

    id: int
    username: str
    display_name: str
    role: str
    disabled: bool
    created_at: str
    units: tuple[str, ...] = ()

    def can_review(self) -> bool:
        """Reviewers and admins approve or reject submissions and read the audit log."""
        return self.role in ("reviewer", "admin")

    def may_send(self, unit_code: str) -> bool:
        """Whether this account may send figures for a 2025 unit (officers: their assigned units only)."""
        return self.role in ("reviewer", "admin") or unit_code in self.units


@dataclass(frozen=True)
class Token:
    """An API token (never the secret itself, which is shown once when it is made)."""

    id: int
    username: str
    name: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


@dataclass(frozen=True)
class Submission:
    """Figures sent through the intake, waiting for review or decided."""

    id: int
    username: str
    kind: str
    year: int
    standard: str
    units: tuple[str, ...]
    file_name: str
    sha256: str
    rows: list[dict[str, Any]]
    report: dict[str, Any]
    status: str
    created_at: str
    decided_by: str | None
    decided_at: str | None
    reason: str | None
    release: int | None


@dataclass(frozen=True)
class Release:
    """A numbered publish of the warehouse with who made it and why."""

    number: int
    published_at: str
    username: str
    action: str
    summary: str
    submission_id: int | None
    rollback_of: int | None
    fingerprint: str
    built_at: str
    sha256: str
    size: int


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log."""

    id: int
    at: str
    username: str
    action: str
    target: str
    detail: str
    address: str


def sqlalchemy_url(address: str) -> str:
    """An SQLAlchemy URL for a PostgreSQL URL (psycopg 3 driver) or a SQLite file path."""
    if address.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + address.split("://", 1)[1]
    return f"sqlite:///{Path(address).resolve()}"


def default_address(warehouse: Path, database_url: str | None, accounts_db: Path | None = None) -> str:
    """Where the shared store is: ATLAS_ACCOUNTS_DB, else the database, else `accounts.sqlite` by the warehouse."""
    if accounts_db is not None:
        return str(accounts_db)
    if database_url:
        return database_url
    return str(Path(warehouse).with_name("accounts.sqlite"))


class AccountStore:
    """Accounts, sessions, tokens, rate limits, submissions, releases and the audit log, in SQLite or PostgreSQL."""

    _engines: ClassVar[dict[str, Engine]] = {}

    def __init__(self, address: str) -> None:
        self.address = address
        self.engine = self._engine(address)

    @classmethod
    def _engine(cls, address: str) -> Engine:
        url = sqlalchemy_url(address)
        engine = cls._engines.get(url)
        if engine is not None:
            return engine
        if url.startswith("sqlite"):
            Path(address).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(
                url, connect_args={"timeout": 30}, execution_options={"schema_translate_map": {SCHEMA: None}}
            )

            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi: Any, _record: Any) -> None:
                cur = dbapi.cursor()
                cur.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
                cur.execute("PRAGMA synchronous=FULL")  # an answered write survives a power cut
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()

        else:
            engine = sa.create_engine(
                url, pool_pre_ping=True, execution_options={"schema_translate_map": {SCHEMA: PG_SCHEMA}}
            )
            with engine.begin() as con:
                con.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}"))
        metadata.create_all(engine, checkfirst=True)
        cls._engines[url] = engine
        return engine

    @property
    def where(self) -> str:
        """The store's address for messages (a database URL without its password)."""
        from layers.publish import redact

        return redact(self.address)

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as con:
            yield con

    # ------------------------------------------------------------------ settings
    def secret(self) -> str:
        """The signing secret every server process shares (made once, on first use)."""
        with self._tx() as con:
            row = con.execute(sa.select(store_settings.c.value).where(store_settings.c.key == "secret")).first()
            if row is not None:
                return str(row[0])
            value = secrets.token_urlsafe(48)
            con.execute(_insert_ignore(con, store_settings, {"key": "secret", "value": value}, ["key"]))
            row = con.execute(sa.select(store_settings.c.value).where(store_settings.c.key == "secret")).first()
            assert row is not None
            return str(row[0])

    # ------------------------------------------------------------------ users
    def _user(self, con: Connection, row: Any) -> User:
        units = con.execute(
            sa.select(assignments.c.unit_code).where(assignments.c.user_id == row.id).order_by(assignments.c.unit_code)
        ).scalars()
        return User(row.id, row.username, row.display_name, row.role, bool(row.disabled), row.created_at, tuple(units))

    def add_user(self, username: str, password: str, role: str, display_name: str = "") -> User:
        """Create an account (AccountError for a taken name, an unknown role or a short password)."""
        username = check_username(username)
        if role not in ROLES:
            raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
        check_password(password)
        with self._tx() as con:
            if con.execute(sa.select(users.c.id).where(users.c.username == username)).first() is not None:
                raise AccountError(f"account {username!r} already exists")
            con.execute(
                users.insert().values(
                    username=username,
                    display_name=display_name,
                    role=role,
                    password_hash=PasswordHasher().hash(password),
                    disabled=False,
                    created_at=now_text(),
                )
            )
        return self.user(username)

    def user(self, username: str) -> User:
        """An account by name (UnknownAccount when there is none)."""
        with self._tx() as con:
            row = con.execute(sa.select(users).where(users.c.username == username.strip().lower())).first()
            if row is None:
                raise UnknownAccount(f"no account {username!r}")
            return self._user(con, row)

    def user_by_id(self, user_id: int) -> User:
        """An account by id."""
        with self._tx() as con:
            row = con.execute(sa.select(users).where(users.c.id == user_id)).first()
            if row is None:
                raise UnknownAccount(f"no account number {user_id}")
            return self._user(con, row)

    def users(self) -> list[User]:
        """Every account, by name."""
        with self._tx() as con:
            return [self._user(con, r) for r in con.execute(sa.select(users).order_by(users.c.username))]

    def has_users(self) -> bool:
        """Whether any account exists yet."""
        with self._tx() as con:
            return con.execute(sa.select(users.c.id).limit(1)).first() is not None

    def set_password(self, username: str, password: str) -> None:
        """Set a new password and end the account's sessions."""
        check_password(password)
        user = self.user(username)
        with self._tx() as con:
            con.execute(
                users.update().where(users.c.id == user.id).values(password_hash=PasswordHasher().hash(password))
            )
            con.execute(sessions.delete().where(sessions.c.user_id == user.id))

    def set_disabled(self, username: str, disabled: bool) -> None:
        """Disable (ending its sessions; its tokens stop working) or enable an account."""
        user = self.user(username)
        with self._tx() as con:
            con.execute(users.update().where(users.c.id == user.id).values(disabled=disabled))
            if disabled:
                con.execute(sessions.delete().where(sessions.c.user_id == user.id))

    def set_role(self, username: str, role: str) -> None:
        """Change an account's role."""
        if role not in ROLES:
            raise AccountError(f"role {role!r} is not one of {', '.join(ROLES)}")
        user = self.user(username)
        with self._tx() as con:
            con.execute(users.update().where(users.c.id == user.id).values(role=role))

    def assign(self, username: str, unit_codes: Iterable[str], known: Iterable[str] | None = None) -> User:
        """Assign 2025 units to an account (codes checked against `known` when given)."""
        codes = sorted({c.strip() for c in unit_codes if c.strip()})
        if known is not None:
            unknown = sorted(set(codes) - set(known))
            if unknown:
                raise AccountError(f"unknown 2025 unit code(s): {', '.join(unknown)}")
        user = self.user(username)
        with self._tx() as con:
            for code in codes:
                con.execute(
                    _insert_ignore(con, assignments, {"user_id": user.id, "unit_code": code}, ["user_id", "unit_code"])
                )
        return self.user(username)

    def unassign(self, username: str, unit_codes: Iterable[str]) -> User:
        """Take 2025 units away from an account."""
        user = self.user(username)
        with self._tx() as con:
            con.execute(
                assignments.delete().where(
                    assignments.c.user_id == user.id, assignments.c.unit_code.in_([c.strip() for c in unit_codes])
                )
            )
        return self.user(username)

    def authenticate(self, username: str, password: str) -> User | None:
        """The account when the password is right and the account enabled, else None (same answer for both)."""
        hasher = PasswordHasher()
        with self._tx() as con:
            row = con.execute(sa.select(users).where(users.c.username == username.strip().lower())).first()
            if row is None:
                hasher.hash(password)  # spend the same time as a real check: names cannot be probed by timing
                return None
            try:
                hasher.verify(row.password_hash, password)
            except (VerificationError, InvalidHashError):
                return None
            if row.disabled:
                return None
            if hasher.check_needs_rehash(row.password_hash):
                con.execute(users.update().where(users.c.id == row.id).values(password_hash=hasher.hash(password)))
            return self._user(con, row)

    # ------------------------------------------------------------------ sessions
    def new_session(self, user: User, address: str, hours: float) -> str:
        """Start a browser session; returns its token (for the cookie)."""
        token = secrets.token_urlsafe(32)
        with self._tx() as con:
            con.execute(sessions.delete().where(sessions.c.expires_at < time.time()))
            con.execute(
                sessions.insert().values(
                    token_hash=digest(token),
                    user_id=user.id,
                    created_at=now_text(),
                    expires_at=time.time() + hours * 3600,
                    address=address,
                )
            )
        return token

    def session_user(self, token: str) -> User | None:
        """The enabled account of a live session, or None."""
        with self._tx() as con:
            row = con.execute(
                sa.select(users)
                .join(sessions, sessions.c.user_id == users.c.id)
                .where(sessions.c.token_hash == digest(token), sessions.c.expires_at > time.time())
            ).first()
            if row is None or row.disabled:
                return None
            return self._user(con, row)

    def end_session(self, token: str) -> None:
        """Log a session out."""
        with self._tx() as con:
            con.execute(sessions.delete().where(sessions.c.token_hash == digest(token)))

    # ------------------------------------------------------------------ API tokens
    def new_token(self, username: str, name: str) -> tuple[Token, str]:
        """Make an API token for an account; returns it and its secret (shown once, stored only hashed)."""
        user = self.user(username)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._tx() as con:
            result = con.execute(
                tokens.insert().values(
                    user_id=user.id, name=name.strip() or "token", token_hash=digest(secret), created_at=now_text()
                )
            )
            token_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return self.token(token_id), secret

    def token(self, token_id: int) -> Token:
        """One token by id."""
        found = [t for t in self.tokens() if t.id == token_id]
        if not found:
            raise UnknownAccount(f"no token number {token_id}")
        return found[0]

    def tokens(self, username: str | None = None) -> list[Token]:
        """Tokens (of one account, or all), newest first."""
        query = (
            sa.select(
                tokens.c.id,
                users.c.username,
                tokens.c.name,
                tokens.c.created_at,
                tokens.c.last_used_at,
                tokens.c.revoked_at,
            )
            .join(users, users.c.id == tokens.c.user_id)
            .order_by(tokens.c.id.desc())
        )
        if username is not None:
            query = query.where(users.c.username == username.strip().lower())
        with self._tx() as con:
            return [Token(*row) for row in con.execute(query)]

    def token_user(self, secret: str) -> tuple[User, int] | None:
        """The enabled account and token id of a live API token, or None (revoked, unknown, account disabled)."""
        with self._tx() as con:
            row = con.execute(
                sa.select(tokens.c.id, tokens.c.user_id).where(
                    tokens.c.token_hash == digest(secret), tokens.c.revoked_at.is_(None)
                )
            ).first()
            if row is None:
                return None
            account = con.execute(sa.select(users).where(users.c.id == row.user_id)).first()
            if account is None or account.disabled:
                return None
            con.execute(tokens.update().where(tokens.c.id == row.id).values(last_used_at=now_text()))
            return self._user(con, account), int(row.id)

    def revoke_token(self, token_id: int) -> Token:
        """Revoke a token (it stops working at once, for every server process)."""
        with self._tx() as con:
            done = con.execute(
                tokens.update()
                .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=now_text())
            )
            if (
                done.rowcount == 0
                and con.execute(sa.select(tokens.c.id).where(tokens.c.id == token_id)).first() is None
            ):
                raise UnknownAccount(f"no token number {token_id}")
        return self.token(token_id)

    # ------------------------------------------------------------------ rate limits
    def hit(self, key: str, limit: int, window: int) -> int | None:
        """Count one attempt under key in the current window; seconds to wait when past the limit, else None."""
        now = int(time.time())
        start = now - now % window
        with self._tx() as con:
            stmt = _insert(con, rate_limits).values(key=key, window_start=start, count=1)
            stmt = stmt.on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "count": sa.case(
                        (rate_limits.c.window_start == stmt.excluded.window_start, rate_limits.c.count + 1), else_=1
                    ),
                    "window_start": stmt.excluded.window_start,
                },
            ).returning(rate_limits.c.count)
            count = int(con.execute(stmt).scalar_one())
        return start + window - now if count > limit else None

    def blocked(self, key: str, limit: int, window: int) -> int | None:
        """Seconds to wait when key already used its `limit` attempts in the current window, else None."""
        now = int(time.time())
        start = now - now % window
        with self._tx() as con:
            row = con.execute(
                sa.select(rate_limits.c.count).where(rate_limits.c.key == key, rate_limits.c.window_start == start)
            ).first()
        return start + window - now if row is not None and row[0] >= limit else None

    # ------------------------------------------------------------------ audit log
    def record(self, username: str, action: str, target: str = "", detail: str = "", address: str = "") -> None:
        """Append a line to the audit log."""
        with self._tx() as con:
            con.execute(
                audit.insert().values(
                    at=now_text(), username=username, action=action, target=target, detail=detail, address=address
                )
            )

    def audit_log(self, limit: int | None = None, offset: int = 0, action: str | None = None) -> list[AuditEntry]:
        """Audit lines, newest first."""
        query = sa.select(audit).order_by(audit.c.id.desc()).offset(offset)
        if action:
            query = query.where(audit.c.action == action)
        if limit is not None:
            query = query.limit(limit)
        with self._tx() as con:
            return [AuditEntry(*row) for row in con.execute(query)]

    # ------------------------------------------------------------------ submissions
    def add_submission(
        self,
        user: User,
        *,
        kind: str,
        year: int,
        standard: str,
        units: Sequence[str],
        file_name: str,
        original: bytes,
        rows: list[dict[str, Any]],
        report: dict[str, Any],
    ) -> Submission:
        """Store a validated upload as a pending submission (durably, before the officer hears it was accepted)."""
        with self._tx() as con:
            result = con.execute(
                submissions.insert().values(
                    user_id=user.id,
                    kind=kind,
                    year=year,
                    standard=standard,
                    units=",".join(sorted(set(units))),
                    file_name=file_name,
                    sha256=hashlib.sha256(original).hexdigest(),
                    original=original,
                    rows=json.dumps(rows, ensure_ascii=False),
                    report=json.dumps(report, ensure_ascii=False),
                    status="pending",
                    created_at=now_text(),
                )
            )
            number = int(result.inserted_primary_key[0])  # type: ignore[index]
        return self.submission(number)

    def _submissions(self, where: Any = None) -> list[Submission]:
        decider = users.alias("decider")
        query = (
            sa.select(submissions, users.c.username, decider.c.username.label("decider_name"))
            .join(users, users.c.id == submissions.c.user_id)
            .outerjoin(decider, decider.c.id == submissions.c.decided_by)
            .order_by(submissions.c.id.desc())
        )
        if where is not None:
            query = query.where(where)
        with self._tx() as con:
            return [
                Submission(
                    r.id,
                    r.username,
                    r.kind,
                    r.year,
                    r.standard,
                    tuple(c for c in r.units.split(",") if c),
                    r.file_name,
                    r.sha256,
                    json.loads(r.rows),
                    json.loads(r.report),
                    r.status,
                    r.created_at,
                    r.decider_name,
                    r.decided_at,
                    r.reason,
                    r.release,
                )
                for r in con.execute(query)
            ]

    def submission(self, number: int) -> Submission:
        """One submission (UnknownAccount when there is none)."""
        found = self._submissions(submissions.c.id == number)
        if not found:
            raise UnknownAccount(f"no submission {number}")
        return found[0]

    def original(self, number: int) -> bytes:
        """The file a submission was made from, as uploaded."""
        with self._tx() as con:
            data = con.execute(sa.select(submissions.c.original).where(submissions.c.id == number)).scalar()
        if data is None:
            raise UnknownAccount(f"no submission {number}")
        return bytes(data)

    def submissions(self, status: str | None = None, username: str | None = None) -> list[Submission]:
        """Submissions, newest first, of a status and of an account when given."""
        clauses = []
        if status:
            clauses.append(submissions.c.status == status)
        if username:
            clauses.append(users.c.username == username)
        return self._submissions(sa.and_(*clauses) if clauses else None)

    def decide(self, number: int, status: str, by: User, reason: str = "", release: int | None = None) -> Submission:
        """Mark a pending submission approved (with its release) or rejected (with a reason the officer sees)."""
        with self._tx() as con:
            done = con.execute(
                submissions.update()
                .where(submissions.c.id == number, submissions.c.status == "pending")
                .values(status=status, decided_by=by.id, decided_at=now_text(), reason=reason, release=release)
            )
            if done.rowcount == 0:
                current = self.submission(number)
                raise AccountError(f"submission {number} is {current.status}, not pending")
        return self.submission(number)

    # ------------------------------------------------------------------ releases
    def add_release(self, release: Release) -> Release:
        """Record a release (a numbered publish) with who made it and why; the same number twice is kept once."""
        with self._tx() as con:
            con.execute(_insert_ignore(con, releases, release.__dict__, ["number"]))
        return self.releases_by_number()[release.number]

    def releases_by_number(self) -> dict[int, Release]:
        """Every recorded release by number."""
        with self._tx() as con:
            return {r.number: Release(*r) for r in con.execute(sa.select(releases).order_by(releases.c.number))}

    # ------------------------------------------------------------------ backup
    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every table (for `atlas backup`)."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self._tx() as con:
            for table in TABLES:
                out[table.name] = [dict(r._mapping) for r in con.execute(sa.select(table))]
        return out

    def load(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        """Replace every table's rows by those of a dump (for `atlas restore`), in one transaction."""
        with self._tx() as con:
            for table in reversed(TABLES):
                con.execute(table.delete())
            for table in TABLES:
                rows = tables.get(table.name, [])
                if rows:
                    con.execute(table.insert(), rows)
            if con.dialect.name == "postgresql":  # serial counters continue after the restored ids
                for table in TABLES:
                    if "id" in table.c and table.c.id.autoincrement is True:
                        con.execute(
                            sa.text(
                                f"SELECT setval(pg_get_serial_sequence('{PG_SCHEMA}.{table.name}', 'id'), "
                                f"coalesce((SELECT max(id) FROM {PG_SCHEMA}.{table.name}), 0) + 1, false)"
                            )
                        )


def _insert(con: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT (with ON CONFLICT) for the connection's database."""
    if con.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    return insert(table)


def _insert_ignore(con: Connection, table: sa.Table, values: dict[str, Any], keys: list[str]) -> Any:
    return _insert(con, table).values(**values).on_conflict_do_nothing(index_elements=keys)


def check_username(username: str) -> str:
    """A user name folded to lower case; AccountError unless it is 2-64 of a-z 0-9 . _ - @."""
    name = username.strip().lower()
    if not 2 <= len(name) <= 64 or not set(name) <= USERNAME_CHARS:
        raise AccountError(f"user name {username!r}: use 2-64 of a-z, 0-9, '.', '_', '-', '@'")
    return name


def check_password(password: str) -> None:
    """AccountError for a password shorter than MIN_PASSWORD characters."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")


def session_expiry(hours: float) -> datetime:
    """When a session started now ends."""
    return datetime.now(UTC) + timedelta(hours=hours)
