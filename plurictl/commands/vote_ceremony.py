"""`plurictl vote ceremony ...`: the tellers' key ceremony for secret votes.

start (coordinator), deal (each teller: deals, complains, answers: run it until status
says complete), status (who is awaited), list. See field_guides/secret-ballots.md.
"""

from __future__ import annotations

from typing import Any

import click

from plurictl.context import AppContext, pass_app
from plurictl.params import threshold_options
from plurictl.render.common import console, emit_json, json_option


def _nudge(app: AppContext) -> None:
    from plurictl.nudge import nudge_node

    nudge_node(app.home.path)


@click.group()
def ceremony() -> None:
    """Key ceremony for secret votes: the tellers make the vote's key together.

    \b
    1. coordinator:  plurictl vote ceremony start --teller bob --teller carol --teller dave
    2. each teller:  plurictl vote ceremony deal ID      (sync; run again until complete)
    3. anyone:       plurictl vote ceremony status ID    (who is awaited)
    4. coordinator:  plurictl vote open --secret --ceremony ID ...

    Example: plurictl vote ceremony status 3fa2c1d0
    """


def opened_on(c: Any, votes: Any) -> list[dict[str, Any]]:
    """The votes opened on ceremony ``c``: each keeps the joint key it was opened with."""
    out = []
    for vid, v in sorted(votes.votes.items()):
        secret = v.charter.fields.secret
        if secret is not None and secret.ceremony == c.id:
            key = secret.keys.joint_key.hex()
            out.append({"vote": vid.hex(), "title": v.charter.title, "joint_key": key})
    return out


def ceremony_json(c: Any, roster: Any, votes: Any = None) -> dict[str, Any]:
    from ledger.votes.secret_writer import awaited, cannot_complete, cannot_open, seat_gone

    st = c.state
    return {
        "ceremony": c.id.hex(),
        "tellers": [
            {
                "index": i,
                "member": m.hex(),
                "name": roster.name_of(m),
                "key": c.teller_keys[m].hex(),
                "dealt": i in c.dealt,
                "checked": bool(c.checked.get(i)) and i not in c.unchecked(),
                "seat_gone": seat_gone(c, roster, i),
            }
            for i, m in enumerate(c.tellers, start=1)
        ],
        "k": c.k,
        "f": c.f,
        "complete": c.complete,
        "status": awaited(c, roster),
        "awaited": [roster.name_of(c.tellers[i - 1]) for i in c.awaited()],
        "missing": list(st.missing) if st else [],
        "pending": [{"accused": a, "accuser": b} for a, b in st.pending] if st else [],
        "disqualified": {str(i): why for i, why in st.disqualified.items()} if st else {},
        "qualified": list(st.qualified) if st else [],
        "joint_key": st.keys.joint_key.hex() if st and st.keys else None,
        "can_open": c.complete and cannot_open(c, roster) is None,
        "stuck": c.failure is not None or cannot_complete(c, roster) is not None,
        "votes": opened_on(c, votes) if votes is not None else [],
    }


@ceremony.command("start")
@click.option("--teller", "tellers", multiple=True, required=True, help="A teller (repeatable).")
@threshold_options
@json_option
@pass_app
def start_(
    app: AppContext,
    tellers: tuple[str, ...],
    tolerate: int | None,
    seal_threshold: int | None,
    as_json: bool,
) -> None:
    """Coordinator: start a key ceremony among the tellers of a coming secret vote.

    Example: plurictl vote ceremony start --teller bob --teller carol --teller dave --teller erin
    """
    from ledger.votes.secret_writer import start
    from ledger.votes.writer import threshold_warnings
    from plurictl.commands.log import resolve_author

    keys = [resolve_author(app, t) for t in tellers]
    entry = start(app.home.store, app.home.identity, keys, seal_threshold, tolerate)
    _nudge(app)
    body = entry.body
    roster = app.home.store.roster()
    names = [roster.name_of(bytes.fromhex(m)) for m in body["tellers"]]  # member id order
    warnings = [  # said now: mending f=0 at `vote open` would mean a new ceremony
        w.replace("this vote", "every vote on this ceremony", 1)
        for w in threshold_warnings(body["k"], body["f"], len(names))
    ]
    if as_json:
        emit_json(
            {
                "ceremony": entry.id.hex(),
                "k": body["k"],
                "f": body["f"],
                "tellers": names,
                "warnings": warnings,
            }
        )
        return
    out = console()
    out.print(
        f"[green]Key ceremony started[/]: {body['k']} of {len(body['tellers'])} tellers "
        f"will be needed to seal and decrypt (tolerates f={body['f']})"
    )
    out.print(f"  ceremony id: {entry.id.hex()}")
    from rich.markup import escape

    numbered = ", ".join(f"{i}. {escape(n)}" for i, n in enumerate(names, start=1))
    out.print(f"  tellers, numbered in member id order: {numbered}")
    out.print(f"Each teller syncs, then runs: plurictl vote ceremony deal {entry.id.hex()[:12]}")
    for w in warnings:
        out.print(f"[yellow]Warning:[/] {w}")


@ceremony.command("deal")
@click.argument("ceremony_id")
@json_option
@pass_app
def deal_(app: AppContext, ceremony_id: str, as_json: bool) -> None:
    """Teller: do this laptop's part now (deal; complain about a bad share; answer a
    complaint). Safe to run again: it writes only what is missing.

    Example: plurictl vote ceremony deal 3fa2c1d0
    """
    from ledger.votes.secret_writer import awaited, step

    r = step(app.home.store, app.home.identity, ceremony_id)
    if r.entries:
        _nudge(app)
    roster = app.home.store.roster()
    if as_json:
        emit_json(
            {
                "teller": r.index,
                "written": [{"kind": k, "what": w} for k, w in r.written],
                "entries": [e.id.hex() for e in r.entries],
                **ceremony_json(r.ceremony, roster),
            }
        )
        return
    out = console()
    for kind, what in r.written:
        out.print(f"[green]Written[/]: {what}" if kind else f"[red]Problem[/]: {what}")
    if not r.written:
        out.print("Nothing to write: this laptop has done its part for now.")
    cid, why = r.ceremony.id.hex()[:12], awaited(r.ceremony, roster)
    if r.ceremony.complete:  # "complete", maybe "; teller N disqualified: ..."
        out.print(f"Ceremony {cid} [green]complete[/]{why.removeprefix('complete')}")
    else:
        out.print(f"Ceremony {cid} [yellow]not complete[/]: {why}")
    if not r.ceremony.complete:
        out.print("Sync with the other tellers, then run this again (it answers complaints too).")


@ceremony.command("status")
@click.argument("ceremony_id")
@json_option
@pass_app
def status_(app: AppContext, ceremony_id: str, as_json: bool) -> None:
    """Where a key ceremony stands: who has dealt, who is awaited, the joint key when done.

    Example: plurictl vote ceremony status 3fa2c1d0 --json
    """
    from ledger.votes.secret_writer import find_ceremony
    from ledger.votes.writer import load_ceremonies as load

    votes, roster = load(app.home.store)
    data = ceremony_json(find_ceremony(votes, ceremony_id), roster, votes)
    if as_json:
        emit_json(data)
        return
    out = console()
    state = "[green]COMPLETE[/]" if data["complete"] else "[yellow]WAITING[/]"
    out.print(f"Key ceremony {data['ceremony'][:12]}  {state}  (k={data['k']}, f={data['f']})")
    for t in data["tellers"]:
        mark = "dealt" if t["dealt"] else "no dealing yet"
        if t["dealt"] and t["checked"]:
            mark += ", shares checked"
        if t["seat_gone"]:
            mark += f" ([red]{t['seat_gone']}[/])"
        out.print(f"  {t['index']}. {t['name']}: {mark}")
    out.print(f"  {data['status']}")
    if data["complete"]:
        out.print(f"  joint key: {data['joint_key']}")
    if data["can_open"]:
        out.print(
            f"  open the vote: plurictl vote open --secret --ceremony {data['ceremony'][:12]} ..."
        )
    _print_opened(out, data["votes"])


def _print_opened(out: Any, opened: list[dict[str, Any]]) -> None:
    from rich.markup import escape

    for v in opened:
        out.print(
            f"  vote {v['vote'][:12]} ({escape(v['title'])}) was opened on this ceremony and "
            f"keeps the joint key it was opened with ({v['joint_key'][:16]}...): what this "
            f"ceremony shows now does not change it (see plurictl vote status {v['vote'][:12]})"
        )


@ceremony.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """The key ceremonies this laptop knows.

    Example: plurictl vote ceremony list
    """
    from ledger.votes.writer import load_ceremonies as load

    votes, roster = load(app.home.store)
    data = [ceremony_json(c, roster, votes) for _, c in sorted(votes.ceremonies.items())]
    if as_json:
        emit_json({"ceremonies": data})
        return
    out = console()
    if not data:
        out.print("No key ceremonies on this laptop.")
    for c in data:
        state = (
            "complete"
            if c["can_open"]
            else c["status"]
            if c["complete"]
            else "waiting: " + c["status"]
        )
        if c["votes"]:
            state += f" (opened {len(c['votes'])} vote(s): each keeps its joint key)"
        out.print(f"{c['ceremony'][:12]}  k={c['k']} of {len(c['tellers'])}  {state}")
