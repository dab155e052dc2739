"""The PNG for ``plan restore --plot``: load served against time during restoration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planner.plot import TIER_COLOURS


def plot_restore(plan: dict[str, Any], path: str | Path) -> Path:
    """Served MW per step (a staircase, tier by tier) and the online capacity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = plan["step_minutes"]
    served = plan["served_mw_by_step"]
    x = [i * minutes for i in range(len(served))]
    fig, ax = plt.subplots(figsize=(10, 5))
    ax.step(x, served, where="post", color=TIER_COLOURS[1], label="load served (MW)")
    online = {s["step"] - 1: s["online_mw"] for s in plan["steps"]}
    cap, level = [], 0.0
    for i in range(len(served)):
        level = online.get(i, level)
        cap.append(level)
    ax.step(x, cap, where="post", color="#7f8c8d", linestyle="--", label="units online (MW)")
    for s in plan["steps"]:
        for b in s["picks_up"]:
            ax.annotate(
                b["block"], ((s["step"] - 1) * minutes, s["served_mw"]), fontsize=7, rotation=30
            )
    ax.set_xlabel("minutes from the first step")
    ax.set_ylabel("MW")
    ax.set_title(f"Restoration order {plan['id']} ({plan['scenario']})")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
