"""`plurictl log append|show|verify`: the signed ledger itself."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import click

from plurictl.context import AppContext, pass_app
from plurictl.params import count_type, seconds_type
from plurictl.render.common import console, emit_json, hlc_time, json_option, short


def parse_json_body(text: str) -> dict[str, Any]:
    """The body of an entry from JSON text; a clear error (exit 5) for anything else."""
    from ledger.errors import InvalidInput
    from plurictl.params import parse_json_text

    try:
        value = parse_json_text(text, "--body")
    except InvalidInput as e:
        e.hint = 'example: --body \'{"text": "gen 2 started"}\''
        raise
    if not isinstance(value, dict):
        raise InvalidInput('--body must be a JSON object, e.g. \'{"text": "..."}\'')
    return value


def resolve_author(app: AppContext, text: str) -> bytes:
    """A member by name, full public key, or key prefix (at least 8 hex digits)."""
    from ledger.errors import InvalidInput

    roster = app.home.store.roster()
    text = text.strip()
    # a name is the member's: its rotated predecessor keys never make it ambiguous
    members = sorted({info.member for info in roster.keys.values() if info.name == text})
    if len(members) == 1:
        return roster.current_key(members[0]) or members[0]
    if len(members) > 1:
        current = sorted(roster.current_key(m) or m for m in members)
        raise InvalidInput(
            f"{len(members)} members are named {text!r}: "
            + ", ".join(f"{text} ({k.hex()[:8]})" for k in current),
            hint=f"name the member by key prefix, e.g. {current[0].hex()[:8]}",
        )
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
    type=count_type(),
    default=None,
    help="Show at most this many of the newest entries (default: 50 in a table, all with --json).",
)
@json_option
@pass_app
def show(
    app: AppContext, author: str | None, kind: str | None, limit: int | None, as_json: bool
) -> None:
    """Show entries, oldest first (the newest LIMIT of them).

    With --json: every entry (streamed, any ledger size) and every fork proof,
    in the format of field_guides/ledger-format.md.

    Example: plurictl log show --kind fuel. --limit 20
    """
    store = app.home.store
    author_key = resolve_author(app, author) if author else None
    kinds = [kind] if kind and not kind.endswith(".") else None
    prefix = kind if kind and kind.endswith(".") else None
    if as_json:
        _stream_json(app, author_key, kinds, prefix, limit)
        return
    entries = store.entries(
        author=author_key, kinds=kinds, kind_prefix=prefix, limit=limit or 50, newest_first=True
    )
    entries.reverse()
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


def _stream_json(
    app: AppContext,
    author: bytes | None,
    kinds: list[str] | None,
    prefix: str | None,
    limit: int | None,
) -> None:
    """One JSON document, whole or not at all.

    It is written entry by entry into a spooled file (memory up to 8 MiB, then a temporary
    file: memory does not grow with the ledger), and copied to stdout only once complete:
    if reading the ledger fails half-way (a damaged file), stdout gets nothing and the
    error goes to stderr with its exit code.
    """
    import tempfile

    with tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", encoding="utf-8") as buf:
        _write_json(buf, app, author, kinds, prefix, limit)
        buf.seek(0)
        while chunk := buf.read(1 << 16):
            click.echo(chunk, nl=False)


def _write_json(
    out: Any,
    app: AppContext,
    author: bytes | None,
    kinds: list[str] | None,
    prefix: str | None,
    limit: int | None,
) -> None:
    store = app.home.store
    mesh = store.mesh_id
    out.write("{\n")
    out.write(
        f'  "format": "plurigrid-ledger/1",\n  "mesh": {json.dumps(mesh.hex() if mesh else None)},\n'
    )
    out.write('  "entries": [\n')
    if limit is None:
        stream = store.iter_entries(author=author, kinds=kinds, kind_prefix=prefix)
    else:  # the newest LIMIT, oldest first
        stream = iter(
            reversed(
                store.entries(
                    author=author, kinds=kinds, kind_prefix=prefix, limit=limit, newest_first=True
                )
            )
        )
    first = True
    for e in stream:
        text = json.dumps(e.to_json(typed=True), ensure_ascii=False)
        out.write(("    " if first else "   ,") + text + "\n")
        first = False
    forks = [f.to_json(typed=True) for f in store.fork_proofs()]
    damaged = [d.to_json() for d in store.quarantined()]
    out.write("  ],\n")
    out.write(f'  "forks": {json.dumps(forks, ensure_ascii=False)},\n')
    out.write(f'  "damaged": {json.dumps(damaged)}\n')
    out.write("}\n")


@log.command("verify")
@click.option(
    "--quick",
    is_flag=True,
    help="Skip the signature checks and SQLite's full page check (seconds, not minutes).",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Fix what can be fixed here; fetch damaged entries from peers (see --peer).",
)
@click.option(
    "--peer",
    "peers",
    multiple=True,
    metavar="tcp://HOST:PORT",
    help="With --repair: ask this peer for intact copies (repeatable).",
)
@click.option(
    "--timeout",
    type=seconds_type(max_seconds=3600),
    default=20,
    show_default=True,
    help="With --repair: how long to wait for copies from peers.",
)
@json_option
@pass_app
def verify(
    app: AppContext,
    quick: bool,
    repair: bool,
    peers: tuple[str, ...],
    timeout: float,
    as_json: bool,
) -> None:
    """Re-check every stored entry and the database: bytes, columns, signatures, chains, forks.

    Exits with 6 if anything is bad or any fork proof exists. Entries that are
    valid but written after their key was revoked are listed, not counted as bad.
    With --repair it fixes what it can and says what it fixed.

    Example: plurictl log verify --repair --peer tcp://10.0.0.7:7800
    """
    from ledger.errors import VerificationFailed
    from ledger.repair import refuse_read_only
    from ledger.repair import repair as repair_store
    from plurictl.errors import Failed

    unopenable = _unopenable(app)
    if unopenable is not None:  # SQLite cannot even open it: say so, and what to do (exit 6)
        report, repair = unopenable, False
    elif repair:
        refuse_read_only(app.home.store)  # exit 8 before anything is checked or changed
    if unopenable is None:
        report = _verify(app, quick=quick and not repair, as_json=as_json)
    fixed = None
    if repair:
        fixed = repair_store(app.home.store, report)
        from ledger.errors import StoreError
        from plurictl.repair import fetch_copies

        with contextlib.suppress(StoreError):  # a file SQLite cannot read: verify says what to do
            fixed.fixed += fetch_copies(app.home, peers, timeout)
        report = _verify(app, quick=False, as_json=True)
    app.damage_reported = True
    if as_json:
        data = report.to_json()
        if fixed is not None:
            data["repair"] = fixed.to_json()
        emit_json(data)
    else:
        _print_report(app, report, fixed)
    if not report.ok:
        raise Failed(VerificationFailed)


def _unopenable(app: AppContext) -> Any:
    """The report for a ledger file SQLite cannot open (a truncated or overwritten file),
    or None when it opens. A missing or emptied file, a busy or read-only one still stop
    with their own error (exit 8)."""
    from ledger.errors import StoreError
    from ledger.integrity import unopenable_report

    try:
        app.home.store  # noqa: B018 - opening is the check
    except StoreError as err:
        if "damaged or is not a ledger" not in err.message:
            raise
        return unopenable_report(err.message)
    return None


def _verify(app: AppContext, *, quick: bool, as_json: bool) -> Any:
    from ledger.errors import StoreError
    from plurictl.render.common import progress_bar

    store = app.home.store
    try:
        total: int | None = store.count()
    except StoreError:  # a damaged file: verify says where, without a total
        total = None
    with progress_bar("Verifying entries", total, enabled=not as_json) as advance:
        return store.verify_all(progress=advance, quick=quick)


def _names(app: AppContext) -> Callable[[bytes | None], str]:
    """Member names for the report, or short keys when the file is too damaged to read them."""
    from ledger.errors import StoreError

    try:
        roster = app.home.store.roster()
    except StoreError:
        return lambda key: key.hex()[:12] if key else "?"
    return lambda key: roster.name_of(key) if key else "?"


def _print_report(app: AppContext, report: Any, fixed: Any) -> None:
    out = console()
    name = _names(app)

    if fixed is not None:
        for line in fixed.fixed:
            out.print(f"[green]FIXED[/] {line}")
    mode = "quick check: no signatures" if report.quick else "full check"
    if report.ok:
        out.print(f"[green]OK[/]: {report.checked} entries verified ({mode}), no forks.")
    for b in report.bad:
        out.print(f"[red]BAD[/] {b.describe(name(b.author))}")
    for d in report.database:
        out.print(f"[red]DATABASE[/] {d}")
    for h in report.heads:
        out.print(f"[red]HEADS[/] {h}")
    for b in report.bad_forks:
        out.print(f"[red]BAD FORK PROOF[/] {b.describe(name(b.author))}")
    for f in report.forks:
        out.print(f"[red]FORK[/] {name(f.author)} signed two different entries at seq {f.seq}")
    for i in report.ignored:
        who = name(i.author)
        ident = i.id.hex()[:16] if i.id else "?"
        out.print(f"[yellow]ignored[/] id {ident}, author {who}, seq {i.seq}: {i.reason}")
    if report.advice:
        out.print(f"[yellow]What to do:[/] {report.advice}")
    elif not report.ok and fixed is None and report.bad:
        out.print(
            "Hint: `plurictl log verify --repair` fixes what it can and fetches the rest from peers."
        )
    elif not report.ok and report.bad:
        out.print(
            f"Hint: {len(report.bad)} entr{'y is' if len(report.bad) == 1 else 'ies are'} still "
            "damaged or missing: get intact copies with `plurictl log verify --repair --peer "
            "tcp://HOST:PORT` or `plurictl sync --peer tcp://HOST:PORT` against a healthy "
            "laptop, or `plurictl bundle import FILE` of a full bundle made there"
        )
