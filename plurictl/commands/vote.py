"""`plurictl vote ...`: open, cast, stop, close, seal; list, status, result, verify, receipt."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from plurictl.commands.log import resolve_author
from plurictl.context import AppContext, pass_app
from plurictl.render import console, emit_json, hlc_time, json_option

METHOD_CHOICE = click.Choice(["plurality", "approval", "ranked-choice", "quadratic"])
STATE_STYLE = {"PROVISIONAL": "yellow", "SEALED": "cyan", "FINAL": "bold green"}


def _state(text: str) -> str:
    return f"[{STATE_STYLE.get(text, '')}]{text}[/]"


def _nudge(app: AppContext) -> None:
    from plurictl.nudge import nudge_node

    nudge_node(app.home.path)


# --- parsing `vote open` -----------------------------------------------------------


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:32].strip("-")


def parse_options(texts: list[Any], refs: dict[str, str]) -> list[dict[str, Any]]:
    """`--option ID=LABEL` / `--option LABEL` (or TOML tables) into charter options."""
    from ledger.errors import InvalidInput

    out: list[dict[str, Any]] = []
    for i, t in enumerate(texts, 1):
        if isinstance(t, dict):
            opt = {"id": str(t.get("id") or _slug(str(t.get("label", ""))) or f"o{i}")}
            opt["label"] = str(t.get("label") or opt["id"])
            if t.get("ref"):
                opt["ref"] = str(t["ref"])
        else:
            oid, sep, label = str(t).partition("=")
            if not sep:
                oid, label = _slug(str(t)) or f"o{i}", str(t)
            opt = {"id": oid.strip().lower(), "label": label.strip()}
        if opt["id"] in refs:
            opt["ref"] = refs[opt["id"]]
        out.append(opt)
    unknown = set(refs) - {o["id"] for o in out}
    if unknown:
        raise InvalidInput(f"--ref names no option: {', '.join(sorted(unknown))}")
    return out


def _pairs(texts: tuple[str, ...], flag: str) -> dict[str, str]:
    from ledger.errors import InvalidInput

    out = {}
    for t in texts:
        key, sep, value = t.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidInput(f"{flag} {t!r}: write KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def _weight(text: str, where: str) -> int:
    from ledger.errors import InvalidInput

    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{where}: weight {text!r} is not a whole number") from None


def read_roll_file(app: AppContext, path: Path) -> dict[bytes, int]:
    """Roll file: one member per line, `NAME_OR_KEY [WEIGHT]`; `#` starts a comment."""
    from ledger.errors import InvalidInput

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read roll file {path}: {e}") from e
    roll: dict[bytes, int] = {}
    for n, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) > 2:
            raise InvalidInput(f"{path}:{n}: write NAME_OR_KEY [WEIGHT]")
        key = resolve_author(app, words[0])
        if key in roll:
            raise InvalidInput(f"{path}:{n}: {words[0]} is listed twice")
        roll[key] = _weight(words[1], f"{path}:{n}") if len(words) == 2 else 1
    if not roll:
        raise InvalidInput(f"roll file {path} lists nobody")
    return roll


def _load_toml(path: Path) -> dict[str, Any]:
    import tomllib

    from ledger.errors import InvalidInput

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InvalidInput(f"cannot read vote file {path}: {e}") from e


def build_spec(app: AppContext, file: str | None, flags: dict[str, Any]) -> Any:
    """Merge FILE.toml and flags (flags win) into a VoteSpec with keys resolved."""
    from ledger.errors import InvalidInput
    from ledger.votes import VoteSpec

    data = _load_toml(Path(file)) if file else {}
    known = {
        "title", "text", "method", "options", "roll", "roll_file", "tellers", "weights",
        "seal_threshold", "quorum", "credits", "window",
    }  # fmt: skip
    extra = set(data) - known
    if extra:
        raise InvalidInput(f"{file}: unknown key(s) {', '.join(sorted(extra))}")

    def pick(name: str, default: Any = None) -> Any:
        value = flags.get(name)
        if value not in (None, (), []):
            return value
        return data.get(name, default)

    title = pick("title")
    if not title:
        raise InvalidInput("a vote needs a title", hint='--title "Which plant restarts first?"')
    refs = _pairs(flags.get("refs", ()), "--ref")
    options = parse_options(list(pick("options", [])), refs)
    tellers = [resolve_author(app, str(t)) for t in pick("tellers", [])]
    roll_text, roll_file = pick("roll"), pick("roll_file")
    weights_in = pick("weights", {})
    if isinstance(weights_in, tuple | list):
        weights_in = _pairs(tuple(weights_in), "--weight")
    weights = {resolve_author(app, n): _weight(str(w), "--weight") for n, w in weights_in.items()}
    roll_role, roll, source = None, None, ""
    if roll_file:
        base = Path(file).parent if file and not flags.get("roll_file") else Path(".")
        roll = read_roll_file(app, base / roll_file)
        source = f"file:{Path(roll_file).name}"
    elif isinstance(roll_text, str):
        if not roll_text.startswith("role:"):
            raise InvalidInput(f"--roll {roll_text!r}: write role:ROLE, e.g. role:operator")
        roll_role = roll_text.split(":", 1)[1].strip()
    elif isinstance(roll_text, dict):  # TOML table: NAME = weight
        roll = {resolve_author(app, n): _weight(str(w), "roll") for n, w in roll_text.items()}
        source = "list"
    elif isinstance(roll_text, list):
        roll = {resolve_author(app, str(n)): 1 for n in roll_text}
        source = "list"
    if roll is not None and weights:
        for key, w in weights.items():
            roll[key] = w
        weights = {}
    return VoteSpec(
        title=str(title),
        text=str(pick("text", "") or ""),
        options=options,
        method=str(pick("method", "plurality")),
        tellers=tellers,
        roll_role=roll_role,
        roll=roll,
        weights=weights,
        k=pick("seal_threshold"),
        quorum_pct=int(pick("quorum", 0) or 0),
        credits=pick("credits"),
        window_minutes=pick("window"),
        roll_source=source,
    )


# --- the group ---------------------------------------------------------------------


@click.group()
def vote() -> None:
    """Resilient votes: decide safely even while the mesh is split.

    A coordinator opens a vote, members on its roll cast ballots, a
    coordinator closes it (a sheet listing the ballot set) and tellers seal
    it; more than half of the tellers must seal the same sheet, so two sides
    of a partition can never both decide. See field_guides/voting.md.
    """


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
@click.option(
    "--seal-threshold",
    type=click.IntRange(min=1),
    help="Seals needed (default: more than half the tellers).",
)
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
@json_option
@pass_app
def open_(app: AppContext, file: str | None, as_json: bool, **flags: Any) -> None:
    """Open a vote (coordinator). Give flags, or a FILE.toml with the same keys.

    Example: plurictl vote open --title "Restart order" --option north="North plant"
    --option south="South plant" --method plurality --roll role:operator
    --teller bob --teller carol --teller dave --quorum 50
    """
    from ledger.votes import open_vote

    spec = build_spec(app, file, flags)
    entry = open_vote(app.home.store, app.home.identity, spec)
    _nudge(app)
    body = entry.body
    if as_json:
        emit_json({"vote": entry.id.hex(), "charter": entry.to_json()})
        return
    roster = app.home.store.roster()
    out = console()
    short = entry.id.hex()[:12]
    out.print(f"[green]Vote opened:[/] [bold]{body['title']}[/]")
    out.print(f"  vote id:  {entry.id.hex()}  (short: [bold]{short}[/])")
    opts = ", ".join(f"{o['id']} ({o['label']})" for o in body["options"])
    out.print(f"  method:   {body['method']} · options: {opts}")
    quorum = f"quorum {body['quorum_pct']}%" if body["quorum_pct"] else "no quorum rule"
    out.print(
        f"  roll:     {body['roll_size']} voters, weight {body['roll_weight']} "
        f"({body['roll_source']}) · {quorum}"
    )
    tellers = ", ".join(roster.name_of(bytes.fromhex(t)) for t in body["tellers"])
    out.print(f"  tellers:  {tellers} — sealing needs {body['k']} of {len(body['tellers'])}")
    out.print(f"Voters run: plurictl vote cast {short} CHOICE...")


@vote.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List the votes this laptop knows, with state and turnout."""
    from rich.table import Table

    from ledger.views import vote_json
    from ledger.votes import load

    votes, roster = load(app.home.store)
    rows = [
        vote_json.summary(v, roster)
        for _, v in sorted(votes.votes.items(), key=lambda kv: kv[1].charter.hlc)
    ]
    if as_json:
        emit_json({"votes": rows, "waiting": [w.to_json() for w in votes.waiting]})
        return
    out = console()
    if not rows:
        out.print("No votes on this laptop yet. A coordinator opens one with `plurictl vote open`.")
        return
    table = Table(title=f"{len(rows)} vote(s)")
    table.add_column("vote", no_wrap=True)
    for col in ("title", "method", "state", "turnout", "seals", "result"):
        table.add_column(col)
    for r in rows:
        result = "-"
        if r["state"] == "FINAL":
            result = r["winner"]["label"] if r["winner"] else r["outcome"]
        table.add_row(
            r["id"][:12],
            r["title"],
            r["method"],
            _state(r["state"]),
            f"{r['voted']}/{r['roll_size']}",
            f"{r['seals']}/{r['k']}",
            result,
        )
    out.print(table)
    if votes.waiting:
        out.print(f"[dim]{len(votes.waiting)} vote entries wait for data not synced yet.[/]")


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
    from ledger.votes import cast, find_vote, load, parse_choice

    if blank and choice:
        raise InvalidInput("give either CHOICE or --blank, not both")
    if not blank and not choice:
        raise InvalidInput("say what you vote for", hint="or cast a blank ballot with --blank")
    votes, _ = load(app.home.store)
    method = find_vote(votes, vote_id).charter.method
    result = cast(app.home.store, app.home.identity, vote_id, parse_choice(method, choice))
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


@vote.command("stop")
@click.argument("vote_id")
@pass_app
def stop_(app: AppContext, vote_id: str) -> None:
    """Teller: stop taking ballots, announcing how many this laptop holds."""
    from ledger.votes import stop

    entry, v = stop(app.home.store, app.home.identity, vote_id)
    _nudge(app)
    console().print(
        f"[green]Stopped[/] {v.charter.title}: this laptop holds {entry.body['count']} ballot(s) "
        f"(root {entry.body['root'][:16]}). A coordinator can now close: "
        f"plurictl vote close {v.id.hex()[:12]}"
    )


@vote.command("close")
@click.argument("vote_id")
@click.option("--force", is_flag=True, help="Close even if a teller stopped holding more ballots.")
@json_option
@pass_app
def close_(app: AppContext, vote_id: str, force: bool, as_json: bool) -> None:
    """Coordinator: write the close sheet (every ballot this laptop holds, with its Merkle root)."""
    from ledger.votes import close

    r = close(app.home.store, app.home.identity, vote_id, force=force)
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
@json_option
@pass_app
def seal_(
    app: AppContext,
    vote_id: str,
    sheet_id: str | None,
    accept_late: bool,
    as_json: bool,
) -> None:
    """Teller: countersign a close sheet. A teller seals at most ONE sheet per vote."""
    from ledger.votes import seal

    r = seal(
        app.home.store,
        app.home.identity,
        vote_id,
        sheet_text=sheet_id,
        accept_late=accept_late,
    )
    _nudge(app)
    if as_json:
        emit_json(
            {
                "seal": r.entry.id.hex(),
                "sheet": r.sheet.id.hex(),
                "seals": r.seals,
                "k": r.k,
                "state": r.state,
            }
        )
        return
    out = console()
    out.print(
        f"[green]Sealed[/] sheet {r.sheet.id.hex()[:12]} ({r.sheet.count} ballots): {r.seals} of {r.k} seals"
    )
    if r.state == "PROVISIONAL":
        out.print(
            f"Waiting for {r.k - r.seals} more teller(s). The vote stays {_state('PROVISIONAL')}."
        )
    else:
        out.print(f"The vote is now {_state(r.state)}. See: plurictl vote result {vote_id}")


# --- reading -----------------------------------------------------------------------

MAX_ROWS = 40


def _render_status(data: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    c = data["charter"]
    out.print(f"[bold]{c['title']}[/]  ({data['id'][:12]})  {_state(data['state'])}")
    if c["text"]:
        out.print(f"  {c['text']}")
    opts = ", ".join(f"{o['id']} ({o['label']})" for o in c["options"])
    extra = f" · {c['credits']} credits each" if c["credits"] else ""
    out.print(f"  method {c['method']}{extra} · options: {opts}")
    if c["window_minutes"] is not None:
        close_ms = (c["opened_hlc"] >> 16) + c["window_minutes"] * 60_000
        out.print(f"  advisory stop time: {hlc_time(close_ms << 16)} UTC (clocks never decide)")
    t = data["turnout"]
    pct = 100 * t["weight"] / t["roll_weight"] if t["roll_weight"] else 0
    quorum = f" · quorum {t['quorum_pct']}% of the roll" if t["quorum_pct"] else ""
    out.print(
        f"  turnout: {t['voters']} of {t['roll_size']} voters, weight {t['weight']} of "
        f"{t['roll_weight']} ({pct:.0f}%){quorum}"
    )
    tellers = []
    for x in data["tellers_detail"]:
        mark = "sealed" if x["sealed_sheet"] else "stopped" if x["stopped"] else "open"
        if x["equivocated"]:
            mark = "[red]EQUIVOCATED[/]"
        tellers.append(f"{x['name']} ({mark})")
    out.print(f"  tellers: {', '.join(tellers)} — sealing needs {c['k']}")
    if data["state"] == "PROVISIONAL":
        counts = ", ".join(f"{k} {v}" for k, v in data["provisional_counts"].items())
        label = "first preferences" if c["method"] == "ranked-choice" else "counts"
        out.print(f"  provisional {label} (this laptop only, NOT a result): {counts}")
    if data["sheets"]:
        table = Table(title="close sheets")
        for col in ("sheet", "by", "ballots", "seals", "sealed by", "note"):
            table.add_column(col)
        for s in data["sheets"]:
            note = s["problem"] or ("SEALED" if s["sealed"] else "")
            if s["missing_parts"]:
                note = f"{len(s['missing_parts'])} part(s) not here yet"
            table.add_row(
                s["id"][:12], s["by_name"], str(s["count"]), f"{s['seals']}/{c['k']}",
                ", ".join(s["sealers"]), note,
            )  # fmt: skip
        out.print(table)
    if data["missing_ballots"]:
        out.print(
            f"[yellow]Sealed, but {len(data['missing_ballots'])} listed ballot(s) are not here yet: sync.[/]"
        )
    for d in data["double_votes"]:
        ids = " and ".join(b["id"][:12] for b in d["ballots"])
        out.print(
            f"[red]Double vote[/]: {d['name']} — ballots {ids} do not name each other; slot void"
        )
    for e in data["teller_equivocations"]:
        out.print(
            f"[red]Teller equivocation[/]: {e['name']} sealed sheet {e['counted']['sheet'][:12]} "
            f"and then {', '.join(s['sheet'][:12] for s in e['others'])}; only the first counts"
        )
    voters = data["voters"]
    table = Table(title="voters (last heard = newest entry this laptop has from them)")
    for col in ("voter", "weight", "ballot", "last heard (UTC)"):
        table.add_column(col)
    for v in voters[:MAX_ROWS]:
        style = {"void": "red", "not heard": "dim", "spoiled": "yellow"}.get(v["status"], "")
        heard = hlc_time(v["last_heard"]) if v["last_heard"] else "never"
        table.add_row(v["name"], str(v["weight"]), v["status"], heard, style=style)
    out.print(table)
    if len(voters) > MAX_ROWS:
        out.print(f"[dim]... and {len(voters) - MAX_ROWS} more voters (--json shows all).[/]")
    if data["ignored"]:
        out.print(
            f"[dim]{len(data['ignored'])} entries of this vote are ignored or waiting (see --json).[/]"
        )


@vote.command("status")
@click.argument("vote_id")
@json_option
@pass_app
def status_(app: AppContext, vote_id: str, as_json: bool) -> None:
    """Where a vote stands on this laptop: state, turnout, tellers, sheets, voters."""
    from ledger.views import vote_json
    from ledger.votes import find_vote, load

    votes, roster = load(app.home.store, heard=True)
    data = vote_json.status(find_vote(votes, vote_id), votes, roster)
    if as_json:
        emit_json(data)
        return
    _render_status(data)


def _render_result(data: dict[str, Any], state: str, title: str) -> None:
    from rich.table import Table

    out = console()
    out.print(f"[bold]{title}[/]  {_state(state)}")
    outcome = data["outcome"]
    if data["winner"]:
        w = data["winner"]
        ref = f"  (ref {w['ref']})" if w["ref"] else ""
        out.print(f"  [bold green]WINNER: {w['label']}[/] [{w['id']}]{ref}")
    elif outcome == "tie":
        out.print(
            f"  [bold yellow]TIE[/] between {', '.join(data['tied'])}: no winner; re-run the vote"
        )
    elif outcome == "no quorum":
        out.print(
            f"  [bold red]NO QUORUM[/]: {data['quorum_pct']}% of the roll's weight had to vote"
        )
    else:
        out.print("  [bold yellow]NO VOTES[/] for any option")
    if data["rounds"]:
        table = Table(title="instant-runoff rounds")
        table.add_column("round")
        for oid in data["rounds"][0]["counts"]:
            table.add_column(oid)
        table.add_column("exhausted")
        table.add_column("eliminated")
        for i, r in enumerate(data["rounds"], 1):
            cells = [str(r["counts"].get(o, "-")) for o in data["rounds"][0]["counts"]]
            note = r["eliminated"] or ""
            if r["tie_break"]:
                note += f" ({r['tie_break']})"
            table.add_row(str(i), *cells, str(r["exhausted"]), note)
        out.print(table)
    else:
        table = Table(title="counts (weighted)")
        table.add_column("option")
        table.add_column("count", justify="right")
        for oid, n in sorted(data["counts"].items(), key=lambda kv: -kv[1]):
            table.add_row(oid, str(n))
        out.print(table)
    pct = 100 * data["turnout_weight"] / data["roll_weight"]
    met = "met" if data["quorum_met"] else "[red]NOT met[/]"
    out.print(
        f"  turnout {data['turnout_weight']} of {data['roll_weight']} ({pct:.0f}%) · quorum "
        f"{data['quorum_pct']}% {met} · margin {data['margin']} · missing {data['missing_weight']}"
    )
    if data["decided_regardless"]:
        out.print(
            "  [green]Decided regardless:[/] the missing voters could not have changed the winner."
        )
    elif data["winner"]:
        out.print("  Not decided regardless: the missing voters could have changed the winner.")
    reasons: dict[str, int] = {}
    for u in data["uncounted"]:
        key = u["reason"].split(":")[0]
        reasons[key] = reasons.get(key, 0) + 1
    out.print(f"  counted ballots: {len(data['counted'])}")
    for why, n in sorted(reasons.items()):
        out.print(f"  not counted — {why}: {n}")
    for v in data["void"]:
        out.print(
            f"  [red]void slot[/] {v['name']}: ballots {' and '.join(b['id'][:12] for b in v['ballots'])}"
        )
    out.print(f"  sealed sheet {data['sheet'][:12]}, Merkle root {data['root']}")


@vote.command("result")
@click.argument("vote_id")
@json_option
@pass_app
def result_(app: AppContext, vote_id: str, as_json: bool) -> None:
    """The result of a sealed vote. No winner is ever shown before it is sealed."""
    from ledger.views import vote_json
    from ledger.votes import find_vote, load

    votes, roster = load(app.home.store)
    v = find_vote(votes, vote_id)
    data = vote_json.result(v, roster)
    if as_json:
        emit_json({"vote": v.id.hex(), "state": v.state, "result": data})
        return
    if data is None:
        best = max((len(s.sealers) for s in v.sheets.values()), default=0)
        out = console()
        out.print(f"[bold]{v.charter.title}[/]  {_state(v.state)}")
        if v.state == "SEALED":
            out.print(
                "  Sealed, but this laptop lacks part of the sealed set: sync, then ask again."
            )
        else:
            out.print(
                f"  No result yet: {best} of {v.charter.k} seals on any sheet. "
                "No winner is shown before the vote is sealed."
            )
        return
    _render_result(data, v.state, v.charter.title)


@vote.command("verify")
@click.argument("vote_id")
@click.option(
    "--all", "show_all", is_flag=True, help="Explain every ballot, not only the first 40."
)
@json_option
@pass_app
def verify_(app: AppContext, vote_id: str, show_all: bool, as_json: bool) -> None:
    """Recompute a vote from the raw signed entries and explain every ballot. Exit 6 if anything fails."""
    from ledger.vote_audit import verify
    from plurictl.errors import Failed
    from plurictl.render import progress_bar

    store = app.home.store
    with progress_bar("Checking signatures", store.count(), enabled=not as_json) as advance:
        audit = verify(store, vote_id, progress=advance)
    if as_json:
        emit_json(audit.to_json())
    else:
        from rich.table import Table

        out = console()
        verdict = "[green]OK[/]" if audit.ok else "[red]PROBLEM[/]"
        out.print(
            f"{verdict}: {audit.checked} entries read, signatures of roster and vote entries checked"
        )
        out.print(
            f"  recomputed state: {_state(audit.vote.state)}; same as this laptop's view: {audit.same_as_store}"
        )
        if audit.sealed_root_ok is not None:
            out.print(
                f"  sealed sheet's Merkle root recomputed: {'matches' if audit.sealed_root_ok else 'DOES NOT MATCH'}"
            )
        for b in audit.bad:
            out.print(f"[red]BAD[/] {b.kind} seq {b.seq} ({b.id.hex()[:12]}): {b.reason}")
        rows = audit.ballots if show_all else audit.ballots[:MAX_ROWS]
        table = Table(title="ballots")
        for col in ("ballot", "voter", "seq", "choice", "counted", "why"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                r["ballot"][:12], r["name"], str(r["seq"]), str(r["choice"]),
                "yes" if r["counted"] else "no", r["reason"],
            )  # fmt: skip
        out.print(table)
        if len(rows) < len(audit.ballots):
            out.print(f"[dim]... {len(audit.ballots) - len(rows)} more (use --all or --json).[/]")
    if not audit.ok:
        raise Failed(6)


@vote.command("receipt")
@click.argument("vote_id")
@json_option
@pass_app
def receipt_(app: AppContext, vote_id: str, as_json: bool) -> None:
    """Is my ballot in the sealed set? Shows a Merkle proof anyone can check."""
    from ledger.vote_audit import receipt

    r = receipt(app.home.store, app.home.identity, vote_id)
    if as_json:
        emit_json(r.to_json())
        return
    out = console()
    style = {"in sealed set": "green", "late": "red", "not on roll": "red"}.get(r.status, "yellow")
    out.print(f"[bold]{r.vote.charter.title}[/]  {_state(r.vote.state)}")
    out.print(f"  [{style}]{r.message}[/]")
    if r.in_set is not None and r.root is not None:
        out.print(f"  ballot {r.in_set.id.hex()}")
        out.print(
            f"  sealed root {r.root.hex()}; proof: {len(r.proof or [])} hashes, checked: {r.proof_ok}"
        )
