"""Rendering playbooks and runs: rich checklists for the terminal, Markdown for reports.

Pure presentation over the view's data; the laptop clock (``now_ms``) is used
for hold countdowns only.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ledger.playbooks import view
from ledger.playbooks.format import Playbook, format_duration
from ledger.playbooks.writer import CatalogueItem
from plurictl.render.common import hlc_time

STATE_STYLE = {
    view.DONE: "green",
    view.READY: "bold cyan",
    view.HOLDING: "yellow",
    view.BLOCKED: "dim",
    view.FAILED: "bold red",
    view.SKIPPED: "magenta",
}
RUN_STYLE = {view.RUNNING: "bold cyan", view.ABORTED: "bold red", view.COMPLETE: "bold green"}
ACTION_WORDS = {
    view.SIGN: "signed",
    view.FAIL_KIND: "reported FAILED",
    view.SKIP: "skipped",
    view.ABORT: "ABORTED the run",
    view.RESUME: "resumed",
    view.WAIVE: "waived a check of",
}


def run_label(run: view.Run) -> str:
    return f"{run.id.hex()[:12]}"


def _state_text(run: view.Run, step_id: str, now_ms: int | None) -> Text:
    shown, left = run.display(step_id, now_ms)
    label = shown if left is None else f"{shown} {format_duration(left)}"
    return Text(
        label.upper() if shown in (view.FAILED, view.READY) else label, style=STATE_STYLE[shown]
    )


def _notes(run: view.Run, st: view.StepState, now_ms: int | None) -> str:
    notes: list[str] = []
    shown, left = run.display(st.step.id, now_ms)
    if shown == view.HOLDING and left is not None:
        notes.append(f"hold: wait {format_duration(left)}")
    until = st.hold_until_ms
    if st.state == view.DONE and until is not None and now_ms is not None and now_ms < until:
        notes.append(
            f"hold {st.step.hold} running: {format_duration((until - now_ms) / 1000)} left"
        )
    if st.state == view.BLOCKED:
        notes.extend(st.blocked_by)
        # the checks that already pass, so each check shows with its number (playbooks.md)
        notes.extend(f"check #{c.index} pass: {c.detail}" for c in st.checks if c.status == "pass")
    if st.state == view.FAILED:
        notes.extend(f"failed ({f.name}): {f.text}" for f in st.failures)
    if st.state == view.SKIPPED and st.skipped_by is not None:
        notes.append(f"skipped by {st.skipped_by.name}: {st.skipped_by.text}")
    if st.state in (view.READY, view.HOLDING):
        for c in st.checks:
            if c.status in ("waived", "attest"):
                notes.append(f"check #{c.index}: {c.detail}")
        if st.missing_functions:
            notes.append("still needs " + ", ".join(f"role:{f}" for f in st.missing_functions))
        if st.step.type == "release" and not st.signers:
            facts = run.release_facts()
            seen = ", ".join(f"{k}={f['value']} ({f['step']}, {f['by']})" for k, f in facts.items())
            notes.append(escape("at release: " + (seen or "no readings entered yet")))
        if st.step.readings and not st.signers:
            notes.append("readings: " + ", ".join(r.describe() for r in st.step.readings))
    notes.extend(_signed_readings(st))
    return "\n".join(notes)


def _signed_readings(st: view.StepState) -> list[str]:
    """What each signer read (and any override), as signed."""
    out = []
    for r in st.signers:
        given = r.body.get("readings")
        if isinstance(given, dict) and given:
            shown = ", ".join(
                f"{k}={v:g}" if isinstance(v, int | float) else f"{k}={v}" for k, v in given.items()
            )
            out.append(escape(f"{r.name} read {shown}"))
        why = r.body.get("override")
        if isinstance(why, str) and why.strip():
            out.append(f"[yellow]{escape(r.name)} overrode a limit: {escape(why)}[/]")
        facts = r.body.get("facts") if st.step.type == "release" else None
        if isinstance(facts, dict) and facts:
            seen = ", ".join(
                f"{k}={f.get('value')} ({f.get('step')})"
                for k, f in facts.items()
                if isinstance(f, dict)
            )
            out.append(escape(f"released by {r.name} having seen {seen}"))
    return out


def status_renderable(run: view.Run, now_ms: int | None) -> Group:
    """The checklist a coordinator reads: one row per step, who signed, what blocks."""
    pb = run.playbook
    done, total = run.progress()
    head = Text()
    head.append(f"Run {run_label(run)}  ", style="bold")
    head.append(f"{pb.title} (v{pb.version}, sha256 {pb.hash[:12]})")
    if run.site:
        head.append(f"  site: {run.site}")
    state = Text("State: ")
    state.append(run.state.upper(), style=RUN_STYLE[run.state])
    state.append(
        f" - {done} of {total} steps done - started by {run.starter} at "
        f"{hlc_time(run.entry.hlc)} UTC"
    )
    parts: list[Any] = [head, state]
    for a in run.open_aborts:
        parts.append(Text(f"ABORTED by {a.name}: {a.text}", style="bold red"))
    table = Table(show_lines=False, expand=False)
    for col in ("#", "step", "state", "signed", "by", "notes"):
        table.add_column(col, overflow="fold")
    for i, st in enumerate(run.steps.values(), start=1):
        table.add_row(
            str(i),
            f"{st.step.id}\n[dim]{st.step.title}[/]",
            _state_text(run, st.step.id, now_ms),
            f"{len(st.signers)}/{st.needed} {st.step.role}"
            + (" (release)" if st.step.type == "release" else ""),
            ", ".join(s.name for s in st.signers) or "-",
            _notes(run, st, now_ms),
        )
    parts.append(table)
    flagged = [r for r in run.records if r.problems or r.flags]
    if flagged:
        parts.append(Text("Look at these entries:", style="bold yellow"))
        for r in flagged:
            for note in [*r.problems, *r.flags]:
                mark = "x" if note in r.problems else "!"
                what = (
                    f"{ACTION_WORDS.get(r.kind, r.kind)} '{r.step}'"
                    if r.step
                    else ACTION_WORDS.get(r.kind, r.kind)
                )
                parts.append(Text(f"  {mark} {r.name} {what} ({r.id.hex()[:12]}): {note.text}"))
    if run.waiting:
        parts.append(
            Text(
                f"{len(run.waiting)} entries wait for entries this laptop has not received yet (sync).",
                style="yellow",
            )
        )
    ready = [sid for sid in run.steps if run.display(sid, now_ms)[0] == view.READY]
    if run.state == view.RUNNING and ready:
        parts.append(
            Text(f"Ready now: {', '.join(ready)}  ->  plurictl playbook sign {run_label(run)} STEP")
        )
    return Group(*parts)


def playbook_renderable(pb: Playbook, header: str | None = None) -> Group:
    """A playbook as a readable document: steps, who signs, holds, checks, abort criteria."""
    from rich.markdown import Markdown  # only here: it pulls in a Markdown parser

    parts: list[Any] = []
    if header:
        parts.append(Text(header, style="bold"))
    parts.append(Text(f"{pb.title}  (id {pb.id}, version {pb.version})", style="bold"))
    parts.append(Text(f"sha256 {pb.hash}   roles: {', '.join(pb.roles)}", style="dim"))
    if pb.summary:
        parts.append(Markdown(pb.summary))
    if pb.abort_criteria:
        parts.append(Text("Abort the whole run if:", style="bold red"))
        parts.extend(Text(f"  - {c}") for c in pb.abort_criteria)
    for i, step in enumerate(pb.steps, start=1):
        who = f"{step.role} x{step.signoffs}" if step.signoffs > 1 else step.role
        if step.signers:
            who = f"{step.role}: " + " + ".join(step.signers)
        if step.type == "release":
            who = f"release by {step.role}"
        line = Text(f"\n{i}. {step.id}: {step.title}", style="bold")
        line.append(f"  [{who}", style="cyan")
        if step.hold:
            line.append(f", then hold {step.hold}", style="yellow")
        line.append("]", style="cyan")
        parts.append(line)
        if step.prerequisites:
            parts.append(Text(f"   after: {', '.join(step.prerequisites)}", style="dim"))
        parts.append(Markdown(step.instructions))
        for j, c in enumerate(step.checks):
            kind = "required" if c.required else "advisory"
            parts.append(Text(f"   check #{j} ({kind}): {c.describe()}"))
        if step.readings:
            read = ", ".join(r.describe() for r in step.readings)
            parts.append(Text(f"   readings at sign-off: {read}"))
        for a in step.abort_criteria:
            parts.append(Text(f"   abort if: {a}", style="red"))
    if pb.sources:
        parts.append(Text("\nSources:", style="bold"))
        parts.extend(Text(f"  - {s}", style="dim") for s in pb.sources)
    return Group(*parts)


def log_table(run: view.Run) -> Table:
    table = Table(title=f"Signed timeline of run {run_label(run)}: {run.playbook.title}")
    for col in ("time (UTC)", "who", "action", "step", "note / reason", "status", "entry"):
        table.add_column(col, overflow="fold")
    table.add_row(
        hlc_time(run.entry.hlc),
        run.starter,
        "started the run",
        "-",
        run.note or "",
        "",
        run.id.hex()[:12],
    )
    for r in run.records:
        table.add_row(
            hlc_time(r.entry.hlc),
            r.name,
            ACTION_WORDS.get(r.kind, r.kind),
            r.step or "-",
            _record_text(r),
            _record_status(r, run),
            r.id.hex()[:12],
        )
    return table


def _record_text(r: view.Record) -> str:
    """The note or reason, then what a sign-off recorded (readings, override, release)."""
    return "; ".join(x for x in [r.text, *r.details()] if x)


def _record_status(r: view.Record, run: view.Run) -> str:
    if r.id in run.waiting:
        return "waiting for referenced entries"
    texts = [f"NOT COUNTED: {p.text}" for p in r.problems] + [f"flag: {f.text}" for f in r.flags]
    if not texts:
        return "counted" if r.kind == view.SIGN else "in effect"
    return "; ".join(texts)


def _md(text: str) -> str:
    """A table cell: no pipes or line breaks."""
    return " ".join(text.replace("|", "\\|").split())


def markdown_log(run: view.Run, now_ms: int | None, exported_at: str) -> str:
    """The after-action record of a run, as Markdown."""
    pb = run.playbook
    done, total = run.progress()
    out = [
        f"# After-action log: {pb.title}",
        "",
        f"- **Run:** `{run.id.hex()}`",
        f"- **Playbook:** `{pb.id}` version {pb.version}, sha256 `{pb.hash}`",
        f"- **Site:** {run.site or '-'}",
        f"- **Started by:** {run.starter} (key `{run.entry.author.hex()}`) at {hlc_time(run.entry.hlc)} UTC",
        f"- **State:** {run.state} ({done} of {total} steps done or skipped)",
        f"- **Exported:** {exported_at} UTC",
        "",
        "## Timeline",
        "",
        "Times are the signing laptops' clocks (HLC) and may be off; the order of cause and "
        "effect is given by each entry's references, not by these times.",
        "",
        "| # | time (UTC) | who | action | step | note / reason | status | entry |",
        "|---|---|---|---|---|---|---|---|",
        f"| 0 | {hlc_time(run.entry.hlc)} | {_md(run.starter)} | started the run | - | "
        f"{_md(run.note or '')} | | `{run.id.hex()[:16]}` |",
    ]
    for i, r in enumerate(run.records, start=1):
        out.append(
            f"| {i} | {hlc_time(r.entry.hlc)} | {_md(r.name)} | {ACTION_WORDS.get(r.kind, r.kind)} | "
            f"{_md(r.step or '-')} | {_md(_record_text(r))} | {_md(_record_status(r, run))} | `{r.id.hex()[:16]}` |"
        )
    out += [
        "",
        "## Steps",
        "",
        "| # | step | title | state | sign-offs | signed by |",
        "|---|---|---|---|---|---|",
    ]
    for i, st in enumerate(run.steps.values(), start=1):
        shown, _ = run.display(st.step.id, now_ms)
        signers = ", ".join(f"{s.name} ({hlc_time(s.entry.hlc)})" for s in st.signers) or "-"
        out.append(
            f"| {i} | `{st.step.id}` | {_md(st.step.title)} | {shown} | {len(st.signers)}/{st.needed} "
            f"{st.step.role} | {_md(signers)} |"
        )
    out += [
        "",
        "## How to verify",
        "",
        "Every row is a signed ledger entry (ed25519). On any laptop of the mesh, "
        "`plurictl log verify` re-checks every signature and `plurictl playbook log "
        f"{run.id.hex()[:12]} --json` gives the full entry ids and keys. The playbook text is "
        f"embedded in the run entry; `sha256sum` of the playbook file must print `{pb.hash}`.",
        "",
    ]
    return "\n".join(out)


def catalogue_table(items: list[CatalogueItem], directory: Any) -> Table:
    table = Table(title=f"Shipped playbooks ({directory})")
    for col in ("id", "title", "version", "steps", "sha256"):
        table.add_column(col, overflow="fold")
    for item in items:
        pb = item.playbook
        if pb is None:
            table.add_row(item.path.name, f"[red]INVALID: {item.problems[0]}[/]", "", "", "")
        else:
            table.add_row(pb.id, pb.title, pb.version, str(len(pb.steps)), pb.hash[:12])
    return table


def runs_table(runs: list[view.Run]) -> Table:
    table = Table(title="Runs in this ledger")
    for col in ("run", "playbook", "site", "state", "done", "started by", "started (UTC)"):
        table.add_column(col, overflow="fold")
    for r in runs:
        done, total = r.progress()
        table.add_row(
            run_label(r),
            f"{r.playbook.title} v{r.playbook.version}",
            r.site or "-",
            Text(r.state, style=RUN_STYLE[r.state]),
            f"{done}/{total}",
            r.starter,
            hlc_time(r.entry.hlc),
        )
    return table


def print_validation(console: Console, items: list[CatalogueItem]) -> None:
    """OK or every problem, one per line (never wrapped mid-line, so it can be grepped)."""
    for item in items:
        pb = item.playbook
        if pb is not None:
            console.print(
                f"[green]OK[/] {item.path}: {pb.id} v{pb.version}, {len(pb.steps)} steps",
                soft_wrap=True,
            )
            console.print(f"   sha256 {pb.hash}")
            continue
        n = len(item.problems)
        console.print(
            f"[red]INVALID[/] {item.path}: {n} problem{'s' if n != 1 else ''}", soft_wrap=True
        )
        for p in item.problems:
            console.print(f"  {item.path}: {p}", markup=False, soft_wrap=True)


def print_progress(console: Console, run: view.Run, now_ms: int) -> None:
    """After a write: where the run stands, and what can be done next."""
    done, total = run.progress()
    console.print(f"Run {run_label(run)} is [bold]{run.state}[/]: {done} of {total} steps done.")
    if run.state != view.RUNNING:
        return
    shown = {sid: run.display(sid, now_ms) for sid in run.steps}
    ready = [sid for sid, (state, _) in shown.items() if state == view.READY]
    if ready:
        console.print(f"Ready now: {', '.join(ready)}")
    for sid, (state, left) in shown.items():
        if state == view.HOLDING:
            console.print(f"Holding: {sid} (wait {format_duration(left or 0)})")
