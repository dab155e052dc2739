"""Radio options a hostile tester typed: non-finite numbers, options given twice, serial speeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh.radio.errors import LinkSpecError
from mesh.radio.links import parse_link
from mesh.radio.testing import founded_pair as two_homes
from tests.conftest import Invoke

pytestmark = pytest.mark.timeout(120)

#: (command after `radio`, the option) for every number option that takes a fraction
FLOAT_OPTIONS = [
    (["sim", "x"], "--bitrate"),
    (["sim", "x"], "--loss"),
    (["sim", "x"], "--latency"),
    (["sim", "x"], "--duplicate"),
    (["sim", "x"], "--reorder"),
    (["check", "--link", "sim:nobody"], "--seconds"),
    (["up", "--link", "sim:nobody"], "--summary-interval"),
]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "1e999"])
@pytest.mark.parametrize(("command", "option"), FLOAT_OPTIONS)
def test_a_non_finite_number_is_a_usage_error_like_an_out_of_range_one(
    tmp_path: Path, invoke: Invoke, command: list[str], option: str, value: str
) -> None:
    out_of_range = invoke(tmp_path, "radio", *command, option, "-1")
    assert out_of_range.exit_code == 2, out_of_range.output
    r = invoke(tmp_path, "radio", *command, option, value)
    assert r.exit_code == out_of_range.exit_code == 2, r.output
    assert "not a finite number" in r.output or "not in the range" in r.output, r.output
    assert option in r.output and "Traceback" not in r.output


@pytest.mark.parametrize(
    "link",
    [
        "serial:/dev/ttyUSB0?baud=9600&baud=1200",
        "kiss:/dev/ttyUSB0?callsign=N0CALL&baud=9600&BAUD=9600",
        "kiss:tcp://127.0.0.1:8001?callsign=N0CALL&callsign=N0CALL-2",
        "meshtastic:/dev/ttyACM0?channel=1&channel=2",
    ],
)
def test_an_option_given_twice_is_refused(link: str) -> None:
    with pytest.raises(LinkSpecError, match="given twice") as err:
        parse_link(link)
    assert err.value.exit_code == 5


def test_an_option_given_twice_is_refused_by_the_commands(tmp_path: Path, invoke: Invoke) -> None:
    a, _ = two_homes(tmp_path)
    a.close()
    for command in ("up", "check"):
        r = invoke(a.path, "radio", command, "--link", "serial:/dev/null?baud=9600&baud=1200")
        assert r.exit_code == 5, r.output
        assert "baud is given twice (baud=9600 and baud=1200)" in " ".join(r.output.split())


@pytest.mark.parametrize(
    "baud", ["0", "-9600", "9600.5", "nan", "inf", "abc", "", "12345", "99999999999", "9_600"]
)
@pytest.mark.parametrize("scheme", ["serial:/dev/ttyUSB0", "kiss:/dev/ttyUSB0?callsign=N0CALL"])
def test_a_serial_speed_that_is_not_a_standard_rate_is_refused_before_any_port_opens(
    scheme: str, baud: str
) -> None:
    sep = "&" if "?" in scheme else "?"
    with pytest.raises(LinkSpecError, match="not a serial port speed") as err:
        parse_link(f"{scheme}{sep}baud={baud}")  # parsing only: no device is touched
    assert err.value.exit_code == 5


@pytest.mark.parametrize("baud", [1200, 9600, 19200, 57600, 115200])
def test_standard_serial_speeds_are_accepted(baud: int) -> None:
    assert parse_link(f"serial:/dev/ttyUSB0?baud={baud}").baud == baud
    assert parse_link(f"kiss:/dev/ttyUSB0?baud={baud}&callsign=N0CALL").baud == baud


def test_the_standard_rates_are_the_ones_pyserial_knows() -> None:
    from mesh.radio.links import STANDARD_BAUDS

    serial = pytest.importorskip("serial")
    assert set(STANDARD_BAUDS) == set(serial.Serial.BAUDRATES)  # the POSIX termios rates


def test_a_baud_on_a_kiss_tnc_over_tcp_is_refused() -> None:
    with pytest.raises(LinkSpecError, match="has none"):
        parse_link("kiss:tcp://127.0.0.1:8001?callsign=N0CALL&baud=9600")
    assert parse_link("kiss:tcp://127.0.0.1:8001?callsign=N0CALL").tcp == ("127.0.0.1", 8001)


def test_a_bad_serial_speed_is_refused_by_the_commands(tmp_path: Path, invoke: Invoke) -> None:
    a, _ = two_homes(tmp_path)
    a.close()
    r = invoke(a.path, "radio", "check", "--link", "kiss:tcp://127.0.0.1:9?callsign=N0&baud=x")
    assert r.exit_code == 5 and "has none" in r.output, r.output
    r = invoke(a.path, "radio", "up", "--link", "kiss:/dev/null?callsign=N0CALL&baud=9601")
    assert r.exit_code == 5 and "not a serial port speed" in r.output, r.output


def _guide_links() -> list[str]:
    import re

    guide = (Path(__file__).parents[2] / "field_guides" / "radio.md").read_text()
    links = re.findall(r"--link[ =]([a-z]+:[^\s`]+)", guide)
    links += re.findall(r"`((?:serial|kiss|meshtastic|sim):[^`\s]+)`", guide)
    return sorted({x for x in links if "LINK" not in x and "NAME" not in x and "..." not in x})


def test_every_link_in_the_guide_parses_as_written() -> None:
    links = _guide_links()
    assert len(links) >= 6 and any("baud=9600" in x for x in links)
    for text in links:
        spec = parse_link(text)
        if "baud" in spec.options:
            assert spec.baud in (9600, 1200, 115200)


def test_the_guide_s_link_check_runs_as_written(tmp_path: Path, invoke: Invoke) -> None:
    """`radio check --link serial:/dev/ttyUSB0?baud=9600 --seconds 20` as radio.md shows it:
    without the device here it must fail only because the port is not there (exit 9)."""
    import re
    import shlex

    guide = (Path(__file__).parents[2] / "field_guides" / "radio.md").read_text()
    (line,) = re.findall(r"^\s*(plurictl radio check --link \S+ --seconds \d+)$", guide, re.M)
    a, _ = two_homes(tmp_path)
    a.close()
    r = invoke(a.path, *shlex.split(line)[1:])
    assert r.exit_code == 9, r.output  # the device is missing; options and link are fine
    assert "ttyUSB0" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("setting", ["latency", "reorder-delay", "bitrate", "loss"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_drill_radio_step_refuses_non_finite_simulator_settings(setting: str, value: str) -> None:
    """A drill's `radio` step (and the simulator hub) read settings with parse_params: an
    infinite latency delivered nothing, silently, and nan compared as "not negative"."""
    from mesh.radio.sim import parse_params

    with pytest.raises(LinkSpecError) as err:
        parse_params({setting: value})
    assert err.value.exit_code == 5


# --- issue 20, hostile review: option checks in the right order, with the real range --------


@pytest.mark.parametrize(
    ("link", "says"),
    [
        ("meshtastic:/dev/ttyACM0?channel=9", "channel must be from 0 to 7"),
        ("meshtastic:/dev/ttyACM0?mtu=abc", "mtu='abc' is not a whole number"),
        ("meshtastic:/dev/ttyACM0?mtu=5000", "MTUs from 170 to"),
        ("meshtastic:tcp://[::1", "is not a valid address"),
    ],
)
def test_a_meshtastic_typo_is_a_typo_even_without_the_package(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, link: str, says: str
) -> None:
    import sys

    a, _ = two_homes(tmp_path)
    a.close()
    monkeypatch.setitem(sys.modules, "meshtastic", None)  # as if it were not installed
    r = invoke(a.path, "radio", "up", "--link", link, "--quiet")
    assert r.exit_code == 5, r.output  # was 14: "the meshtastic package is not installed"
    assert says in " ".join(r.stderr.split()) and "not installed" not in r.stderr


@pytest.mark.parametrize(
    "target",
    ["tcp://[::1", "tcp://[::1]8001", "tcp://[::g]:8001", "tcp://::1", "tcp://host name:8001"],
)
def test_a_bad_address_is_a_bad_address_not_cannot_connect(
    tmp_path: Path, invoke: Invoke, target: str
) -> None:
    a, _ = two_homes(tmp_path)
    a.close()
    link = f"kiss:{target}?callsign=N0CALL"
    with pytest.raises(LinkSpecError, match="is not a valid address"):
        parse_link(link).tcp  # noqa: B018 - the property parses
    r = invoke(a.path, "radio", "up", "--link", link, "--quiet")
    assert r.exit_code == 5, r.output  # was 9: "cannot connect"
    assert "not a valid address" in r.stderr and "tcp://[::1]:8001" in r.stderr


def test_good_addresses_still_parse() -> None:
    assert parse_link("kiss:tcp://[::1]:8002?callsign=N0CALL").tcp == ("::1", 8002)
    assert parse_link("kiss:tcp://[fe80::1]?callsign=N0CALL").tcp == ("fe80::1", 8001)
    assert parse_link("kiss:tcp://127.0.0.1:8001?callsign=N0CALL").tcp == ("127.0.0.1", 8001)
    assert parse_link("meshtastic:tcp://radio.local").tcp == ("radio.local", 4403)


@pytest.mark.parametrize(
    "args",
    [
        ["up", "--link", "serial:/dev/null?mtu=0"],
        ["up", "--link", "serial:/dev/null?mtu=5000"],
        ["up", "--link", "kiss:tcp://127.0.0.1:1?callsign=N0CALL&mtu=99999"],
        ["sim", "x", "--mtu", "0"],
        ["sim", "x", "--mtu", "65535"],
    ],
)
def test_an_mtu_out_of_range_names_the_real_range(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    from mesh.radio.wire import MAX_MTU, MIN_MTU

    monkeypatch.setenv("PLURI_RADIO_SIM_DIR", str(tmp_path / "air"))
    a, _ = two_homes(tmp_path)
    a.close()
    r = invoke(a.path, "radio", *args, *(["--quiet"] if args[0] == "up" else []))
    assert r.exit_code == 5, r.output  # sim --mtu 65535 was accepted; 0 was a usage error (2)
    text = " ".join(r.stderr.split())
    assert f"MTUs from {MIN_MTU} to {MAX_MTU} bytes work" in text, text
    assert "from 1 " not in text and "Traceback" not in r.output
