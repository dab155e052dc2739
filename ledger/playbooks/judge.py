"""Judging a run's entries in causal order (the engine of ``ledger.playbooks.view``).

Each follow-up entry is judged once, against the run as seen from its own
causal past (:class:`_View` over ``record.past``); then the final view over all
placed entries decides what counts now. The rules are in the docstring of
``ledger.playbooks.view``.
"""

from __future__ import annotations

import heapq

from ledger.entry import Entry
from ledger.playbooks.checks import (
    ATTEST,
    FAIL,
    PASS,
    WAIVED,
    CheckResult,
    Facts,
    evaluate_fact,
)
from ledger.playbooks.fields import match_signers, readings_problems
from ledger.playbooks.model import FACT_CHECKS, Step, dependencies, format_duration
from ledger.playbooks.state import (
    ABORT,
    ABORTED,
    BLOCKED,
    COMPLETE,
    DONE,
    FAIL_KIND,
    FAILED,
    READY,
    RESUME,
    RUNNING,
    SIGN,
    SKIP,
    SKIPPED,
    WAIVE,
    Note,
    Record,
    Run,
    StepState,
    hex_id,
    short,
)
from ledger.roster.view import Roster

_NEEDS_STEP = frozenset({SIGN, FAIL_KIND, SKIP, WAIVE})
_NEEDS_REASON = frozenset({FAIL_KIND, SKIP, ABORT, RESUME, WAIVE})


class _View:
    """The run as seen from a down-closed set of entries (a causal past, or everything)."""

    def __init__(self, fold_: RunJudge, ids: frozenset[bytes] | set[bytes]) -> None:
        self.f = fold_
        self.ids = ids
        self._members: dict[str, list[Record]] = {}

    def ok(self, kind: str, step: str | None = None) -> list[Record]:
        return [r for r in self.f.groups.get((kind, step), ()) if r.id in self.ids and r.ok]

    def open_aborts(self) -> list[Record]:
        resumes = self.ok(RESUME)
        return [a for a in self.ok(ABORT) if not any(a.id in r.past for r in resumes)]

    def open_fails(self, step: str) -> list[Record]:
        retries = self.ok(RESUME, step)
        return [f for f in self.ok(FAIL_KIND, step) if not any(f.id in r.past for r in retries)]

    def skipped(self, step: str) -> Record | None:
        skips = self.ok(SKIP, step)
        return min(skips, key=Record.order_key) if skips else None

    def waivers(self, step: str, index: int) -> list[Record]:
        return [w for w in self.ok(WAIVE, step) if w.body.get("check") == index]

    def survives_fails(self, s: Record) -> bool:
        """A sign-off counts only if it saw every fail of its step and a retry after it."""
        retries = self.ok(RESUME, s.step)
        return all(
            f.id in s.past and any(f.id in r.past and r.id in s.past for r in retries)
            for f in self.ok(FAIL_KIND, s.step)
        )

    def signers(self, step: str) -> list[Record]:
        """Counted sign-offs, the first of each member, in (stamp, id) order."""
        if step not in self._members:
            first: dict[bytes, Record] = {}
            for s in sorted(self.ok(SIGN, step), key=Record.order_key):
                if s.member is not None and s.member not in first and self.survives_fails(s):
                    first[s.member] = s
            self._members[step] = list(first.values())
        return self._members[step]

    def complete(self, step: str) -> bool:
        spec = self.f.run.playbook.by_id[step]
        if spec.signers:
            return not self.missing_functions(step)
        return len(self.signers(step)) >= spec.signoffs

    def missing_functions(self, step: str) -> list[str]:
        """The step's functions no distinct counted signer fills yet."""
        spec = self.f.run.playbook.by_id[step]
        people = [(s.id, self.f.held(s)) for s in self.signers(step)]
        return match_signers(spec.signers, people)[1]

    def satisfied(self, step: str) -> bool:
        return self.complete(step) or self.skipped(step) is not None

    def completed_hlc(self, step: str) -> int | None:
        spec, signers = self.f.run.playbook.by_id[step], self.signers(step)
        if spec.signers:  # done when the last missing function signed
            return max(s.entry.hlc for s in signers) if self.complete(step) else None
        needed = spec.signoffs
        return signers[needed - 1].entry.hlc if len(signers) >= needed else None


class RunJudge:
    """Judges every follow-up of one run in causal order, then computes the final view."""

    def __init__(
        self, run: Run, entries: list[Entry], all_ids: set[bytes], roster: Roster, facts: Facts
    ) -> None:
        self.run = run
        self.roster = roster
        self.facts = facts
        self.all_ids = all_ids
        self.records: dict[bytes, Record] = {e.id: self._record(e) for e in entries}
        self.groups: dict[tuple[str, str | None], list[Record]] = {}

    def held(self, r: Record) -> set[str]:
        """The roles and functions the signer held when it signed."""
        info = self.roster.keys.get(r.entry.author)
        return info.roles_at(r.entry.seq) if info is not None else set()

    # --- structure -----------------------------------------------------------------------

    def _record(self, e: Entry) -> Record:
        r = Record(
            entry=e, name=self.roster.name_of(e.author), member=self.roster.member_of(e.author)
        )
        b = e.body
        step = b.get("step")
        if e.kind in _NEEDS_STEP or (e.kind == RESUME and step is not None):
            if not isinstance(step, str) or self.run.playbook.step(step) is None:
                r.problems.append(Note("malformed", f"unknown step {step!r} in this playbook"))
            else:
                r.step = step
        if e.kind in _NEEDS_REASON and not (
            isinstance(b.get("reason"), str) and b["reason"].strip()
        ):
            r.problems.append(Note("malformed", "a reason is required"))
        seen = b.get("seen", [])
        ids = [hex_id(x) for x in seen] if isinstance(seen, list) else [None]
        if any(i is None for i in ids):
            r.problems.append(Note("malformed", "'seen' must be a list of entry ids (64 hex)"))
            return r
        # Resolved against the run's other entries in _link (they may not be built yet).
        r.missing = tuple(sorted({d for d in ids if d is not None and d != self.run.id}))
        return r

    def _link(self) -> list[Record]:
        """Resolve references, find entries waiting for missing ones, order the rest."""
        for r in self.records.values():
            deps, missing = set(r.deps), set()
            for d in r.missing:
                if d in self.records:
                    deps.add(d)
                elif d in self.all_ids:
                    r.problems.append(
                        Note("malformed", f"'seen' names {short(d)}, not part of this run")
                    )
                else:
                    missing.add(d)
            r.deps, r.missing = tuple(sorted(deps)), tuple(sorted(missing))
        children: dict[bytes, list[bytes]] = {}
        indegree: dict[bytes, int] = {}
        for rid, r in self.records.items():
            indegree[rid] = len(r.deps)
            for d in r.deps:
                children.setdefault(d, []).append(rid)
        ready = [rid for rid, n in indegree.items() if n == 0 and not self.records[rid].missing]
        heapq.heapify(ready)
        order: list[Record] = []
        while ready:
            rid = heapq.heappop(ready)
            r = self.records[rid]
            past: set[bytes] = set()
            for d in r.deps:
                past.add(d)
                past |= self.records[d].past
            r.past = frozenset(past)
            order.append(r)
            for child in children.get(rid, ()):
                indegree[child] -= 1
                if indegree[child] == 0 and not self.records[child].missing:
                    heapq.heappush(ready, child)
        placed = {r.id for r in order}
        self.run.waiting = sorted(rid for rid in self.records if rid not in placed)
        for rid in self.run.waiting:
            self.records[rid].waiting = True
        return order

    # --- judging each entry in its own causal view ------------------------------------------

    def _authority(self, r: Record, *roles: str) -> bool:
        why = self.roster.authority(r.entry.author, r.entry.seq, *roles)
        if why is not None:
            r.problems.append(Note("no_role", why))
            return False
        return True

    def _judge(self, r: Record) -> None:
        if r.problems:  # malformed
            return
        view = _View(self, r.past)
        kind = r.kind
        if kind == SIGN:
            self._judge_sign(r, view)
        elif kind == FAIL_KIND:
            self._authority(r, self.run.playbook.by_id[r.step].role, "coordinator")  # type: ignore[index]
        elif kind == ABORT:
            self._authority(r, "coordinator", *self.run.playbook.roles)
        elif kind == RESUME:
            if self._authority(r, "coordinator"):
                pending = view.open_fails(r.step) if r.step else view.open_aborts()
                if not pending:
                    what = f"failure of step '{r.step}'" if r.step else "abort"
                    r.flags.append(Note("no_effect", f"no open {what} in what its author had seen"))
        elif kind in (SKIP, WAIVE):
            if not self._authority(r, "coordinator"):
                return
            if view.open_aborts():
                r.problems.append(
                    Note("after_abort", "signed while the run was aborted (resume first)")
                )
            elif kind == WAIVE:
                index = r.body.get("check")
                checks = self.run.playbook.by_id[r.step].checks  # type: ignore[index]
                if (
                    not isinstance(index, int)
                    or isinstance(index, bool)
                    or not 0 <= index < len(checks)
                    or checks[index].type not in FACT_CHECKS
                ):
                    r.problems.append(
                        Note(
                            "malformed",
                            f"check {index!r} of step '{r.step}' is not a fuel or plan check",
                        )
                    )

    def _judge_sign(self, r: Record, view: _View) -> None:
        step = self.run.playbook.by_id[r.step]  # type: ignore[index]
        if not self._authority(r, step.role):
            return
        aborts = view.open_aborts()
        if aborts:
            r.problems.append(
                Note(
                    "after_abort",
                    f"signed after the run was aborted ({short(aborts[0].id)} by {aborts[0].name}) "
                    "and before a resume",
                )
            )
        if view.open_fails(step.id):
            r.problems.append(
                Note("after_fail", "signed after the step was reported failed, before a retry")
            )
        if view.skipped(step.id):
            r.problems.append(Note("step_skipped", "the step had already been skipped"))
        missing = [d for d in dependencies(step) if not view.satisfied(d)]
        if missing:
            names = ", ".join(f"'{d}'" for d in missing)
            r.problems.append(
                Note(
                    "premature",
                    f"premature: {names} not complete in what the signer had seen; sign again",
                )
            )
        checks = r.body.get("checks")
        recorded = {
            c.get("index"): c.get("status")
            for c in (checks if isinstance(checks, list) else [])
            if isinstance(c, dict)
        }
        for i, check in enumerate(step.checks):
            passed = recorded.get(i) == PASS or view.waivers(step.id, i)
            if check.required and check.needs_facts and not passed:
                r.problems.append(
                    Note(
                        "check_not_passed",
                        f"required check #{i} ({check.describe(self.run.site)}) was "
                        f"{recorded.get(i) or 'not recorded'} when signed, and not waived",
                    )
                )
        self._fields(r, step)
        self._hold_flags(r, step, view)

    def _fields(self, r: Record, step: Step) -> None:
        """Readings within their limits (or an override reason), and a function to fill."""
        _, problems = readings_problems(
            step.readings, r.body.get("readings"), r.body.get("override")
        )
        r.problems.extend(Note("readings", p) for p in problems)
        if step.signers and not self.held(r).intersection(step.signers):
            wanted = ", ".join(f"role:{f}" for f in dict.fromkeys(step.signers))
            r.problems.append(Note("no_function", f"the step needs {wanted}; the signer held none"))

    def _hold_flags(self, r: Record, step: Step, view: _View) -> None:
        if r.body.get("early") is True:
            r.flags.append(Note("during_hold", "the signer declared signing early, during a hold"))
            return
        for dep in dependencies(step):
            hold = self.run.playbook.by_id[dep].hold_s
            done_at = view.completed_hlc(dep)
            if not hold or done_at is None:
                continue
            gap_ms = (r.entry.hlc >> 16) - (done_at >> 16)
            if gap_ms < hold * 1000:
                r.flags.append(
                    Note(
                        "during_hold",
                        f"signed {format_duration(max(gap_ms, 0) / 1000)} after '{dep}' was complete; "
                        f"its hold is {self.run.playbook.by_id[dep].hold} (laptop clocks: a warning, "
                        "not a rule)",
                    )
                )
                return

    # --- the final view -------------------------------------------------------------------

    def compute(self) -> None:
        order = self._link()
        for r in order:
            # Judged in causal order: everything in r.past is final before r.
            self._judge(r)
            self.groups.setdefault((r.kind, r.step), []).append(r)
        final = _View(self, {r.id for r in order})
        self._settle(order, final)
        run = self.run
        run.records = sorted(order + [self.records[w] for w in run.waiting], key=Record.order_key)
        run.open_aborts = final.open_aborts()
        for step in run.playbook.steps:
            run.steps[step.id] = self._step_state(step, final)
        if run.open_aborts:
            run.state = ABORTED
        elif all(s.state in (DONE, SKIPPED) for s in run.steps.values()):
            run.state = COMPLETE
        else:
            run.state = RUNNING
        covered: set[bytes] = set()
        for r in order:
            covered |= r.past
        run.heads = sorted(r.id for r in order if r.id not in covered)

    def _settle(self, order: list[Record], final: _View) -> None:
        """Mark what counts in the final view; flag sign-offs that never saw an abort."""
        aborts = final.ok(ABORT)
        for step in self.run.playbook.steps:
            counted = {s.id for s in final.signers(step.id)}
            for s in final.ok(SIGN, step.id):
                if s.id in counted:
                    s.counted = True
                elif not final.survives_fails(s):
                    s.problems.append(
                        Note(
                            "voided_by_fail",
                            "the step was reported failed without this sign-off having seen a "
                            "retry after it; sign again after the retry",
                        )
                    )
                else:
                    s.problems.append(
                        Note("duplicate", "this member had already signed this step; counted once")
                    )
        for r in order:
            if r.kind != SIGN or not r.ok:
                continue
            for a in aborts:
                if a.id not in r.past and r.id not in a.past:
                    r.flags.append(
                        Note(
                            "concurrent_abort",
                            f"signed without having seen abort {short(a.id)} by {a.name} "
                            "(partition or delay); counted",
                        )
                    )

    def _step_state(self, step: Step, view: _View) -> StepState:
        st = StepState(step=step, state=READY)
        st.signers = view.signers(step.id)
        st.completed_hlc = view.completed_hlc(step.id)
        st.failures = view.open_fails(step.id)
        st.skipped_by = view.skipped(step.id)
        st.waivers = view.ok(WAIVE, step.id)
        st.checks = self._checks(step, view)
        st.missing_functions = view.missing_functions(step.id) if step.signers else []
        if view.complete(step.id):
            st.state = DONE
        elif st.skipped_by is not None:
            st.state = SKIPPED
        elif st.failures:
            st.state = FAILED
        else:
            if self.run.open_aborts:
                a = self.run.open_aborts[0]
                st.blocked_by.append(f"run aborted by {a.name}: {a.text}")
            for dep in step.prerequisites:
                if not view.satisfied(dep):
                    st.blocked_by.append(f"waiting for step '{dep}'")
            for c in st.checks:
                if c.blocking:
                    st.blocked_by.append(f"check #{c.index} {c.status}: {c.detail}")
            st.state = BLOCKED if st.blocked_by else READY
        return st

    def _checks(self, step: Step, view: _View) -> list[CheckResult]:
        out = []
        for i, check in enumerate(step.checks):
            if check.type == "step_done":
                done = view.satisfied(check.step)  # type: ignore[arg-type]
                status = PASS if done else FAIL
                detail = f"step '{check.step}' is {'done' if done else 'not done yet'}"
            elif check.needs_facts:
                status, detail = evaluate_fact(check, self.run.site, self.facts)
                waivers = view.waivers(step.id, i)
                if status != PASS and waivers:
                    w = min(waivers, key=Record.order_key)
                    status, detail = WAIVED, f"{detail}; waived by {w.name}: {w.text}"
            else:
                status, detail = ATTEST, f"confirmed by whoever signs: {check.text}"
            out.append(CheckResult(i, check, status, detail))
        return out
