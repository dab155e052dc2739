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
        joins = set(s.get("joins", [])) | set(s.get("loops", []))
        switch = [u["unit"] for u in s["starts"]] + [
            f"{c} (sync check)" if c in joins else c for c in s["closes"]
        ]
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
    method = plan.get("method")
    out.print(
        f"Energy served over {plan['horizon_steps']} steps, each block at its peak demand "
        f"of the horizon: {plan['energy_mwh']:g} MWh "
        f"(greedy order: {plan['greedy_energy_mwh']:g} MWh, {gain:+g} MWh)"
        + (
            " [yellow](best found, not proven optimal)[/]"
            if method == "milp" and not plan["proven_optimal"]
            else ""
        )
    )
    _method_note(plan)
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
    if plan["idle_units"]:
        out.print("[yellow]Units that take no part[/]:")
        for line in plan["idle_units"]:
            out.print(f"  {line}", markup=False, highlight=False)
    if plan["ac_violations"] or plan["ac_failed_steps"]:
        _ac_note(plan)


def _method_note(plan: dict[str, Any]) -> None:
    from rich.markup import escape

    out, method = console(), plan.get("method")
    if method == "greedy":
        out.print(
            f"[yellow]Greedy order[/]: the exact search would need {plan['decisions']:,} "
            "on/off decisions (buses, branches, units and blocks times the steps it "
            "covers), over what a field laptop searches in reasonable time (6,000, and "
            "300 a step). This "
            "order takes the highest tier, biggest block first that fits, joining islands "
            "as soon as they can be; it is checked the same way. Grouping loads into "
            + escape("[[restore.blocks]]")
            + " brings a network under the limit."
        )
    elif method == "milp+greedy":
        out.print(
            f"Exact order for the first {plan['exact_steps']} steps; after them the greedy "
            f"order continues to step {plan['horizon_steps']}."
        )


def _ac_note(plan: dict[str, Any]) -> None:
    worst: tuple[float, str] | None = None
    bad_steps = 0
    for s in plan["steps"]:
        found = (s.get("ac") or {}).get("violations") or []
        bad_steps += bool(found)
        for v in found:
            gap = abs(float(v["value"]) - float(v["limit"])) / max(abs(float(v["limit"])), 1e-9)
            if worst is None or gap > worst[0]:
                text = f"{v['kind']} {v['value']:g} at {v['element']} (step {s['step']})"
                worst = (gap, text)
    failed = plan["ac_failed_steps"]
    if failed:
        console().print(
            f"[red]AC check inconclusive at {len(failed)} step(s)[/] (the power flow did "
            f"not converge: {', '.join(map(str, failed[:12]))}{' ...' if len(failed) > 12 else ''}): "
            "nothing is known of voltages and loadings there; do not switch those steps "
            "as computed without a study."
        )
    if plan["ac_violations"]:
        console().print(
            f"[red]AC check: {plan['ac_violations']} violation(s) in {bad_steps} step(s)[/]"
            + (f"; worst: {worst[1]}" if worst else "")
            + ". The order is computed on active power only: before those steps, check "
            "voltage support (reactive power, tap changers) or switch differently "
            "(--json: steps[].ac.violations)."
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
        from ledger.playbooks.from_restore import restore_playbooks
        from planner.api import load_scenario
        from plurictl.commands.plan import refuse_inputs, require_plotting, resolve_scenario

        _distinct_files(out_file, plot_file, playbook_file)
        if plot_file is not None:
            require_plotting(plot_file)
        source = resolve_scenario(file)
        scenario = load_scenario(source)
        refuse_inputs(source, scenario, out_file, plot_file, playbook_file)
        result = _compute(scenario, steps, not no_ac, not as_json)
        if out_file is not None:  # first: whatever fails after, the order is kept
            out_file.write_text(
                json.dumps(result, sort_keys=True, indent=1) + "\n", encoding="utf-8"
            )
        books: list[Path] = []
        if playbook_file is not None:
            texts = restore_playbooks(result)
            books = _part_paths(playbook_file, len(texts))
            for path, text in zip(books, texts, strict=True):
                path.write_text(text, encoding="utf-8")
        if plot_file is not None:
            from planner.restore_plot import plot_restore

            plot_restore(result, plot_file)
        if as_json:
            emit_json(result)
            return
        render_restore(result)
        for what, where in (("order", out_file), ("chart", plot_file)):
            if where is not None:
                console().print(f"{what} written to {where}")
        if len(books) == 1:
            console().print(f"playbook written to {books[0]}")
        elif books:
            console().print(
                f"the order needs {len(books)} playbooks (one holds at most 200 steps and "
                f"60,000 bytes); run them in order: {', '.join(str(b) for b in books)}"
            )


def _distinct_files(*paths: Path | None) -> None:
    """--out, --plot and --playbook name three different files (exit 5): one would
    silently overwrite another, and the order is what must be kept."""
    from ledger.errors import InvalidInput

    given = [p.resolve() for p in paths if p is not None]
    if len(set(given)) != len(given):
        raise InvalidInput("--out, --plot and --playbook must name different files")


def _part_paths(path: Path, n: int) -> list[Path]:
    """``restore.toml``, or ``restore-part1.toml`` ... when the order needs ``n`` parts."""
    if n == 1:
        return [path]
    return [path.with_name(f"{path.stem}-part{k}{path.suffix}") for k in range(1, n + 1)]
