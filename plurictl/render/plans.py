"""Rendering a plan for the terminal: one function per section of ``plan run``'s output."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plurictl.render.common import console

if TYPE_CHECKING:
    from rich.console import Console

    from planner.result import PlanResult

MAX_ROWS = 30


def _bands(T: int, hours: float) -> list[tuple[int, int]]:
    """Split the horizon into at most 6 readable bands (days when it is long enough)."""
    per_day = max(round(24 / hours), 1)
    size = per_day if T / per_day >= 2 and T / per_day <= 7 else max(1, -(-T // 6))
    return [(a, min(a + size, T) - 1) for a in range(0, T, size)]


def _pct(v: float | None) -> str:
    if v is None:
        return "-"
    colour = "green" if v >= 99.995 else "yellow" if v >= 50 else "red"
    return f"[{colour}]{v:.1f}[/]"


def render_plan(plan: dict[str, Any], result: PlanResult) -> None:
    """The whole ``plan run`` report: header, then every section the plan has."""
    out = console()
    status_colour = {"solved": "green", "partial": "yellow"}.get(result.status, "red")
    sc = plan.get("scenario", {})
    out.print(
        f"[bold]{sc.get('name')}[/]  status [{status_colour}]{result.status}[/]: {result.reason}"
    )
    if plan.get("mode") == "cost":
        _cost(out, plan)
        return
    _infeasible(out, plan)
    if "summary" not in plan:
        out.print(f"plan hash {plan['plan_hash'][:16]}")
        return
    _header(out, plan, result)
    bands = _bands(len(plan["periods"]), sc["hours_per_period"])
    labels = [p["label"] for p in plan["periods"]]
    _communities(out, plan, bands, labels)
    _units(out, plan, bands, labels)
    _storage(out, plan)
    _fuel(out, plan)
    _transfers(out, plan)
    _shed(out, plan)
    _ac(out, plan.get("ac"))
    for n in plan.get("notes", []):
        out.print(f"note: {n}")
    out.print(
        f"plan hash {plan['plan_hash'][:16]}  (scenario {plan['recipe']['scenario_hash'][:16]})"
    )


def _cost(out: Console, plan: dict[str, Any]) -> None:
    if "objective_cost" in plan:
        out.print(
            f"economic DC OPF: cost {plan['objective_cost']}, generation {plan['generation_mw']} MW"
        )
    out.print(f"plan hash {plan['plan_hash'][:16]}")


def _infeasible(out: Console, plan: dict[str, Any]) -> None:
    from planner.diagnose import amount

    detail = plan.get("reason_detail")
    if not detail:
        return
    out.print("[red]Infeasible, because:[/]")
    for it in detail.get("items", [])[:10]:
        when = f" period {it['period']}" if it["period"] >= 0 else ""
        out.print(f"  {it['limit']}: {it['element']}{when} — {amount(it)}", highlight=False)
    out.print("What to do: see 'When a plan is infeasible' in field_guides/planner.md.")


def _header(out: Console, plan: dict[str, Any], result: PlanResult) -> None:
    s = plan["summary"]
    timing = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items())
    out.print(
        f"{s['served_pct']}% of {s['demand_mwh']} MWh served; {s['loads_shed']} loads shed at times; "
        f"fuel {s['fuel_start_litres']} L -> {s['fuel_end_litres']} L"
    )
    if s.get("loads_unreachable"):
        out.print(
            f"[red]{s['loads_unreachable']} loads cannot be reached by any generation[/] "
            "(their island has no genset or grid connection): see the shed loads"
        )
    size = plan["size"]
    out.print(
        f"LP {size['rows']} rows x {size['columns']} columns, {size['nonzeros']} non-zeros; {timing}"
    )


def _communities(
    out: Console, plan: dict[str, Any], bands: list[tuple[int, int]], labels: list[str]
) -> None:
    from rich.table import Table

    table = Table(title="Served % by tier and community (per period band)")
    table.add_column("tier")
    table.add_column("community")
    table.add_column("all", justify="right")
    for a, b in bands:
        table.add_column(f"{labels[a]}\n..{b - a + 1} periods", justify="right")
    for c in plan["communities"]:
        cells = []
        for a, b in bands:
            vals = [v for v in c["served_pct_by_period"][a : b + 1] if v is not None]
            cells.append(_pct(min(vals) if vals else None))
        table.add_row(str(c["tier"]), c["community"], _pct(c["served_pct"]), *cells)
    out.print(table)
    out.print("  (band cells show the lowest hour in the band)")


def _units(
    out: Console, plan: dict[str, Any], bands: list[tuple[int, int]], labels: list[str]
) -> None:
    from rich.table import Table

    T = len(plan["periods"])
    units = [u for u in plan["units"] if (u["energy_mwh"] or 0) > 0 or u.get("fuel")]
    table = Table(title="Generator schedules (average MW per band)")
    for col in ("unit", "site", "max MW", "MWh", "fuel L", "on"):
        table.add_column(col, justify="right" if col not in ("unit", "site") else "left")
    for a, _b in bands:
        table.add_column(labels[a], justify="right")
    for u in units[:40]:
        on = sum(1 for r in u["running"] if r)
        avg = [sum((v or 0.0) for v in u["schedule_mw"][a : b + 1]) / (b - a + 1) for a, b in bands]
        table.add_row(
            u["name"] + ("" if u.get("reachable", True) else " [red](cut off)[/]"),
            str(u.get("site") or ""),
            f"{u['p_max_mw']:g}" if u["p_max_mw"] is not None else "inf",
            f"{u['energy_mwh']:g}",
            str(u["fuel_litres"] or 0),
            f"{on}/{T}",
            *[f"{v:.2f}" for v in avg],
        )
    out.print(table)
    if len(units) > 40:
        out.print(f"  ... and {len(units) - 40} more units (see --json or --out)")


def _storage(out: Console, plan: dict[str, Any]) -> None:
    from rich.table import Table

    if not plan.get("storage"):
        return
    table = Table(title="Batteries (+ discharging, - charging)")
    for col in ("battery", "site", "MWh start", "MWh end", "capacity", "most out MW", "most in MW"):
        table.add_column(col)
    for b in plan["storage"]:
        net = [v or 0.0 for v in b["net_mw"]]
        table.add_row(
            b["name"],
            str(b.get("site") or ""),
            str(b["start_mwh"]),
            str(b["end_mwh"]),
            str(b["capacity_mwh"]),
            f"{max([0.0, *net]):g}",
            f"{-min([0.0, *net]):g}",
        )
    out.print(table)


def _fuel(out: Console, plan: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="Fuel")
    for col in ("site/tank", "fuel", "start L", "end L", "reserve L", "reaches reserve at"):
        table.add_column(col)
    for t in plan["tanks"]:
        table.add_row(
            t["key"],
            t["fuel"],
            str(t["start_litres"]),
            str(t["end_litres"]),
            str(t["reserve_litres"]),
            f"[red]{t['runs_out_at']}[/]" if t["runs_out_at"] else "[green]never[/]",
        )
    out.print(table)


def _transfers(out: Console, plan: dict[str, Any]) -> None:
    from rich.table import Table

    if not plan["transfers"]:
        return
    table = Table(title="Fuel transfers")
    for col in ("route", "departs", "litres", "trips", "arrives"):
        table.add_column(col)
    for tr in plan["transfers"][:MAX_ROWS]:
        table.add_row(
            tr["route"],
            tr["depart_at"],
            str(tr["litres"]),
            str(tr["trips"]),
            str(tr.get("arrive_at") or tr["arrive_period"]),
        )
    out.print(table)
    if len(plan["transfers"]) > MAX_ROWS:
        out.print(f"  ... and {len(plan['transfers']) - MAX_ROWS} more transfers")


def _shed(out: Console, plan: dict[str, Any]) -> None:
    from rich.table import Table

    if not plan["shed"]:
        return
    table = Table(title="Shed loads (why: plurictl plan explain PLAN --load NAME)")
    for col in ("load", "tier", "community", "shed MWh", "served %", "because"):
        table.add_column(col)
    shed = sorted(plan["shed"], key=lambda r: (r["tier"], -(r["shed_mwh"] or 0), r["load"]))
    for r in shed[:MAX_ROWS]:
        table.add_row(
            r["load"],
            str(r["tier"]),
            r["community"],
            str(r["shed_mwh"]),
            _pct(r["served_pct"]),
            ", ".join(r["causes"]),
        )
    out.print(table)
    if len(shed) > MAX_ROWS:
        out.print(f"  ... and {len(shed) - MAX_ROWS} more shed loads")


def _ac(out: Console, ac: dict[str, Any] | None) -> None:
    if not ac:
        out.print("AC check: skipped (--no-ac)")
        return
    a = ac["summary"]
    ok = "[green]no violations[/]" if a["ok"] else "[red]violations found[/]"
    out.print(
        f"AC check: {a['converged']}/{a['periods']} periods converged, {ok}; "
        f"V {a['v_min_pu']}..{a['v_max_pu']} pu"
    )
    for key, label in (("worst_line", "line"), ("worst_transformer", "transformer")):
        if a[key]:
            out.print(f"  worst {label} {a[key]['element']} at {a[key]['loading_pct']}%")
    for kind, n in a["violations_by_kind"].items():
        out.print(f"  [red]{n}[/] {kind} violations in {len(a['periods_with_violations'])} periods")
    if a["not_converged"]:
        out.print(f"  [red]AC power flow did not converge in periods {a['not_converged']}[/]")
    if a["dark"]:
        out.print(f"  [yellow]no unit running (dark) in periods {a['dark']}[/]")
