"""`plurictl bundle export|inspect|import|frontier|frontiers`: the ledger on a USB stick."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from plurictl.context import AppContext, pass_app
from plurictl.params import output_path
from plurictl.render.common import console, emit_json, hlc_time, json_option, progress_bar, short

if TYPE_CHECKING:
    from ledger.courier.export import ImportReport, InspectReport
    from ledger.store import Store

FILE = click.Path(dir_okay=False, path_type=Path)
EXISTING = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def bundle() -> None:
    """Carry the ledger across a gap on a USB stick (courier bundles).

    One side writes a frontier (what it has); the courier carries it over; the
    other side exports a bundle of what is missing; the courier carries that
    back; it is inspected and imported. See field_guides/courier-bundles.md.
    """


@bundle.command("export")
@click.option(
    "-o", "--output", "output", type=output_path(), required=True, help="Bundle file to write."
)
@click.option("--all", "everything", is_flag=True, help="Everything this laptop has (default).")
@click.option(
    "--since",
    "since_file",
    type=EXISTING,
    help="A frontier file from the other side: export only what it lacks.",
)
@click.option(
    "--for",
    "for_member",
    metavar="MEMBER",
    help="Use the last frontier this laptop knows for MEMBER (name or key prefix).",
)
@click.option("--force", is_flag=True, help="Replace FILE if it already exists.")
@json_option
@pass_app
def export(
    app: AppContext,
    output: Path,
    everything: bool,
    since_file: Path | None,
    for_member: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Write a signed bundle of entries for another laptop to import.

    Without --since or --for, the bundle holds everything (always safe; the
    importer skips what it already has). With --for MEMBER and no frontier of
    theirs known yet, it holds everything too, and says so.

    Example: plurictl bundle export -o /media/usb/for-dave.plb --for dave
    """
    from ledger.courier.export import export_bundle, load_since, plan_export
    from ledger.errors import InvalidInput

    if sum(bool(x) for x in (everything, since_file, for_member)) > 1:
        raise InvalidInput("choose one of --all, --since FILE and --for MEMBER")
    store = app.home.store
    since = None
    note = ""
    if since_file is not None:
        since = load_since(store, since_file)
    elif for_member:
        from ledger.courier.frontier import known_for_member
        from plurictl.commands.log import resolve_author

        key = resolve_author(app, for_member)
        known = known_for_member(store, key)
        if known is not None:
            since = known.frontier
        else:
            note = (
                f"no frontier of {store.roster().name_of(key)}'s yet, so the bundle holds "
                "everything (always safe: their laptop skips what it has). Next time, carry "
                "their `plurictl bundle frontier` file here first for a smaller bundle."
            )
    total = sum(r.count for r in plan_export(store, since))
    with progress_bar("Writing bundle", total, enabled=not as_json) as advance:
        result = export_bundle(
            store, app.home.identity, output, since=since, overwrite=force, progress=advance
        )
    if as_json:
        emit_json({**result.to_json(), "note": note or None})
        return
    roster = store.roster()
    out = console()
    if note:
        out.print(f"[yellow]Note:[/] {note}", highlight=False)
    what = "everything" if since is None else f"what {roster.name_of(since.key)} lacks"
    out.print(
        f"[green]Wrote {output}[/] ({result.size:,} bytes): {what} — "
        f"{_count(result.entries, 'entry', 'entries')} from "
        f"{_count(len(result.per_author), 'member', 'members')}, "
        f"{_count(result.forks, 'fork proof', 'fork proofs')}."
    )
    for author, n in sorted(result.per_author.items(), key=lambda kv: roster.name_of(kv[0])):
        out.print(f"  {roster.name_of(author)}: {n}")
    for author in result.forked_authors:
        out.print(
            f"  [red]fork:[/] the other side holds a different entry of {roster.name_of(author)}; "
            "ours is included so their laptop keeps the proof"
        )
    if result.entries == 0 and result.forks == 0:
        out.print("  The other side already has everything this laptop has.")
    out.print(f"Check it before carrying it: plurictl bundle inspect {output}")


@bundle.command("inspect")
@click.argument("file", type=EXISTING)
@json_option
@pass_app
def inspect(app: AppContext, file: Path, as_json: bool) -> None:
    """Verify a bundle offline, without importing it: who signed it, which mesh,
    entries per author, damage or truncation, and what is new for this laptop.

    Exits 6 if the bundle is damaged, cut short or badly signed.
    """
    from ledger.courier.bundle import size_of
    from ledger.courier.export import inspect_bundle
    from ledger.errors import VerificationFailed
    from plurictl.errors import Failed

    store = _store_or_none(app)
    with progress_bar("Checking bundle", size_of(file), enabled=not as_json) as advance:
        report = inspect_bundle(file, store, progress=advance)
    if as_json:
        emit_json(report.to_json())
    else:
        _render_inspect(report, store)
    if not report.ok:
        raise Failed(VerificationFailed)


@bundle.command("import")
@click.argument("file", type=EXISTING)
@json_option
@pass_app
def import_(app: AppContext, file: Path, as_json: bool) -> None:
    """Verify a bundle and add its entries to this laptop's ledger.

    Importing the same bundle twice changes nothing. A damaged or cut-short
    bundle still gives every entry that can be read and verified (exit 6 to
    say it was not whole). Also accepts a frontier file: it is remembered, so
    that `bundle export --for MEMBER` sends only what that member lacks.
    """
    from ledger.courier.bundle import size_of
    from ledger.courier.export import import_bundle, note_frontier_file
    from ledger.courier.frontier import sniff
    from ledger.errors import VerificationFailed
    from plurictl.errors import Failed
    from plurictl.nudge import nudge_node

    store = app.home.store
    if sniff(file) == "frontier":
        found, changed = note_frontier_file(store, file)
        if as_json:
            emit_json({"frontier": found.to_json(), "recorded": changed})
            return
        name = store.roster().name_of(found.key)
        console().print(
            f"Noted {name}'s frontier (cut {hlc_time(found.hlc)} UTC"
            f"{'' if changed else '; already known'}). Now: "
            f"plurictl bundle export --for {name} -o FILE"
        )
        return
    with progress_bar("Importing bundle", size_of(file), enabled=not as_json) as advance:
        report = import_bundle(file, store, progress=advance)
    if report.new_entries or report.forks_added:
        nudge_node(app.home.path)
    if as_json:
        emit_json(report.to_json())
    else:
        _render_import(report, store)
    if not report.read.intact:
        raise Failed(VerificationFailed)


@bundle.command("frontier")
@click.option(
    "-o", "--output", "output", type=output_path(), required=True, help="Frontier file to write."
)
@click.option("--force", is_flag=True, help="Replace FILE if it already exists.")
@json_option
@pass_app
def frontier_cmd(app: AppContext, output: Path, force: bool, as_json: bool) -> None:
    """Write this laptop's frontier (what it has), signed, for the courier to carry.

    On the other side: plurictl bundle export --since FILE -o BUNDLE.
    """
    from ledger.courier.frontier import write_file

    found = write_file(output, app.home.store, app.home.identity, overwrite=force)
    if as_json:
        emit_json({"path": str(output), **found.to_json()})
        return
    console().print(
        f"[green]Wrote {output}[/]: this laptop's heads for {len(found.heads)} feeds "
        f"({found.entries()} entries). On the other side: "
        f"plurictl bundle export --since {output.name} -o BUNDLE"
    )


@bundle.command("frontiers")
@json_option
@pass_app
def frontiers_cmd(app: AppContext, as_json: bool) -> None:
    """List the frontiers this laptop knows (what `export --for MEMBER` would use)."""
    from ledger.courier.frontier import known

    store = app.home.store
    rows = known(store)
    if as_json:
        emit_json([{**k.to_json(), "name": store.roster().name_of(k.frontier.key)} for k in rows])
        return
    out = console()
    if not rows:
        out.print(
            "No frontiers known yet: import a frontier file or a bundle a member made "
            "(`plurictl bundle import FILE`)."
        )
        return
    from rich.table import Table

    roster = store.roster()
    heads = store.heads()
    table = Table(title="Known frontiers")
    for col in ("member", "cut at (UTC)", "from", "feeds", "entries", "they lack"):
        table.add_column(col)
    for k in rows:
        f = k.frontier
        lack = sum(
            max(0, h.seq - f.heads[a].seq if a in f.heads else h.seq) for a, h in heads.items()
        )
        table.add_row(
            roster.name_of(f.key),
            hlc_time(f.hlc),
            k.source,
            str(len(f.heads)),
            str(f.entries()),
            f"~{lack}",
        )
    out.print(table)


# --- rendering -----------------------------------------------------------------------


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _store_or_none(app: AppContext) -> Store | None:
    from ledger.errors import NotInitialised

    try:
        return app.home.store
    except NotInitialised:
        return None


def _name(store: Store | None, key: bytes) -> str:
    return store.roster().name_of(key) if store is not None else short(key.hex())


def _state_lines(read: Any, signer: str, store: Store | None) -> list[str]:
    """Plain-words lines about the file itself, shared by inspect and import."""
    from ledger.courier.bundle import INVALID, MISSING, UNVERIFIABLE, VALID

    lines = []
    h = read.header
    if h is not None:
        who = _name(store, h.creator)
        sig = {
            VALID: "[green]signature valid[/]",
            INVALID: "[red]signature does NOT match the contents[/]",
            MISSING: "[yellow]no signature (the end of the file is missing)[/]",
            UNVERIFIABLE: "[yellow]signature cannot be checked[/]",
        }[read.signature]
        lines.append(f"cut by:   {who} ({short(h.creator.hex())}) — {signer}; {sig}")
        lines.append(f"created:  {hlc_time(h.hlc)} UTC")
        lines.append(
            "contents: everything"
            if h.since is None
            else f"contents: what {_name(store, h.for_key) if h.for_key else 'a laptop'} "
            f"lacked (cut from its frontier of {len(h.since)} feeds)"
        )
        if signer == "not a member":
            lines.append(
                "[yellow]The bundle was cut by a key that is not a member of this mesh.[/] "
                "That is allowed (anyone may carry entries): each entry counts only on its "
                "own author's signature and membership."
            )
    else:
        lines.append(f"[red]header unreadable:[/] {read.header_problem}")
    if read.intact:
        lines.append("[green]status:   complete and undamaged[/]")
    else:
        if read.truncated or (read.trailer is None and read.header is not None):
            where = f"inside an entry at byte {read.cut_at:,}" if read.cut_at else "before its end"
            lines.append(
                f"[red]status:   CUT SHORT[/]: the copy stops {where} ({read.size:,} bytes); "
                "every complete entry before that is readable"
            )
        if read.damaged_frames:
            lines.append(
                f"[red]status:   DAMAGED[/]: {read.damaged_frames} unreadable frame(s), "
                f"{read.damaged_bytes:,} bytes skipped; everything else is readable"
            )
            for d in read.damage[:10]:
                lines.append(f"          byte {d.offset:,}: {d.reason} ({d.skipped:,} bytes)")
        if read.trailer is not None and not read.counts_match:
            lines.append(
                f"[red]counts:[/]   the trailer lists {read.trailer.entries} entries and "
                f"{read.trailer.forks} fork proofs; {read.entries_read} and "
                f"{read.forks_read} were read"
            )
        if read.signature == "invalid" and not read.damaged_frames:
            lines.append("[red]status:   the file was altered after it was signed[/]")
    for note in read.notes[:5]:
        lines.append(f"note:     {note}")
    return lines


def _render_inspect(report: InspectReport, store: Store | None) -> None:
    from rich.table import Table

    out = console()
    read = report.read
    out.print(f"[bold]Bundle {report.name}[/] ({read.size:,} bytes)")
    if read.header is not None:
        from ledger.roster.writer import mesh_fingerprint

        out.print(
            f"mesh:     {read.header.mesh.hex()[:16]} ({mesh_fingerprint(read.header.mesh)}) — "
            f"{report.mesh_status}"
        )
    for line in _state_lines(read, report.signer_status, store):
        out.print(line)
    table = Table(title=f"{sum(a.entries for a in report.authors.values())} entries")
    for col in ("author", "entries", "seq", "new here", "conflicts", "bad"):
        table.add_column(col)
    for author, s in sorted(report.authors.items(), key=lambda kv: _name(store, kv[0])):
        table.add_row(
            _name(store, author),
            str(s.entries),
            f"{s.first_seq}–{s.last_seq}",
            str(s.new),
            f"[red]{s.conflicts}[/]" if s.conflicts else "0",
            f"[red]{s.bad}[/]" if s.bad else "0",
        )
    out.print(table)
    if report.forks:
        out.print(
            f"fork proofs: {len(report.forks)} ({report.new_forks} new here): "
            + ", ".join(f"{_name(store, p.author)} at seq {p.seq}" for p in report.forks[:10])
        )
    for r in report.bad.kept[:10]:
        who = _name(store, r.author) if r.author else "?"
        out.print(f"[red]bad[/] {who} seq {r.seq}: {r.reason}")
    if store is not None:
        out.print(
            f"New for this laptop: [bold]{report.new_entries}[/] entries"
            + (f" and {report.new_forks} fork proof(s)" if report.new_forks else "")
            + ("." if not report.new_entries else f". Import: plurictl bundle import {report.name}")
        )


def _render_import(report: ImportReport, store: Store) -> None:
    from rich.table import Table

    out = console()
    roster = store.roster()
    read = report.read
    nothing = not report.new_entries and not report.repaired and not report.rejected.total
    already = " (nothing new: it was all here already)" if nothing else ""
    fixed = f", [green]repaired {report.repaired} damaged[/]" if report.repaired else ""
    out.print(
        f"[bold]Imported {report.name}[/]: [green]{report.new_entries} new entries[/], "
        f"{report.duplicates} already here{fixed}{already}."
    )
    if report.accepted:
        table = Table()
        table.add_column("member")
        table.add_column("new entries", justify="right")
        for author, n in sorted(report.accepted.items(), key=lambda kv: roster.name_of(kv[0])):
            table.add_row(roster.name_of(author), str(n))
        out.print(table)
    for line in _state_lines(read, report.signer_status, store):
        out.print(line)
    if report.rejected.total:
        out.print(f"[yellow]Refused {report.rejected.total} entries[/] (not imported):")
        for reason, n in sorted(report.rejected.by_reason.items(), key=lambda kv: -kv[1])[:10]:
            out.print(f"  {n} × {reason}")
        for r in report.rejected.kept[:10]:
            who = roster.name_of(r.author) if r.author else "?"
            out.print(f"    e.g. {who} seq {r.seq}: {r.reason}")
    if report.forks_added:
        for p in report.forks_added:
            out.print(
                f"[bold red]FORK[/]: {roster.name_of(p.author)} signed two different entries "
                f"at seq {p.seq} (see `plurictl forks list`)"
            )
    if report.frontier_recorded and read.header is not None:
        name = roster.name_of(read.header.creator)
        out.print(
            f"Noted what {name}'s laptop had: `plurictl bundle export --for {name} -o FILE` "
            "sends only what it lacks."
        )
