"""Writing playbook entries: start a run, sign a step, fail, skip, abort, resume, waive.

Every request is checked against the current view *before* anything is signed,
so a tired operator gets a clear refusal instead of an entry that would not
count. The checks are pure ``prepare_*`` functions (view + roster in, entry body
out) so that tests can drive them on any partial view, as on one side of a
partition. The view (``ledger.playbooks.view``) stays the authority: what it
says holds on every laptop, whatever these pre-checks said on one.

Refusals: unknown run or step, or a state that does not allow it ->
:class:`PlaybookRefused` (exit 5); missing role -> ``TrustError`` (exit 7).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger import clock, guard
from ledger.entry import Entry
from ledger.errors import InvalidInput, NotInMesh, PlaybookRefused
from ledger.identity import Identity
from ledger.playbooks import view
from ledger.playbooks.checks import PASS, Facts
from ledger.playbooks.facts import facts_for
from ledger.playbooks.fields import match_signers, out_of_range, readings_problems
from ledger.playbooks.format import (
    FACT_CHECKS,
    Playbook,
    PlaybookInvalid,
    Problem,
    format_duration,
    parse,
)
from ledger.roster.view import Roster
from ledger.store import Store

MIN_PREFIX = 4


@dataclass
class Written:
    """An entry just signed and stored, and the run as it looks right after."""

    entry: Entry
    run: view.Run
    warnings: list[str] = field(default_factory=list)


# --- reading -----------------------------------------------------------------------------


def read_text(path: str | Path) -> str:
    """A playbook file's text; a clear InvalidInput for anything unreadable."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InvalidInput(f"cannot read {p}: {e.strerror or e}") from e
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidInput(f"{p} is not UTF-8 text (byte {e.start})") from e


def load(path: str | Path) -> Playbook:
    """Read and validate a playbook file (PlaybookInvalid lists every problem)."""
    return parse(read_text(path), str(path))


@dataclass
class CatalogueItem:
    """A playbook file in a folder, parsed (or the problems that stop it from parsing)."""

    path: Path
    playbook: Playbook | None
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        pb = self.playbook
        return {
            "file": str(self.path),
            "valid": pb is not None,
            "id": pb.id if pb else None,
            "title": pb.title if pb else None,
            "version": pb.version if pb else None,
            "steps": len(pb.steps) if pb else None,
            "hash": pb.hash if pb else None,
            "problems": [p.to_json() for p in self.problems],
        }


def check_file(path: Path) -> CatalogueItem:
    """Parse one file; problems (or why it cannot be read) instead of an exception."""
    try:
        return CatalogueItem(path, load(path))
    except PlaybookInvalid as e:
        return CatalogueItem(path, None, e.problems)
    except InvalidInput as e:
        return CatalogueItem(path, None, [Problem(e.message)])


def catalogue(directory: Path) -> list[CatalogueItem]:
    """Every ``*.toml`` playbook in ``directory`` (sorted by file name)."""
    paths = sorted(directory.glob("*.toml")) if directory.is_dir() else []
    return [check_file(path) for path in paths]


def resolve_file(target: str, directory: Path) -> Path | None:
    """A playbook file: a path, or the id (or file stem) of a playbook in ``directory``."""
    path = Path(target)
    if path.is_file():
        return path
    if path.suffix or "/" in target:
        return None
    for item in catalogue(directory):
        if item.path.stem == target or (item.playbook and item.playbook.id == target):
            return item.path
    return None


def load_state(store: Store, facts: Facts | None = None) -> view.PlaybooksState:
    """The playbook view over this store, with the ledger's facts."""
    entries = store.entries(kind_prefix="playbook.")
    return view.fold(entries, store.roster(), facts if facts is not None else facts_for(store))


def find_run(state: view.PlaybooksState, ref: str) -> view.Run:
    """A run by its id or an unambiguous prefix of at least 4 hex characters."""
    text = ref.strip().lower()
    if len(text) < MIN_PREFIX or any(c not in string.hexdigits for c in text):
        raise InvalidInput(
            f"{ref!r} is not a run id: give at least {MIN_PREFIX} hex characters of it",
            hint="`plurictl playbook list` shows the runs on this laptop",
        )
    matches = state.matching(text)
    if not matches:
        raise InvalidInput(
            f"no run {text!r} on this laptop",
            hint="`plurictl playbook list` shows the runs; a run started elsewhere appears "
            "after a sync or a courier bundle",
        )
    if len(matches) > 1:
        ids = ", ".join(r.id.hex()[:12] for r in matches)
        raise InvalidInput(f"{text!r} matches several runs ({ids}); give more characters")
    return matches[0]


# --- pure pre-checks ---------------------------------------------------------------------


def _require(roster: Roster, author: bytes, seq: int, what: str, *roles: str) -> None:
    refusal = lambda why: f"only {' or '.join(dict.fromkeys(roles))} can {what} ({why})"  # noqa: E731
    guard.check(roster, author, seq, roles, refusal)


def _step(run: view.Run, step_id: str) -> view.StepState:
    st = run.steps.get(step_id)
    if st is None:
        ids = ", ".join(run.steps)
        raise PlaybookRefused(f"this run has no step {step_id!r}; its steps are: {ids}")
    return st


def _not_aborted(run: view.Run) -> None:
    if run.open_aborts:
        a = run.open_aborts[0]
        raise PlaybookRefused(
            f"the run is aborted ({a.name}: {a.text})",
            hint="a coordinator resumes it with `plurictl playbook resume RUN --reason ...`",
        )


def _base(run: view.Run, **fields: Any) -> dict[str, Any]:
    body = {"run": run.id.hex(), "seen": [h.hex() for h in run.heads]}
    body.update({k: v for k, v in fields.items() if v is not None})
    return body


def _reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise InvalidInput("a reason is required (it goes into the after-action log)")
    return reason.strip()


def prepare_start(
    playbook: Playbook,
    roster: Roster,
    author: bytes,
    seq: int,
    *,
    site: str | None = None,
    note: str | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Body of a ``playbook.run`` entry, and warnings (steps this roster cannot staff yet)."""
    _require(roster, author, seq, "start a playbook run", "coordinator")
    site = site.strip() if site else None
    if playbook.needs_site() and not site:
        raise InvalidInput(
            "this playbook's fuel checks use the run's site: pass --site NAME",
            hint="the site is the name fuel reports use for that place",
        )
    short: dict[tuple[str, int], list[str]] = {}
    for step in playbook.steps:
        members = {roster.member_of(k) for k in roster.keys_with_role(step.role)}
        if len(members) < step.signoffs:
            short.setdefault((step.role, len(members)), []).append(step.id)
    warnings = []
    for (role, have), ids in sorted(short.items()):
        need = max(playbook.by_id[i].signoffs for i in ids)
        warnings.append(
            f"step{'s' if len(ids) > 1 else ''} {', '.join(ids)} need{'' if len(ids) > 1 else 's'} "
            f"up to {need} different {role}s; the roster has {have}: add members before then"
        )
    body: dict[str, Any] = {
        "playbook": playbook.text,
        "hash": playbook.hash,
        "playbook_id": playbook.id,
        "title": playbook.title,
        "version": playbook.version,
    }
    if site:
        body["site"] = site
    if note:
        body["note"] = note
    return body, warnings


def prepare_sign(
    run: view.Run,
    roster: Roster,
    author: bytes,
    seq: int,
    step_id: str,
    *,
    note: str | None = None,
    early: bool = False,
    now_ms: int | None = None,
    readings: dict[str, float] | None = None,
    override: str | None = None,
) -> dict[str, Any]:
    """Body of a sign-off, after every check a careful supervisor would make."""
    st = _step(run, step_id)
    _require(roster, author, seq, f"sign step '{step_id}'", st.step.role)
    _not_aborted(run)
    fields = _sign_fields(run, st, roster, author, seq, readings, override)
    member = roster.member_of(author)
    mine = [s for s in st.signers if s.member == member]
    if mine:
        raise PlaybookRefused(
            f"you already signed step '{step_id}' (entry {mine[0].id.hex()[:12]}); "
            "the same person counts once"
        )
    if st.state == view.DONE:
        raise PlaybookRefused(
            f"step '{step_id}' is already done ({len(st.signers)} of {st.needed})"
        )
    if st.state == view.SKIPPED:
        raise PlaybookRefused(f"step '{step_id}' was skipped: {st.skipped_by.text}")  # type: ignore[union-attr]
    if st.state == view.FAILED:
        raise PlaybookRefused(
            f"step '{step_id}' is marked failed: {st.failures[0].text}",
            hint=f"a coordinator retries it: `plurictl playbook resume RUN --step {step_id} --reason ...`",
        )
    if st.state == view.BLOCKED:
        raise PlaybookRefused(
            f"step '{step_id}' is blocked: " + "; ".join(st.blocked_by),
            hint="fact checks that cannot be known can be waived by a coordinator "
            "(`plurictl playbook waive RUN STEP CHECK --reason ...`)"
            if any(c.blocking and c.check.needs_facts for c in st.checks)
            else "`plurictl playbook status RUN` shows what it waits for",
        )
    now = now_ms if now_ms is not None else clock.wall_ms()
    shown, left = run.display(step_id, now)
    if shown == view.HOLDING and not early:
        raise PlaybookRefused(
            f"step '{step_id}' is in a hold: {format_duration(left or 0)} left",
            hint="wait, or sign with --early if the hold really is over (it will be flagged)",
        )
    checks = [
        {"index": c.index, "type": c.check.type, "status": c.status, "detail": c.detail}
        for c in st.checks
    ]
    return _base(
        run,
        step=step_id,
        note=note.strip() if note and note.strip() else None,
        checks=checks,
        early=True if shown == view.HOLDING else None,
        **fields,
    )


def _sign_fields(
    run: view.Run,
    st: view.StepState,
    roster: Roster,
    author: bytes,
    seq: int,
    readings: dict[str, float] | None,
    override: str | None,
) -> dict[str, Any]:
    """The readings (checked against the step's limits), the override reason, the function
    this signer fills, and for a release step the facts shown at release."""
    step = st.step
    values, problems = readings_problems(step.readings, readings or {}, override)
    if problems:
        ranges = all(p.startswith("out of range") for p in problems)
        raise PlaybookRefused(
            f"step '{step.id}': " + "; ".join(problems),
            hint="check the reading; if it is right and the step must go ahead, sign with "
            '--override "why" (recorded for the after-action review)'
            if ranges
            else "give every required reading: "
            + ", ".join(f"--reading {r.name}=VALUE" for r in step.readings if r.required),
        )
    if step.signers:
        held = roster.keys[author].roles_at(seq) if author in roster.keys else set()
        if not _fills_a_function(st, roster, held):
            missing = ", ".join(f"role:{f}" for f in st.missing_functions) or "nothing"
            raise PlaybookRefused(
                f"step '{step.id}' still needs {missing}; you hold "
                + (", ".join(sorted(held)) or "no role"),
                hint="an admin grants a function: `plurictl roster grant NAME FUNCTION`",
            )
    out: dict[str, Any] = {"readings": values or None}
    if override and override.strip() and out_of_range(step.readings, values):
        out["override"] = override.strip()
    if step.type == "release":
        out["facts"] = run.release_facts() or None
    return out


def prepare_fail(
    run: view.Run, roster: Roster, author: bytes, seq: int, step_id: str, reason: str
) -> dict[str, Any]:
    st = _step(run, step_id)
    _require(roster, author, seq, f"report step '{step_id}' failed", st.step.role, "coordinator")
    reason = _reason(reason)
    if st.state == view.SKIPPED:
        raise PlaybookRefused(f"step '{step_id}' was skipped; there is nothing to fail")
    if st.state == view.FAILED:
        raise PlaybookRefused(f"step '{step_id}' is already marked failed: {st.failures[0].text}")
    return _base(run, step=step_id, reason=reason)


def prepare_skip(
    run: view.Run, roster: Roster, author: bytes, seq: int, step_id: str, reason: str
) -> dict[str, Any]:
    st = _step(run, step_id)
    _require(roster, author, seq, "skip a step", "coordinator")
    reason = _reason(reason)
    _not_aborted(run)
    if st.state == view.DONE:
        raise PlaybookRefused(f"step '{step_id}' is already done")
    if st.state == view.SKIPPED:
        raise PlaybookRefused(f"step '{step_id}' is already skipped")
    return _base(run, step=step_id, reason=reason)


def prepare_abort(
    run: view.Run, roster: Roster, author: bytes, seq: int, reason: str
) -> dict[str, Any]:
    _require(roster, author, seq, "abort this run", "coordinator", *run.playbook.roles)
    reason = _reason(reason)
    if run.open_aborts:
        raise PlaybookRefused(f"the run is already aborted ({run.open_aborts[0].text})")
    if run.state == view.COMPLETE:
        raise PlaybookRefused("the run is complete; there is nothing to abort")
    return _base(run, reason=reason)


def prepare_resume(
    run: view.Run,
    roster: Roster,
    author: bytes,
    seq: int,
    reason: str,
    step_id: str | None = None,
) -> dict[str, Any]:
    _require(roster, author, seq, "resume a run or retry a step", "coordinator")
    reason = _reason(reason)
    if step_id is not None:
        st = _step(run, step_id)
        if st.state != view.FAILED:
            raise PlaybookRefused(f"step '{step_id}' is {st.state}, not failed; nothing to retry")
        return _base(run, step=step_id, reason=reason)
    if not run.open_aborts:
        raise PlaybookRefused(
            "the run is not aborted",
            hint="to retry a failed step, name it: --step STEP",
        )
    return _base(run, reason=reason)


def prepare_waive(
    run: view.Run,
    roster: Roster,
    author: bytes,
    seq: int,
    step_id: str,
    check: int,
    reason: str,
) -> dict[str, Any]:
    st = _step(run, step_id)
    _require(roster, author, seq, "waive a check", "coordinator")
    reason = _reason(reason)
    _not_aborted(run)
    if not 0 <= check < len(st.checks):
        raise PlaybookRefused(
            f"step '{step_id}' has no check #{check} (it has {len(st.checks)}, numbered from 0)"
        )
    result = st.checks[check]
    if result.check.type not in FACT_CHECKS:
        raise PlaybookRefused(
            f"check #{check} is a {result.check.type} check; only fuel and plan checks can be waived"
        )
    if result.status == PASS:
        raise PlaybookRefused(f"check #{check} passes ({result.detail}); nothing to waive")
    if result.status == "waived":
        raise PlaybookRefused(f"check #{check} is already waived")
    if st.state in (view.DONE, view.SKIPPED):
        raise PlaybookRefused(f"step '{step_id}' is already {st.state}")
    return _base(run, step=step_id, check=check, reason=reason)


# --- writing to a store --------------------------------------------------------------------


def _write(
    store: Store, identity: Identity, kind: str, body: dict[str, Any], facts: Facts | None
) -> Written:
    from ledger import schemas

    why = schemas.body_problem(kind, body)
    if why:  # the views would ignore it: the sign-off (or reason) would silently not count
        raise InvalidInput(
            f"not signed: {why.removeprefix('malformed body: ')}",
            hint="a note, reason or override is at most 8,000 characters",
        )
    entry = store.append(identity, kind, body)
    state = load_state(store, facts)
    run_id = entry.id if kind == view.RUN else bytes.fromhex(body["run"])
    return Written(entry=entry, run=state.runs[run_id])


def _context(
    store: Store, identity: Identity, run_ref: str, facts: Facts | None
) -> tuple[view.Run, Roster, int]:
    run = find_run(load_state(store, facts), run_ref)
    return run, store.roster(), guard.next_seq(store, identity.public)


def start(
    store: Store,
    identity: Identity,
    text: str,
    *,
    source: str = "playbook",
    site: str | None = None,
    note: str | None = None,
) -> Written:
    """Validate the playbook text and sign a run that embeds it."""
    playbook = parse(text, source)
    roster = store.roster()
    if roster.mesh_id is None:
        raise NotInMesh()
    body, warnings = prepare_start(
        playbook,
        roster,
        identity.public,
        guard.next_seq(store, identity.public),
        site=site,
        note=note,
    )
    written = _write(store, identity, view.RUN, body, None)
    written.warnings = warnings
    return written


def sign(
    store: Store,
    identity: Identity,
    run_ref: str,
    step_id: str,
    *,
    note: str | None = None,
    early: bool = False,
    facts: Facts | None = None,
    now_ms: int | None = None,
    readings: dict[str, float] | None = None,
    override: str | None = None,
) -> Written:
    run, roster, seq = _context(store, identity, run_ref, facts)
    body = prepare_sign(
        run,
        roster,
        identity.public,
        seq,
        step_id,
        note=note,
        early=early,
        now_ms=now_ms,
        readings=readings,
        override=override,
    )
    return _write(store, identity, view.SIGN, body, facts)


def fail(store: Store, identity: Identity, run_ref: str, step_id: str, reason: str) -> Written:
    run, roster, seq = _context(store, identity, run_ref, None)
    body = prepare_fail(run, roster, identity.public, seq, step_id, reason)
    return _write(store, identity, view.FAIL_KIND, body, None)


def skip(store: Store, identity: Identity, run_ref: str, step_id: str, reason: str) -> Written:
    run, roster, seq = _context(store, identity, run_ref, None)
    body = prepare_skip(run, roster, identity.public, seq, step_id, reason)
    return _write(store, identity, view.SKIP, body, None)


def abort(store: Store, identity: Identity, run_ref: str, reason: str) -> Written:
    run, roster, seq = _context(store, identity, run_ref, None)
    body = prepare_abort(run, roster, identity.public, seq, reason)
    return _write(store, identity, view.ABORT, body, None)


def resume(
    store: Store, identity: Identity, run_ref: str, reason: str, step_id: str | None = None
) -> Written:
    run, roster, seq = _context(store, identity, run_ref, None)
    body = prepare_resume(run, roster, identity.public, seq, reason, step_id)
    return _write(store, identity, view.RESUME, body, None)


def waive(
    store: Store,
    identity: Identity,
    run_ref: str,
    step_id: str,
    check: int,
    reason: str,
    facts: Facts | None = None,
) -> Written:
    run, roster, seq = _context(store, identity, run_ref, facts)
    body = prepare_waive(run, roster, identity.public, seq, step_id, check, reason)
    return _write(store, identity, view.WAIVE, body, facts)


def _fills_a_function(st: Any, roster: Any, held: set[str]) -> bool:
    """Whether this signer lets one more of the step's functions be filled, when the
    signers so far are re-assigned as needed (a maximum matching, as the views count:
    someone holding two functions may move to the other to make room)."""

    def roles(r: Any) -> set[str]:
        info = roster.keys.get(r.entry.author)
        return info.roles_at(r.entry.seq) if info is not None else set()

    people = [(i, roles(r)) for i, r in enumerate(st.signers)] + [(-1, held)]
    _, missing = match_signers(st.step.signers, people)
    return len(missing) < len(st.missing_functions)
