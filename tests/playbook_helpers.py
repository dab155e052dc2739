"""Helpers for playbook tests: drive the real writer pre-checks on any view of a mesh.

``Runner.act(who, "sign", step=..., visible=entries)`` computes the view from
the ``visible`` entries (one side of a partition) and signs what the writer
would sign there; ``Runner.raw(...)`` writes an entry bypassing the pre-checks,
as a modified client or a race would.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from textwrap import dedent
from typing import Any

from ledger.entry import Entry
from ledger.playbooks import view, writer
from ledger.playbooks.checks import Facts, NoFacts
from ledger.playbooks.format import parse
from ledger.testing import MeshFixture

SHIPPED = Path(__file__).resolve().parents[1] / "field_guides" / "playbooks"

#: a: isolate (2 operators, hold 10 min); b: independent; c: needs a and b.
SMALL = dedent(
    """\
    id = "small"
    title = "Small restart"
    version = "1"
    roles = ["coordinator", "operator"]

    [[steps]]
    id = "a"
    title = "Isolate"
    role = "operator"
    signoffs = 2
    hold = "10m"
    instructions = "Open the feeder breakers."

    [[steps]]
    id = "b"
    title = "Walk down the genset"
    role = "operator"
    instructions = "Check oil, coolant, fuel valves."

    [[steps]]
    id = "c"
    title = "Start and close onto the bus"
    role = "operator"
    signoffs = 2
    prerequisites = ["a", "b"]
    instructions = "Start genset 1, close its breaker."
    checks = [{type = "fuel_at_least", litres = 500}, {type = "manual", text = "ear defenders"}]
    """
)

ACTIONS = {
    "sign": (view.SIGN, writer.prepare_sign),
    "fail": (view.FAIL_KIND, writer.prepare_fail),
    "skip": (view.SKIP, writer.prepare_skip),
    "abort": (view.ABORT, writer.prepare_abort),
    "resume": (view.RESUME, writer.prepare_resume),
    "waive": (view.WAIVE, writer.prepare_waive),
}


class Runner:
    """A mesh with one playbook run."""

    def __init__(
        self,
        members: dict[str, list[str]] | None = None,
        text: str = SMALL,
        *,
        site: str | None = "north",
        facts: Facts | None = None,
    ) -> None:
        self.mesh = MeshFixture.create(
            "alice",
            members
            if members is not None
            else {
                "bob": ["operator"],
                "carol": ["operator"],
                "dave": ["operator"],
                "olga": ["observer"],
            },
        )
        self.facts = facts or NoFacts()
        body, self.warnings = writer.prepare_start(
            parse(text),
            self.mesh.roster(),
            self.mesh.key("alice"),
            self.next_seq("alice"),
            site=site,
        )
        self.run_entry = self.mesh.write("alice", view.RUN, body)

    @property
    def run_id(self) -> bytes:
        return self.run_entry.id

    def next_seq(self, who: str) -> int:
        self.mesh.person(who)
        return self.mesh.feeds[who].seq + 1

    def now_ms(self) -> int:
        return self.mesh.clock >> 16

    def state(self, visible: Sequence[Entry] | None = None) -> view.PlaybooksState:
        entries = self.mesh.entries if visible is None else visible
        return view.fold(entries, self.mesh.roster(), self.facts)

    def run(self, visible: Sequence[Entry] | None = None) -> view.Run:
        return self.state(visible).runs[self.run_id]

    def act(
        self, who: str, action: str, *args: Any, visible: Sequence[Entry] | None = None, **kw: Any
    ) -> Entry:
        """What ``who``'s laptop would sign, seeing ``visible`` (default: everything)."""
        kind, prepare = ACTIONS[action]
        if action == "sign":
            kw.setdefault("now_ms", self.now_ms())
        body = prepare(
            self.run(visible),
            self.mesh.roster(),
            self.mesh.key(who),
            self.next_seq(who),
            *args,
            **kw,
        )
        return self.mesh.write(who, kind, body)

    def raw(self, who: str, action: str, seen: Sequence[Entry] = (), **body: Any) -> Entry:
        """An entry written without any pre-check, naming ``seen`` as what its author saw."""
        kind = ACTIONS[action][0]
        full = {"run": self.run_id.hex(), "seen": [e.id.hex() for e in seen], **body}
        return self.mesh.write(who, kind, full)

    def record(self, entry: Entry, visible: Sequence[Entry] | None = None) -> view.Record:
        return next(r for r in self.run(visible).records if r.id == entry.id)
