"""`plurictl orders [--site S]`, `orders ack`, `orders deviate`: dispatch orders of adopted plans."""

from __future__ import annotations

from typing import Any

import click

from plurictl import readouts
from plurictl.context import AppContext, pass_app
from plurictl.nudge import nudge_node
from plurictl.render.common import console, emit_json, json_option


def describe(order: dict[str, Any]) -> str:
    """One order in plain words for the person who has to carry it out: the sentence the
    planner wrote (what, from where, to where, how much, by when), or one composed from
    its fields for orders from older plans."""
    text = order.get("text")
    if isinstance(text, str) and text.strip():
        return text
    from planner.orders import sentence

    return sentence(order)


@click.group(invoke_without_command=True)
@click.option("--site", help="Only orders for this site.")
@json_option
@click.pass_context
def orders(ctx: click.Context, site: str | None, as_json: bool) -> None:
    """Dispatch orders of the adopted plan(s): what each site must do, and who acknowledged.

    Each order is one sentence: what, from where, to where, how much, by when
    (--json adds the same as fields). Example: plurictl orders --site alpha
    """
    if ctx.invoked_subcommand is not None:
        return
    from ledger.plans import writer as plans

    app = ctx.find_object(AppContext)
    assert app is not None
    state = plans.load(app.home.store)
    if site is not None and state.decisions:
        from ledger.fuel import writer as fuel
        from ledger.names import require_known

        known = {str(o.order.get("site")) for o in state.orders.values() if o.order.get("site")}
        known |= set(fuel.load(app.home.store).sites)
        require_known(site, known, "site", listing="plurictl orders")
    if as_json:
        emit_json(readouts.orders_list(state, site))
        return
    rows = [
        o
        for _, o in sorted(
            state.orders.items(), key=lambda kv: (kv[1].order.get("from_period", 0), kv[0])
        )
        if site is None or o.order.get("site") == site
    ]
    out = console()
    if not state.decisions:
        out.print("No plan is adopted yet: see `plurictl plan list` and `plurictl plan adopt`.")
        return
    from rich.table import Table

    table = Table(title="Orders" + (f" for {site}" if site else ""))
    for col in ("order", "site", "what to do", "status", "by"):
        table.add_column(col, overflow="fold")
    colours = {"open": "yellow", "acknowledged": "green", "deviation": "red"}
    for o in rows:
        who = ", ".join(b for b, _, _ in o.acks + o.deviations)
        table.add_row(
            o.id[:8],
            str(o.order.get("site") or "-"),
            describe(o.order),
            f"[{colours[o.status]}]{o.status}[/]",
            who,
        )
    out.print(table)


@orders.command("ack")
@click.argument("order_id")
@click.option("--note", default="", help="e.g. what you actually set.")
@pass_app
def ack(app: AppContext, order_id: str, note: str) -> None:
    """Acknowledge an order: you are carrying it out.

    Example: plurictl orders ack 3f9c2a1b --note "G1 set to 2 MW"
    """
    from ledger.plans import writer as plans

    plans.acknowledge(app.home.store, app.home.identity, order_id, note)
    nudge_node(app.home.path)
    console().print(f"order {order_id[:8]} acknowledged")


@orders.command("deviate")
@click.argument("order_id")
@click.option("--note", required=True, help="What you did instead, and why.")
@pass_app
def deviate(app: AppContext, order_id: str, note: str) -> None:
    """Report that you could not follow an order (or did something else).

    Example: plurictl orders deviate 3f9c2a1b --note "road flooded, truck left at 09:00"
    """
    from ledger.plans import writer as plans

    plans.acknowledge(app.home.store, app.home.identity, order_id, note, deviation=True)
    nudge_node(app.home.path)
    console().print(f"deviation from order {order_id[:8]} recorded")
