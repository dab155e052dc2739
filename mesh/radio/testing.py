"""A town and a valley on the simulator, with real entries to carry (tests and benchmark).

:class:`Valley` founds a mesh with deterministic keys, gives both laptops the
roster (as a courier bundle would before the valley was cut off) and writes
entries through the same library calls the commands use: fuel reports, a
revocation, a ballot, a playbook sign-off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from textwrap import dedent

from ledger.entry import Entry
from ledger.fuel import writer as fuel
from ledger.home import Home
from ledger.identity import Identity
from ledger.playbooks import writer as playbooks
from ledger.roster import writer as trust
from ledger.store import Store
from ledger.testing import identity_from_seed
from ledger.votes import writer as votes
from ledger.votes.writer import VoteSpec
from mesh.radio.sim import Fate, SimParams
from mesh.radio.simnet import SimNet
from mesh.radio.station import StationConfig

PLAYBOOK = dedent(
    """\
    id = "genset"
    title = "Start the valley genset"
    version = "1"
    roles = ["coordinator", "operator"]

    [[steps]]
    id = "walkdown"
    title = "Walk down the genset"
    role = "operator"
    instructions = "Check oil, coolant and the fuel valves; note anything unusual."
    """
)
#: who sits where: town holds the radio at the mesh's end, valley is across the gap
PEOPLE = {
    "alice": ["admin", "coordinator", "operator", "teller"],  # town, admin
    "bob": ["operator", "teller"],  # valley laptop
    "carol": ["operator", "teller"],  # town operator
    "dave": ["operator"],
    "erin": ["operator"],
    "frank": ["operator"],  # a laptop that will be lost
}


@dataclass
class Valley:
    root: Path
    people: dict[str, Identity] = field(default_factory=dict)
    stores: dict[str, Store] = field(default_factory=dict)

    @classmethod
    def create(cls, root: Path) -> Valley:
        v = cls(root)
        v.people = {name: identity_from_seed(name) for name in PEOPLE}
        town = v._store("town")
        alice = v.people["alice"]
        trust.create_mesh(town, alice, "valley-drill", roles=tuple(PEOPLE["alice"]))
        for name, roles in PEOPLE.items():
            if name != "alice":
                trust.add_member(town, alice, v.people[name].public, name, roles)
        valley = v._store("valley")
        valley.ingest([e.raw for e in town.entries()])
        return v

    def _store(self, name: str) -> Store:
        self.root.mkdir(parents=True, exist_ok=True)
        store = Store(self.root / f"{name}.db", create=True)
        self.stores[name] = store
        return store

    @property
    def town(self) -> Store:
        return self.stores["town"]

    @property
    def valley(self) -> Store:
        return self.stores["valley"]

    def net(
        self, params: SimParams, config: StationConfig | None = None, fate: Fate | None = None
    ) -> SimNet:
        """Both laptops on one simulated channel: town's radio is alice's, valley's is bob's."""
        net = SimNet(params, fate=fate)
        net.add("town", self.town, self.people["alice"].signing_key, config)
        net.add("valley", self.valley, self.people["bob"].signing_key, config)
        return net

    # --- entries, written the way the commands write them --------------------------------

    def fuel_reports(self, n: int, who: str = "carol", store: str = "town") -> list[Entry]:
        out = []
        for i in range(n):
            out.append(
                fuel.report(
                    self.stores[store],
                    self.people[who],
                    f"pump-station-{i % 9}",
                    1000.0 + 7.5 * i,
                    tank="day-tank",
                    new_site=True,  # pump-station-1 is new, not a typo of -0
                )
            )
        return out

    def revoke(self, who: str = "frank") -> Entry:
        # the town has seen none of their entries: the cut point must be said (issue 23)
        return trust.revoke(
            self.town, self.people["alice"], self.people[who].public, "laptop lost", at=0
        ).entry

    def open_vote(self) -> Entry:
        spec = VoteSpec(
            title="Which pump station gets the next fuel truck?",
            options=[
                {"id": "north", "label": "North station"},
                {"id": "river", "label": "River station"},
            ],
            method="plurality",
            tellers=[self.people[n].public for n in ("alice", "bob", "carol")],
            roll_role="operator",
            quorum_pct=0,
        )
        return votes.open_vote(self.town, self.people["alice"], spec)

    def ballot(self, vote: Entry, who: str = "carol", store: str = "town") -> Entry:
        return votes.cast(
            self.stores[store], self.people[who], vote.id.hex(), words=["north"]
        ).entry

    def start_playbook(self) -> Entry:
        return playbooks.start(
            self.town, self.people["alice"], PLAYBOOK, source="genset.toml"
        ).entry

    def sign_off(self, run: Entry, who: str = "carol") -> Entry:
        written = playbooks.sign(
            self.town, self.people[who], run.id.hex(), "walkdown", note="oil and coolant fine"
        )
        return written.entry

    def close(self) -> None:
        for store in self.stores.values():
            store.close()


def founded_pair(root: Path) -> tuple[Home, Home]:
    """Two laptop homes of one mesh that both hold the roster (as after a courier bundle):
    alice (admin) in ``root/town``, bob (operator) in ``root/valley``."""
    a, b = Home(root / "town"), Home(root / "valley")
    ida, idb = a.init("alice"), b.init("bob")
    trust.create_mesh(a.store, ida, "relief", roles=("admin", "coordinator", "operator"))
    trust.add_member(a.store, ida, idb.public, "bob", ["operator"])
    b.store.pin_mesh(a.store.mesh_id)  # type: ignore[arg-type]
    b.store.ingest([e.raw for e in a.store.entries()])
    return a, b
