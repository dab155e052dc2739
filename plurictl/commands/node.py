"""`plurictl node up|status|partition|heal|faults`, `plurictl peers`, `plurictl sync`."""

from __future__ import annotations

import signal
import sys
import time
from typing import Any

import click

from plurictl.context import AppContext, pass_app
from plurictl.params import seconds_type
from plurictl.render.common import console, emit_json, error_console, json_option


def _control(app: AppContext, cmd: str, **args: Any) -> Any:
    from mesh.control import ControlClient

    with ControlClient(app.home.path) as client:
        return client.call(cmd, **args)


@click.group()
def node() -> None:
    """Run this laptop's mesh node; see its status; simulate link faults for drills."""


@node.command("up")
@click.option("--listen", help="Address to listen on (default tcp://0.0.0.0:7800, or config.toml).")
@click.option(
    "--peer",
    "peers",
    multiple=True,
    metavar="tcp://HOST:PORT",
    help="A peer to dial (repeatable; also node.peers in config.toml); KEY@tcp://HOST:PORT "
    "skips the UDP key query.",
)
@click.option("--discover", is_flag=True, help="Find peers on the LAN by UDP beacon (opt-in).")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05, max=60),
    help="Gossip interval in seconds (default 1).",
)
@click.option(
    "--quiet", is_flag=True, help="No live view: one line per event (for scripts and drills)."
)
@click.option(
    "--debug-drop-feed",
    "drop_feeds",
    multiple=True,
    hidden=True,
    help="Testing only: drop every entry of this member (a deliberately broken node).",
)
@pass_app
def up(
    app: AppContext,
    listen: str | None,
    peers: tuple[str, ...],
    discover: bool,
    interval: float | None,
    quiet: bool,
    drop_feeds: tuple[str, ...],
) -> None:
    """Run the node in the foreground until Ctrl-C (or SIGTERM).

    It listens for members, dials known peers, keeps the ledger in sync and
    serves `plurictl node status`, `peers`, `sync`, `node partition/heal`.
    """
    from mesh.node import Node, NodeConfig

    config = NodeConfig.from_home(app.home.path)
    if listen:
        config.listen = listen
    config.peers = [*config.peers, *peers]
    config.discover = config.discover or discover
    if interval:
        config.interval = interval
    config.drop_feeds = list(drop_feeds)
    live_view = not quiet and sys.stdout.isatty()
    err = error_console()

    def event(msg: str) -> None:
        if not live_view:
            err.print(f"{time.strftime('%H:%M:%S')} {msg}", highlight=False, markup=False)

    n = Node(app.home, config, events=event)
    n.start()

    def stop(*_: object) -> None:
        n.stopping = True

    signal.signal(signal.SIGTERM, stop)
    try:
        if live_view:
            from rich.live import Live

            with Live(_live_view(n), console=console(), refresh_per_second=2) as live:
                last = 0.0
                while not n.stopping:
                    n.step()
                    if time.monotonic() - last > 0.5:
                        live.update(_live_view(n))
                        last = time.monotonic()
        else:
            n.run()
    except KeyboardInterrupt:
        pass
    finally:
        n.close()


def _live_view(n: Any) -> Any:
    from rich.console import Group
    from rich.text import Text

    s = n.status()
    head = Text.from_markup(
        f"[bold]{s['name']}[/] on {s['listen']} — mesh {s['mesh_name'] or '(joining)'} — "
        f"{s['entries']} entries in {s['feeds']} feeds — peers live {s['peers_live']}/{s['peers_known']} — "
        f"in {s['traffic']['bytes_in']:,} B, out {s['traffic']['bytes_out']:,} B"
        + (
            f" — [red]faults {s['faults']}[/]"
            if s["faults"]["groups"] or s["faults"]["loss"] or s["faults"]["delay_ms"]
            else ""
        )
        + "\nCtrl-C to stop."
    )
    return Group(head, peers_table(n.peers_status()))


def _invalid(row: dict[str, Any]) -> str:
    invalid, penalties = row.get("invalid", 0), row.get("penalties", 0)
    if not invalid:
        return "-"
    return f"{invalid:,}" + (f" (cut off ×{penalties})" if penalties else "")


def peers_table(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title="Peers")
    for col in (
        "name",
        "address",
        "state",
        "links",
        "last heard",
        "they lack",
        "we lack",
        "in / out",
        "invalid",
        "note",
    ):
        table.add_column(col)
    colours = {
        "live": "green",
        "silent": "yellow",
        "refused": "red",
        "penalised": "red",
        "revoked": "red",
        "another mesh": "red",
    }
    for r in rows:
        heard = "-" if r["last_heard_s"] is None else f"{r['last_heard_s']:.0f} s ago"
        state = r["state"] + (" (in sync)" if r["in_sync"] else "")
        table.add_row(
            r["name"] or (r["key"] or "?")[:12],
            r["addr"] or "-",
            f"[{colours.get(r['state'], 'white')}]{state}[/]",
            r.get("links") or "-",
            heard,
            "-" if r["ahead"] is None else str(r["ahead"]),
            "-" if r["behind"] is None else str(r["behind"]),
            f"{r['bytes_in']:,} / {r['bytes_out']:,}",
            _invalid(r),
            r["note"],
        )
    return table


@node.command("status")
@json_option
@pass_app
def status(app: AppContext, as_json: bool) -> None:
    """Is the node running? Mesh, entries, live peers, traffic, faults."""
    s = _control(app, "status")
    if as_json:
        emit_json(s)
        return
    out = console()
    out.print(
        f"[green]running[/] as [bold]{s['name']}[/] on {s['listen']} (pid {s['pid']}, up {s['uptime_s']:.0f} s)"
    )
    out.print(
        f"mesh {s['mesh_name']} — {s['entries']} entries in {s['feeds']} feeds — digest {s['digest'][:16]}"
    )
    out.print(
        f"peers: {s['peers_live']} live of {s['peers_known']} known — gossip every {s['interval_s']} s"
        f" (now every {s['round_interval_s']} s: slower while in sync)"
    )
    out.print(f"others reach this laptop as: {s['reach_me']}")
    t = s["traffic"]
    out.print(
        f"traffic: in {t['bytes_in']:,} B, out {t['bytes_out']:,} B; bad messages {t['bad_messages']}, "
        f"refused connections {t['zap_refused']}, unauthorised {t['unauthorised']}, "
        f"members cut off for invalid data {t['penalties']}"
    )
    f = s["faults"]
    if f["groups"] or f["loss"] or f["delay_ms"]:
        out.print(
            f"[red]link faults active[/]: groups {f['groups']}, loss {f['loss']:.0%}, delay {f['delay_ms']} ms"
        )


@node.command("partition")
@click.argument("groups", nargs=-1, required=True)
@pass_app
def partition(app: AppContext, groups: tuple[str, ...]) -> None:
    """Cut links between groups of members, e.g. `node partition alice,bob carol,dave`.

    Traffic to and from members outside this node's group is dropped. Run it
    on every node of a drill (the drill runner does). Undo with `node heal`.
    """
    from ledger.errors import InvalidInput
    from ledger.names import require_known
    from mesh.faults import parse_groups

    try:
        parsed = parse_groups(groups)
    except ValueError as e:
        raise InvalidInput(str(e)) from e
    members = {info.name for info in app.home.store.roster().keys.values()}
    for name in (n for group in parsed for n in group):
        require_known(name, members, "member", listing="plurictl roster list")
    result = _control(app, "faults.set", groups=parsed)
    console().print(f"partition set: {' | '.join(','.join(g) for g in result['groups'])}")


@node.command("faults")
@click.option("--loss", type=click.FloatRange(0, 100), help="Percent of outgoing messages to drop.")
@click.option(
    "--delay",
    "delay_ms",
    type=click.IntRange(0, 600_000),
    help="Delay added to every message, in ms.",
)
@pass_app
def faults_(app: AppContext, loss: float | None, delay_ms: int | None) -> None:
    """Add message loss and delay on this node's links (for drills)."""
    args: dict[str, Any] = {}
    if loss is not None:
        args["loss"] = loss / 100
    if delay_ms is not None:
        args["delay_ms"] = delay_ms
    result = _control(app, "faults.set", **args)
    console().print(
        f"link faults: loss {result['loss']:.0%}, delay {result['delay_ms']} ms, groups {result['groups']}"
    )


@node.command("heal")
@pass_app
def heal(app: AppContext) -> None:
    """Remove every simulated fault (partition, loss, delay) from this node."""
    _control(app, "faults.clear")
    console().print("healed: no simulated faults on this node")


@click.command("peers")
@json_option
@pass_app
def peers(app: AppContext, as_json: bool) -> None:
    """Peers of the running node: state, last heard, lag, traffic.

    Without a running node, lists the peers this laptop remembers.
    """
    from plurictl.readouts import peers as peer_rows

    rows = peer_rows(app.home.path)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        console().print("No peers known yet. Add one: plurictl node up --peer tcp://HOST:PORT")
        return
    console().print(peers_table(rows))


@click.command("sync")
@click.option(
    "--peer",
    required=True,
    metavar="tcp://HOST:PORT",
    help="The peer to catch up with; KEY@tcp://HOST:PORT skips the UDP key query.",
)
@click.option(
    "--once", is_flag=True, help="One exchange only, even if the ledgers still differ after it."
)
@click.option(
    "--timeout",
    type=seconds_type(max_seconds=86_400),
    default=60,
    show_default=True,
    help="Give up after this many seconds.",
)
@json_option
@pass_app
def sync(app: AppContext, peer: str, once: bool, timeout: float, as_json: bool) -> None:
    """Catch up with one peer now: progress bar, then a summary.

    If a node runs on this home, it does the work; otherwise a temporary one does.
    Works between machines: the peer's key is asked over UDP (same port as TCP),
    or given as KEY@tcp://HOST:PORT when UDP is blocked.

    Example: plurictl sync --peer tcp://192.168.4.2:7800
    """
    from mesh.errors import NodeNotRunning
    from mesh.oneshot import sync_once
    from plurictl.render.common import progress_bar

    try:
        result = _control(app, "sync", peer=peer)
        console().print(
            f"asked the running node to sync ({result['rounds']} live peers); see `plurictl peers`"
        )
        return
    except NodeNotRunning:
        pass
    with progress_bar("Receiving entries", None, enabled=not as_json) as advance:
        seen = [0, -1]  # received, expected (the peer's announced total, once it is known)

        def progress(received: int, expected: int) -> None:
            if received != seen[0] or expected != seen[1]:
                advance(received - seen[0], total=expected)
                seen[:] = [received, expected]

        summary = sync_once(app.home, peer, once=once, timeout=timeout, progress=progress)
    from plurictl.nudge import nudge_node

    nudge_node(app.home.path)
    if as_json:
        emit_json(summary.to_json())
        return
    state = "[green]in sync[/]" if summary.in_sync else "[yellow]partly synced (run again)[/]"
    console().print(
        f"{state} with {summary.name or summary.peer}: received {summary.received}, sent {summary.sent}, "
        f"refused {summary.refused}"
        + (f", repaired {summary.repaired} damaged" if summary.repaired else "")
        + f" in {summary.seconds:.1f} s"
    )
