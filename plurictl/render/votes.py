"""Rich output of the vote commands, for a tired operator: state first, then details."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plurictl.render.common import console, hlc_time

if TYPE_CHECKING:
    from rich.console import Console

STATE_STYLE = {
    "PROVISIONAL": "yellow",
    "SEALED": "cyan",
    "FINAL": "bold green",
    "CONFLICT": "bold red",
    "FAILED": "bold red",
}
MAX_ROWS = 40


def escape(text: str) -> str:
    """Signed text shown as plain text, never as rich markup (rich loaded only to render)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def state(text: str) -> str:
    return f"[{STATE_STYLE.get(text, '')}]{text}[/]"


def safe(value: Any) -> Any:
    """``value`` with every string escaped for rich: titles, labels, names, reasons and
    choices are signed data that anyone on the roster or roll wrote, never markup."""
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {k: safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [safe(v) for v in value]
    return value


def render_opened(vote_id: str, body: dict[str, Any], roster: Any) -> None:
    """What `vote open` prints: the id to read aloud and the rules of this vote."""
    out = console()
    short = vote_id[:12]
    body = safe(body)
    out.print(f"[green]Vote opened:[/] [bold]{body['title']}[/]")
    out.print(f"  vote id:  {vote_id}  (short: [bold]{short}[/])")
    opts = ", ".join(f"{o['id']} ({o['label']})" for o in body["options"])
    out.print(f"  method:   {body['method']} · options: {opts}")
    quorum = f"quorum {body['quorum_pct']}%" if body["quorum_pct"] else "no quorum rule"
    out.print(
        f"  roll:     {body['roll_size']} voters, weight {body['roll_weight']} "
        f"({body['roll_source']}) · {quorum}"
    )
    tellers = ", ".join(escape(roster.name_of(bytes.fromhex(t))) for t in body["tellers"])
    out.print(
        f"  tellers:  {tellers} — sealing needs {body['k']} of {len(body['tellers'])}, "
        f"tolerates {body['f']} equivocating teller(s)"
    )
    out.print(f"Voters run: plurictl vote cast {short} CHOICE...")


def render_list(rows: list[dict[str, Any]], waiting: int) -> None:
    from rich.table import Table

    out = console()
    if not rows:
        out.print("No votes on this laptop yet. A coordinator opens one with `plurictl vote open`.")
        return
    rows = safe(rows)
    table = Table(title=f"{len(rows)} vote(s)")
    table.add_column("vote", no_wrap=True)
    for col in ("title", "method", "state", "turnout", "seals", "result"):
        table.add_column(col)
    for r in rows:
        result = "-"
        if r["state"] == "FINAL":
            result = r["winner"]["label"] if r["winner"] else r["outcome"]
        elif r["state"] == "FAILED":
            result = "count failed"
        elif r["stuck"]:
            result = "stuck: re-vote"
        table.add_row(
            r["id"][:12],
            r["title"],
            r["method"],
            state(r["state"]),
            f"{r['voted']}/{r['roll_size']}",
            f"{r['seals']}/{r['k']}",
            result,
        )
    out.print(table)
    if waiting:
        out.print(f"[dim]{waiting} vote entries wait for data not synced yet.[/]")


def render_status(data: dict[str, Any]) -> None:
    """What `vote status` prints: state and rules, turnout, tellers, result, sheets,
    warnings, then the voters."""
    out = console()
    data = safe(data)
    c = data["charter"]
    _status_head(out, data, c)
    _status_rules(out, c)
    _status_turnout(out, data["turnout"])
    _status_tellers(out, data, c)
    _status_result(out, data, c)
    if data["sheets"]:
        _status_sheets(out, data["sheets"], c["k"])
    _status_warnings(out, data)
    _status_voters(out, data["voters"])
    if data["ignored"]:
        out.print(
            f"[dim]{len(data['ignored'])} entries of this vote are ignored or waiting (see --json).[/]"
        )
    _status_next_seal(out, data.get("next_seal"))  # last: what to do now


def _status_head(out: Console, data: dict[str, Any], c: dict[str, Any]) -> None:
    """The title and state, and a failed count or a conflict, which outrank the rest."""
    out.print(f"[bold]{c['title']}[/]  ({data['id'][:12]})  {state(data['state'])}")
    if data["failure"]:
        out.print(
            f"[red]{data['failure']}[/]: this vote only; other votes and commands are fine. "
            "Run `plurictl vote verify` and report it (with the vote id)."
        )
    if data["conflict_sheets"]:
        out.print(
            f"[red]{len(data['conflict_sheets'])} sheets each have {c['k']} seals[/]: more "
            f"tellers equivocated than this vote tolerates (f={c['f']}). No result can be "
            "trusted: open a new vote with other tellers."
        )


def _status_rules(out: Console, c: dict[str, Any]) -> None:
    """The charter's text, method, options and advisory stop time."""
    if c["text"]:
        out.print(f"  {c['text']}")
    opts = ", ".join(f"{o['id']} ({o['label']})" for o in c["options"])
    extra = f" · {c['credits']} credits each" if c["credits"] else ""
    out.print(f"  method {c['method']}{extra} · options: {opts}")
    if c["window_minutes"] is not None:
        close_ms = (c["opened_hlc"] >> 16) + c["window_minutes"] * 60_000
        out.print(f"  advisory stop time: {hlc_time(close_ms << 16)} UTC (clocks never decide)")


def _status_turnout(out: Console, t: dict[str, Any]) -> None:
    pct = 100 * t["weight"] / t["roll_weight"] if t["roll_weight"] else 0
    quorum = f" · quorum {t['quorum_pct']}% of the roll" if t["quorum_pct"] else ""
    out.print(
        f"  turnout: {t['voters']} of {t['roll_size']} voters, weight {t['weight']} of "
        f"{t['roll_weight']} ({pct:.0f}%){quorum}"
    )


def _teller_mark(x: dict[str, Any]) -> str:
    """One teller's state: equivocated outranks sealed, then an empty seat, then open/stopped."""
    if x["equivocated"]:
        return "[red]EQUIVOCATED[/]"
    if x["sealed_sheet"] and x.get("seat_changed"):
        cut = x["seat_changed"]
        return f"sealed {x['sealed_sheet'][:8]}; {cut} since the vote opened: the seal still counts"
    if x["sealed_sheet"]:
        return f"sealed {x['sealed_sheet'][:8]}"
    if x.get("seat_gone"):
        return f"[red]{x['seat_gone']}: seat empty[/]"
    return "stopped" if x["stopped"] else "open"


def _status_tellers(out: Console, data: dict[str, Any], c: dict[str, Any]) -> None:
    tellers = [f"{x['name']} ({_teller_mark(x)})" for x in data["tellers_detail"]]
    tolerates = f" (tolerates {c['f']} equivocating)" if c["f"] is not None else ""
    out.print(f"  tellers: {', '.join(tellers)} — sealing needs {c['k']}{tolerates}")
    for t in data["equivocated_tellers"]:
        out.print(f"[red]{t['message']}[/]")


def _status_result(out: Console, data: dict[str, Any], c: dict[str, Any]) -> None:
    """Stuck advice, the result (if any), and provisional counts (clearly not a result)."""
    if data["stuck_detail"]:
        out.print(f"[red]Stuck[/]: {data['stuck_detail']['advice']}.")
    result = data["result"]
    if result is not None:
        outcome = result["winner"]["label"] if result["winner"] else result["outcome"].upper()
        sure = " (decided regardless)" if result["decided_regardless"] else ""
        out.print(
            f"  [bold]result: {outcome}[/]{sure} — details: plurictl vote result {data['id'][:12]}"
        )
    if data.get("secret"):
        _status_secret(out, data)
    elif data["state"] == "PROVISIONAL":
        counts = ", ".join(f"{k} {v}" for k, v in data["provisional_counts"].items())
        label = "first preferences" if c["method"] == "ranked-choice" else "counts"
        out.print(f"  provisional {label} (this laptop only, NOT a result): {counts}")


def _status_secret(out: Console, data: dict[str, Any]) -> None:
    """A secret vote: never counts before sealing; once sealed, the shares and what waits."""
    sec = data["secret"]
    dec = sec["decryption"]
    said = (
        sec["provisional"]
        if dec is None
        else "counts decrypted"
        if dec["counts"] is not None
        else f"[yellow]{escape(dec['waiting'])}[/]"
        if dec["waiting"]  # one line: "sealed; decrypting: m of k shares; waiting for ..."
        else "sealed, counts not decrypted yet (k valid decryption shares needed)"
    )
    out.print(f"  secret ballot (joint key {sec['joint_key'][:16]}...): {said}")
    if dec is None:
        return
    for s in dec["shares"]:
        mark = "valid" if s["valid"] else f"[red]INVALID, not used[/]: {escape(s['problem'] or '')}"
        via = " (vote.share)" if s.get("kind") == "vote.share" else ""
        out.print(f"  decryption share of teller {s['teller']}{via}: {mark}")


def _status_sheets(out: Console, sheets: list[dict[str, Any]], k: int) -> None:
    from rich.table import Table

    table = Table(title="close sheets")
    for col in ("sheet", "by", "ballots", "seals", "sealed by", "note"):
        table.add_column(col)
    for s in sheets:
        note = s["problem"] or ("SEALED" if s["sealed"] else "")
        if s["missing_parts"]:
            note = f"{len(s['missing_parts'])} part(s) not here yet"
        table.add_row(
            s["id"][:12], s["by_name"], str(s["count"]), f"{s['seals']}/{k}",
            ", ".join(s["sealers"]), note,
        )  # fmt: skip
    out.print(table)


def _status_warnings(out: Console, data: dict[str, Any]) -> None:
    """Sheets known only by their seals; ballots late, missing or unproven; double votes;
    tellers who sealed twice."""
    for sh in data.get("sheets_not_here", []):
        out.print(
            f"[yellow]Sheet {sh['id'][:12]} is not on this laptop ({sh['seals']} seal(s) seen "
            "on it): sync with the coordinator's laptop before sealing.[/]"
        )
    if data["late_ballots"]:
        out.print(
            f"  {len(data['late_ballots'])} ballot(s) here are not on the sealed sheet: uncounted (late)"
        )
    if data["missing_ballots"]:
        out.print(
            f"[yellow]Sealed, but {len(data['missing_ballots'])} listed ballot(s) are not here yet: sync.[/]"
        )
    elif data["unproven_ballots"]:
        out.print(
            f"[yellow]Sealed, but this laptop's roster does not show a voter role for "
            f"{len(data['unproven_ballots'])} listed ballot(s) yet: sync (the roster changes "
            "that gave them a vote have not arrived).[/]"
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


def _status_next_seal(out: Console, step: dict[str, Any] | None) -> None:
    """This laptop's teller seat has not sealed: the command that seals now."""
    if step is None:
        return
    if not step["accept_late"]:
        what = step["why"] or f"seals sheet {step['sheet'][:8]}"
        out.print(f"  Your seal: `{step['command']}` {what}.")
        return
    out.print(f"  [yellow]Your seal[/]: `{step['command']}`: {step['why']}.")


def _status_voters(out: Console, voters: list[dict[str, Any]]) -> None:
    from rich.table import Table

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


def render_result(data: dict[str, Any], vote_state: str, title: str) -> None:
    from rich.table import Table

    out = console()
    data, title = safe(data), escape(title)
    out.print(f"[bold]{title}[/]  {state(vote_state)}")
    for t in data["equivocated_tellers"]:
        out.print(f"  [red]{t['message']}[/]")
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
            note = ", ".join(r["eliminated"])
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


def render_audit(audit: Any, show_all: bool) -> None:
    """`vote verify`: the verdict, anything bad, then one line per ballot."""
    from rich.table import Table

    out = console()
    verdict = "[green]OK[/]" if audit.ok else "[red]PROBLEM[/]"
    out.print(f"{verdict}: {audit.checked} entries read; roster and vote signatures checked")
    for p in audit.problems:
        out.print(f"  [red]{escape(p)}[/]: do not announce a result from this laptop")
    out.print(
        f"  recomputed state: {state(audit.vote.state)}; "
        f"same as this laptop's view: {'yes' if audit.same_as_store else '[red]NO[/]'}"
    )
    if audit.sealed_root_ok is not None:
        ok = "matches" if audit.sealed_root_ok else "[red]DOES NOT MATCH[/]"
        out.print(f"  sealed sheet's Merkle root recomputed: {ok}")
    from ledger.votes import as_json as vote_json

    for t in safe(vote_json.equivocated(audit.vote, audit.roster)):
        out.print(f"  [red]{t['message']}[/]")
    if audit.vote.failure:
        out.print(f"  [red]{escape(audit.vote.failure)}[/]")
    if audit.vote.stuck is not None:
        out.print(f"  [red]Stuck[/]: {escape(audit.vote.stuck.advice)}.")
    if audit.secret is not None:
        _audit_secret(out, audit.secret)
    for b in audit.bad:
        out.print(
            f"[red]BAD[/] {escape(b.kind or 'entry')} seq {b.seq}"
            f"{' of ' + b.author.hex()[:12] if b.author else ''} ({b.id.hex()[:12]}): "
            f"{escape(b.reason)}"
        )
    for i in audit.ignored:
        out.print(
            f"[yellow]IGNORED[/] {escape(i.kind)} seq {i.seq} of "
            f"{escape(audit.roster.name_of(i.author))} ({i.id.hex()[:12]}): {escape(i.reason)}"
        )
    rows = audit.ballots if show_all else audit.ballots[:MAX_ROWS]
    table = Table(title="ballots")
    for col in ("ballot", "voter", "seq", "choice", "counted", "why"):
        table.add_column(col)
    for r in rows:
        choice = "sealed (no tracker)" if r["choice"] == "sealed:" else str(r["choice"])
        table.add_row(
            r["ballot"][:12], escape(r["name"]), str(r["seq"]), escape(choice),
            "yes" if r["counted"] else "no", escape(r["reason"]),
        )  # fmt: skip
    out.print(table)
    if len(rows) < len(audit.ballots):
        out.print(f"[dim]... {len(audit.ballots) - len(rows)} more (use --all).[/]")


def _audit_secret(out: Console, sec: dict[str, Any]) -> None:
    """`vote verify` of a secret vote: proofs, product, shares, counts."""

    def said(value: bool | None) -> str:
        return "not yet" if value is None else "checked" if value else "[red]DOES NOT HOLD[/]"

    out.print(
        f"  secret ballots: {sec['ballots_verified']} with valid proofs, "
        f"{sec['ballots_rejected']} rejected (spoiled)"
    )
    out.print(f"  homomorphic product of the counted ballots: {said(sec['product_check'])}")
    for s in sec["shares"]:
        mark = (
            "valid" if s["valid"] else f"[red]INVALID, not used[/] ({escape(s['problem'] or '')})"
        )
        via = " (vote.share)" if s.get("kind") == "vote.share" else ""
        out.print(f"  decryption share of teller {s['teller']}{via}: {mark}")
    if sec.get("shares_check") is not None:
        out.print(f"  valid decryption shares, re-checked: {said(sec['shares_check'])}")
    if sec["counts"] is None:
        out.print("  counts: not decrypted yet (k valid decryption shares needed)")
    else:
        counts = ", ".join(f"{escape(k)} {v}" for k, v in sec["counts"].items())
        out.print(f"  counts ({counts}): {said(sec['counts_check'])}")
    if sec["waiting"]:
        out.print(f"  [yellow]{escape(sec['waiting'])}[/]")


def render_receipt(r: Any) -> None:
    """`vote receipt`: one sentence, then the proof's anchor."""
    out = console()
    style = {"in sealed set": "green", "late": "red", "not on roll": "red"}.get(r.status, "yellow")
    out.print(f"[bold]{escape(r.vote.charter.title)}[/]  {state(r.vote.state)}")
    out.print(f"  [{style}]{escape(r.message)}[/]")
    if r.tracker:
        out.print(f"  tracker {r.tracker} (the hash of your encrypted ballot)")
    if r.in_set is not None and r.root is not None:
        out.print(f"  ballot {r.in_set.id.hex()}")
        out.print(
            f"  sealed root {r.root.hex()}; proof: {len(r.proof or [])} hashes, "
            f"checked: {r.proof_ok}"
        )


def seals_of(seals: int, k: int) -> str:
    """Seals against the threshold: "2 of 3 seals", past it "4 seals (3 needed)"."""
    return f"{seals} of {k} seals" if seals <= k else f"{seals} seals ({k} needed)"
