"""Rendering a drill report for a person (rich) — JSON comes from DrillReport.to_json()."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from plurictl.drills.runner import DrillReport


def render(report: DrillReport) -> Any:
    verdict = "[bold green]PASSED[/]" if report.passed else "[bold red]FAILED[/]"
    head = Text.from_markup(
        f"Drill [bold]{report.name}[/] (seed {report.seed}) on {len(report.nodes)} nodes: {verdict} "
        f"in {report.duration:.1f} s — {report.acknowledged} acknowledged entries, "
        f"{report.bytes_exchanged:,} bytes exchanged"
    )
    parts: list[Any] = [head]
    if report.error:
        parts.append(Text.from_markup(f"[red]The drill stopped early:[/] {report.error}"))
    timeline = Table(title="Timeline")
    for col in ("t (s)", "step", "action", "result", "took (s)"):
        timeline.add_column(col, overflow="fold")
    for row in report.timeline:
        timeline.add_row(
            f"{row.t:.1f}", str(row.step or ""), row.detail, row.result, f"{row.seconds:.2f}"
        )
    parts.append(timeline)
    if report.convergence:
        conv = Table(title="Convergence")
        conv.add_column("phase")
        conv.add_column("seconds", justify="right")
        for phase, secs in report.convergence:
            conv.add_row(phase, f"{secs:.2f}")
        parts.append(conv)
    inv = Table(title="Invariants")
    inv.add_column("")
    inv.add_column("invariant")
    inv.add_column("detail", overflow="fold")
    for i in report.invariants:
        inv.add_row("[green]✔[/]" if i.ok else "[red]✘[/]", i.name, i.detail)
    parts.append(inv)
    return Group(*parts)
