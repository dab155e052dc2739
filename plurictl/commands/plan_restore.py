"""`plurictl plan restore`: the order to bring a dead network back, and its playbook.

Guide: field_guides/restoration.md. The planner is imported inside the command so that
``plurictl --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from plurictl.params import count_type, output_path
from plurictl.render.common import console, emit_json, json_option, stage_progress


def _compute(scenario: Any, steps: int | None, ac: bool, show: bool) -> dict[str, Any]:
    from planner.restore import restore

    with stage_progress(enabled=show, width=40) as cb:
        return restore(scenario, steps=steps, ac=ac, progress=cb)


def _ac_cell(ac: dict[str, Any] | None) -> str:
    if not ac:
        return "-"
    if ac.get("converged") is None:
        return "dark"
    if not ac.get("converged"):
        return "[red]did not converge[/]"
    bad = len(ac.get("violations") or [])
    span = f"{ac.get('v_min_pu')}-{ac.get('v_max_pu')} pu"
    return f"[red]{bad} violation(s)[/] {span}" if bad else f"ok {span}"


def render_restore(plan: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    out.print(
        f"[bold]Restoration order {plan['id']}[/] for {plan['scenario']}: "
        f"{len(plan['steps'])} switching steps of {plan['step_minutes']:g} min"
    )
    table = Table(show_lines=False)
    for col in (
        "step",
        "min",
        "start / close",
        "picks up",
        "served MW",
        "online MW",
        "margin",
        "AC",
    ):
        table.add_column(col)
    for s in plan["steps"]:
        switch = [u["unit"] for u in s["starts"]] + s["closes"]
        picks = [
            f"{b['block']} (t{b['tier']}, {b['mw']:g}; cold {b['cold_load_mw']:g})"
            for b in s["picks_up"]
        ]
        table.add_row(
            str(s["step"]), f"{s['minute']:g}", "\n".join(switch) or "-", "\n".join(picks) or "-",
            f"{s['served_mw']:g}", f"{s['online_mw']:g}", f"{s['margin_mw']:g}", _ac_cell(s["ac"]),
        )  # fmt: skip
    out.print(table)
    gain = plan["gain_over_greedy_mwh"]
    out.print(
        f"Energy served over {plan['horizon_steps']} steps: {plan['energy_mwh']:g} MWh "
        f"(greedy order: {plan['greedy_energy_mwh']:g} MWh, {gain:+g} MWh)"
        + ("" if plan["proven_optimal"] else " [yellow](best found, not proven optimal)[/]")
    )
    if plan.get("method") == "greedy":
        out.print(
            "[yellow]Network too large for the exact order on this laptop: this is the greedy "
            "order[/] (biggest priority block first that fits), checked the same way."
        )
    if plan["not_restored"]:
        out.print(f"[yellow]Not restored in this horizon[/]: {', '.join(plan['not_restored'])}")
        reasons: dict[str, list[str]] = {}
        for name, why in plan["why_not_restored"].items():
            reasons.setdefault(why, []).append(name)
        for why, names in reasons.items():
            shown = f"  {', '.join(names[:8])}{' ...' if len(names) > 8 else ''}: {why}"
            out.print(shown, markup=False, highlight=False)
    if plan["unreachable"]:
        out.print(f"[yellow]No generation can reach[/]: {', '.join(plan['unreachable'])}")
    if plan["ac_violations"] or plan["ac_failed_steps"]:
        out.print(
            f"[red]AC check: {plan['ac_violations']} violation(s)[/]"
            + (
                f", no convergence at steps {plan['ac_failed_steps']}"
                if plan["ac_failed_steps"]
                else ""
            )
            + " (see --json for each)"
        )


def register(plan: click.Group) -> None:
    @plan.command("restore")
    @click.argument("file")
    @click.option(
        "--steps",
        type=count_type(200, 1),
        help="Steps in the horizon (default: enough for every block).",
    )
    @click.option("--no-ac", is_flag=True, help="Skip the AC power flow check of each step.")
    @click.option("--out", "out_file", type=output_path(), help="Write the order as JSON here.")
    @click.option(
        "--plot", "plot_file", type=output_path(), help="Write a PNG: load served against time."
    )
    @click.option(
        "--playbook",
        "playbook_file",
        type=output_path(),
        help="Write the order as a playbook (TOML) here.",
    )
    @json_option
    def restore_cmd(
        file: str,
        steps: int | None,
        no_ac: bool,
        out_file: Path | None,
        plot_file: Path | None,
        playbook_file: Path | None,
        as_json: bool,
    ) -> None:
        """Restoration order of a dead network: which unit starts, which feeder closes, when.

        Black-start units first, block-loading steps and cold-load pickup respected, every
        step checked with an AC power flow. FILE is a scenario file or a shipped
        scenario's name. --playbook writes the order as a playbook for `playbook start`.

        Example: plurictl plan restore island-microgrid --playbook restore.toml
        """
        from ledger.playbooks.from_restore import restore_playbook
        from planner.api import load_scenario
        from plurictl.commands.plan import require_plotting, resolve_scenario

        if plot_file is not None:
            require_plotting()
        scenario = load_scenario(resolve_scenario(file))
        result = _compute(scenario, steps, not no_ac, not as_json)
        text = restore_playbook(result) if playbook_file is not None else None
        if out_file is not None:
            out_file.write_text(
                json.dumps(result, sort_keys=True, indent=1) + "\n", encoding="utf-8"
            )
        if plot_file is not None:
            from planner.restore_plot import plot_restore

            plot_restore(result, plot_file)
        if playbook_file is not None and text is not None:
            playbook_file.write_text(text, encoding="utf-8")
        if as_json:
            emit_json(result)
            return
        render_restore(result)
        for what, path in (("order", out_file), ("chart", plot_file), ("playbook", playbook_file)):
            if path is not None:
                console().print(f"{what} written to {path}")
