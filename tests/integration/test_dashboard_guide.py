"""field_guides/dashboard.md runs as written (on a 5-node drill's ledger), and the
dashboard command refuses bad starts with a clear message and its exit code."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import Invoke
from tests.dashboard_ledger import copy_home

GUIDE = Path(__file__).resolve().parents[2] / "field_guides" / "dashboard.md"


def guide_commands() -> list[list[str]]:
    blocks = re.findall(r"```sh\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    return [
        shlex.split(line.split("  #")[0])[1:]
        for block in blocks
        for line in block.splitlines()
        if line.startswith("plurictl ")
    ]


@pytest.fixture
def alice(quickstart_nodes: Path, tmp_path: Path) -> Path:
    return copy_home(quickstart_nodes, "alice", tmp_path)


def test_the_guide_shows_every_dashboard_command() -> None:
    shown = {" ".join(a for a in args if not a.startswith('"'))[:40] for args in guide_commands()}
    for needed in ("dashboard", "dashboard --lan", "dashboard --lan --intake", "dashboard --sheet"):
        assert any(s.startswith(needed) for s in shown), needed
    assert ["dashboard", "devices", "revoke", "depot phone"] in guide_commands()


def test_device_and_sheet_commands_run_as_written(
    alice: Path, invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ran = 0
    for args in guide_commands():
        if args[:2] == ["dashboard", "devices"] or "--sheet" in args:
            r = invoke(alice, *args)
            assert r.exit_code == 0, (args, r.output)
            if "--sheet" in args:
                assert "(1 page(s), A4)" in r.output  # the sheet fits one page
            ran += 1
    assert ran == 4
    assert (tmp_path / "status.pdf").read_bytes().startswith(b"%PDF")


def _serve(home: Path, args: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "plurictl", "--home", str(home), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
    )
    lines: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if "Ctrl-C stops it" in line:
            return proc, lines
    proc.kill()
    raise AssertionError("\n".join(lines))


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout:
        proc.stdout.close()


@pytest.mark.parametrize(
    "args",
    [
        ["dashboard"],
        ["dashboard", "--lan", "--intake"],
    ],
)
def test_serving_commands_run_as_written(alice: Path, args: list[str]) -> None:
    """As in the guide, on a free port (and, for --lan, on loopback: tests reach no network)."""
    import httpx2 as httpx

    assert args in guide_commands()
    extra = ["--port", "0"] + (["--bind", "127.0.0.1"] if "--lan" in args else [])
    proc, lines = _serve(alice, [*args, *extra])
    try:
        text = "\n".join(lines)
        url = re.search(r"(http://127\.0\.0\.1:\d+/\S*)", text)
        assert url, text
        if "--lan" in args:
            assert "?t=" in url.group(1) and ("▀" in text or "█" in text)  # the QR code
            assert httpx.get(url.group(1).split("?")[0], timeout=20).status_code == 403
            assert "pair a phone" in text
        page = httpx.get(url.group(1), timeout=20, follow_redirects=True)
        assert page.status_code == 200 and "quickstart" in page.text
    finally:
        _stop(proc)
    assert proc.returncode in (0, -signal.SIGINT, 130), proc.returncode


def test_bad_starts_are_refused_clearly(alice: Path, invoke: Invoke) -> None:
    r = invoke(alice, "dashboard", "--bind", "127.0.0.1")
    assert r.exit_code == 2 and "--bind needs --lan" in r.output
    r = invoke(alice, "dashboard", "--lan", "--bind", "192.0.2.77", "--port", "0")
    assert r.exit_code == 9 and "cannot listen on 192.0.2.77" in r.output
    assert "Traceback" not in r.output
    empty = alice.parent / "nobody"
    r = invoke(empty, "dashboard", "--sheet", "x.pdf")
    assert r.exit_code == 3 and "plurictl init" in r.output


def test_port_in_use_is_exit_9(alice: Path, invoke: Invoke) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = invoke(alice, "dashboard", "--port", str(port))
    assert r.exit_code == 9 and "already in use" in r.output and "--port 8081" in r.output


def test_dashboard_help_has_examples(invoke: Invoke) -> None:
    for args in (
        ["dashboard"],
        ["dashboard", "devices"],
        ["dashboard", "devices", "add"],
        ["dashboard", "devices", "list"],
        ["dashboard", "devices", "revoke"],
    ):
        r = invoke(None, *args, "--help")
        assert r.exit_code == 0 and "Example" in r.output, args


def test_cli_start_does_not_import_the_web_stack() -> None:
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from plurictl.cli import cli; "
            "print(any(m.split('.')[0] in ('starlette', 'uvicorn', 'jinja2', 'PIL', 'weasyprint', "
            "'segno') for m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "False"


def test_the_missing_role_row_quotes_the_real_message_and_fix(
    alice: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plurictl.dashboard import server

    row = next(
        line
        for line in GUIDE.read_text(encoding="utf-8").splitlines()
        if line.startswith("|") and "--intake" in line and "exit 7" in line
    )
    quoted, fix = re.findall(r"`([^`]*)`", row)[0], re.findall(r"`(plurictl roster[^`]*)`", row)
    for role in ("coordinator", "operator"):
        r = invoke(alice, "roster", "remove-role", "alice", role)
        assert r.exit_code == 0, r.output
    r = invoke(alice, "dashboard", "--intake", "--port", "0")
    assert r.exit_code == 7, r.output
    assert quoted.removesuffix("...").strip() in " ".join(r.output.split()), (quoted, r.output)
    assert fix, row
    args = shlex.split(fix[0].replace("NAME", "alice"))[1:]
    assert invoke(alice, *args).exit_code == 0
    monkeypatch.setattr(server, "serve", lambda app, sock: sock.close())
    r = invoke(alice, "dashboard", "--intake", "--port", "0")
    assert r.exit_code == 0 and "Phone intake is on" in r.output, r.output
