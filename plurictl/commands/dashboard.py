"""`plurictl dashboard`: the situation on one page, on this laptop and on phones.

`dashboard devices add|list|revoke`: phones allowed to send fuel readings.
Nothing heavy is imported here: the web server loads only when it starts.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from plurictl.context import AppContext, pass_app
from plurictl.render.common import console, emit_json, json_option

if TYPE_CHECKING:
    from plurictl.dashboard.devices import DeviceBook


@click.group(invoke_without_command=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option(
    "--lan",
    is_flag=True,
    help="Serve phones on the hotspot too (needs the access link it prints; default: this laptop only).",
)
@click.option("--bind", "bind_to", metavar="ADDRESS", help="With --lan: the address to listen on.")
@click.option(
    "--intake",
    is_flag=True,
    help="Let paired phones send fuel readings (signed with this laptop's key).",
)
@click.option(
    "--sheet",
    "sheet",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the one-page status sheet as a PDF and exit (no server).",
)
@click.pass_context
def dashboard(
    ctx: click.Context,
    port: int,
    lan: bool,
    bind_to: str | None,
    intake: bool,
    sheet: Path | None,
) -> None:
    """Serve the coordinator dashboard: overview, fuel, plan, votes, playbooks, print sheet.

    Reads this laptop's ledger (live: new entries show within a second, also
    those the node receives). Open http://127.0.0.1:8080 in a browser. With
    --lan it prints a link and a QR code for phones on the hotspot.

    \b
    Examples:
      plurictl dashboard                        # this laptop only
      plurictl dashboard --lan --intake         # phones may look and send readings
      plurictl dashboard --sheet status.pdf     # print the wall sheet and exit
    """
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(AppContext)
    assert app is not None
    from plurictl.dashboard.server import check_libraries

    check_libraries()
    if sheet is not None:
        _write_sheet(app, sheet)
        return
    _serve(app, port=port, lan=lan, bind_to=bind_to, intake=intake)


def _write_sheet(app: AppContext, target: Path) -> None:
    from plurictl.dashboard.sheet_pdf import write_sheet

    app.home.store  # noqa: B018 - a clear error if this laptop has no ledger
    pages = write_sheet(app.home.path, target)
    console().print(f"status sheet written to {target} ({pages} page(s), A4)")


def _serve(app: AppContext, *, port: int, lan: bool, bind_to: str | None, intake: bool) -> None:
    from plurictl.dashboard.app import Dashboard, create_app
    from plurictl.dashboard.devices import DeviceBook
    from plurictl.dashboard.guard import Access
    from plurictl.dashboard.server import bind, lan_addresses, serve

    home = app.home
    home.store  # noqa: B018 - a clear error if this laptop has no ledger
    if intake:
        _check_can_report(app)
    if bind_to and not lan:
        raise click.UsageError(
            "--bind needs --lan (without it the dashboard is for this laptop only)"
        )
    host, addresses = _listen_on(lan, bind_to, lan_addresses)
    token = secrets.token_urlsafe(24) if lan else None
    book = DeviceBook(home.path)
    book.devices()  # a damaged devices file refuses the start (exit 5), as `devices list` does
    access = Access(book, view_token=token, intake=intake)
    sock = bind(host, port)
    port = sock.getsockname()[1]
    from plurictl.dashboard.server import running_views

    with running_views(home.path) as live:
        dash = Dashboard(live, access, writer=home if intake else None)
        allowed = None if lan else ["127.0.0.1", "localhost"]
        web = create_app(dash, allowed_hosts=allowed)
        _announce(addresses, port, token, intake, lan)
        try:
            serve(web, sock)
        finally:
            dash.stopping.set()


def _listen_on(
    lan: bool, bind_to: str | None, lan_addresses: Callable[[], list[str]]
) -> tuple[str, list[str]]:
    """(address to listen on, addresses to print for phones): never 0.0.0.0 in a link."""
    if not lan:
        return "127.0.0.1", ["127.0.0.1"]
    if bind_to and not _unspecified(bind_to):
        return bind_to, [bind_to]
    addresses = lan_addresses()
    if not addresses:
        raise click.UsageError("no network address found for --lan: is the hotspot on?")
    host = bind_to or (addresses[0] if len(addresses) == 1 else "0.0.0.0")
    return host, addresses


def _unspecified(address: str) -> bool:
    """True for 0.0.0.0 (every address): phones cannot open a link to it."""
    import ipaddress

    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def _check_can_report(app: AppContext) -> None:
    from ledger.guard import require_role

    require_role(app.home.store, app.home.identity, "operator", "coordinator")


def _announce(addresses: list[str], port: int, token: str | None, intake: bool, lan: bool) -> None:
    from plurictl.dashboard.server import qr_text

    out = console()
    if not lan:
        out.print(f"Dashboard on [bold]http://127.0.0.1:{port}/[/] (this laptop only).")
    else:
        url = f"http://{addresses[0]}:{port}/?t={token}"
        out.print(f"Dashboard for phones on the hotspot: [bold]{url}[/]")
        for other in addresses[1:]:
            out.print(f"  also: http://{other}:{port}/?t={token}")
        out.print("Scan with a phone (the link holds the access token; it changes at every start):")
        out.print(qr_text(url), markup=False, highlight=False)
    if intake:
        out.print("Phone intake is on: pair a phone with `plurictl dashboard devices add LABEL`.")
    out.print("Ctrl-C stops it.")


# --- devices ---------------------------------------------------------------------------


def _book(app: AppContext) -> DeviceBook:
    """The phones of this laptop's home; NotInitialised (exit 3) if there is no home or key."""
    from plurictl.dashboard.devices import DeviceBook

    app.home.store  # noqa: B018 - "no plurigrid home" (exit 3), never a new folder
    app.home.public_key()  # "no identity" (exit 3): nobody to sign the phones' readings
    return DeviceBook(app.home.path)


@dashboard.group("devices")
def devices() -> None:
    """Phones allowed to send fuel readings through the dashboard (one token each).

    \b
    Examples:
      plurictl dashboard devices add "depot phone"
      plurictl dashboard devices list
      plurictl dashboard devices revoke "depot phone"
    """


@devices.command("add")
@click.argument("label")
@click.option("--host", help="Address phones reach this laptop at (default: its LAN address).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@pass_app
def add(app: AppContext, label: str, host: str | None, port: int) -> None:
    """Allow a phone called LABEL to send readings; prints its link and QR code once.

    Example: plurictl dashboard devices add "depot phone" --port 8080
    """
    from plurictl.dashboard.server import lan_addresses, qr_text

    device, token = _book(app).add(label)
    host = host or next(iter(lan_addresses()), "127.0.0.1")
    url = f"http://{host}:{port}/pair?d={token}"
    out = console()
    out.print(
        f"Phone [bold]{device.label}[/] may send fuel readings (when the dashboard runs with --intake)."
    )
    out.print(f"Its link (shown only now; keep it private): {url}")
    out.print(qr_text(url), markup=False, highlight=False)
    out.print(f"Revoke it with: plurictl dashboard devices revoke {_quoted(device.label)}")


def _quoted(label: str) -> str:
    import shlex

    return shlex.quote(label)


@devices.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """The phones allowed (and revoked) on this laptop.

    Example: plurictl dashboard devices list --json
    """
    found = _book(app).devices()
    if as_json:
        emit_json([d.to_json() for d in found])
        return
    if not found:
        console().print('No phones yet: plurictl dashboard devices add "depot phone"')
        return
    from rich.table import Table

    from plurictl.dashboard.timefmt import local

    table = Table(title="Phones")
    for col in ("label", "added", "state"):
        table.add_column(col)
    for d in found:
        state = "[green]allowed[/]" if d.active else f"[red]revoked {local(d.revoked_ms)}[/]"
        table.add_row(d.label, local(d.added_ms), state)
    console().print(table)


@devices.command("revoke")
@click.argument("label")
@pass_app
def revoke(app: AppContext, label: str) -> None:
    """Stop the phone LABEL from sending readings (at its next request).

    Example: plurictl dashboard devices revoke "depot phone"
    """
    device = _book(app).revoke(label)
    console().print(
        f"Phone {device.label} revoked at {time.strftime('%H:%M')}: its readings are refused from now on."
    )
