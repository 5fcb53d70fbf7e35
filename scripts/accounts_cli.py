"""`atlas users`, `atlas releases`, `atlas backup` and `atlas restore`: the intake's accounts and releases."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from geo.settings import DataSettings

if TYPE_CHECKING:
    from layers.accounts import AccountStore

users_app = typer.Typer(help="Accounts of the intake: officers, reviewers, admins.", no_args_is_help=True)
releases_app = typer.Typer(help="Releases of the warehouse: list, roll back.", no_args_is_help=True)
console = Console(width=max(Console().width, 140))
ACTOR = "atlas (command line)"

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input (scripts), not a prompt.")
]


def _store() -> tuple[DataSettings, AccountStore]:
    from layers.intake import accounts_for

    settings = DataSettings()
    return settings, accounts_for(settings)


def _password(stdin: bool) -> str:
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password / mật khẩu", hide_input=True, confirmation_prompt=True))


def _units(settings: DataSettings) -> set[str] | None:
    from layers.intake import file_tables, unit_names

    return set(unit_names(file_tables(settings.warehouse)).index) if settings.warehouse.is_file() else None


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="User name (a-z, 0-9, . _ - @).")],
    role: Annotated[str, typer.Option(help="officer, reviewer or admin.")] = "officer",
    name: Annotated[str, typer.Option(help="Display name, e.g. the office.")] = "",
    units: Annotated[str, typer.Option(help="Comma-separated 2025 unit codes an officer sends figures for.")] = "",
    password_stdin: PasswordStdin = False,
) -> None:
    """Make an account (the first admin, or offices without a browser)."""
    settings, store = _store()
    user = store.add_user(username, _password(password_stdin), role, name)
    if units:
        user = store.assign(user.username, units.split(","), _units(settings))
    store.record(ACTOR, "account-added", user.username, f"role {role}; units {', '.join(user.units) or 'none'}")
    console.print(f"[green]Account {escape(user.username)}[/] ({role}) in {escape(store.where)}")


@users_app.command("list")
def users_list() -> None:
    """List the accounts with their roles and units."""
    _, store = _store()
    table = Table(title=escape(f"Accounts ({store.where})"))
    for column in ("user", "name", "role", "units", "disabled", "created", "tokens"):
        table.add_column(column)
    live: dict[str, int] = {}
    for token in store.tokens():
        if token.revoked_at is None:
            live[token.username] = live.get(token.username, 0) + 1
    for u in store.users():
        table.add_row(
            u.username,
            escape(u.display_name),
            u.role,
            ", ".join(u.units),
            "yes" if u.disabled else "",
            u.created_at,
            str(live.get(u.username, 0)),
        )
    console.print(table)


@users_app.command("assign")
def users_assign(
    username: str,
    units: Annotated[str, typer.Argument(help="Comma-separated 2025 unit codes.")],
    remove: Annotated[bool, typer.Option("--remove", help="Take these units away instead.")] = False,
) -> None:
    """Assign 2025 units to an account (or take them away)."""
    settings, store = _store()
    codes = units.split(",")
    user = store.unassign(username, codes) if remove else store.assign(username, codes, _units(settings))
    store.record(ACTOR, "units-removed" if remove else "units-assigned", user.username, units)
    console.print(f"{escape(user.username)}: units {', '.join(user.units) or 'none'}")


@users_app.command("passwd")
def users_passwd(username: str, password_stdin: PasswordStdin = False) -> None:
    """Set a new password (ends the account's sessions)."""
    _, store = _store()
    store.set_password(username, _password(password_stdin))
    store.record(ACTOR, "password-reset", username.lower())
    console.print(f"New password set for {escape(username)}; its sessions ended.")


@users_app.command("disable")
def users_disable(
    username: str, enable: Annotated[bool, typer.Option("--enable", help="Enable it again.")] = False
) -> None:
    """Disable an account (sessions end, tokens stop working) or enable it again."""
    _, store = _store()
    store.set_disabled(username, not enable)
    store.record(ACTOR, "account-enabled" if enable else "account-disabled", username.lower())
    console.print(f"{escape(username)} {'enabled' if enable else 'disabled'}.")


@users_app.command("role")
def users_role(username: str, role: Annotated[str, typer.Argument(help="officer, reviewer or admin.")]) -> None:
    """Change an account's role."""
    _, store = _store()
    store.set_role(username, role)
    store.record(ACTOR, "role-changed", username.lower(), role)
    console.print(f"{escape(username)} is now {role}.")


@users_app.command("token")
def users_token(
    username: str, name: Annotated[str, typer.Option(help="What the token is for, e.g. qgis.")] = "script"
) -> None:
    """Make an API token for an account; its secret is printed once."""
    _, store = _store()
    token, secret = store.new_token(username, name)
    store.record(ACTOR, "token-created", f"token {token.id}", f"{username}: {name}")
    console.print(f"Token {token.id} for {escape(username)} ({escape(name)}); send 'Authorization: Bearer <token>':")
    print(secret)


@users_app.command("revoke")
def users_revoke(token_id: Annotated[int, typer.Argument(help="Token number (atlas users tokens).")]) -> None:
    """Revoke an API token."""
    _, store = _store()
    token = store.revoke_token(token_id)
    store.record(ACTOR, "token-revoked", f"token {token_id}", f"{token.username}: {token.name}")
    console.print(f"Token {token_id} of {escape(token.username)} revoked.")


@users_app.command("tokens")
def users_tokens(username: Annotated[str | None, typer.Argument(help="One account's tokens.")] = None) -> None:
    """List API tokens (never their secrets)."""
    _, store = _store()
    table = Table(title="API tokens")
    for column in ("id", "user", "name", "created", "last used", "revoked"):
        table.add_column(column)
    for t in store.tokens(username):
        table.add_row(str(t.id), t.username, escape(t.name), t.created_at, t.last_used_at or "", t.revoked_at or "")
    console.print(table)


@releases_app.command("list")
def releases_list() -> None:
    """List the releases, newest first."""
    from layers.intake import release_views
    from layers.publish import publisher_for

    settings, store = _store()
    table = Table(title="Releases")
    for column in ("no.", "published", "by", "action", "what changed", "sha256", "file kept"):
        table.add_column(column)
    for r in release_views(store, publisher_for(settings.warehouse, settings)):
        table.add_row(
            f"{r.number}{' (current)' if r.current else ''}",
            r.published_at,
            escape(r.username),
            r.action,
            escape(r.summary),
            r.sha256[:12],
            "yes" if r.kept else "no",
        )
    console.print(table)


@releases_app.command("rollback")
def releases_rollback(number: Annotated[int, typer.Argument(help="The release to serve again.")]) -> None:
    """Serve an earlier release again, as a new release (history is never deleted)."""
    from layers.intake import rollback

    settings, store = _store()
    done = rollback(settings, store, number, ACTOR)
    console.print(f"[green]Release {done.number} serves release {number} again[/]")


def backup_command(target: Annotated[Path, typer.Argument(help="The backup ZIP to write.")]) -> None:
    """Back up accounts, audit log, submissions, imports and kept releases into one ZIP file."""
    from layers.backup import backup

    settings, store = _store()
    done = backup(settings, store, target, on_step=lambda s: console.print(f"  {escape(s)}"))
    store.record(ACTOR, "backup", str(done.name))
    console.print(f"[green]Backup written to {escape(str(done))}[/] ({done.stat().st_size:,} bytes)")


def restore_command(source: Annotated[Path, typer.Argument(help="A ZIP written by `atlas backup`.")]) -> None:
    """Restore accounts, audit log, submissions, imports and kept releases from a backup (replacing them)."""
    from layers.backup import restore

    settings, store = _store()
    restore(settings, store, source, on_step=lambda s: console.print(f"  {escape(s)}"))
    store.record(ACTOR, "restore", source.name)
    console.print(f"[green]Restored from {escape(str(source))}[/]")
