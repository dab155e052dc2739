"""`plurictl log append|show|verify`: the signed ledger itself."""

from __future__ import annotations

import json
from typing import Any

import click

from plurictl.context import AppContext, pass_app
from plurictl.render import console, emit_json, hlc_time, json_option, short


def parse_json_body(text: str) -> dict[str, Any]:
    """The body of an entry from JSON text; a clear error for anything else."""
    from ledger.errors import InvalidInput

    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as e:
        raise InvalidInput(
            f"--body is not valid JSON: {e}", hint='example: --body \'{"text": "gen 2 started"}\''
        ) from e
    if not isinstance(value, dict):
        raise InvalidInput('--body must be a JSON object, e.g. \'{"text": "..."}\'')
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (use a number or a string)")


def resolve_author(app: AppContext, text: str) -> bytes:
    """A member by name, full public key, or key prefix (at least 8 hex digits)."""
    from ledger.errors import InvalidInput

    roster = app.home.store.roster()
    text = text.strip()
    by_name = [k for k, info in roster.keys.items() if info.name == text]
    if len(by_name) == 1:
        return by_name[0]
    low = text.lower()
    if len(low) == 64:
        try:
            return bytes.fromhex(low)
        except ValueError:
            pass
    if len(low) >= 8:
        matches = [k for k in roster.keys if k.hex().startswith(low)]
        if len(matches) == 1:
            return matches[0]
    from ledger.names import did_you_mean

    known = sorted({i.name for i in roster.keys.values()})
    raise InvalidInput(
        f"no single member matches {text!r}{did_you_mean(text, known)} "
        f"(members: {', '.join(known) or 'none yet'})"
    )


@click.group()
def log() -> None:
    """Append to, show and verify the signed ledger."""


@log.command("append")
@click.option("--kind", required=True, help="What the entry is, e.g. 'note' or 'status.radio'.")
@click.option("--body", required=True, help="The entry's content as a JSON object.")
@json_option
@pass_app
def append(app: AppContext, kind: str, body: str, as_json: bool) -> None:
    """Sign and append an entry to this laptop's feed.

    Example: plurictl log append --kind note --body '{"text": "gen 2 refuelled"}'
    """
    from ledger.entry import check_kind
    from ledger.errors import InvalidInput
    from ledger.kinds import is_reserved

    check_kind(kind)
    if is_reserved(kind):
        raise InvalidInput(
            f"kind {kind!r} is written by plurictl's own commands (fuel, vote, roster, ...)",
            hint="use those commands, or pick another kind such as 'note'",
        )
    entry = app.home.append(kind, parse_json_body(body))
    from plurictl.nudge import nudge_node

    nudge_node(app.home.path)
    if as_json:
        emit_json(entry.to_json())
        return
    console().print(f"appended [bold]{kind}[/] as seq {entry.seq}, id {entry.id.hex()}")


@log.command("show")
@click.option("--author", help="Only this member (name, public key or key prefix).")
@click.option("--kind", help="Only entries of this kind (a prefix ending in '.' matches a family).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Show at most this many of the newest entries.",
)
@json_option
@pass_app
def show(app: AppContext, author: str | None, kind: str | None, limit: int, as_json: bool) -> None:
    """Show entries, oldest first (the newest LIMIT of them)."""
    store = app.home.store
    author_key = resolve_author(app, author) if author else None
    kinds = [kind] if kind and not kind.endswith(".") else None
    prefix = kind if kind and kind.endswith(".") else None
    entries = store.entries(
        author=author_key, kinds=kinds, kind_prefix=prefix, limit=limit, newest_first=True
    )
    entries.reverse()
    if as_json:
        emit_json([e.to_json() for e in entries])
        return
    from rich.table import Table

    roster = store.roster()
    table = Table(title=f"{len(entries)} entries", show_lines=False)
    for col in ("time (UTC)", "author", "seq", "kind", "body", "id"):
        table.add_column(col, overflow="fold")
    for e in entries:
        body = json.dumps(e.body, ensure_ascii=False, default=lambda b: b.hex())
        if len(body) > 80:
            body = body[:77] + "..."
        table.add_row(
            hlc_time(e.hlc), roster.name_of(e.author), str(e.seq), e.kind, body, short(e.id.hex())
        )
    console().print(table)


@log.command("verify")
@json_option
@pass_app
def verify(app: AppContext, as_json: bool) -> None:
    """Re-verify every stored entry: signatures, ids, chains, mesh; list forks.

    Exits with 6 if any entry is bad or any fork proof exists. Entries that are
    valid but written after their key was revoked are listed, not counted as bad.
    """
    from ledger.errors import VerificationFailed
    from plurictl.errors import Failed
    from plurictl.render import progress_bar

    store = app.home.store
    total = store.count()
    with progress_bar("Verifying entries", total, enabled=not as_json) as advance:
        report = store.verify_all(progress=advance)
    if as_json:
        emit_json(report.to_json())
    else:
        roster = store.roster()
        out = console()
        if report.ok:
            out.print(f"[green]OK[/]: {report.checked} entries verified, no forks.")
        for b in report.bad:
            who = roster.name_of(b.author) if b.author else "?"
            out.print(f"[red]BAD[/] {who} seq {b.seq}: {b.reason}")
        for f in report.forks:
            out.print(
                f"[red]FORK[/] {roster.name_of(f.author)} signed two different entries at seq {f.seq}"
            )
        for i in report.ignored:
            out.print(
                f"[yellow]ignored[/] {roster.name_of(i.author) if i.author else '?'} seq {i.seq}: {i.reason}"
            )
    if not report.ok:
        raise Failed(VerificationFailed)
