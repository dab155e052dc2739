"""plurictl init / whoami / key / log via CliRunner, including bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Invoke, json_out, new_home


def store_snapshot(home: Path) -> tuple[int, bytes]:
    from ledger.store import Store

    with Store.open(home) as s:
        return s.count(), s.digest()


def test_version_and_help(invoke: Invoke) -> None:
    r = invoke(None, "--version")
    assert r.exit_code == 0 and "plurictl" in r.output
    r = invoke(None, "--help")
    assert r.exit_code == 0 and "Exit codes" in r.output


def test_init_whoami_and_key_show(tmp_path: Path, invoke: Invoke) -> None:
    h = tmp_path / "h"
    r = invoke(h, "init", "--name", "alice")
    assert r.exit_code == 0 and "fingerprint" in r.output
    who = json_out(invoke(h, "whoami", "--json"))
    assert who["name"] == "alice" and len(who["public_key"]) == 64 and not who["sealed"]
    assert who["fingerprint"] in invoke(h, "key", "show").output
    assert json_out(invoke(h, "key", "show", "--json"))["public_key"] == who["public_key"]


def test_init_twice_is_refused(tmp_path: Path, invoke: Invoke) -> None:
    h, key = new_home(tmp_path, invoke, "alice")
    r = invoke(h, "init", "--name", "again")
    assert r.exit_code == 4 and "already" in r.stderr
    assert json_out(invoke(h, "whoami", "--json"))["public_key"] == key


def test_home_from_environment(tmp_path: Path, invoke: Invoke) -> None:
    h = tmp_path / "envhome"
    r = invoke(None, "init", "--name", "zed", env={"PLURI_HOME": str(h)})
    assert r.exit_code == 0 and (h / "identity.json").exists()


def test_log_append_show_json_fields(home: Path, invoke: Invoke) -> None:
    r = invoke(home, "log", "append", "--kind", "note", "--body", '{"text": "gen 2 on", "kw": 40}')
    assert r.exit_code == 0, r.output
    rows = json_out(invoke(home, "log", "show", "--json"))["entries"]
    assert [row["kind"] for row in rows] == ["mesh.genesis", "note"]
    note = rows[-1]
    assert set(note) == {"id", "author", "seq", "prev", "hlc", "kind", "body", "sig", "raw"}
    assert note["body"] == {"kw": 40, "text": "gen 2 on"} and note["seq"] == 2
    assert note["prev"] == rows[0]["id"]
    only = json_out(invoke(home, "log", "show", "--json", "--kind", "note", "--limit", "1"))
    assert len(only["entries"]) == 1 and only["entries"][0]["id"] == note["id"]
    mine = json_out(invoke(home, "log", "show", "--json", "--author", "alice"))["entries"]
    assert mine[-1]["id"] == note["id"]
    assert "gen 2 on" in invoke(home, "log", "show").output


def test_log_verify_ok_and_json(home: Path, invoke: Invoke) -> None:
    invoke(home, "log", "append", "--kind", "note", "--body", "{}")
    report = json_out(invoke(home, "log", "verify", "--json"))
    assert report["ok"] and report["checked"] == 2 and report["bad"] == []


def test_log_verify_finds_tampering(home: Path, invoke: Invoke) -> None:
    import sqlite3

    invoke(home, "log", "append", "--kind", "note", "--body", '{"litres": 100}')
    db = sqlite3.connect(home / "ledger.db")
    raw = db.execute("SELECT raw FROM entries WHERE kind='note'").fetchone()[0]
    db.execute("UPDATE entries SET raw=? WHERE kind='note'", (raw.replace(b"\x64", b"\x65", 1),))
    db.commit()
    db.close()
    r = invoke(home, "log", "verify", "--json")
    assert r.exit_code == 6
    assert len(json.loads(r.stdout)["bad"]) == 1


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--kind", "note", "--body", "{not json"], 5, "not valid JSON"),
        (["--kind", "note", "--body", "[1, 2]"], 5, "JSON object"),
        (["--kind", "note", "--body", '{"x": NaN}'], 5, "NaN"),
        (["--kind", "Bad Kind", "--body", "{}"], 5, "invalid kind"),
        (["--kind", "vote.ballot", "--body", "{}"], 5, "own commands"),
        (["--kind", "note", "--body", json.dumps({"blob": "x" * 70000})], 5, "limit is 65,536"),
        (["--kind", "note"], 2, "Missing option"),
    ],
)
def test_log_append_bad_input(
    home: Path, invoke: Invoke, args: list[str], code: int, message: str
) -> None:
    before = store_snapshot(home)
    r = invoke(home, "log", "append", *args)
    assert r.exit_code == code, r.output
    assert message in r.stderr
    assert "Traceback" not in r.output
    assert store_snapshot(home) == before


def test_missing_home_is_exit_3(tmp_path: Path, invoke: Invoke) -> None:
    for args in (["whoami"], ["log", "show"], ["log", "append", "--kind", "note", "--body", "{}"]):
        r = invoke(tmp_path / "nowhere", *args)
        assert r.exit_code == 3, (args, r.output)
        assert "plurictl init" in r.stderr


def test_world_readable_key_is_refused(home: Path, invoke: Invoke) -> None:
    before = store_snapshot(home)
    os.chmod(home / "identity.json", 0o644)
    r = invoke(home, "log", "append", "--kind", "note", "--body", "{}")
    assert r.exit_code == 4 and "other users" in r.stderr and "chmod 600" in r.stderr
    assert store_snapshot(home) == before


def test_corrupt_key_file_is_refused(home: Path, invoke: Invoke) -> None:
    before = store_snapshot(home)
    (home / "identity.json").write_text("{broken")
    r = invoke(home, "log", "append", "--kind", "note", "--body", "{}")
    assert r.exit_code == 4 and "damaged" in r.stderr
    assert store_snapshot(home) == before


def test_passphrase_sealed_key(tmp_path: Path, invoke: Invoke) -> None:
    h = tmp_path / "sealed"
    r = invoke(h, "init", "--name", "sam", "--passphrase", env={"PLURI_PASSPHRASE": "right one"})
    assert r.exit_code == 0, r.output
    assert json_out(invoke(h, "whoami", "--json"))["sealed"]  # whoami needs no passphrase
    r = invoke(h, "mesh", "create", "m", env={"PLURI_PASSPHRASE": "wrong"})
    assert r.exit_code == 4 and "wrong passphrase" in r.stderr
    r = invoke(h, "mesh", "create", "m")  # no terminal, no env: clear refusal
    assert r.exit_code == 4 and "PLURI_PASSPHRASE" in r.stderr
    assert invoke(h, "mesh", "create", "m", env={"PLURI_PASSPHRASE": "right one"}).exit_code == 0
    r = invoke(
        h, "key", "passwd", env={"PLURI_PASSPHRASE": "right one", "PLURI_NEW_PASSPHRASE": "new one"}
    )
    assert r.exit_code == 0, r.output
    r = invoke(
        h, "log", "append", "--kind", "note", "--body", "{}", env={"PLURI_PASSPHRASE": "new one"}
    )
    assert r.exit_code == 0, r.output
    r = invoke(h, "key", "passwd", "--remove", env={"PLURI_PASSPHRASE": "new one"})
    assert r.exit_code == 0 and not json_out(invoke(h, "whoami", "--json"))["sealed"]


def test_not_in_a_mesh_yet(tmp_path: Path, invoke: Invoke) -> None:
    h, _ = new_home(tmp_path, invoke, "newbie")
    r = invoke(h, "log", "append", "--kind", "note", "--body", "{}")
    assert r.exit_code == 3 and "not in a mesh" in r.stderr
    assert json_out(invoke(h, "log", "show", "--json"))["entries"] == []


def test_damaged_database_is_exit_8(home: Path, invoke: Invoke) -> None:
    for suffix in ("", "-wal", "-shm"):
        p = home / f"ledger.db{suffix}"
        if p.exists():
            p.unlink()
    (home / "ledger.db").write_bytes(b"garbage" * 1000)
    r = invoke(home, "log", "show")
    assert r.exit_code == 8 and "damaged" in r.stderr
