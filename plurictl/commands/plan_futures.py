"""`plurictl plan futures`: alternative plans that differ only in policy, side by side,
and (``--propose``) into the ledger for a council vote (`vote open --from-futures`).

Guide: field_guides/restoration.md ("Possible futures").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from plurictl.render.common import console, emit_json, error_console, json_option, stage_progress


def _compute(scenario: Any, show: bool, **options: Any) -> tuple[dict[str, Any], list[Any]]:
    from planner.futures import run_futures

    with stage_progress(enabled=show) as cb:
        return run_futures(scenario, progress=cb, **options)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return "\n".join(f"{k}: {_cell(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return "\n".join(str(v) for v in value) or "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


ROWS = (
    ("what changes", "policy"),
    ("status", "status"),
    ("served % by tier", "served_pct_by_tier"),
    ("served % by site", "served_pct_by_site"),
    ("hours of tier-1 fuel left, by site", "fuel_hours_left_by_site"),
    ("fuel left at the end (L)", "fuel_end_litres"),
    ("truck trips", "truck_trips"),
    ("hours with a load shed, by community", "shed_hours_by_community"),
    ("MWh shed, by community", "shed_mwh_by_community"),
    ("AC violations", "ac_violations"),
    ("notes", "notes"),
)


def render_futures(data: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"Futures {data['id']} for {data['scenario']}", show_lines=True)
    table.add_column("")
    for row in data["futures"]:
        table.add_column(row["label"])
    for title, key in ROWS:
        table.add_row(title, *[_cell(r.get(key)) for r in data["futures"]])
    console().print(table)


def _propose_all(app: Any, data: dict[str, Any], futures: list[Any], as_json: bool) -> None:
    from ledger.plans import writer as plans
    from planner.futures import tagged
    from plurictl.coordination import propose_plan
    from plurictl.nudge import nudge_node

    state = plans.load(app.home.store)
    known = {p.plan_hash: p for p in state.proposals.values()}
    for row, fut in zip(data["futures"], futures, strict=True):
        if row["status"] != "solved":
            row["proposed"] = None  # only solved plans go to the council
            continue
        tag = {"id": data["id"], "label": row["label"], "policy": _in_words(row)}
        if fut.plan is None:
            continue
        plan = tagged(fut.plan, data["id"], row["label"])
        same = known.get(plan["plan_hash"])
        if same is not None:  # proposed before, as this very future of this set
            row["proposed"] = same.id.hex()
            continue
        entry = propose_plan(app.home.store, app.home.identity, plan, tag)
        row["proposed"] = entry.id.hex()
    nudge_node(app.home.path)
    if not as_json:
        error_console().print(
            f"proposed as futures [bold]{data['id']}[/]: vote on them with "
            f"`plurictl vote open --from-futures {data['id'][:10]} ...`"
        )


def _in_words(row: dict[str, Any]) -> str:
    """What a future changes and, first, what it costs (kept with its proposal: the vote
    option reads it)."""
    cost = row.get("cost") or ""
    return ((f"{cost.upper()[:5]}{cost[5:]}; " if cost else "") + row["policy"])[:160]


def register(plan: click.Group) -> None:
    from plurictl.params import output_path

    @plan.command("futures")
    @click.argument("file")
    @click.option("--reserve-hours", default="24,48", show_default=True,
                  help="Futures keeping N hours of tier-1 burn in the tanks (comma-separated; '' for none).")  # fmt: skip
    @click.option("--no-max-energy", is_flag=True, help="Leave out the 'no fairness' future.")
    @click.option(
        "--swap", metavar="LOAD_A,LOAD_B", help="A future where two loads exchange tiers."
    )
    @click.option("--no-ac", is_flag=True, help="Skip the AC check of every future (faster).")
    @click.option(
        "--out", "out_file", type=output_path(), help="Write the comparison as JSON here."
    )
    @click.option("--plot", "plot_file", type=output_path(), help="Write a PNG comparing them.")
    @click.option("--propose", is_flag=True, help="Put every solved future into the ledger.")
    @json_option
    def futures_cmd(
        file: str, reserve_hours: str, no_max_energy: bool, swap: str | None, no_ac: bool,
        out_file: Path | None, plot_file: Path | None, propose: bool, as_json: bool,
    ) -> None:  # fmt: skip
        """Alternative plans that differ only in policy, side by side (2 to 6; 4 by default).

        Varies the fuel kept in reserve, fairness between communities, or the tiers of two
        loads; never the network or the fuel. --propose puts them in the ledger for a
        council vote: `plurictl vote open --from-futures ID`.

        Example: plurictl plan futures island-microgrid --swap hospital,police-fire
        """
        from planner.api import load_scenario
        from plurictl.commands.plan import refuse_inputs, require_plotting, resolve_scenario
        from plurictl.context import AppContext

        if plot_file is not None:
            require_plotting(plot_file)
        hours = _hours(reserve_hours)
        pair = _pair(swap) if swap is not None else None
        count = 1 + len(hours) + (not no_max_energy) + (pair is not None)
        _check_count(count)
        source = resolve_scenario(file)
        scenario = load_scenario(source)
        refuse_inputs(source, scenario, out_file, plot_file)
        if pair is not None:
            _check_swap(scenario, pair)
        if not no_max_energy and not scenario.policy.fairness:
            _check_count(count - 1)  # the scenario has no fairness to leave out
        app = click.get_current_context().find_object(AppContext) if propose else None
        if propose and app is not None:
            _ = app.home  # a home is needed: fail before planning, not after
        data, futures = _compute(
            scenario, not as_json, reserve_hours=hours, max_energy=not no_max_energy,
            swap=pair, ac=not no_ac,
        )  # fmt: skip
        if propose and len(data["futures"]) < 2:
            from ledger.errors import InvalidInput

            raise InvalidInput(
                "nothing to vote on: every future came out as the same plan as the baseline "
                "(" + "; ".join(data["futures"][0]["notes"]) + "); nothing was proposed",
                hint="try other futures: --reserve-hours with more hours, --swap A,B",
            )
        if propose:
            _propose_all(app, data, futures, as_json)
        if out_file is not None:
            out_file.write_text(json.dumps(data, sort_keys=True, indent=1) + "\n", encoding="utf-8")
        if plot_file is not None:
            from planner.futures_plot import plot_futures

            plot_futures(data, plot_file)
        if as_json:
            emit_json(data)
            return
        render_futures(data)
        if plot_file is not None:
            console().print(f"chart written to {plot_file}")
        if out_file is not None:
            console().print(f"comparison written to {out_file}")


def _hours(text: str) -> tuple[float, ...]:
    import math

    from ledger.errors import InvalidInput

    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            h = float(part)
        except ValueError:
            h = math.nan
        if not math.isfinite(h) or not 0 < h <= 24 * 30:
            raise InvalidInput(
                f"--reserve-hours: {part!r} is not a number of hours above 0, at most 720"
            )
        out.append(h)
    if len(set(out)) != len(out):
        raise InvalidInput("--reserve-hours: a number is given twice")
    return tuple(out)


def _check_count(count: int) -> None:
    from ledger.errors import InvalidInput

    if count > 6:
        raise InvalidInput(f"{count} futures: at most 6 side by side (fewer --reserve-hours)")
    if count < 2:
        raise InvalidInput(
            "only the baseline: a comparison needs at least 2 futures "
            "(give --reserve-hours, --swap, or leave out --no-max-energy)"
        )


def _check_swap(scenario: Any, pair: tuple[str, str]) -> None:
    """Both loads exist (else the closest names) and are of different tiers (exit 5)."""
    import difflib

    from ledger.errors import InvalidInput

    tiers = {ld.name: ld.tier for ld in scenario.loads}
    for name in pair:
        if name not in tiers:
            close = difflib.get_close_matches(name, sorted(tiers), n=3)
            raise InvalidInput(
                f"--swap: no load named {name!r} in {scenario.name}"
                + (f"; closest: {', '.join(close)}" if close else ""),
                hint="the names are those of [[loads]] in the scenario file",
            )
    a, b = pair
    if tiers[a] == tiers[b]:
        others = sorted(n for n, t in tiers.items() if t != tiers[a])[:4]
        raise InvalidInput(
            f"--swap: {a} and {b} are both tier {tiers[a]}: swapping changes nothing",
            hint=f"swap {a} with a load of another tier, e.g. {', '.join(others)}"
            if others
            else None,
        )


def _pair(text: str) -> tuple[str, str]:
    from ledger.errors import InvalidInput

    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
        raise InvalidInput("--swap: give two different loads, e.g. --swap hospital,police-fire")
    return parts[0], parts[1]
