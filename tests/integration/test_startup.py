"""Read commands start fast: they import nothing they do not use (issue 18 item 9).

The speed itself is a ratio measured by `make bench` (tests/benchmarks/bench_startup.py);
this test pins what makes it: no solver stack, no ZeroMQ without a running node, no rich
for --json, no crypto library for commands that only read the ledger.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Invoke, json_out

SOLVER = {"pandapower", "numpy", "scipy", "highspy", "matplotlib", "pandas"}
#: secret ballots' group library (~80 ms to load on a laptop): only secret votes need it
SECP = {"coincurve"}
PROBE = """
import sys
from plurictl.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print("@@" + repr(sorted(m for m in sys.modules if m.split(".")[0] in {watch!r})), file=sys.stderr)
"""


def loaded(home: Path, *argv: str, watch: frozenset[str] = frozenset()) -> set[str]:
    watch = watch or SOLVER | SECP | {"zmq", "rich", "nacl"}
    code = PROBE.format(argv=["--home", str(home), *argv], watch=sorted(watch))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {m.split(".")[0] for m in eval(r.stderr.rsplit("@@", 1)[1])}


@pytest.fixture
def used_home(home: Path, invoke: Invoke) -> Path:
    invoke(home, "fuel", "report", "north", "--litres", "1200")
    r = invoke(home, "playbook", "start", "microgrid-black-start", "--site", "north")
    assert r.exit_code == 0, r.output
    return home


READS = [
    ["fuel", "status"],
    ["roster", "list"],
    ["vote", "list"],
    ["plan", "list"],
    ["orders"],
    ["log", "show"],
    ["mesh", "show"],
    ["forks", "list"],
    ["playbook", "list"],
    ["drill", "list"],
    ["plan", "scenarios"],
    ["peers"],  # no node running: nothing to talk to
]


@pytest.mark.parametrize("argv", READS, ids=[" ".join(a) for a in READS])
def test_read_commands_import_only_what_they_use(used_home: Path, argv: list[str]) -> None:
    as_json = loaded(used_home, *argv, "--json")
    assert not as_json & (SOLVER | SECP | {"zmq", "rich", "nacl"}), as_json
    human = loaded(used_home, *argv)
    assert not human & (SOLVER | SECP | {"zmq", "nacl"}), human


def test_playbook_status_and_whoami(used_home: Path, invoke: Invoke) -> None:
    run = json_out(invoke(used_home, "playbook", "list", "--json"))["runs"][0]["id"]
    assert not loaded(used_home, "playbook", "status", run[:8], "--json") & (
        SOLVER | SECP | {"zmq", "rich"}
    )
    assert not loaded(used_home, "whoami", "--json") & (SOLVER | SECP | {"zmq", "rich"})
    assert json.loads(json.dumps(run))


def test_reads_do_not_start_the_verify_pool_machinery(used_home: Path) -> None:
    # concurrent.futures pulls in logging and threading (~5 ms on a laptop); only a big
    # batch verify needs it, and a read verifies no batch.
    for argv in (["fuel", "status", "--json"], ["log", "show", "--json"]):
        assert not loaded(used_home, *argv, watch=frozenset({"concurrent", "logging"})), argv
