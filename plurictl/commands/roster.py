"""`plurictl roster ...`: members, roles, revocation, rotation, approvals."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from plurictl.commands.log import resolve_author
from plurictl.context import AppContext, pass_app
from plurictl.render.common import console, emit_json, json_option

if TYPE_CHECKING:
    from ledger.roster.writer import ChangeResult

ROLE_CHOICE = click.Choice(["admin", "coordinator", "operator", "teller", "observer"])


def _report(app: AppContext, result: ChangeResult, what: str) -> None:
    from plurictl.nudge import nudge_node

    nudge_node(app.home.path)
    out = console()
    for warning in result.warnings:
        out.print(f"[yellow]Warning:[/] {warning}")
    if result.cut_at is not None:
        out.print(
            f"Last valid seq of that key: {result.cut_at}; entries this laptop holds that stop "
            f"counting: {result.cut_entries}"
        )
    if result.applied:
        out.print(f"[green]{what}[/] (change {result.entry.id.hex()[:12]})")
    else:
        out.print(
            f"[yellow]{what}: waiting for approvals[/] — {result.approvals} of {result.needed}. "
            f"Other admins run: plurictl roster approve {result.entry.id.hex()[:12]}"
        )


@click.group()
def roster() -> None:
    """Members, roles, revocation and key rotation of this mesh."""


@roster.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include revoked and rotated keys.")
@json_option
@pass_app
def list_(app: AppContext, show_all: bool, as_json: bool) -> None:
    """List members with roles and status; pending changes; ignored roster entries."""
    r = app.home.store.roster()
    if as_json:
        emit_json(r.to_json())
        return
    from rich.table import Table

    from ledger.identity import fingerprint

    out = console()
    if r.mesh_id is None:
        out.print("Not in a mesh yet.")
        return
    table = Table(title=f"Roster of {r.name} (admin threshold {r.threshold})")
    for col in ("name", "key", "fingerprint", "roles", "status", "valid seqs"):
        table.add_column(col, no_wrap=col in ("key", "fingerprint", "status"))
    for info in sorted(r.keys.values(), key=lambda i: (i.name, i.key)):
        if not show_all and info.status in ("revoked", "rotated"):
            continue
        window = f"1-{info.limit}" if info.limit is not None else "1-"
        style = {"active": "", "equivocated": "red", "revoked": "dim", "rotated": "dim"}[
            info.status
        ]
        table.add_row(
            info.name,
            info.key.hex()[:12],
            fingerprint(info.key),
            ", ".join(info.current_roles) or "-",
            info.status,
            window,
            style=style,
        )
    out.print(table)
    for cid, change in sorted(r.pending.items()):
        out.print(
            f"[yellow]pending[/] {cid.hex()[:12]} {change.body.get('op')} "
            f"{r.name_of(bytes.fromhex(change.body['key'])) if 'key' in change.body else ''}: "
            f"{len(change.approvals)} of {r.threshold} approvals"
        )
    for ign in r.ignored:
        out.print(
            f"[dim]ignored[/] {r.name_of(ign.author)} seq {ign.seq} ({ign.kind}): {ign.reason}"
        )


@roster.command("add")
@click.argument("public_key")
@click.option("--name", required=True, help="The member's name or call sign.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=ROLE_CHOICE,
    help="A role to give (repeatable).",
)
@click.option(
    "--fingerprint",
    "expected_fpr",
    help="The fingerprint the newcomer read aloud: refuse the key if it differs.",
)
@pass_app
def add(
    app: AppContext, public_key: str, name: str, roles: tuple[str, ...], expected_fpr: str | None
) -> None:
    """Add a member by PUBLIC_KEY (64 hex; the newcomer runs `plurictl key show`)."""
    from ledger.errors import TrustError
    from ledger.identity import fingerprint
    from ledger.roster.writer import add_member, parse_key

    key = parse_key(public_key)
    actual = fingerprint(key)
    if expected_fpr and expected_fpr.strip().upper().replace(" ", "") != actual:
        raise TrustError(
            f"fingerprint mismatch: the key gives {actual}, you heard {expected_fpr}",
            hint="do not add this key; ask the newcomer to read `plurictl key show` again",
        )
    result = add_member(app.home.store, app.home.identity, key, name, list(roles))
    _report(app, result, f"Added {name} ({actual}) as {', '.join(roles)}")


def _role_name(role: str) -> str:
    from ledger.errors import InvalidInput
    from ledger.roster.model import ROLES, is_role_name

    if not is_role_name(role):
        raise InvalidInput(
            f"{role!r} is neither a role ({', '.join(ROLES)}) nor a function name",
            hint="a function is lower-case letters, digits and '-', e.g. grid-operator",
        )
    import difflib

    close = difflib.get_close_matches(role, ROLES, n=1, cutoff=0.75)
    if role not in ROLES and "-" not in role and close:  # a typo, not a new function
        raise InvalidInput(
            f"{role!r} is not a role: did you mean {close[0]!r}?",
            hint="a function name must not look like a role (it would carry no authority)",
        )
    return role


def _new_function(app: AppContext, role: str) -> None:
    """A function nobody holds yet, one letter from one somebody holds, is a typo."""
    import difflib

    from ledger.errors import InvalidInput
    from ledger.roster.model import ROLES

    held = {f for info in app.home.store.roster().keys.values() for f in info.current_roles}
    held -= set(ROLES)
    close = difflib.get_close_matches(role, sorted(held), n=1, cutoff=0.85)
    if role not in ROLES and role not in held and close:
        raise InvalidInput(
            f"{role!r} is a new function; did you mean {close[0]!r}, which members hold?",
            hint="if it really is a new function, add --new-function",
        )


@roster.command("grant")
@click.argument("member")
@click.argument("role")
@click.option("--new-function", is_flag=True, help="ROLE is a new function, though close to one.")
@pass_app
def grant_(app: AppContext, member: str, role: str, new_function: bool) -> None:
    """Give MEMBER (name or key) the ROLE: admin, coordinator, operator, teller, observer,
    or a function that playbook steps ask for (e.g. grid-operator, driver; no authority of
    its own, e.g. `plurictl roster grant dave grid-operator`).
    """
    from ledger.roster.writer import grant

    role = _role_name(role)
    if not new_function:
        _new_function(app, role)
    key = resolve_author(app, member)
    _report(app, grant(app.home.store, app.home.identity, key, role), f"Granted {role}")


@roster.command("remove-role")
@click.argument("member")
@click.argument("role")
@pass_app
def remove_role_(app: AppContext, member: str, role: str) -> None:
    """Take ROLE away from MEMBER (from their next entry on)."""
    from ledger.roster.writer import remove_role

    role = _role_name(role)
    key = resolve_author(app, member)
    _report(app, remove_role(app.home.store, app.home.identity, key, role), f"Removed {role}")


@roster.command("revoke")
@click.argument("member")
@click.option("--reason", default="", help="Why (shown to everyone), e.g. 'laptop stolen'.")
@click.option(
    "--at",
    "at",
    type=click.IntRange(min=0),
    help="Last valid seq of that key (default: the last one this laptop has seen; "
    "needed when it has seen none; 0 cuts everything).",
)
@pass_app
def revoke_(app: AppContext, member: str, reason: str, at: int | None) -> None:
    """Revoke MEMBER's key: its entries after the revocation point stop counting."""
    from ledger.roster.writer import revoke

    key = resolve_author(app, member)
    _report(app, revoke(app.home.store, app.home.identity, key, reason, at), "Revoked")


@roster.command("rotate")
@click.argument("member")
@click.argument("new_public_key")
@click.option(
    "--at",
    "at",
    type=click.IntRange(min=0),
    help="Last valid seq of the old key (default: the last one this laptop has seen).",
)
@pass_app
def rotate_(app: AppContext, member: str, new_public_key: str, at: int | None) -> None:
    """Move MEMBER to a new key (lost or replaced laptop); roles carry over."""
    from ledger.roster.writer import parse_key, rotate

    key = resolve_author(app, member)
    new = parse_key(new_public_key)
    _report(app, rotate(app.home.store, app.home.identity, key, new, at), "Rotated to the new key")


@roster.command("approve")
@click.argument("change_id")
@pass_app
def approve_(app: AppContext, change_id: str) -> None:
    """Approve a pending roster change (when the admin threshold is above 1)."""
    from ledger.roster.writer import approve

    _report(app, approve(app.home.store, app.home.identity, change_id), "Approved")


@roster.command("threshold")
@click.argument("k", type=click.IntRange(min=1))
@pass_app
def threshold_(app: AppContext, k: int) -> None:
    """Require K distinct admins to approve each roster change."""
    from ledger.roster.writer import set_threshold

    _report(app, set_threshold(app.home.store, app.home.identity, k), f"Admin threshold set to {k}")
