"""`plurictl vote ...`: open, cast, stop, close, seal; list, status, result, verify, receipt."""

from __future__ import annotations

from typing import Any

import click

from plurictl.context import AppContext, pass_app
from plurictl.params import threshold_options
from plurictl.render import votes as show
from plurictl.render.common import console, emit_json, json_option
from plurictl.render.votes import seals_of, state

METHOD_CHOICE = click.Choice(["plurality", "approval", "ranked-choice", "quadratic"])


def _nudge(app: AppContext) -> None:
    from plurictl.nudge import nudge_node

    nudge_node(app.home.path)


# --- the group ---------------------------------------------------------------------


@click.group()
@click.pass_context
def vote(ctx: click.Context) -> None:
    """Resilient votes: decide safely even while the mesh is split.

    A coordinator opens a vote, members on its roll cast ballots, a
    coordinator closes it (a sheet listing the ballot set) and tellers seal
    it; k tellers must seal the same sheet, with k large enough (2k - n >= F + 1,
    e.g. 3 of 4) that two sides of a partition can never both decide, even with F
    copied teller keys. See field_guides/voting.md.
    """
    _collector_paused(ctx)


def _collector_paused(ctx: click.Context) -> None:
    """Run the vote command with Python's cyclic garbage collector paused, back on when
    the command ends (however it ends). Reading the votes builds up to a million objects
    (entries, ballots, slots) and no reference cycles: the collector finds nothing, yet
    rescans them all a few times, a tenth of `vote result` on 100,000 ballots. Memory is
    freed as always, by reference counting."""
    import gc

    if gc.isenabled():
        gc.disable()
        ctx.call_on_close(gc.enable)


@vote.command("open")
@click.argument("file", required=False, type=click.Path(dir_okay=False, exists=True))
@click.option("--title", help="The question, e.g. 'Which plant restarts first?'.")
@click.option("--text", help="Longer explanation shown with the vote.")
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="ID=LABEL",
    help="A choice (repeatable). 'north=North plant', or just a label.",
)
@click.option(
    "--ref",
    "refs",
    multiple=True,
    metavar="ID=REF",
    help="Attach a reference (e.g. a plan id) to an option.",
)
@click.option("--method", type=METHOD_CHOICE, help="How ballots are counted (default plurality).")
@click.option("--roll", "roll", metavar="role:ROLE", help="Who may vote: members holding ROLE now.")
@click.option(
    "--roll-file",
    type=click.Path(dir_okay=False),
    help="Who may vote: a file of 'NAME [WEIGHT]' lines.",
)
@click.option(
    "--weight",
    "weights",
    multiple=True,
    metavar="NAME=W",
    help="Give a voter weight W (repeatable).",
)
@click.option("--teller", "tellers", multiple=True, help="A teller (name or key; repeatable).")
@threshold_options
@click.option(
    "--quorum",
    type=click.IntRange(0, 100),
    help="Percent of the roll's weight that must vote (default 0).",
)
@click.option(
    "--credits",
    type=click.IntRange(1, 1_000_000),
    help="Quadratic only: each voter's credit budget (default 100).",
)
@click.option(
    "--window",
    type=click.IntRange(min=0),
    help="Advisory: minutes until tellers should stop (clocks never decide).",
)
@click.option(
    "--secret",
    is_flag=True,
    default=None,
    help="Secret ballots (plurality or approval): needs --ceremony. See secret-ballots.md.",
)
@click.option("--ceremony", help="Secret votes: the tellers' completed key ceremony (id).")
@click.option(
    "--from-futures",
    metavar="FUTURES_ID",
    help="The options are the plans of `plan futures --propose` (ranked-choice by default).",
)
@json_option
@pass_app
def open_(app: AppContext, file: str | None, as_json: bool, **flags: Any) -> None:
    """Open a vote (coordinator). Give flags, or a FILE.toml with the same keys.

    Example: plurictl vote open --title "Restart order" --option north="North plant"
    --option south="South plant" --method plurality --roll role:operator
    --teller bob --teller carol --teller dave --teller erin --quorum 50

    With 4 tellers the vote tolerates one copied teller key and needs 3 seals;
    see field_guides/voting.md for the table. A vote on the futures of `plan futures
    --propose`: plurictl vote open --from-futures f-2c72 --roll role:operator --teller bob ...
    """
    from ledger.votes.spec import build_spec
    from ledger.votes.writer import open_vote, threshold_warnings
    from plurictl.commands.log import resolve_author

    futures = flags.pop("from_futures", None)
    if futures:
        _futures_flags(app, futures, flags)
    spec = build_spec(lambda name: resolve_author(app, name), file, flags)
    entry = open_vote(app.home.store, app.home.identity, spec)
    _nudge(app)
    body = entry.body
    warnings = threshold_warnings(body["k"], body["f"], len(body["tellers"]))
    if as_json:
        emit_json({"vote": entry.id.hex(), "charter": entry.to_json(), "warnings": warnings})
        return
    show.render_opened(entry.id.hex(), body, app.home.store.roster())
    for w in warnings:
        console().print(f"[yellow]Warning:[/] {w}")


def _futures_flags(app: AppContext, futures: str, flags: dict[str, Any]) -> None:
    """Options (each referring to its plan), a title and ranked-choice from a set of futures."""
    from ledger.errors import InvalidInput
    from ledger.plans.writer import futures_choices

    if flags.get("options") or flags.get("refs"):
        raise InvalidInput("--from-futures gives the options: leave out --option and --ref")
    fid, choices = futures_choices(app.home.store, futures)
    if len(choices) < 2:
        raise InvalidInput(
            f"futures {fid} has {len(choices)} proposed plan: a vote needs at least 2",
            hint="compute futures that differ (plan futures with --reserve-hours, --swap, "
            "without --no-max-energy) and --propose them",
        )
    _refuse_second_vote(app, fid, {ref for _, _, ref in choices})
    flags["options"] = tuple(f"{oid}={label}" for oid, label, _ in choices)
    flags["refs"] = tuple(f"{oid}={ref}" for oid, _, ref in choices)
    flags["method"] = flags.get("method") or "ranked-choice"
    flags["title"] = flags.get("title") or f"Which future do we plan for? ({fid})"


def _refuse_second_vote(app: AppContext, fid: str, refs: set[str]) -> None:
    """One council question, one vote: a vote on the same futures that is not FINAL yet
    is refused (two votes could adopt two different plans)."""
    from ledger.errors import InvalidInput
    from ledger.votes.state import FINAL
    from ledger.votes.writer import load

    votes, _ = load(app.home.store, count=False)
    for vote in votes.votes.values():
        mine = {o.ref for o in vote.charter.options if o.ref}
        if mine == refs and vote.state != FINAL:
            raise InvalidInput(
                f"vote {vote.charter.id.hex()[:12]} on futures {fid} is already open: "
                "one question, one vote",
                hint=f"plurictl vote status {vote.charter.id.hex()[:12]}",
            )


from plurictl.commands.vote_ceremony import ceremony  # noqa: E402

vote.add_command(ceremony)


@vote.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List the votes this laptop knows, with state and turnout."""
    from ledger.votes.writer import load
    from plurictl.readouts import vote_list

    votes, roster = load(app.home.store)
    data = vote_list(votes, roster)
    if as_json:
        emit_json(data)
        return
    show.render_list(data["votes"], len(votes.waiting))


@vote.command("cast")
@click.argument("vote_id")
@click.argument("choice", nargs=-1)
@click.option(
    "--blank", is_flag=True, help="Cast a blank ballot (counts for quorum, for no option)."
)
@json_option
@pass_app
def cast_(
    app: AppContext, vote_id: str, choice: tuple[str, ...], blank: bool, as_json: bool
) -> None:
    """Cast (or change) your ballot. CHOICE depends on the method:

    \b
    plurality:      one option id            plurictl vote cast 3fa2 north
    approval:       every option you accept  plurictl vote cast 3fa2 north east
    ranked-choice:  options, favourite first plurictl vote cast 3fa2 east north
    quadratic:      OPTION=VOTES (cost votes²) plurictl vote cast 3fa2 north=3 east=-1

    Casting again replaces your earlier ballot.
    """
    from ledger.errors import InvalidInput
    from ledger.votes.writer import cast

    if blank and choice:
        raise InvalidInput("give either CHOICE or --blank, not both")
    if not blank and not choice:
        _no_choice(app, vote_id)
    result = cast(app.home.store, app.home.identity, vote_id, words=choice)
    method = result.vote.charter.method
    _nudge(app)
    if as_json:
        emit_json(
            {
                "ballot": result.entry.to_json(),
                "replaced": result.replaced,
                "warnings": result.warnings,
            }
        )
        return
    out = console()
    if "sealed" in result.entry.body:
        _secret_cast(result, choice)
        return
    shown = result.entry.body["choice"]
    if isinstance(shown, dict):
        text = ", ".join(f"{k}={v}" for k, v in shown.items()) or "blank"
    else:
        text = (" > " if method == "ranked-choice" else ", ").join(shown) or "blank"
    out.print(f"[green]Ballot cast[/] on [bold]{result.vote.charter.title}[/]: {text}")
    out.print(f"  ballot id: {result.entry.id.hex()}")
    if result.replaced:
        out.print(f"  replaces your {result.replaced} earlier ballot(s)")
    if result.restored:
        out.print(
            "  [green]your slot was void (double vote); this ballot names both and restores it[/]"
        )
    for w in result.warnings:
        out.print(f"[yellow]Note:[/] {w}")


def _no_choice(app: AppContext, vote_id: str) -> None:
    """Refuse a ballot without a choice, naming the options (and --blank where it works)."""
    from ledger.errors import InvalidInput
    from ledger.votes.bodies import PLURALITY
    from ledger.votes.writer import find_vote, load

    c = find_vote(load(app.home.store, count=False)[0], vote_id).charter
    hint = "options: " + ", ".join(o.id for o in c.fields.options)
    if not (c.fields.secret is not None and c.fields.method == PLURALITY):
        hint += "; or cast a blank ballot with --blank"  # a secret plurality ballot has none
    raise InvalidInput("say what you vote for", hint=hint)


def _secret_cast(result: Any, choice: tuple[str, ...]) -> None:
    from ledger.votes.secret import Ballot

    out = console()
    tracker = Ballot.from_bytes(result.entry.body["sealed"]).tracker.hex()
    out.print(
        f"[green]Secret ballot cast[/] on [bold]{result.vote.charter.title}[/]: "
        f"{', '.join(choice) or 'no option approved'} (encrypted on this laptop; "
        "nobody else can see it)"
    )
    out.print(f"  ballot id: {result.entry.id.hex()}")
    out.print(f"  tracker:   {tracker}  (`plurictl vote receipt` finds it on the sealed sheet)")
    if result.replaced:
        out.print(f"  replaces your {result.replaced} earlier ballot(s)")
    for w in result.warnings:
        out.print(f"[yellow]Note:[/] {w}")


@vote.command("stop")
@click.argument("vote_id")
@json_option
@pass_app
def stop_(app: AppContext, vote_id: str, as_json: bool) -> None:
    """Teller: stop taking ballots, announcing how many this laptop holds."""
    from ledger.votes.writer import stop

    entry, v = stop(app.home.store, app.home.identity, vote_id)
    _nudge(app)
    if as_json:
        emit_json(
            {"stop": entry.id.hex(), "count": entry.body["count"], "root": entry.body["root"]}
        )
        return
    console().print(
        f"[green]Stopped[/] {v.charter.title}: this laptop holds {entry.body['count']} ballot(s) "
        f"(root {entry.body['root'][:16]}). A coordinator can now close: "
        f"plurictl vote close {v.id.hex()[:12]}"
    )


REVEAL_SMALL = (
    "Secret votes: go on although only 1 or 2 ballots count, so the result shows who chose what."
)


@vote.command("close")
@click.argument("vote_id")
@click.option("--force", is_flag=True, help="Close even if a teller stopped holding more ballots.")
@click.option("--reveal-small", is_flag=True, help=REVEAL_SMALL)
@json_option
@pass_app
def close_(app: AppContext, vote_id: str, force: bool, reveal_small: bool, as_json: bool) -> None:
    """Coordinator: write the close sheet (every ballot this laptop holds, with its Merkle root)."""
    from ledger.votes.writer import close

    r = close(app.home.store, app.home.identity, vote_id, force=force, reveal_small=reveal_small)
    _nudge(app)
    if as_json:
        emit_json(
            {
                "sheet": r.entry.id.hex(),
                "count": r.count,
                "root": r.entry.body["root"],
                "warnings": r.warnings,
            }
        )
        return
    out = console()
    out.print(f"[green]Close sheet written[/] for {r.vote.charter.title}: {r.count} ballot(s)")
    out.print(f"  sheet id: {r.entry.id.hex()}")
    out.print(f"  root:     {r.entry.body['root']}")
    for w in r.warnings:
        out.print(f"[yellow]Note:[/] {w}")
    c = r.vote.charter
    out.print(
        f"Tellers ({c.k} of {len(c.tellers)} needed) run: plurictl vote seal {c.id.hex()[:12]}"
    )


@vote.command("seal")
@click.argument("vote_id")
@click.option(
    "--sheet", "sheet_id", help="Seal this close sheet (default: the one with most seals)."
)
@click.option(
    "--accept-late", is_flag=True, help="Seal even though the sheet leaves out ballots you hold."
)
@click.option("--reveal-small", is_flag=True, help=REVEAL_SMALL)
@json_option
@pass_app
def seal_(
    app: AppContext,
    vote_id: str,
    sheet_id: str | None,
    accept_late: bool,
    reveal_small: bool,
    as_json: bool,
) -> None:
    """Teller: countersign a close sheet. A teller seals at most ONE sheet per vote.

    Secret votes: seal, then share. Your decryption share goes out only once the sheet
    has k seals; run this again when the vote is SEALED to add it (a vote.share entry).
    """
    from ledger.votes.writer import seal

    r = seal(
        app.home.store,
        app.home.identity,
        vote_id,
        sheet_text=sheet_id,
        accept_late=accept_late,
        reveal_small=reveal_small,
    )
    _nudge(app)
    if as_json:
        emit_json(
            {
                "seal": r.entry.id.hex() if r.entry and r.share != "written" else None,
                "share_entry": r.entry.id.hex() if r.entry and r.share == "written" else None,
                "sheet": r.sheet.id.hex(),
                "seals": r.seals,
                "k": r.k,
                "state": r.state,
                "share": r.share or None,
                "waiting": r.waiting or None,
            }
        )
        return
    _seal_said(r, vote_id)


def _seal_said(r: Any, vote_id: str) -> None:
    """What `vote seal` did, in words (seal; secret: share carried, held back, written)."""
    from ledger.votes.share_writer import held_back

    out = console()
    sheet = r.sheet.id.hex()[:12]
    if r.share.startswith("nothing"):
        out.print(f"Nothing to write: {r.share.split(': ', 1)[1]} ({sheet}).")
        return
    if r.share == "written":
        out.print(f"[green]Shared[/]: your decryption share of sealed sheet {sheet} is written.")
    else:
        out.print(
            f"[green]Sealed[/] sheet {sheet} ({r.sheet.count} ballots): {seals_of(r.seals, r.k)}"
        )
    if r.share == "held":
        out.print(f"{held_back(vote_id, r.k, r.sheet.id, r.seals)}.")
    if r.state == "PROVISIONAL":
        out.print(
            f"Waiting for {r.k - r.seals} more teller(s). The vote stays {state('PROVISIONAL')}."
        )
    else:
        out.print(f"The vote is now {state(r.state)}. See: plurictl vote result {vote_id}")
    if r.waiting:  # a sealed secret vote: who still has to add a share
        out.print(f"Counts not yet decrypted: {r.waiting}.")


@vote.command("status")
@click.argument("vote_id")
@json_option
@pass_app
def status_(app: AppContext, vote_id: str, as_json: bool) -> None:
    """Where a vote stands on this laptop: state, turnout, tellers, sheets, voters."""
    from ledger.votes.writer import find_vote, load
    from plurictl.readouts import vote_status

    votes, roster = load(app.home.store, heard=True)
    v = find_vote(votes, vote_id)
    data = vote_status(v, votes, roster, app.home.store, app.home.path)
    if as_json:
        emit_json(data)
        return
    show.render_status(data)


@vote.command("result")
@click.argument("vote_id")
@click.option(
    "--ballots", is_flag=True, help="With --json: list every ballot and voter (default: counts)."
)
@json_option
@pass_app
def result_(app: AppContext, vote_id: str, ballots: bool, as_json: bool) -> None:
    """The result of a sealed vote. No winner is ever shown before it is sealed.

    Example: plurictl vote result 3fa2c1d0 --json --ballots
    """
    from ledger.votes import as_json as vote_json
    from ledger.votes.writer import find_vote, load

    votes, roster = load(app.home.store)
    v = find_vote(votes, vote_id)
    equivocated = vote_json.equivocated(v, roster)  # shown in every state, not only FINAL
    if as_json:
        from plurictl.readouts import vote_result

        emit_json(vote_result(v, roster, ballots=ballots))
        return
    data = vote_json.result(v, roster)
    if data is None:
        from rich.markup import escape

        best = max((len(s.sealers) for s in v.sheets.values()), default=0)
        out = console()
        out.print(f"[bold]{escape(v.charter.title)}[/]  {state(v.state)}")
        for t in equivocated:
            out.print(f"  [red]{escape(t['message'])}[/]")
        if v.failure:
            out.print(
                f"  {escape(v.failure)}: only this vote is affected. Run `plurictl vote verify`."
            )
        elif v.state == "CONFLICT":
            out.print(
                f"  {len(v.conflict)} sheets each have {v.charter.k} seals: more tellers "
                "equivocated than this vote tolerates. No result: open a new vote."
            )
        elif v.state == "SEALED" and v.stuck is not None:
            out.print(f"  [red]Stuck[/]: sealed, but {escape(v.stuck.advice)}.")
        elif v.state == "SEALED" and v.secret is not None and v.secret.waiting:
            out.print(f"  {escape(v.secret.waiting[:1].upper() + v.secret.waiting[1:])}.")
        elif v.state == "SEALED":
            out.print(
                "  Sealed, but this laptop lacks part of the sealed set (or the roster changes "
                "behind it): sync, then ask again."
            )
        else:
            out.print(
                f"  No result yet: {best} of {v.charter.k} seals on any sheet. "
                "No winner is shown before the vote is sealed."
            )
        return
    show.render_result(data, v.state, v.charter.title)


@vote.command("verify")
@click.argument("vote_id")
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Explain every ballot, not only the first 40 (with --json: every ballot and the "
    "whole status; without, counts per reason).",
)
@json_option
@pass_app
def verify_(app: AppContext, vote_id: str, show_all: bool, as_json: bool) -> None:
    """Recompute a vote from the raw signed entries and explain every ballot. Exit 6 if anything fails.

    Example: plurictl vote verify 3fa2c1d0 --json --all
    """
    from ledger.errors import VerificationFailed
    from ledger.votes.audit import verify
    from plurictl.errors import Failed
    from plurictl.render.common import progress_bar

    store = app.home.store
    rows = 2 * store.count()  # each row counts twice: read, then its signature checked
    bar = progress_bar("Checking entries and signatures", rows, enabled=not as_json, forks=True)
    with bar as advance:
        audit = verify(store, vote_id, progress=advance)
    if as_json:
        emit_json(audit.to_json(every_ballot=show_all))
    else:
        show.render_audit(audit, show_all)
    if not audit.ok:
        raise Failed(VerificationFailed)


@vote.command("receipt")
@click.argument("vote_id")
@json_option
@pass_app
def receipt_(app: AppContext, vote_id: str, as_json: bool) -> None:
    """Is my ballot in the sealed set? Shows a Merkle proof anyone can check."""
    from ledger.votes.audit import receipt

    r = receipt(app.home.store, app.home.identity, vote_id)
    if as_json:
        emit_json(r.to_json())
        return
    show.render_receipt(r)
