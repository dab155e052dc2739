"""Issue 16 items 6, 8, 9 and 10: --debug, "not in a mesh yet", read-only homes, small ones."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.store import Store
from tests.conftest import Invoke, json_out, new_home

NEEDS_A_MESH = [
    ["log", "append", "--kind", "note", "--body", "{}"],
    ["fuel", "report", "clinic", "--litres", "10"],
    ["fuel", "burn", "clinic", "--litres-per-hour", "2"],
    ["fuel", "transfer", "plan", "--from", "depot", "--to", "clinic", "--litres", "5"],
    ["plan", "adopt", "abcdef12"],
    ["plan", "propose", "PLAN"],
    ["plan", "withdraw", "abcdef12", "--reason", "x"],
    ["orders", "ack", "o1"],
    ["orders", "deviate", "o1", "--note", "x"],
    ["playbook", "start", "hospital-fuel-resupply"],
    ["roster", "approve", "abcdef12"],
    ["roster", "threshold", "2"],
    ["roster", "add", "KEY", "--name", "bob", "--role", "operator"],
    ["vote", "open", "--title", "t", "--option", "a=A", "--option", "b=B"],
]


@pytest.mark.parametrize("args", NEEDS_A_MESH, ids=lambda a: " ".join(a[:3]))
def test_not_in_a_mesh_is_one_exit_code(invoke: Invoke, tmp_path: Path, args: list[str]) -> None:
    h, _ = new_home(tmp_path, invoke, "solo")
    from planner.api import plan_hash

    doc = {"mode": "tiers", "scenario": {"name": "s"}, "periods": []}
    doc["plan_hash"] = plan_hash(doc)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(doc))
    _, key = new_home(tmp_path, invoke, "bob")
    r = invoke(h, *[{"PLAN": str(plan), "KEY": key}.get(a, a) for a in args])
    assert r.exit_code == 3, r.output
    assert "not in a mesh yet" in r.output


def test_debug_prints_the_traceback(invoke: Invoke, tmp_path: Path) -> None:
    h, _ = new_home(tmp_path, invoke, "solo")
    r = invoke(None, "--home", str(h), "--debug", "log", "append", "--kind", "note", "--body", "{}")
    assert r.exit_code == 3
    assert "Traceback" in r.stderr and "NotInMesh" in r.stderr
    r = invoke(h, "log", "append", "--kind", "note", "--body", "{}")
    assert "Traceback" not in r.stderr


# --- read-only homes ------------------------------------------------------------------------------


def read_only_commands(home: Path) -> list[list[str]]:
    return [
        ["whoami"],
        ["log", "show"],
        ["log", "show", "--json"],
        ["log", "verify"],
        ["roster", "list"],
        ["fuel", "status"],
        ["mesh", "show"],
    ]


def test_a_read_only_home_can_be_read_and_verified(
    invoke: Invoke, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process: the store sees a home it may not write (as on a write-protected stick)."""
    assert invoke(home, "log", "append", "--kind", "note", "--body", '{"t": 1}').exit_code == 0
    from ledger import schema

    monkeypatch.setattr(schema, "writable", lambda path: False)
    with Store(home / "ledger.db") as s:
        assert s.read_only and s.count() == 2
    for args in read_only_commands(home):
        r = invoke(home, *args)
        assert r.exit_code == 0, (args, r.output)
    r = invoke(home, "log", "append", "--kind", "note", "--body", "{}")
    assert r.exit_code == 8 and "read-only" in r.output


def _can_mount_read_only() -> bool:
    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_read_only(), reason="needs root and mount namespaces")
def test_a_home_on_a_read_only_mount(invoke: Invoke, home: Path) -> None:
    """For real: the home bind-mounted read-only in a private mount namespace, as a stick."""
    assert invoke(home, "log", "append", "--kind", "note", "--body", '{"t": 1}').exit_code == 0
    plurictl = Path(sys.executable).parent / "plurictl"
    script = [f"mount --bind {home} {home} && mount -o remount,bind,ro {home}"]
    for args in read_only_commands(home):
        script.append(f"{plurictl} --home {home} {' '.join(args)} >/dev/null || exit 40")
    script.append(
        f"{plurictl} --home {home} log append --kind note --body '{{}}'; test $? -eq 8 || exit 41"
    )
    r = subprocess.run(["unshare", "-m", "sh", "-c", " && ".join(script)], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()[-2000:]


# --- small ones -------------------------------------------------------------------------------------


def test_roster_add_refuses_a_duplicate_name_and_a_zero_key(
    invoke: Invoke, home: Path, tmp_path: Path
) -> None:
    _, bob = new_home(tmp_path, invoke, "bob")
    _, bob2 = new_home(tmp_path, invoke, "bob2")
    assert invoke(home, "roster", "add", bob, "--name", "bob", "--role", "operator").exit_code == 0
    r = invoke(home, "roster", "add", bob2, "--name", "Bob", "--role", "operator")
    assert r.exit_code == 5 and "already" in r.output
    r = invoke(home, "roster", "add", "00" * 32, "--name", "zero", "--role", "operator")
    assert r.exit_code == 5 and "key" in r.output
    names = [m["name"] for m in json_out(invoke(home, "roster", "list", "--json"))["members"]]
    assert sorted(names) == ["alice", "bob"]


def test_transfer_wording(invoke: Invoke, home: Path) -> None:
    r = invoke(
        home, "fuel", "transfer", "plan", "--from", "depot", "--to", "clinic", "--litres", "5"
    )
    assert r.exit_code == 0, r.output
    tid = r.output.split()[-1] if "transfer" in r.output else ""
    status = json_out(invoke(home, "fuel", "status", "--json"))
    transfer = status["transfers"][0]["id"][:12] if status.get("transfers") else tid
    assert invoke(home, "fuel", "transfer", "cancel", transfer, "--reason", "x").exit_code == 0
    r = invoke(home, "fuel", "transfer", "receive", transfer, "--litres", "5")
    assert r.exit_code == 5
    assert "cannot be received now" in r.output and "receiveed" not in r.output
