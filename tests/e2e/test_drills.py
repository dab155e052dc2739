"""Drills end to end: shipped drills pass, a broken node makes the checker fail, bad files are
refused with the step and field named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.errors import InvalidInput
from plurictl import shipped
from plurictl.drills.model import load, parse
from plurictl.drills.runner import DrillRunner

pytestmark = pytest.mark.timeout(300)

SMALL = {
    "drill": {"name": "small", "interval": 0.2},
    "nodes": [
        {"name": "a", "roles": ["admin", "coordinator", "operator"]},
        {"name": "b", "roles": ["operator"]},
        {"name": "c", "roles": ["operator"]},
    ],
    "step": [
        {"do": "found"},
        {"do": "start"},
        {"do": "wait-converged"},
        {"do": "partition", "groups": [["a", "b"], ["c"]]},
        {"do": "write", "node": "a", "count": 3},
        {"do": "write", "node": "c", "count": 2},
        {"do": "courier", "from": "a", "to": "c"},
        {"do": "kill", "node": "b"},
        {"do": "write", "node": "b"},
        {"do": "equivocate", "node": "c", "via": "a"},
        {"do": "heal"},
    ],
}


def test_small_drill_passes(tmp_path: Path) -> None:
    report = DrillRunner(parse(SMALL), tmp_path).run()
    assert report.passed, report.to_json()
    names = {i.name: i for i in report.invariants}
    assert "1 injected fork" in names["fork proofs everywhere (and only where injected)"].detail
    assert report.acknowledged >= 9
    actions = [row.action for row in report.timeline]
    assert actions[:3] == ["found", "start", "wait-converged"] and actions[-1] == "final"


def test_a_broken_node_makes_the_checker_fail(tmp_path: Path) -> None:
    report = DrillRunner(parse(SMALL), tmp_path, broken_node=("b", "a"), final_timeout=3).run()
    assert not report.passed
    failed = {i.name for i in report.invariants if not i.ok}
    assert "every acknowledged entry on every node" in failed
    assert "identical heads vectors" in failed
    missing = next(
        i for i in report.invariants if i.name == "every acknowledged entry on every node"
    )
    assert "b lacks" in missing.detail


@pytest.mark.parametrize(
    "name",
    [
        "quickstart",
        pytest.param("partition-vote", marks=pytest.mark.slow),
        pytest.param("lost-laptop", marks=pytest.mark.slow),
        "cloned-teller",
        "secret-council",
        "flood-valley",
        pytest.param("long-split", marks=pytest.mark.slow),
    ],
)
def test_shipped_drills_pass(tmp_path: Path, name: str) -> None:
    report = DrillRunner(load(shipped.folder("drills") / f"{name}.toml"), tmp_path).run()
    assert report.passed, json.dumps(report.to_json(), indent=1)[:3000]


def test_a_short_long_split_converges_and_reports_it(tmp_path: Path) -> None:
    """long-split.toml with 300 entries a side instead of 20,000 (the slow suite runs it whole)."""
    drill = load(shipped.folder("drills") / "long-split.toml")
    writes = [s for s in drill.steps if s.action == "write"]
    assert [s.args["count"] for s in writes] == [20000, 20000]
    for s in writes:
        s.args["count"] = 300
    report = DrillRunner(drill, tmp_path).run()
    assert report.passed, json.dumps(report.to_json(), indent=1)[:3000]
    phases = dict(report.convergence)
    assert "heal after the long split" in phases
    assert report.acknowledged >= 600


def test_the_clock_invariant_fails_when_a_clock_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checker can fail: a view that (wrongly) let the newest stamp decide is caught."""
    from types import SimpleNamespace

    from ledger.store import Store
    from ledger.testing import MeshFixture
    from plurictl.drills import checker

    m = MeshFixture.create("alice", {"bob": ["operator"]})
    m.write("alice", "note", {"text": "first"})
    m.write("bob", "note", {"text": "second"})

    class Held:
        def entries(self) -> list:  # type: ignore[type-arg]
            return list(m.entries)

    def newest_wins(entries: list) -> dict:  # type: ignore[type-arg]
        return {"notes": max(entries, key=lambda e: e.hlc).body.get("text")}

    runner = SimpleNamespace(skews={m.key("bob"): 9 * 3600 * 1000})
    stores: dict[str, Store] = {"alice": Held()}  # type: ignore[dict-item]
    assert checker.clocks_decide_nothing(runner, stores).ok  # type: ignore[arg-type]
    monkeypatch.setattr(checker, "decisions", newest_wins)
    broken = checker.clocks_decide_nothing(runner, stores)  # type: ignore[arg-type]
    assert not broken.ok and "notes" in broken.detail


def test_cloned_teller_drill_keeps_one_result_with_the_revoked_voters_ballot(
    tmp_path: Path,
) -> None:
    """After the drill, alice (who revoked frank before seeing his ballot, and whose side
    held the copy of dave's laptop) shows the same FINAL result, with frank's ballot."""
    from ledger.store import Store
    from ledger.votes.writer import load as load_votes

    report = DrillRunner(load(shipped.folder("drills") / "cloned-teller.toml"), tmp_path).run()
    assert report.passed, json.dumps(report.to_json(), indent=1)[:3000]
    with Store.open(tmp_path / "nodes" / "alice") as store:
        votes, roster = load_votes(store)
        (vote,) = votes.votes.values()
        assert vote.state == "FINAL" and vote.result is not None
        frank = next(k for k, i in roster.keys.items() if i.name == "frank")
        assert roster.keys[frank].status == "revoked"
        assert any(b.author == frank for b in vote.result.counted)
        assert [roster.name_of(t.member) for t in vote.forked_tellers] == ["dave"]


def test_the_final_watch_can_fail() -> None:
    """Two results for one vote, a changed result, a FINAL that goes away: each caught."""
    from plurictl.drills.checker import FinalWatch

    w = FinalWatch()
    w.record("a", "v1", "FINAL", ("s1", "winner", "north"), "step 1")
    w.record("b", "v1", "PROVISIONAL", None, "step 1")
    assert w.invariant().ok
    w.record("b", "v1", "FINAL", ("s2", "winner", "south"), "step 2")
    w.record("a", "v1", "SEALED", None, "step 3")
    w.record("c", "v2", "CONFLICT", None, "step 3")
    inv = w.invariant()
    assert not inv.ok
    assert len(w.violations) == 3, w.violations


def test_short_nemesis_loses_nothing(tmp_path: Path) -> None:
    spec = parse(
        {
            **SMALL,
            "step": [
                {"do": "found"},
                {"do": "start"},
                {"do": "nemesis", "duration": "6s", "seed": 3},
            ],
        }
    )
    report = DrillRunner(spec, tmp_path, seed=3).run()
    assert report.passed, report.to_json()
    assert report.acknowledged > 20


def test_drill_waits_for_the_roster_before_the_first_fault(tmp_path: Path) -> None:
    """A partition right after `start` (the drills.md example does this) must not cut a laptop
    off before it learnt the roster: the runner waits for the roster first."""
    spec = parse(
        {
            **SMALL,
            "step": [
                {"do": "found"},
                {"do": "start"},
                {"do": "partition", "groups": [["a"], ["b", "c"]]},
                {"do": "write", "node": "c", "count": 2},
                {"do": "write", "node": "b"},
                {"do": "heal"},
            ],
        }
    )
    report = DrillRunner(spec, tmp_path).run()
    assert report.passed, report.to_json()
    phase, _ = report.convergence[0]
    assert phase == "roster on every laptop"


def test_the_guides_example_drill_runs(tmp_path: Path) -> None:
    """drills.md's "Writing a drill" example partitions right after `start`."""
    import re
    import tomllib

    guide = (Path(__file__).resolve().parents[2] / "field_guides" / "drills.md").read_text()
    section = guide.split("## Writing a drill", 1)[1]
    example = re.findall(r"```toml\n(.*?)```", section, flags=re.S)[0]
    report = DrillRunner(parse(tomllib.loads(example)), tmp_path).run()
    assert report.passed, report.to_json()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["step"].append({"do": "explode"}), "unknown action 'explode'"),
        (lambda d: d["step"].append({"do": "write"}), "step 12 (write): missing node"),
        (lambda d: d["step"].append({"do": "write", "node": "zed"}), "node 'zed' is not a node"),
        (
            lambda d: d["step"].append({"do": "partition", "groups": [["a"], ["a", "b"]]}),
            "a is in two groups",
        ),
        (lambda d: d["step"].append({"do": "sleep", "seconds": "soon"}), "not a duration"),
        (lambda d: d["nodes"].append({"name": "a"}), "names must be different"),
        (lambda d: d["nodes"].append({"name": "x", "roles": ["king"]}), "roles must be"),
        (
            lambda d: d["step"].append({"do": "write", "node": "a", "colour": "red"}),
            "unknown field(s) colour",
        ),
        (
            lambda d: d["step"].append({"do": "clock", "node": "a", "offset": "tomorrow"}),
            "'tomorrow' is not a clock offset",
        ),
        (
            lambda d: d["step"].append({"do": "clock", "node": "a", "offset": "-40y"}),
            "more than 30 years off",
        ),
        (lambda d: d["step"].append({"do": "one-way", "from": "a", "to": "a"}), "two different"),
        (lambda d: d["step"].append({"do": "bandwidth", "kbit": "fast"}), "kbit must be"),
        (
            lambda d: d["step"].append({"do": "flap", "node": "b", "duration": "5s", "up": "x"}),
            "up: 'x' is not a duration",
        ),
        (
            lambda d: d["step"].append({"do": "courier-every", "from": "a", "to": "b"}),
            "missing duration, every",
        ),
        (
            lambda d: d["step"].append(
                {"do": "flap", "node": "b", "duration": "5s", "up": "0s", "down": "1s"}
            ),
            "up must be at least 100ms",
        ),
        (  # #24 hostile review F6: a courier to itself rehearses nothing
            lambda d: d["step"].append(
                {"do": "courier-every", "from": "a", "to": "a", "every": "1s", "duration": "3s"}
            ),
            "(courier-every): from and to must be two different nodes",
        ),
        (  # F5: nan passed and the drill tested nothing
            lambda d: d["step"].append({"do": "flap", "node": "b", "duration": float("nan")}),
            "not a duration from 0 to 7 days",
        ),
    ],
)
def test_bad_drill_files_name_the_step_and_field(change, message: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(json.dumps(SMALL))
    change(data)
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(data)


def test_drill_cli(tmp_path: Path, invoke) -> None:  # type: ignore[no-untyped-def]
    r = invoke(None, "drill", "list", "--json")
    assert r.exit_code == 0
    names = {d["name"] for d in json.loads(r.stdout)}
    assert {"partition-vote", "lost-laptop", "nemesis"} <= names
    for name in names:
        assert invoke(None, "drill", "validate", name).exit_code == 0
    bad = tmp_path / "bad.toml"
    bad.write_text("[drill\n")
    r = invoke(None, "drill", "validate", str(bad))
    assert r.exit_code == 5 and "not valid TOML" in r.stderr
    r = invoke(None, "drill", "run", "no-such-drill")
    assert r.exit_code == 5 and "shipped drills" in r.stderr
    small = tmp_path / "small.toml"
    small.write_text(
        '[drill]\nname = "cli"\ninterval = 0.2\n[[nodes]]\nname = "a"\nroles = ["admin", "operator"]\n'
        '[[nodes]]\nname = "b"\n[[step]]\ndo = "write"\nnode = "b"\n'
    )
    r = invoke(None, "drill", "run", str(small), "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert report["passed"] and report["acknowledged_entries"] >= 2


def test_real_link_faults_need_the_namespace_network(tmp_path: Path) -> None:
    spec = parse(
        {
            "drill": {"name": "cut", "interval": 0.2},
            "nodes": [{"name": "a", "roles": ["admin"]}, {"name": "b", "roles": ["operator"]}],
            "step": [{"do": "found"}, {"do": "start"}, {"do": "link-down", "node": "b"}],
        }
    )
    report = DrillRunner(spec, tmp_path).run()
    assert not report.passed and report.error is not None
    assert "--network netns" in report.error


def test_secret_council_drill_decrypts_on_the_side_with_k_tellers(tmp_path: Path) -> None:
    """The secret drill's checker really compares counts: its invariant ran on every laptop,
    and the FINAL counts are those of alice's side (ann: alice, carol's revote; ben: bob)."""
    from ledger.store import Store
    from ledger.votes.writer import load as load_votes

    report = DrillRunner(load(shipped.folder("drills") / "secret-council.toml"), tmp_path).run()
    assert report.passed, json.dumps(report.to_json(), indent=1)[:3000]
    secret = next(
        i for i in report.invariants if i.name == "secret votes decrypt to the choices cast"
    )
    assert secret.detail.startswith("5 secret result(s)")
    # seal, then share: 3 shares (carol's seal, alice's and bob's vote.share) on 5 laptops
    shares = next(
        i for i in report.invariants if i.name == "decryption shares only on the sealed sheet"
    )
    assert shares.ok and shares.detail.startswith("15 share(s) held"), shares.detail
    with Store.open(tmp_path / "nodes" / "erin") as s:
        (vote,) = load_votes(s)[0].votes.values()
        held = [e for e in s.entries(kinds=["vote.seal", "vote.share"]) if "share" in e.body]
    assert vote.state == "FINAL" and vote.result is not None
    assert vote.result.tally.counts == {"ann": 2, "ben": 1, "cy": 0}
    assert {e.body["sheet"] for e in held} == {vote.sealed_sheet.hex()}  # none on dave's
    assert sorted(e.kind for e in held) == ["vote.seal", "vote.share", "vote.share"]
