"""`plurictl radio up|status|check|sim`: carry the ledger over LoRa, packet radio or a serial line."""

from __future__ import annotations

import math
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from plurictl.context import AppContext, pass_app
from plurictl.render.common import console, emit_json, error_console, json_option

LINK_HELP = (
    "The radio: serial:/dev/ttyUSB0?baud=9600, kiss:tcp://127.0.0.1:8001?callsign=CALL, "
    "kiss:/dev/ttyUSB0?callsign=CALL, meshtastic:/dev/ttyACM0, meshtastic:tcp://HOST, sim:NAME."
)


class FiniteRange(click.FloatRange):
    """A FloatRange that also refuses ``nan`` and ``inf`` (exit 2, like a value out of
    range: click's range check lets ``nan`` through, as every comparison with it is false)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number ({self._describe_range()}).", param, ctx)
        return number


@click.group()
def radio() -> None:
    """Keep laptops in sync over a narrowband radio link (LoRa, packet radio, serial).

    Run `radio up` beside `node up` on a laptop that has a radio: whatever the
    mesh brings in goes out on the air, whatever the air brings in reaches the
    mesh. Revocations first, then votes, orders, sign-offs, fuel, the rest.
    See field_guides/radio.md.

    \b
    Example: plurictl radio status
    """


def _budget(text: str | None) -> Any:
    if text is None:
        return None
    from mesh.radio.budget import parse_budget

    return parse_budget(text)


@radio.command("up")
@click.option("--link", "link_text", required=True, metavar="LINK", help=LINK_HELP)
@click.option(
    "--budget",
    metavar="PCT|BYTES/h",
    help="Airtime budget, never exceeded: 20% (share of airtime) or 50kB/h. "
    "Default: 10% Meshtastic, 50% KISS, none for serial and sim.",
)
@click.option(
    "--cleartext",
    is_flag=True,
    help="Do not encrypt (amateur bands): frames stay signed and authenticated, readable by all.",
)
@click.option(
    "--max-entry-bytes",
    type=click.IntRange(min=256),
    default=65536,
    show_default=True,
    help="Never send entries larger than this (nor what follows them in their feed).",
)
@click.option(
    "--summary-interval",
    type=FiniteRange(min=5, max=3600),
    default=60,
    show_default=True,
    help="Seconds between 'still in sync' summaries to each station heard.",
)
@click.option("--quiet", is_flag=True, help="No live view: one line per event.")
@pass_app
def up(
    app: AppContext,
    link_text: str,
    budget: str | None,
    cleartext: bool,
    max_entry_bytes: int,
    summary_interval: float,
    quiet: bool,
) -> None:
    """Run the radio bridge in the foreground until Ctrl-C (or SIGTERM).

    \b
    Example: plurictl radio up --link kiss:tcp://127.0.0.1:8001?callsign=N0CALL-1 --cleartext
    Example: plurictl radio up --link meshtastic:/dev/ttyACM0 --budget 10%
    """
    from mesh.radio.bridge import Bridge, BridgeConfig
    from mesh.radio.links import parse_link

    spec = parse_link(link_text)
    config = BridgeConfig(
        cleartext=cleartext,
        budget=_budget(budget),
        max_entry_bytes=max_entry_bytes,
        summary_interval=summary_interval,
    )
    live_view = not quiet and sys.stdout.isatty()
    err = error_console()

    def event(msg: str) -> None:
        if not live_view:
            err.print(f"{time.strftime('%H:%M:%S')} {msg}", highlight=False, markup=False)

    bridge = Bridge(app.home, spec, config, events=event)
    terminated: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        terminated.append(signum)
        bridge.stopping = True

    # before start(): its status file tells scripts the bridge runs, so a SIGTERM they send
    # from then on must find the handler (else the process dies by the signal, not exit 143)
    previous = _on_stop_signals(stop)
    try:
        bridge.start()
    except BaseException:
        _restore(previous)
        raise
    try:
        if live_view:
            from rich.live import Live

            def view() -> Any:
                from rich.console import Group
                from rich.text import Text

                return Group(_view(bridge.status()), Text("Ctrl-C to stop.", style="dim"))

            with Live(view(), console=console(), refresh_per_second=2) as live:
                last = 0.0
                while not bridge.stopping:
                    bridge.step()
                    if time.monotonic() - last > 0.5:
                        live.update(view())
                        last = time.monotonic()
        else:
            bridge.run()
    finally:
        # Ctrl-C exits 130 and SIGTERM 143, once the bridge has closed (exit-codes.md)
        _restore(previous)
        bridge.close()
    if terminated:
        _exit_on_signal(terminated[0])


def _on_stop_signals(stop: Callable[[int, Any], None]) -> dict[int, Any]:
    """Ctrl-C and SIGTERM both ask the loop to stop at its next turn, so neither lands
    in the middle of a frame or a ledger write (a KeyboardInterrupt can land anywhere)."""
    return {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _exit_on_signal(signum: int) -> None:
    """Leave with 128 + the signal, as a shell reports a command that a signal stopped."""
    from plurictl.lifeline import Terminated

    raise Terminated(128 + signum)


@radio.command("status")
@json_option
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Is the radio bridge running? Stations heard, sync, queues, airtime, dropped frames.

    \b
    Example: plurictl radio status
    """
    from mesh.radio.bridge import running_status

    app.home.public_key()  # a clear "not initialised" (exit 3) for a home that is not one
    data = running_status(app.home.path)
    if as_json:
        emit_json(data)
        return
    console().print(_view(data))


def _view(data: dict[str, Any]) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    s = data["station"]
    up = (
        "[green]link up[/]"
        if data["link_up"]
        else f"[red]link DOWN[/] ({data.get('link_error') or 'reopening'})"
    )
    sent, heard, dropped = s["sent"], s["heard"], s["dropped"]
    lines = [
        f"[bold]{data['name']}[/] on {data['link_description'] or data['link']} — {up} — "
        f"mesh {data['mesh']} (pid {data['pid']})",
        f"budget {s['budget']['describe']}: {s['budget']['used']:.0%} of it used in the last "
        f"{s['budget']['window_s']:.0f} s; {'CLEARTEXT (signed, not encrypted)' if s['cleartext'] else 'encrypted'}",
        f"on air: sent {sent['frames']} frames / {sent['bytes']:,} B ({sent['seconds']:.0f} s), "
        f"heard {heard['frames']} frames / {heard['bytes']:,} B",
    ]
    age = time.time() - float(data.get("updated", time.time()))
    if age > 10:
        lines.append(
            f"[red]this status is {age:.0f} s old[/]: the bridge may be stuck (see its terminal)"
        )
    bad = {k: v for k, v in dropped.items() if v and k != "for_others"}
    if bad:
        lines.append(
            "[yellow]dropped[/]: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in bad.items())
        )
    table = Table(title="Stations heard")
    for col in ("name", "last heard", "state", "waiting to send", "in / out", "entries in / out"):
        table.add_column(col)
    for p in s["peers"]:
        heard_s = "-" if p["last_heard_s"] is None else f"{p['last_heard_s']:.0f} s ago"
        queued = ", ".join(f"{n} {k}" for k, n in p["queued"].items()) or "nothing"
        state = "[green]in sync[/]" if p["in_sync"] else "[yellow]syncing[/]"
        table.add_row(
            p["name"],
            heard_s,
            state,
            queued,
            f"{p['bytes_in']:,} / {p['bytes_out']:,} B",
            f"{p['entries_in']} / {p['entries_out']}",
        )
    parts: list[Any] = [Text.from_markup("\n".join(lines))]
    if s["peers"]:
        parts.append(table)
    else:
        parts.append(Text("No station heard yet (hellos go out every 30 s until one answers)."))
    recent = [
        f"{time.strftime('%H:%M:%S', time.localtime(e['t']))} {e['event']}"
        for e in data.get("events", [])[-4:]
    ]
    if recent:
        parts.append(Text("\n".join(recent), style="dim"))
    return Group(*parts)


@radio.command("check")
@click.option("--link", "link_text", required=True, metavar="LINK", help=LINK_HELP)
@click.option(
    "--seconds",
    type=FiniteRange(min=1, max=3600),
    default=30,
    show_default=True,
    help="How long to listen.",
)
@click.option("--cleartext", is_flag=True, help="Send the hellos marked cleartext.")
@json_option
@pass_app
def check(app: AppContext, link_text: str, seconds: float, cleartext: bool, as_json: bool) -> None:
    """Test a link: send signed hellos, list the stations heard. Exit 9 if none was heard.

    Run it on both laptops at once (without `radio up` on this one).

    \b
    Example: plurictl radio check --link serial:/dev/ttyUSB0?baud=9600 --seconds 20
    """
    from mesh.radio.check import check_link
    from mesh.radio.errors import RadioError
    from mesh.radio.links import parse_link
    from plurictl.errors import Failed
    from plurictl.render.common import progress_bar

    spec = parse_link(link_text)
    with progress_bar("Listening", int(seconds), enabled=not as_json) as advance:
        done = [0]

        def progress(elapsed: float) -> None:
            if int(elapsed) > done[0]:
                advance(int(elapsed) - done[0])
                done[0] = int(elapsed)

        report = check_link(app.home, spec, seconds, cleartext=cleartext, progress=progress)
    if as_json:
        emit_json(report.to_json())
    else:
        out = console()
        out.print(f"{report.link}: sent {report.sent_hellos} hellos in {report.seconds:.0f} s")
        for h in report.heard.values():
            out.print(f"[green]heard {h.name}[/]: {h.hellos} hellos, {h.frames} frames")
        if report.non_member or report.other_mesh or report.garbled:
            out.print(
                f"[yellow]also heard[/]: {report.non_member} frames from non-members, "
                f"{report.other_mesh} from another mesh, {report.garbled} garbled"
            )
        if not report.works:
            out.print("[red]no member heard[/]: see 'The link does not work' in radio.md")
    if not report.works:
        raise Failed(RadioError)


@radio.command("sim")
@click.argument("name")
@click.option("--bitrate", type=FiniteRange(min=1), default=1200, show_default=True, help="Bit/s.")
@click.option(
    "--mtu",
    type=int,
    default=200,
    show_default=True,
    help="Largest frame, in bytes: 170 at least (hellos and summaries cannot be cut), "
    "4096 at most (the largest frame the radio protocol reads).",
)
@click.option("--loss", type=FiniteRange(0, 99), default=0, show_default=True, help="Percent lost.")
@click.option(
    "--latency",
    type=FiniteRange(0, 60_000),
    default=500,
    show_default=True,
    help="Delay after a frame's end, in ms.",
)
@click.option("--duplicate", type=FiniteRange(0, 99), default=0, help="Percent of frames twice.")
@click.option("--reorder", type=FiniteRange(0, 99), default=0, help="Percent of frames late.")
@click.option("--full-duplex", is_flag=True, help="Each station has its own channel.")
@click.option("--seed", type=int, default=0, help="Seed for the random losses.")
def sim(
    name: str,
    bitrate: float,
    mtu: int,
    loss: float,
    latency: float,
    duplicate: float,
    reorder: float,
    full_duplex: bool,
    seed: int,
) -> None:
    """Run a simulated radio channel NAME until Ctrl-C, for rehearsals without radios.

    Bridges join it with `radio up --link sim:NAME` (on this laptop).

    \b
    Example: plurictl radio sim valley --bitrate 1200 --loss 10 --latency 500
    """
    from mesh.radio.links import check_sim_name
    from mesh.radio.sim import SimParams
    from mesh.radio.simhub import SimHub

    check_sim_name(name)
    params = SimParams(
        bitrate=bitrate,
        mtu=mtu,
        loss=loss / 100,
        latency=latency / 1000,
        duplicate=duplicate / 100,
        reorder=reorder / 100,
        half_duplex=not full_duplex,
        seed=seed,
    )
    terminated: list[int] = []
    hubs: list[SimHub] = []

    def stop(signum: int, _frame: object) -> None:
        terminated.append(signum)
        for hub in hubs:
            hub.stop()

    # before the socket exists: scripts take the socket as "the simulator runs" (exit 143 on SIGTERM)
    previous = _on_stop_signals(stop)
    try:
        hub = SimHub(name, params)
    except BaseException:
        _restore(previous)
        raise
    hubs.append(hub)
    if terminated:
        hub.stop()
    err = error_console()
    err.print(
        f"simulated link {name!r}: {bitrate:g} bit/s, MTU {mtu}, loss {loss:g}%, "
        f"latency {latency:g} ms, {'full' if full_duplex else 'half'} duplex. "
        f"Join with: plurictl radio up --link sim:{name}   (Ctrl-C to stop)",
        highlight=False,
    )

    def report(st: dict[str, float]) -> None:
        err.print(
            f"{time.strftime('%H:%M:%S')} {st['stations']} stations, {st['frames']} frames, "
            f"{st['bytes']:,} B, {st['airtime_s']} s on air",
            highlight=False,
        )

    try:
        hub.serve(report)  # closes the hub however it ends
    finally:
        _restore(previous)
        hub.close()
    if terminated:
        _exit_on_signal(terminated[0])
