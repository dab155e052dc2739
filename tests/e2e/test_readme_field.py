"""The README's field block runs as written: four homes (alice types the block; bob, carol
and dave joined), real `plurictl` processes, a real node, from a folder outside the checkout.

Only what a reader must fill in is replaced: each member's KEY and fingerprint (read
aloud by them), the peer's address (bob's running node) and the USB stick's folder.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from plurictl.cluster import free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(300)


def readme_field_block() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Using it in the field", 1)[1].split("\n## ", 1)[0]
    block = re.findall(r"```\n(.*?)```", section, flags=re.S)[0]
    return [line for line in block.splitlines() if line.strip()]


def plurictl(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plurictl", *args],
        cwd=cwd,
        env={**os.environ, "PLURI_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=240,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.1)


class Field:
    """Four laptops' homes in a temporary folder, and the node processes started."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cwd = root / "somewhere"
        self.cwd.mkdir()
        self.usb = root / "usb"
        self.usb.mkdir()
        self.homes = {n: root / n for n in ("alice", "bob", "carol", "dave")}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[BinaryIO] = []
        self.bob_addr = ""

    def run(self, who: str, *args: str) -> subprocess.CompletedProcess[str]:
        return ok(plurictl(self.homes[who], *args, cwd=self.cwd))

    def json(self, who: str, *args: str) -> object:
        return json.loads(self.run(who, *args, "--json").stdout)

    def node_up(self, who: str, args: list[str]) -> None:
        log = open(self.root / f"{who}-node.log", "wb")  # noqa: SIM115 - closed in stop()
        self.logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "plurictl", *args],
            cwd=self.cwd,
            env={**os.environ, "PLURI_HOME": str(self.homes[who])},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        wait_for(lambda: (self.homes[who] / "node.json").exists())

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self.logs:
            log.close()


@pytest.fixture
def field(tmp_path: Path) -> Iterator[Field]:
    f = Field(tmp_path)
    try:
        yield f
    finally:
        f.stop()


def fill_in(field: Field, words: list[str]) -> list[str]:
    """What the reader fills in: KEY/fingerprint of the member named, the peer, the stick."""
    out = list(words)
    if words[:2] == ["roster", "add"]:
        member = words[words.index("--name") + 1]
        me = field.json(member, "whoami")
        assert isinstance(me, dict)
        out[out.index("KEY")] = me["public_key"]
        out[out.index("XXXX-XXXX-XXXX-XXXX")] = me["fingerprint"]
    if words[:2] == ["node", "up"]:
        out[out.index("tcp://192.168.4.2:7800")] = field.bob_addr
    return [w.replace("/media/usb", str(field.usb)) for w in out]


def test_readme_field_block_runs_as_written(field: Field) -> None:
    lines = readme_field_block()
    assert lines[0].startswith("plurictl init --name alice")
    for who in ("bob", "carol", "dave"):
        field.run(who, "init", "--name", who)
    # alice's node listens on a free port (config.toml), not the default 7800 other
    # test runs on this machine may hold
    field.homes["alice"].mkdir()
    alice_port = free_port()
    (field.homes["alice"] / "config.toml").write_text(
        f'[node]\nlisten = "tcp://127.0.0.1:{alice_port}"\ninterval = 0.3\n'
    )
    bob_port = free_port()
    field.bob_addr = f"tcp://127.0.0.1:{bob_port}"
    outputs: dict[str, subprocess.CompletedProcess[str]] = {}
    for line in lines:
        words = shlex.split(line, comments=True)
        assert words[0] == "plurictl", line
        args = fill_in(field, words[1:])
        if args[:2] == ["node", "up"]:
            field.node_up("alice", args)
            # bob's laptop points its node at alice's, as a newcomer does (mesh.md)
            peer = f"tcp://127.0.0.1:{alice_port}"
            field.node_up(
                "bob", ["node", "up", "--quiet", "--listen", field.bob_addr, "--peer", peer]
            )
            continue
        outputs[" ".join(words[1:3])] = field.run("alice", *args)
        if args[:2] == ["mesh", "create"]:
            mesh_id = field.json("alice", "mesh", "show")["mesh_id"]  # type: ignore[index]
            for who in ("bob", "carol", "dave"):
                field.run(who, "mesh", "join", mesh_id)

    # the fuel reading reached the plan: no warning that the ledger's fuel went unused
    plan = outputs["plan run"]
    assert "north" in plan.stderr and "WARNING" not in plan.stderr
    # bob's laptop, synced by the running nodes, sees the vote and the playbook run
    wait_for(lambda: len(field.json("bob", "vote", "list")["votes"]) == 1)  # type: ignore[index]
    # dave, with no link at all, gets everything from the stick
    field.run("dave", "bundle", "import", str(field.usb / "for-dave.plb"))
    runs = field.json("dave", "playbook", "list")["runs"]  # type: ignore[index]
    assert [r["site"] for r in runs] == ["north"]
    assert len(field.json("dave", "vote", "list")["votes"]) == 1  # type: ignore[index]
