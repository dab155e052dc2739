"""`plurictl fuel report|transfer|burn|status`: tank readings and fuel movements."""

from __future__ import annotations

import time

import click

from plurictl import readouts
from plurictl.context import AppContext, pass_app
from plurictl.nudge import nudge_node
from plurictl.params import litres_type
from plurictl.render.common import console, emit_json, hlc_time, json_option

LITRES = litres_type()


@click.group()
def fuel() -> None:
    """Tank readings, fuel transfers between sites, and inventory."""


@fuel.command("report")
@click.argument("site")
@click.option("--litres", type=LITRES, required=True, help="What the tank holds now, in litres.")
@click.option("--tank", default="main", show_default=True, help="Which tank at the site.")
@click.option("--fuel", "fuel_type", default="diesel", show_default=True, help="Fuel type.")
@click.option("--note", default="", help="Anything the next reader should know.")
@click.option(
    "--new-site", is_flag=True, help="SITE is new, although its name is close to a known site."
)
@click.option(
    "--new-tank", is_flag=True, help="TANK is new, although its name is close to a known tank."
)
@pass_app
def report(
    app: AppContext,
    site: str,
    litres: float,
    tank: str,
    fuel_type: str,
    note: str,
    new_site: bool,
    new_tank: bool,
) -> None:
    """Report a tank reading at SITE (signed; replaces the readings of that tank you have seen).

    A SITE (or --tank) name a typo away from a known one is refused with a "did you
    mean"; add --new-site (--new-tank) if it really is a new one.

    Example: plurictl fuel report north --litres 1200
    """
    from ledger.fuel import writer

    e = writer.report(
        app.home.store,
        app.home.identity,
        site,
        litres,
        tank=tank,
        fuel=fuel_type,
        note=note,
        new_site=new_site,
        new_tank=new_tank,
    )
    nudge_node(app.home.path)
    console().print(f"reported {litres:,.0f} L in {site}/{tank} (entry {e.id.hex()[:12]})")


@fuel.group("transfer")
def transfer() -> None:
    """Plan a delivery between sites, then mark it dispatched and received."""


@transfer.command("plan")
@click.option("--from", "source", required=True, help="Site the fuel leaves (e.g. the depot).")
@click.option("--to", "target", required=True, help="Site that receives it.")
@click.option("--litres", type=LITRES, required=True)
@click.option("--tank", help="Tank it goes into at the receiving site.")
@click.option("--fuel", "fuel_type", default="diesel", show_default=True)
@click.option("--order", help="The plan order this transfer carries out.")
@click.option("--note", default="")
@click.option(
    "--new-site", is_flag=True, help="A site is new, although its name is close to a known site."
)
@pass_app
def plan_(
    app: AppContext,
    source: str,
    target: str,
    litres: float,
    tank: str | None,
    fuel_type: str,
    order: str | None,
    note: str,
    new_site: bool,
) -> None:
    """Plan a transfer (coordinator).

    Example: plurictl fuel transfer plan --from depot --to north --litres 2000
    """
    from ledger.fuel import writer

    e = writer.plan_transfer(
        app.home.store,
        app.home.identity,
        source,
        target,
        litres,
        fuel=fuel_type,
        tank=tank,
        order=order,
        note=note,
        new_site=new_site,
    )
    nudge_node(app.home.path)
    console().print(f"transfer {e.id.hex()[:8]} planned: {litres:,.0f} L {source} -> {target}")


def _step(
    app: AppContext, transfer_id: str, op: str, litres: float | None = None, reason: str = ""
) -> None:
    from ledger.fuel import writer

    e = writer.transfer_step(
        app.home.store, app.home.identity, transfer_id, op, litres=litres, reason=reason
    )
    nudge_node(app.home.path)
    console().print(f"transfer {transfer_id[:8]}: {op} recorded (entry {e.id.hex()[:12]})")


@transfer.command("dispatch")
@click.argument("transfer_id")
@click.option("--litres", type=LITRES, help="Litres actually loaded (default: as planned).")
@pass_app
def dispatch(app: AppContext, transfer_id: str, litres: float | None) -> None:
    """The truck has left with the fuel."""
    _step(app, transfer_id, "dispatch", litres)


@transfer.command("receive")
@click.argument("transfer_id")
@click.option("--litres", type=LITRES, required=True, help="Litres that actually arrived.")
@pass_app
def receive(app: AppContext, transfer_id: str, litres: float) -> None:
    """Confirm at the receiving site that the fuel arrived."""
    _step(app, transfer_id, "receive", litres)


@transfer.command("cancel")
@click.argument("transfer_id")
@click.option("--reason", required=True)
@pass_app
def cancel(app: AppContext, transfer_id: str, reason: str) -> None:
    """Cancel a planned transfer that has not left (coordinator)."""
    _step(app, transfer_id, "cancel", reason=reason)


@fuel.command("burn")
@click.argument("site")
@click.option(
    "--litres-per-hour", "rate", type=LITRES, required=True, help="Current burn rate at the site."
)
@click.option(
    "--new-site", is_flag=True, help="SITE is new, although its name is close to a known site."
)
@pass_app
def burn(app: AppContext, site: str, rate: float, new_site: bool) -> None:
    """Declare a site's burn rate, so status can estimate what is left between readings.

    Example: plurictl fuel burn north --litres-per-hour 35
    """
    from ledger.fuel import writer

    writer.consumption(app.home.store, app.home.identity, site, rate, new_site=new_site)
    nudge_node(app.home.path)
    console().print(f"{site}: burn rate {rate:,.1f} L/h recorded")


@fuel.command("status")
@click.option("--site", help="Only this site.")
@json_option
@pass_app
def status(app: AppContext, site: str | None, as_json: bool) -> None:
    """Fuel at every site: readings, conflicts, transfers, estimate now."""
    from ledger.fuel import writer

    state = writer.load(app.home.store)
    if site is not None:
        from ledger.names import require_known

        require_known(site, state.sites, "site", listing="plurictl fuel status")
    now = int(time.time() * 1000)
    if as_json:
        emit_json(readouts.fuel_status(state, now, site))
        return
    sites = [s for name, s in sorted(state.sites.items()) if site is None or name == site]
    from rich.table import Table

    out = console()
    table = Table(title="Fuel by site")
    for col in ("site", "inventory (L)", "estimate now (L)", "tanks", "last reading", "warnings"):
        table.add_column(col)
    for s in sites:
        tanks = ", ".join(f"{t.name} {t.litres:,.0f}" for _, t in sorted(s.tanks.items()))
        warn = f"[red]conflicting readings: {', '.join(s.conflicts)}[/]" if s.conflicts else ""
        table.add_row(
            s.name,
            f"{s.inventory:,.0f}",
            f"{s.estimate(now):,.0f}",
            tanks,
            hlc_time(s.read_hlc) if s.read_hlc else "-",
            warn,
        )
    out.print(table)
    for s in sites:
        for t in s.tanks.values():
            if t.conflict:
                out.print(
                    f"[red]{s.name}/{t.name}[/]: readings disagree — "
                    + "; ".join(
                        f"{r.litres:,.0f} L by {r.name} at {hlc_time(r.hlc)}" for r in t.current
                    )
                    + ". Counting the lower one; read the tank again to settle it."
                )
    if state.transfers:
        tt = Table(title="Transfers")
        for col in ("id", "from", "to", "litres", "state", "by"):
            tt.add_column(col)
        for tid, tr in sorted(state.transfers.items(), key=lambda kv: kv[1].hlc):
            tt.add_row(
                tid.hex()[:8], tr.source, tr.target, f"{tr.litres:,.0f}", tr.state, tr.planned_by
            )
        out.print(tt)
