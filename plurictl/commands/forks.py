"""`plurictl forks list`: proofs that a key signed two different entries at one seq."""

from __future__ import annotations

import click

from plurictl.context import AppContext, pass_app
from plurictl.render.common import console, emit_json, hlc_time, json_option


@click.group()
def forks() -> None:
    """Equivocation proofs: a key that signed two versions of its history."""


@forks.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List fork proofs in plain words."""
    store = app.home.store
    proofs = store.fork_proofs()
    roster = store.roster()
    if as_json:
        emit_json([{**p.to_json(), "name": roster.name_of(p.author)} for p in proofs])
        return
    out = console()
    if not proofs:
        out.print("No forks: no key has signed two different versions of its history.")
        return
    for p in proofs:
        name = roster.name_of(p.author)
        out.print(
            f"[bold red]{name}[/] ({p.author.hex()[:12]}) signed two different entries as number {p.seq}:"
        )
        for e in (p.a, p.b):
            out.print(f"  - {e.kind} at {hlc_time(e.hlc)} (id {e.id.hex()[:12]})")
        out.print(
            f"  Their feed is frozen at entry {p.seq}: nothing they signed from there on counts.\n"
            "  Likely causes: the key was copied to a second laptop, or a laptop was restored\n"
            "  from an old backup and kept writing. Talk to them; an admin can revoke the key\n"
            "  and rotate them to a new one (see field_guides/trust.md)."
        )
