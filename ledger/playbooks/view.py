"""Playbook runs view: which steps are done, ready, blocked, failed or skipped.

A pure fold ``fold(entries, roster, facts) -> PlaybooksState``. The same set of
entries gives the same state on every laptop, whatever the arrival order.

**Causal references, not clocks.** Every entry of a run (sign-off, fail, skip,
abort, resume, waive) names in ``seen`` the run entries its author's laptop had
when it was signed (the heads of the run's entry graph; the run entry itself is
implied). The *causal past* of an entry is everything reachable through
``seen``. Whether an entry takes effect is decided from the entry and its causal
past only, so it never changes with arrival order, and never with clocks:

* a sign-off counts only if, **in its causal past**, every prerequisite of the
  step (and every required ``step_done`` check) was done or skipped, the run was
  not aborted (every abort it saw was resolved by a resume it saw), the step was
  not failed or skipped, and every required fact check was recorded as passing
  by the signer or waived by a coordinator. Otherwise it is *premature* (or
  after-abort, ...): kept, shown, flagged, never counted. The signer signs again
  once they have seen the missing sign-offs.
* a ``fail`` voids every sign-off of that step that did not see the fail *and*
  a later retry (``resume`` naming the step): the attempt failed, so the step is
  signed again after the retry.
* a sign-off that counted keeps counting if an earlier step is reported failed
  later (the work was done when its signer saw the prerequisites complete);
  sign-offs made after the fail wait for the retried step again.
* a step is done when enough distinct **members** (``roster.member_of``: a
  rotated key is the same person) holding the step's role at that seq have
  counted sign-offs. A member signing twice counts once.

Two operators on both sides of a partition: sign-offs on independent steps all
count after heal; a sign-off made without seeing a prerequisite's completion is
premature on every laptop alike; a sign-off made without seeing an abort counts
(the work was done) and is flagged "concurrent with abort".

**Holds are display-only.** A hold ("wait 10 min after this step") is counted
from the laptop clock stamp (HLC) of the sign-off that completed the step, and
shown as a countdown. Clocks never decide validity: a sign-off made during a
hold counts, and is flagged ``during_hold`` (its own stamp is less than the hold
after the completion stamp it saw, or its signer declared ``early``).
"""

from __future__ import annotations

from collections.abc import Iterable

from ledger.entry import Entry
from ledger.folds import Ignored, well_formed
from ledger.playbooks.checks import Facts, NoFacts
from ledger.playbooks.format import PlaybookInvalid, parse, text_hash
from ledger.playbooks.judge import RunJudge
from ledger.playbooks.state import (
    ABORT,
    ABORTED,
    BLOCKED,
    COMPLETE,
    DONE,
    FAIL_KIND,
    FAILED,
    FOLLOW_UPS,
    HOLDING,
    KINDS,
    READY,
    RESUME,
    RUN,
    RUNNING,
    SIGN,
    SKIP,
    SKIPPED,
    WAIVE,
    Note,
    PlaybooksState,
    Record,
    Run,
    StepState,
    hex_id,
    short,
)
from ledger.roster.view import Roster

__all__ = [
    "ABORT",
    "ABORTED",
    "BLOCKED",
    "COMPLETE",
    "DONE",
    "FAILED",
    "FAIL_KIND",
    "FOLLOW_UPS",
    "HOLDING",
    "KINDS",
    "READY",
    "RESUME",
    "RUN",
    "RUNNING",
    "SIGN",
    "SKIP",
    "SKIPPED",
    "WAIVE",
    "Ignored",
    "Note",
    "PlaybooksState",
    "Record",
    "Run",
    "StepState",
    "fold",
    "short",
]


# --- the fold ----------------------------------------------------------------------------


def fold(entries: Iterable[Entry], roster: Roster, facts: Facts | None = None) -> PlaybooksState:
    """All runs in ``entries`` (other kinds are skipped), judged against ``roster``."""
    facts = facts if facts is not None else NoFacts()
    fitting, malformed = well_formed(entries, KINDS)
    by_id: dict[bytes, Entry] = {e.id: e for e in fitting}
    state = PlaybooksState()
    state.ignored.extend(malformed)
    follow: dict[bytes, list[Entry]] = {}
    for e in sorted(by_id.values(), key=lambda e: e.id):
        if e.kind == RUN:
            continue
        run_id = hex_id(e.body.get("run"))
        if run_id is None:
            state.ignored.append(_ignored(e, "malformed: 'run' must be a run id (64 hex)"))
        elif run_id not in by_id:
            state.waiting.append(e.id)
        elif by_id[run_id].kind != RUN:
            state.ignored.append(
                _ignored(e, f"'run' names a {by_id[run_id].kind} entry, not a run")
            )
        else:
            follow.setdefault(run_id, []).append(e)
    for e in sorted((x for x in by_id.values() if x.kind == RUN), key=lambda e: e.id):
        run, reason = _open_run(e, roster)
        if run is None:
            state.ignored.append(_ignored(e, reason))
            for f in follow.get(e.id, []):
                state.ignored.append(_ignored(f, f"its run {short(e.id)} is invalid: {reason}"))
            continue
        RunJudge(run, follow.get(e.id, []), set(by_id), roster, facts).compute()
        state.runs[e.id] = run
    return state


def _ignored(e: Entry, reason: str) -> Ignored:
    return Ignored(e.id, e.author, e.seq, e.kind, reason)


def _open_run(e: Entry, roster: Roster) -> tuple[Run | None, str]:
    why = roster.authority(e.author, e.seq, "coordinator")
    if why is not None:
        return None, f"only a coordinator can start a run ({why})"
    text, digest = e.body.get("playbook"), e.body.get("hash")
    if not isinstance(text, str) or not isinstance(digest, str):
        return None, "malformed: 'playbook' (text) and 'hash' are required"
    if text_hash(text) != digest:
        return None, "the embedded playbook does not match its hash"
    try:
        playbook = parse(text, "embedded playbook")
    except PlaybookInvalid as err:
        return None, f"the embedded playbook is invalid: {err.problems[0]}"
    site, note = e.body.get("site"), e.body.get("note")
    return (
        Run(
            entry=e,
            playbook=playbook,
            starter=roster.name_of(e.author),
            site=site if isinstance(site, str) and site else None,
            note=note if isinstance(note, str) and note else None,
        ),
        "",
    )
