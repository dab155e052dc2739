"""plurictl mesh / roster / forks via CliRunner: founding, joining, roles, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.store import Store
from tests.conftest import Invoke, json_out, new_home


def snapshot(home: Path) -> bytes:
    with Store.open(home) as s:
        return s.digest() + s.count().to_bytes(8, "big") + s.generation().to_bytes(8, "big")


def copy_ledger(src: Path, dst: Path) -> None:
    """Carry every entry from src to dst (what a bundle or the mesh will do)."""
    with Store.open(src) as a, Store.open(dst) as b:
        report = b.ingest(raw for raw, _ in a.iter_raw())
        b.add_fork_proofs(a.fork_proofs())
        unexpected = [
            r
            for r in report.rejected
            if "unknown" not in r.reason and "equivocation" not in r.reason
        ]
        assert not unexpected, unexpected


def test_mesh_show(home: Path, invoke: Invoke) -> None:
    info = json_out(invoke(home, "mesh", "show", "--json"))
    assert info["name"] == "relief" and len(info["mesh_id"]) == 64
    assert info["me"]["roles"] == ["admin", "coordinator", "operator"]
    assert "relief" in invoke(home, "mesh", "show").output


def test_second_mesh_is_refused(home: Path, invoke: Invoke) -> None:
    before = snapshot(home)
    r = invoke(home, "mesh", "create", "other")
    assert r.exit_code == 7 and "already belongs" in r.stderr
    assert snapshot(home) == before


def test_threshold_needs_enough_founding_admins(tmp_path: Path, invoke: Invoke) -> None:
    h, _ = new_home(tmp_path, invoke, "a")
    _, bkey = new_home(tmp_path, invoke, "b")
    r = invoke(h, "mesh", "create", "m", "--admin-threshold", "2")
    assert r.exit_code == 5 and "founding" in r.stderr
    r = invoke(h, "mesh", "create", "m", "--admin-threshold", "2", "--admin", f"b={bkey}")
    assert r.exit_code == 0, r.output
    info = json_out(invoke(h, "mesh", "show", "--json"))
    assert info["admin_threshold"] == 2 and info["members"] == 2


def test_join_offline_add_then_receive_roster(home: Path, tmp_path: Path, invoke: Invoke) -> None:
    bob, bkey = new_home(tmp_path, invoke, "bob")
    mesh_id = json_out(invoke(home, "mesh", "show", "--json"))["mesh_id"]
    fpr = json_out(invoke(bob, "whoami", "--json"))["fingerprint"]
    assert invoke(bob, "mesh", "join", mesh_id).exit_code == 0
    r = invoke(
        home, "roster", "add", bkey, "--name", "bob", "--role", "operator", "--fingerprint", fpr
    )
    assert r.exit_code == 0, r.output
    copy_ledger(home, bob)
    assert json_out(invoke(bob, "mesh", "show", "--json"))["me"]["roles"] == ["operator"]
    assert invoke(bob, "log", "append", "--kind", "note", "--body", "{}").exit_code == 0
    # bob is an operator: he cannot change the roster
    r = invoke(bob, "roster", "grant", "bob", "admin")
    assert r.exit_code == 7 and "only an admin" in r.stderr


def test_fingerprint_mismatch_refuses_the_key(home: Path, tmp_path: Path, invoke: Invoke) -> None:
    _, bkey = new_home(tmp_path, invoke, "bob")
    before = snapshot(home)
    r = invoke(
        home,
        "roster",
        "add",
        bkey,
        "--name",
        "bob",
        "--role",
        "operator",
        "--fingerprint",
        "AAAA-BBBB-CCCC-DDDD",
    )
    assert r.exit_code == 7 and "mismatch" in r.stderr
    assert snapshot(home) == before


def test_roster_lifecycle(home: Path, tmp_path: Path, invoke: Invoke) -> None:
    _, bkey = new_home(tmp_path, invoke, "bob")
    _, b2 = new_home(tmp_path, invoke, "bob-new-laptop")
    assert invoke(home, "roster", "add", bkey, "--name", "bob", "--role", "operator").exit_code == 0
    assert invoke(home, "roster", "grant", "bob", "teller").exit_code == 0
    assert invoke(home, "roster", "remove-role", "bob", "teller").exit_code == 0
    r = invoke(home, "roster", "rotate", "bob", b2)
    assert r.exit_code == 0, r.output
    roster = json_out(invoke(home, "roster", "list", "--json"))
    by_key = {m["key"]: m for m in roster["members"]}
    assert by_key[bkey]["status"] == "rotated" and by_key[b2]["roles"] == ["operator"]
    assert by_key[b2]["member"] == bkey
    r = invoke(home, "roster", "revoke", b2[:12], "--reason", "laptop stolen", "--at", "0")
    assert r.exit_code == 0, r.output
    roster = json_out(invoke(home, "roster", "list", "--json"))
    assert {m["key"]: m for m in roster["members"]}[b2]["status"] == "revoked"
    assert "bob" not in invoke(home, "roster", "list").output  # revoked and rotated keys hidden
    assert "bob" in invoke(home, "roster", "list", "--all").output


def test_a_rotated_members_name_still_names_them(
    home: Path, tmp_path: Path, invoke: Invoke
) -> None:
    _, bkey = new_home(tmp_path, invoke, "bob")
    _, b2 = new_home(tmp_path, invoke, "bob-new-laptop")
    assert invoke(home, "roster", "add", bkey, "--name", "bob", "--role", "operator").exit_code == 0
    assert invoke(home, "roster", "rotate", "bob", b2).exit_code == 0
    r = invoke(home, "roster", "grant", "bob", "teller")  # the name: the member's current key
    assert r.exit_code == 0, r.output
    r = invoke(home, "roster", "revoke", "bob", "--reason", "lost", "--at", "0")
    assert r.exit_code == 0, r.output
    by_key = {m["key"]: m for m in json_out(invoke(home, "roster", "list", "--json"))["members"]}
    assert by_key[b2]["status"] == "revoked" and by_key[bkey]["status"] == "rotated"
    assert [s["role"] for s in by_key[b2]["role_history"]] == ["operator", "teller"]
    _, c1 = new_home(tmp_path, invoke, "carl")
    _, c2 = new_home(tmp_path, invoke, "another-carl")  # a different member, same name
    assert invoke(home, "roster", "add", c1, "--name", "carl", "--role", "operator").exit_code == 0
    assert invoke(home, "roster", "revoke", "carl", "--at", "0").exit_code == 0
    assert invoke(home, "roster", "add", c2, "--name", "carl", "--role", "operator").exit_code == 0
    r = invoke(home, "roster", "grant", "carl", "teller")
    assert r.exit_code == 5, r.output
    said = " ".join(r.stderr.split())
    first, second = sorted((c1[:8], c2[:8]))
    assert f"2 members are named 'carl': carl ({first}), carl ({second})" in said
    assert "key prefix" in said and "members:" not in said


def test_threshold_approvals_via_cli(tmp_path: Path, invoke: Invoke) -> None:
    a, _ = new_home(tmp_path, invoke, "a")
    b, bkey = new_home(tmp_path, invoke, "b")
    _, ckey = new_home(tmp_path, invoke, "c")
    assert (
        invoke(a, "mesh", "create", "m", "--admin-threshold", "2", "--admin", f"b={bkey}").exit_code
        == 0
    )
    mesh_id = json_out(invoke(a, "mesh", "show", "--json"))["mesh_id"]
    r = invoke(a, "roster", "add", ckey, "--name", "c", "--role", "operator")
    assert r.exit_code == 0 and "waiting for approvals" in r.output
    pending = json_out(invoke(a, "roster", "list", "--json"))["pending"]
    assert len(pending) == 1 and pending[0]["approvals"] == 1
    assert invoke(b, "mesh", "join", mesh_id).exit_code == 0
    copy_ledger(a, b)
    r = invoke(b, "roster", "approve", pending[0]["change"][:10])
    assert r.exit_code == 0, r.output
    members = {m["name"] for m in json_out(invoke(b, "roster", "list", "--json"))["members"]}
    assert "c" in members
    r = invoke(b, "roster", "approve", "deadbeef")
    assert r.exit_code == 5 and "no single pending change" in r.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["roster", "add", "nothex", "--name", "x", "--role", "operator"], 5, "not a public key"),
        (["roster", "add", "ab" * 32, "--name", "x", "--role", "king"], 2, "Invalid value"),
        (["roster", "grant", "nobody", "teller"], 5, "no single member"),
        (["roster", "revoke", "alice"], 7, "fewer admins"),
        (["roster", "threshold", "5"], 5, "between 1 and"),
        (["roster", "approve", "abcdef12"], 5, "no single pending"),
        (["mesh", "join", "xyz"], 7, ""),
    ],
)
def test_roster_bad_input(
    home: Path, invoke: Invoke, args: list[str], code: int, message: str
) -> None:
    before = snapshot(home)
    r = invoke(home, *args)
    if args[:2] == ["mesh", "join"]:
        assert r.exit_code in (5, 7)
    else:
        assert r.exit_code == code, r.output
        assert message in r.stderr + r.output
    assert "Traceback" not in r.output
    assert snapshot(home) == before


def test_forks_list_plain_words(home: Path, tmp_path: Path, invoke: Invoke) -> None:
    import shutil

    assert json_out(invoke(home, "forks", "list", "--json")) == []
    # a copied laptop: the same key writes different entries in two places
    twin = tmp_path / "twin"
    shutil.copytree(home, twin)
    assert invoke(home, "log", "append", "--kind", "note", "--body", '{"side": 1}').exit_code == 0
    assert invoke(twin, "log", "append", "--kind", "note", "--body", '{"side": 2}').exit_code == 0
    copy_ledger(twin, home)
    proofs = json_out(invoke(home, "forks", "list", "--json"))
    assert len(proofs) == 1 and proofs[0]["seq"] == 2 and proofs[0]["name"] == "alice"
    text = invoke(home, "forks", "list").output
    assert "signed two different entries" in text and "frozen" in text
    r = invoke(home, "log", "verify")
    assert r.exit_code == 6 and "FORK" in r.output
    assert json_out(invoke(home, "mesh", "show", "--json"))["forks"] == 1


def _forked_member(home: Path, tmp_path: Path, invoke: Invoke, name: str) -> tuple[Path, str]:
    """A member whose key signed two different entries at seq 2 (a copied laptop), seen by home."""
    import shutil

    member, key = new_home(tmp_path, invoke, name)
    mesh_id = json_out(invoke(home, "mesh", "show", "--json"))["mesh_id"]
    assert invoke(home, "roster", "add", key, "--name", name, "--role", "operator").exit_code == 0
    assert invoke(member, "mesh", "join", mesh_id).exit_code == 0
    copy_ledger(home, member)
    assert invoke(member, "log", "append", "--kind", "note", "--body", '{"n": 1}').exit_code == 0
    twin = tmp_path / f"{name}-twin"
    shutil.copytree(member, twin)
    assert invoke(member, "log", "append", "--kind", "note", "--body", '{"side": 1}').exit_code == 0
    assert invoke(twin, "log", "append", "--kind", "note", "--body", '{"side": 2}').exit_code == 0
    copy_ledger(member, home)
    copy_ledger(twin, home)
    members = {m["name"]: m for m in json_out(invoke(home, "roster", "list", "--json"))["members"]}
    assert members[name]["status"] == "equivocated"
    return member, key


def test_a_forked_key_can_be_revoked(home: Path, tmp_path: Path, invoke: Invoke) -> None:
    """trust.md's fork procedure: revoke the forked key; it is no longer admitted anywhere."""
    from ledger.home import Home

    _, key = _forked_member(home, tmp_path, invoke, "mallory")
    r = invoke(home, "roster", "revoke", "mallory", "--reason", "key copied")
    assert r.exit_code == 0, r.stderr
    assert "Last valid seq of that key: 1" in r.output  # the fork point, not the forked seq
    members = {m["name"]: m for m in json_out(invoke(home, "roster", "list", "--json"))["members"]}
    assert members["mallory"]["status"] == "revoked"
    assert members["mallory"]["last_valid_seq"] == 1
    with Home(home) as h:
        assert bytes.fromhex(key) not in h.store.roster().connectable_keys()


def test_a_forked_key_can_be_rotated(home: Path, tmp_path: Path, invoke: Invoke) -> None:
    _, key = _forked_member(home, tmp_path, invoke, "mallory")
    _, fresh = new_home(tmp_path, invoke, "mallory-new")
    r = invoke(home, "roster", "rotate", "mallory", fresh)
    assert r.exit_code == 0, r.stderr
    by_key = {m["key"]: m for m in json_out(invoke(home, "roster", "list", "--json"))["members"]}
    assert by_key[key]["status"] == "rotated" and by_key[fresh]["status"] == "active"
    assert by_key[fresh]["roles"] == ["operator"] and by_key[fresh]["member"] == key


def test_revoke_without_seeing_any_entry_needs_at(
    home: Path, tmp_path: Path, invoke: Invoke
) -> None:
    """An admin who has not synced would cut at seq 0: every entry of the member would stop
    counting. That needs an explicit --at; the output says how many entries the cut removes."""
    bob, bkey = new_home(tmp_path, invoke, "bob")
    assert invoke(home, "roster", "add", bkey, "--name", "bob", "--role", "operator").exit_code == 0
    before = snapshot(home)
    r = invoke(home, "roster", "revoke", "bob", "--reason", "stolen")
    assert r.exit_code == 5 and "seen none of bob's entries" in r.stderr and "--at" in r.stderr
    assert snapshot(home) == before
    # once the admin holds some of bob's entries, the default cut keeps them and says so
    mesh_id = json_out(invoke(home, "mesh", "show", "--json"))["mesh_id"]
    assert invoke(bob, "mesh", "join", mesh_id).exit_code == 0
    copy_ledger(home, bob)
    for i in range(4):
        assert (
            invoke(bob, "log", "append", "--kind", "note", "--body", f'{{"i": {i}}}').exit_code == 0
        )
    copy_ledger(bob, home)
    r = invoke(home, "roster", "revoke", "bob", "--at", "1")
    assert r.exit_code == 0, r.stderr
    assert "Last valid seq of that key: 1; entries this laptop holds that stop counting: 3" in (
        r.output.replace("\n", " ")
    )


def test_revoke_at_zero_is_explicit(home: Path, tmp_path: Path, invoke: Invoke) -> None:
    _, bkey = new_home(tmp_path, invoke, "bob")
    assert invoke(home, "roster", "add", bkey, "--name", "bob", "--role", "operator").exit_code == 0
    r = invoke(home, "roster", "revoke", "bob", "--at", "0")
    assert r.exit_code == 0, r.stderr
    assert "stop counting: 0" in r.output
