"""The PNG for ``plan futures --plot``: the futures side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planner.plot import TIER_COLOURS


def plot_futures(data: dict[str, Any], path: str | Path) -> Path:
    """Served % by tier (bars) and fuel left at the end (line), one group per future."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["futures"]
    labels = [r["label"] for r in rows]
    x = list(range(len(rows)))
    fig, ax = plt.subplots(figsize=(max(7, 2 * len(rows)), 5))
    width = 0.25
    for i, tier in enumerate(("1", "2", "3")):
        values = [r["served_pct_by_tier"].get(tier) or 0.0 for r in rows]
        ax.bar([v + (i - 1) * width for v in x], values, width, label=f"tier {tier} served %",
               color=TIER_COLOURS[int(tier)])  # fmt: skip
    ax.set_ylim(0, 105)
    ax.set_ylabel("served %")
    ax.set_xticks(x, labels, rotation=15)
    fuel = ax.twinx()
    fuel.plot(
        x, [r["fuel_end_litres"] or 0 for r in rows], "ko--", label="fuel left at the end (L)"
    )
    fuel.set_ylabel("litres")
    handles = ax.get_legend_handles_labels()[0] + fuel.get_legend_handles_labels()[0]
    ax.legend(handles, [str(h.get_label()) for h in handles], loc="upper center",
              bbox_to_anchor=(0.5, -0.15), ncol=4, fontsize=8)  # fmt: skip
    ax.set_title(f"Futures {data['id']} ({data['scenario']})")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
