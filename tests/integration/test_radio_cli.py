"""`plurictl radio` as an operator runs it: real processes on a simulated channel, status, check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mesh.radio.testing import founded_pair as two_homes
from tests.conftest import Invoke

pytestmark = pytest.mark.timeout(180)


def wait_for(cond: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def air(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    folder = tmp_path / "air"
    monkeypatch.setenv("PLURI_RADIO_SIM_DIR", str(folder))
    yield {**os.environ, "PLURI_RADIO_SIM_DIR": str(folder), "PYTHONUNBUFFERED": "1"}


class Procs:
    def __init__(self, env: dict[str, str], root: Path) -> None:
        self.env, self.root, self.procs = env, root, []  # type: ignore[var-annotated]

    def start(self, *args: str, log: str, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        out = open(self.root / log, "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "plurictl", *args], stdout=out, stderr=out, env=self.env, cwd=cwd
        )
        self.procs.append((proc, out))
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> int:
        proc.terminate()
        return proc.wait(timeout=30)

    def close(self) -> None:
        for proc, out in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            out.close()


def test_bad_link_and_no_bridge_are_clear_errors(tmp_path: Path, invoke: Invoke) -> None:
    a, _ = two_homes(tmp_path)
    a.close()
    r = invoke(a.path, "radio", "up", "--link", "lora:/dev/ttyUSB0")
    assert r.exit_code == 5 and "names no link" in r.output and "Traceback" not in r.output
    r = invoke(a.path, "radio", "up", "--link", "kiss:tcp://127.0.0.1:8001?speed=9")
    assert r.exit_code == 5 and "unknown option speed" in r.output
    r = invoke(a.path, "radio", "up", "--link", "sim:x", "--budget", "lots")
    assert r.exit_code == 5 and "budget" in r.output
    r = invoke(a.path, "radio", "status")
    assert r.exit_code == 9 and "no radio bridge has run" in r.output
    r = invoke(a.path, "radio", "up", "--link", "sim:nobody-here")
    assert r.exit_code == 9 and "plurictl radio sim nobody-here" in r.output


def quick_start() -> tuple[list[list[str]], list[str]]:
    """The commands of radio.md's quick start: the code block, and the inline ones."""
    import re
    import shlex

    guide = (Path(__file__).parents[2] / "field_guides" / "radio.md").read_text()
    section = guide.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    lines = [shlex.split(x)[1:] for x in block.splitlines() if x.startswith("plurictl")]
    inline = [x for x in re.findall(r"`(plurictl [^`]+)`", section.replace("\n", " "))]
    return lines, inline


def test_the_quick_start_runs_as_written(tmp_path: Path, air: dict[str, str]) -> None:
    import shlex

    from mesh.radio.simhub import sim_socket

    a, b = two_homes(tmp_path)  # homes ./town and ./valley, as in the guide
    a.close()
    b.close()
    (sim, up_town, up_valley), inline = quick_start()
    append = next(shlex.split(c)[1:] for c in inline if "log append" in c)
    show = next(shlex.split(c)[1:] for c in inline if "log show" in c)
    procs = Procs(air, tmp_path)

    def plurictl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "plurictl", *args],
            cwd=tmp_path,
            env=air,
            capture_output=True,
            text=True,
            timeout=60,
        )

    try:
        procs.start(*sim, log="sim.log", cwd=tmp_path)
        wait_for(lambda: sim_socket(sim[2]).exists(), what="the simulated channel")
        town = procs.start(*up_town, "--quiet", log="town.log", cwd=tmp_path)
        procs.start(*up_valley, "--quiet", log="valley.log", cwd=tmp_path)
        assert plurictl(*append).returncode == 0
        wait_for(lambda: "gen 2 refuelled" in plurictl(*show).stdout, what="the note in the valley")

        def delivered() -> bool:
            r = plurictl("--home", "town", "radio", "status", "--json")
            peers = json.loads(r.stdout)["station"]["peers"] if r.returncode == 0 else []
            return bool(peers) and peers[0]["name"] == "bob" and peers[0]["entries_out"] >= 1

        wait_for(delivered, what="the town bridge to report the delivery")
        text = plurictl("--home", "town", "radio", "status").stdout
        assert "link up" in text and "bob" in text
        assert procs.stop(town) == 143  # SIGTERM (exit-codes.md)
        r = plurictl("--home", "town", "radio", "status")
        assert r.returncode == 9 and "not running" in r.stderr
        log = (tmp_path / "town.log").read_text()
        assert "heard bob on the air" in log and "Traceback" not in log
    finally:
        procs.close()


@pytest.mark.slow
def test_radio_check_hears_the_far_station(
    tmp_path: Path, invoke: Invoke, air: dict[str, str]
) -> None:
    from mesh.radio.simhub import sim_socket

    a, b = two_homes(tmp_path)
    a.close()
    b.close()
    procs = Procs(air, tmp_path)
    try:
        procs.start("radio", "sim", "hill", "--bitrate", "9600", "--latency", "50", log="sim.log")
        wait_for(lambda: sim_socket("hill").exists(), what="the simulated channel")
        r = invoke(a.path, "radio", "check", "--link", "sim:hill", "--seconds", "2", "--json")
        assert r.exit_code == 9  # nobody else on the channel yet
        assert json.loads(r.stdout)["works"] is False
        procs.start(
            "--home", str(b.path), "radio", "up", "--link", "sim:hill", "--quiet", log="b.log"
        )
        r = invoke(a.path, "radio", "check", "--link", "sim:hill", "--seconds", "6", "--json")
        assert r.exit_code == 0, r.output
        report = json.loads(r.stdout)
        assert report["works"] and report["heard"][0]["name"] == "bob"
    finally:
        procs.close()


def test_every_radio_command_and_option_is_in_the_guide() -> None:
    import click

    from plurictl.commands.radio import radio

    guide = (Path(__file__).parents[2] / "field_guides" / "radio.md").read_text()
    assert radio.help
    for name, command in radio.commands.items():
        assert command.help and "Example: plurictl radio" in command.help, name
        assert f"plurictl radio {name}" in guide, name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, (name, param.opts)
                assert any(opt in guide for opt in param.opts if opt.startswith("--")), (
                    name,
                    param.opts,
                )


def test_the_install_hint_survives_the_terminal(tmp_path: Path, invoke: Invoke) -> None:
    """Square brackets in a message or hint are text, not rich markup."""
    pytest.importorskip("serial")
    try:
        import meshtastic  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("meshtastic is installed here")
    a, _ = two_homes(tmp_path)
    a.close()
    r = invoke(a.path, "radio", "up", "--link", "meshtastic:/dev/ttyACM0")
    assert r.exit_code == 14  # an optional extra is not installed
    assert "pip install 'plurigrid[meshtastic]'" in " ".join(r.output.split())


def test_up_and_sim_exit_143_on_sigterm_and_130_on_ctrl_c(
    tmp_path: Path, air: dict[str, str]
) -> None:
    import signal

    from mesh.radio.bridge import read_status
    from mesh.radio.simhub import sim_socket

    a, _ = two_homes(tmp_path)
    a.close()
    procs = Procs(air, tmp_path)
    try:
        for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
            name = f"ch{code}"
            sim = procs.start("radio", "sim", name, log=f"sim{code}.log")
            wait_for(lambda n=name: sim_socket(n).exists(), what="the simulated channel")
            up = procs.start(
                "--home",
                str(a.path),
                "radio",
                "up",
                "--link",
                f"sim:{name}",
                "--quiet",
                log=f"up{code}.log",
            )

            def running(p: subprocess.Popen[bytes] = up) -> bool:
                st = read_status(a.path)
                return st is not None and st["pid"] == p.pid and not st.get("stopped")

            wait_for(running, what="the bridge")
            for proc in (up, sim):
                proc.send_signal(sig)
                assert proc.wait(timeout=30) == code
            assert read_status(a.path)["stopped"]  # type: ignore[index]
            assert not sim_socket(name).exists()
            for log in (f"sim{code}.log", f"up{code}.log"):
                assert "Traceback" not in (tmp_path / log).read_text()
    finally:
        procs.close()


def test_radio_up_without_meshtastic_exits_14_with_the_install_hint(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = two_homes(tmp_path)
    a.close()
    monkeypatch.setitem(sys.modules, "meshtastic", None)  # as if it were not installed
    r = invoke(a.path, "radio", "up", "--link", "meshtastic:/dev/ttyACM0", "--quiet")
    assert r.exit_code == 14, r.output
    assert "meshtastic package is not installed" in r.stderr
    assert "plurigrid[meshtastic]" in r.stderr and "Traceback" not in r.output


def test_an_mtu_too_small_for_a_hello_is_refused_up_front(tmp_path: Path, invoke: Invoke) -> None:
    from mesh.radio.wire import HELLO_BYTES, MIN_MTU

    assert MIN_MTU >= HELLO_BYTES
    guide = (Path(__file__).parents[2] / "field_guides" / "radio.md").read_text()
    assert f"{MIN_MTU} at least" in guide
    a, _ = two_homes(tmp_path)
    a.close()
    r = invoke(None, "radio", "sim", "tiny", "--mtu", str(MIN_MTU - 1))
    assert r.exit_code == 5, r.output
    assert f"smallest MTU that works is {MIN_MTU}" in r.stderr and "Traceback" not in r.output
    for link in (
        f"serial:/dev/null?mtu={HELLO_BYTES - 10}",
        f"kiss:tcp://127.0.0.1:1?callsign=N0CALL&mtu={MIN_MTU - 1}",
    ):
        r = invoke(a.path, "radio", "up", "--link", link, "--quiet")
        assert r.exit_code == 5, r.output
        assert f"smallest MTU that works is {MIN_MTU}" in r.stderr


def test_a_simulator_mtu_that_fits_the_frames_is_accepted() -> None:
    from mesh.radio.sim import SimParams
    from mesh.radio.wire import MIN_MTU

    assert SimParams(mtu=MIN_MTU).check().mtu == MIN_MTU


def test_radio_status_on_a_home_that_does_not_exist_says_not_initialised(
    tmp_path: Path, invoke: Invoke
) -> None:
    r = invoke(tmp_path / "nowhere", "radio", "status")
    assert r.exit_code == 3, r.output  # not initialised, not "no bridge has run" (9)
    assert not (tmp_path / "nowhere").exists()  # and nothing was created


def test_stop_signals_are_handled_before_the_bridge_or_simulator_shows_it_runs(
    tmp_path: Path, air: dict[str, str], invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scripts (and the tests above) take the status file or the simulator's socket as "it
    runs" and may send SIGTERM at once: the handler must already be in place, else the
    process dies by the signal (-15) instead of closing and exiting 143. A loaded run
    hit that window once. Both commands also give the old handlers back when start fails."""
    import signal

    from mesh.radio import bridge as bridge_mod
    from mesh.radio import simhub
    from mesh.radio.errors import RadioError

    seen: dict[str, object] = {}

    def fail(where: str) -> Callable[..., None]:
        def _start(*_a: object, **_k: object) -> None:
            seen[where] = signal.getsignal(signal.SIGTERM)
            raise RadioError(f"{where}: stopped by the test")

        return _start

    a, _ = two_homes(tmp_path)
    a.close()
    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(bridge_mod.Bridge, "start", fail("bridge"))
    r = invoke(a.path, "radio", "up", "--link", "sim:early")
    assert "stopped by the test" in r.output
    monkeypatch.setattr(simhub.SimHub, "__init__", fail("sim"))
    r = invoke(a.path, "radio", "sim", "early")
    assert "stopped by the test" in r.output
    assert seen["bridge"] not in (before, signal.SIG_DFL)
    assert seen["sim"] not in (before, signal.SIG_DFL)
    assert signal.getsignal(signal.SIGTERM) == before
