"""`plurictl plan propose|list|adopt|withdraw`: plans in the ledger (added to the `plan` group)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from plurictl.context import AppContext, pass_app
from plurictl.nudge import nudge_node
from plurictl.params import read_json_file
from plurictl.render.common import console, emit_json, json_option


def _read_plan(path: Path) -> dict[str, Any]:
    from ledger.errors import InvalidInput

    data = read_json_file(path, "plan file")
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} is not a plan file")
    return data


@click.command("propose")
@click.argument("plan_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--allow-partial",
    is_flag=True,
    help="Propose a partial plan (it meets only the stages that finished).",
)
@pass_app
def propose(app: AppContext, plan_file: Path, allow_partial: bool) -> None:
    """Put a plan (from `plan run --out FILE`) into the ledger for everyone to see and adopt.

    A partial plan is refused unless --allow-partial. Example: plurictl plan propose plan.json
    """
    from plurictl.coordination import propose_plan

    plan = _read_plan(plan_file)
    refuse_partial(plan, allow_partial)
    entry = propose_plan(app.home.store, app.home.identity, plan)
    nudge_node(app.home.path)
    console().print(
        f"plan proposed as [bold]{entry.id.hex()[:12]}[/]; a coordinator adopts it with "
        f"`plurictl plan adopt {entry.id.hex()[:12]}` (or a vote does)"
    )


@click.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """Plans in the ledger, and which one is adopted for each horizon (and why).

    Example: plurictl plan list --json
    """
    from ledger.plans import writer as plans

    state = plans.load(app.home.store)
    if as_json:
        from plurictl.readouts import plan_list

        emit_json(plan_list(state))
        return
    out = console()
    if not state.proposals:
        out.print(
            "No plans in the ledger yet: `plurictl plan run FILE --from-ledger --out plan.json`, "
            "then `plurictl plan propose plan.json`."
        )
        return
    from rich.table import Table

    adopted = {d.plan for d in state.decisions.values()}
    table = Table(title="Plans")
    for col in ("plan", "scenario / start", "status", "tier 1", "tier 2", "tier 3", "by", "state"):
        table.add_column(col)
    for pid, p in sorted(state.proposals.items(), key=lambda kv: kv[1].hlc):
        t1, t2, t3 = p.tier_served
        st = (
            "[green]ADOPTED[/]"
            if pid in adopted
            else (f"[dim]withdrawn: {p.withdrawn}[/]" if p.withdrawn else "proposed")
        )
        if p.content is None:
            st += " [yellow](attachment incomplete: sync)[/]"
        table.add_row(pid.hex()[:12], p.horizon, p.status, _pct(t1), _pct(t2), _pct(t3), p.by, st)
    out.print(table)
    for d in state.decisions.values():
        if d.competing:
            out.print(
                f"[yellow]{d.horizon}[/]: {len(d.competing) + 1} concurrent adoptions; {d.rule}."
            )


def _pct(value: float) -> str:
    """A served share as people read it: never rounded up to 100 % (99.73 % is not all)."""
    return "100%" if value >= 100.0 else f"{min(value, 99.99):.2f}".rstrip("0").rstrip(".") + "%"


@click.command("adopt")
@click.argument("plan_id")
@click.option("--note", default="", help="Why (shown to everyone).")
@pass_app
def adopt(app: AppContext, plan_id: str, note: str) -> None:
    """Adopt a proposed plan for its horizon (coordinator). Its orders go to every site.

    Example: plurictl plan adopt 3f9c2a1b7d0e --note "council agreed at 06:00"
    """
    from ledger.plans import writer as plans

    entry = plans.adopt(app.home.store, app.home.identity, plan_id, note)
    nudge_node(app.home.path)
    mine = bytes.fromhex(str(entry.body["plan"]))
    state = plans.load(app.home.store)
    proposal = state.proposals.get(mine)
    decided = state.decisions.get(proposal.horizon) if proposal is not None else None
    if decided is not None and decided.plan != mine:
        who = "the council's vote" if decided.adoption.via == "vote" else "the adoption rule"
        console().print(
            f"[yellow]Recorded, but not adopted:[/] plan {decided.plan.hex()[:12]} stays "
            f"adopted for this horizon ({who}: {decided.rule}); sites keep its orders "
            "(fuel-and-plans.md)."
        )
        return
    console().print(
        f"plan {plan_id[:12]} adopted; sites see their orders with `plurictl orders --site SITE`"
    )


@click.command("withdraw")
@click.argument("plan_id")
@click.option("--reason", required=True, help="Why the plan no longer holds.")
@pass_app
def withdraw(app: AppContext, plan_id: str, reason: str) -> None:
    """Withdraw a plan (coordinator): its adoption and orders stop counting.

    Example: plurictl plan withdraw 3f9c2a1b7d0e --reason "new fuel readings"
    """
    from ledger.plans import writer as plans

    plans.withdraw(app.home.store, app.home.identity, plan_id, reason)
    nudge_node(app.home.path)
    console().print(f"plan {plan_id[:12]} withdrawn")


def refuse_partial(plan: dict[str, Any], allow_partial: bool) -> None:
    """A partial plan meets only the stages that finished: proposed only when asked."""
    if plan.get("status") == "partial" and not allow_partial:
        from planner.errors import PartialPlanError

        raise PartialPlanError(
            f"this plan is partial ({plan.get('reason')}): not proposed",
            hint="re-run it with a longer --time-limit, or add --allow-partial to propose it anyway",
        )


def register(group: click.Group) -> None:
    for command in (propose, list_, adopt, withdraw):
        group.add_command(command)
