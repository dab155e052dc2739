"""The state of playbook runs: records, steps, runs (data only; see ``playbooks.fold``).

Everything here is plain data computed by the fold, plus two presentation
helpers that need the laptop's clock: :meth:`Run.display` (holding countdowns)
and ``to_json(now_ms)``. Neither decides anything the fold decided.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.entry import Entry
from ledger.folds import Ignored
from ledger.playbooks.checks import CheckResult
from ledger.playbooks.model import Playbook, Step, dependencies

RUN = "playbook.run"
SIGN = "playbook.sign"
FAIL_KIND = "playbook.fail"
SKIP = "playbook.skip"
ABORT = "playbook.abort"
RESUME = "playbook.resume"
WAIVE = "playbook.waive"
FOLLOW_UPS = frozenset({SIGN, FAIL_KIND, SKIP, ABORT, RESUME, WAIVE})
KINDS = frozenset({RUN}) | FOLLOW_UPS

DONE, READY, BLOCKED, HOLDING, FAILED, SKIPPED = (
    "done",
    "ready",
    "blocked",
    "holding",
    "failed",
    "skipped",
)
RUNNING, ABORTED, COMPLETE = "running", "aborted", "complete"


def hex_id(value: Any) -> bytes | None:
    if not isinstance(value, str) or len(value) != 64:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def short(entry_id: bytes) -> str:
    return entry_id.hex()[:12]


@dataclass(frozen=True)
class Note:
    """A machine code and a sentence: why an entry had no effect, or what to look at."""

    code: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}


def _num(value: Any) -> str:
    return (
        f"{value:g}"
        if isinstance(value, int | float) and not isinstance(value, bool)
        else str(value)
    )


@dataclass
class Record:
    """One follow-up entry of a run and what the view made of it."""

    entry: Entry
    name: str
    member: bytes | None
    step: str | None = None
    deps: tuple[bytes, ...] = ()
    missing: tuple[bytes, ...] = ()
    past: frozenset[bytes] = frozenset()
    #: why it has no effect (empty: it took effect)
    problems: list[Note] = field(default_factory=list)
    #: warnings that do not change what it counts for
    flags: list[Note] = field(default_factory=list)
    #: sign-offs: counts toward the step in the final view
    counted: bool = False
    #: names entries this laptop has not received: not judged yet
    waiting: bool = False

    @property
    def id(self) -> bytes:
        return self.entry.id

    @property
    def kind(self) -> str:
        return self.entry.kind

    @property
    def body(self) -> dict[str, Any]:
        return self.entry.body

    @property
    def ok(self) -> bool:
        """Took effect in its own causal view (before final-view voiding)."""
        return not any(p.code not in ("voided_by_fail", "duplicate") for p in self.problems)

    @property
    def text(self) -> str:
        """The note of a sign-off, or the reason of anything else."""
        value = self.body.get("note") if self.kind == SIGN else self.body.get("reason")
        return value if isinstance(value, str) else ""

    def details(self) -> list[str]:
        """What a sign-off recorded besides its note: readings, an override reason, and
        at a release point the facts the coordinator saw (for the after-action log)."""
        if self.kind != SIGN:
            return []
        out = []
        given = self.body.get("readings")
        if isinstance(given, dict) and given:
            out.append("read " + ", ".join(f"{k}={_num(v)}" for k, v in sorted(given.items())))
        why = self.body.get("override")
        if isinstance(why, str) and why.strip():
            out.append(f"overrode a limit: {why.strip()}")
        facts = self.body.get("facts")
        if isinstance(facts, dict) and facts:
            seen = ", ".join(
                f"{k}={_num(f.get('value'))} ({f.get('step')}, {f.get('by')})"
                for k, f in sorted(facts.items())
                if isinstance(f, dict)
            )
            out.append(f"at release: {seen}")
        return out

    def order_key(self) -> tuple[int, bytes]:
        return (self.entry.hlc, self.id)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id.hex(),
            "kind": self.kind,
            "action": self.kind.split(".", 1)[1],
            "author": self.entry.author.hex(),
            "name": self.name,
            "member": self.member.hex() if self.member else None,
            "seq": self.entry.seq,
            "hlc": self.entry.hlc,
            "step": self.step,
            "text": self.text,
            "seen": self.body["seen"] if isinstance(self.body.get("seen"), list) else [],
            "waiting": self.waiting,
            "took_effect": not self.problems and not self.waiting,
            "counted": self.counted,
            "problems": [p.to_json() for p in self.problems],
            "flags": [f.to_json() for f in self.flags],
        }
        if self.kind == SIGN:
            for key in ("readings", "override", "facts"):
                if self.body.get(key) is not None:
                    out[key] = self.body[key]
            out["details"] = self.details()
        if self.kind == WAIVE:
            out["check"] = self.body.get("check")
        if self.kind == SIGN and isinstance(self.body.get("checks"), list):
            out["checks"] = self.body["checks"]
        return out


@dataclass
class StepState:
    """A step in the final view (clock-free; see :meth:`Run.display` for holds)."""

    step: Step
    state: str
    signers: list[Record] = field(default_factory=list)
    blocked_by: list[str] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    completed_hlc: int | None = None
    failures: list[Record] = field(default_factory=list)
    skipped_by: Record | None = None
    waivers: list[Record] = field(default_factory=list)
    missing_functions: list[str] = field(default_factory=list)

    @property
    def needed(self) -> int:
        return self.step.signoffs

    @property
    def hold_until_ms(self) -> int | None:
        """Wall-clock ms when this step's hold ends (display only), if it has one."""
        if self.completed_hlc is None or not self.step.hold_s:
            return None
        return (self.completed_hlc >> 16) + self.step.hold_s * 1000


@dataclass
class Run:
    entry: Entry
    playbook: Playbook
    starter: str
    site: str | None = None
    note: str | None = None
    records: list[Record] = field(default_factory=list)
    waiting: list[bytes] = field(default_factory=list)
    steps: dict[str, StepState] = field(default_factory=dict)
    state: str = RUNNING
    open_aborts: list[Record] = field(default_factory=list)
    heads: list[bytes] = field(default_factory=list)

    @property
    def id(self) -> bytes:
        return self.entry.id

    def progress(self) -> tuple[int, int]:
        """(steps done or skipped, steps)."""
        done = sum(1 for s in self.steps.values() if s.state in (DONE, SKIPPED))
        return done, len(self.steps)

    def display(self, step_id: str, now_ms: int | None) -> tuple[str, int | None]:
        """The state to show now, with holds: ('holding', seconds left) or (state, None).

        A ready step whose prerequisite's hold has not ended by this laptop's
        clock is *holding*. Display only: the view itself never reads a clock.
        """
        st = self.steps[step_id]
        if st.state != READY or now_ms is None:
            return st.state, None
        # Never more than the hold itself: a laptop with its clock hours ahead must
        # not make everyone wait hours (clocks are wrong after disasters).
        left = [
            min(until - now_ms, self.steps[dep].step.hold_s * 1000)
            for dep in dependencies(st.step)
            if (until := self.steps[dep].hold_until_ms) is not None and now_ms < until
        ]
        if left:
            return HOLDING, -(-max(left) // 1000)
        return READY, None

    def release_facts(self) -> dict[str, Any]:
        """The newest reading of each name entered at the run's counted sign-offs (what a
        coordinator sees before releasing the next block)."""
        latest: dict[str, tuple[tuple[int, bytes], dict[str, Any]]] = {}
        for sid, st in self.steps.items():
            for r in st.signers:
                given = r.body.get("readings")
                for name, value in (given if isinstance(given, dict) else {}).items():
                    if name not in latest or latest[name][0] < r.order_key():
                        latest[name] = (r.order_key(), {"value": value, "step": sid, "by": r.name})
        return {name: fact for name, (_, fact) in sorted(latest.items())}

    def summary(self) -> dict[str, Any]:
        """One line of `playbook list`."""
        done, total = self.progress()
        return {
            "id": self.id.hex(),
            "playbook": self.playbook.id,
            "title": self.playbook.title,
            "version": self.playbook.version,
            "site": self.site,
            "state": self.state,
            "done": done,
            "steps": total,
            "started_by": self.starter,
            "started_hlc": self.entry.hlc,
        }

    def to_json(self, now_ms: int | None = None) -> dict[str, Any]:
        steps = []
        for sid, st in self.steps.items():
            shown, left = self.display(sid, now_ms)
            until = st.hold_until_ms
            steps.append(
                {
                    "id": sid,
                    "title": st.step.title,
                    "role": st.step.role,
                    "state": shown,
                    "hold_remaining_s": left,
                    "needed": st.needed,
                    "have": len(st.signers),
                    "signed_by": [
                        {
                            "name": r.name,
                            "member": r.member.hex() if r.member else None,
                            "key": r.entry.author.hex(),
                            "entry": r.id.hex(),
                            "hlc": r.entry.hlc,
                            "note": r.text,
                            **sign_fields(r.body),
                        }
                        for r in st.signers
                    ],
                    "type": st.step.type,
                    "signers": [f"role:{f}" for f in st.step.signers],
                    "missing_functions": [f"role:{f}" for f in st.missing_functions],
                    "readings": [spec.to_json() for spec in st.step.readings],
                    "at_release": self.release_facts() if st.step.type == "release" else None,
                    "prerequisites": list(st.step.prerequisites),
                    "blocked_by": st.blocked_by,
                    "checks": [c.to_json() for c in st.checks],
                    "hold": st.step.hold,
                    "completed_hlc": st.completed_hlc,
                    "hold_until_ms": until,
                    "hold_running": bool(
                        until is not None and now_ms is not None and now_ms < until
                    ),
                    "failures": [
                        {"entry": f.id.hex(), "by": f.name, "reason": f.text} for f in st.failures
                    ],
                    "skipped": (
                        {
                            "entry": st.skipped_by.id.hex(),
                            "by": st.skipped_by.name,
                            "reason": st.skipped_by.text,
                        }
                        if st.skipped_by
                        else None
                    ),
                }
            )
        done, total = self.progress()
        return {
            "id": self.id.hex(),
            "playbook": {
                "id": self.playbook.id,
                "title": self.playbook.title,
                "version": self.playbook.version,
                "hash": self.playbook.hash,
            },
            "site": self.site,
            "note": self.note,
            "started_by": self.starter,
            "started_by_key": self.entry.author.hex(),
            "started_hlc": self.entry.hlc,
            "state": self.state,
            "progress": {"done": done, "total": total},
            "open_aborts": [
                {"entry": a.id.hex(), "by": a.name, "reason": a.text} for a in self.open_aborts
            ],
            "steps": steps,
            "records": [r.to_json() for r in self.records],
            "waiting": [w.hex() for w in self.waiting],
            "heads": [h.hex() for h in self.heads],
        }


@dataclass
class PlaybooksState:
    runs: dict[bytes, Run] = field(default_factory=dict)
    ignored: list[Ignored] = field(default_factory=list)
    #: follow-ups whose run has not arrived on this laptop yet
    waiting: list[bytes] = field(default_factory=list)

    def matching(self, prefix: str) -> list[Run]:
        """Runs whose id starts with ``prefix`` (hex, case-insensitive)."""
        p = prefix.strip().lower()
        return [run for rid, run in sorted(self.runs.items()) if rid.hex().startswith(p)]

    def to_json(self, now_ms: int | None = None) -> dict[str, Any]:
        return {
            "runs": [run.to_json(now_ms) for _, run in sorted(self.runs.items())],
            "ignored": [i.to_json() for i in self.ignored],
            "waiting": [w.hex() for w in self.waiting],
        }


def sign_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The readings and override a sign-off recorded (as signed), for status."""
    readings = body.get("readings")
    override = body.get("override")
    return {
        "readings": dict(readings) if isinstance(readings, dict) else {},
        "override": override if isinstance(override, str) and override.strip() else None,
    }
