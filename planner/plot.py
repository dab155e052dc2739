"""The PNG for ``plan run --plot``: served load by tier over time, and tank levels.

matplotlib is an optional extra (``pip install 'plurigrid[plot]'``); it is
imported only here, with the non-interactive Agg backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planner.errors import PlannerError

TIER_COLOURS = {1: "#c0392b", 2: "#e67e22", 3: "#2980b9"}


def plot_plan(plan: dict[str, Any], path: str | Path) -> Path:
    """Write a two-panel PNG; PlannerError if matplotlib is missing or the plan is empty."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise PlannerError(
            "--plot needs matplotlib",
            hint="install it: pip install matplotlib (the 'plot' extra of plurigrid)",
        ) from e
    if "periods" not in plan or not plan.get("loads"):
        raise PlannerError(f"nothing to plot: the plan's status is {plan.get('status')}")
    T = len(plan["periods"])
    hours = plan["scenario"]["hours_per_period"]
    x = [t * hours for t in range(T)]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    stacks, demand, labels, colours = [], [0.0] * T, [], []
    for k in (1, 2, 3):
        rows = [ld for ld in plan["loads"] if ld["tier"] == k]
        if not rows:
            continue
        stacks.append([sum((ld["served_mw"][t] or 0.0) for ld in rows) for t in range(T)])
        for t in range(T):
            demand[t] += sum((ld["demand_mw"][t] or 0.0) for ld in rows)
        labels.append(f"tier {k} served")
        colours.append(TIER_COLOURS[k])
    ax1.stackplot(x, *stacks, labels=labels, colors=colours, alpha=0.85, step="post")
    ax1.step(x, demand, where="post", color="black", linewidth=1.0, label="demand")
    ax1.set_ylabel("MW")
    ax1.set_title(
        f"{plan['scenario']['name']}: served load by tier ({plan['summary']['served_pct']}% of demand)"
    )
    ax1.legend(loc="upper right", fontsize=8)
    for tank in plan["tanks"]:
        ax2.plot(x, tank["level_litres"], label=tank["key"], drawstyle="steps-post")
    ax2.set_ylabel("litres in tank (end of period)")
    ax2.set_xlabel("hours from start")
    ax2.legend(loc="upper right", fontsize=8)
    ax2.set_title("tank levels")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
