"""Scenario text for benchmarks: fuel on every unit of a built-in case, zones by bus."""

from __future__ import annotations

from typing import Any

DAILY = [0.62, 0.58, 0.56, 0.55, 0.56, 0.60, 0.68, 0.78, 0.86, 0.90, 0.92, 0.93,
         0.92, 0.91, 0.90, 0.90, 0.92, 0.97, 1.00, 0.98, 0.93, 0.85, 0.75, 0.67]  # fmt: skip


def fuelled_case_toml(
    net: Any,
    case: str,
    periods: int,
    *,
    zones: int = 4,
    fuel_share: float = 0.8,
    relax_trafos: bool = False,
) -> str:
    """Every gen and ext_grid burns oil from its zone's tank; one refinery; tiers on loads.

    ``fuel_share`` of the fuel needed to serve everyone (at ~230 L/MWh) is in the tanks.
    """
    buses = sorted(int(b) for b in net.bus.index)
    size = -(-len(buses) // zones)
    zone_of = {b: f"z{i // size}" for i, b in enumerate(buses)}
    demand_mwh = float(net.load.p_mw.clip(lower=0).sum()) * 0.8 * periods
    out = [
        f'[scenario]\nname = "{case}-{periods}h"\n',
        f'[network]\ncase = "{case}"\ntransformer_limits = "{"relax" if relax_trafos else "enforce"}"\n',
        f"[horizon]\nperiods = {periods}\n",
        "[profiles]\ndaily = [" + ", ".join(map(str, DAILY)) + "]\n",
    ]
    for z in sorted(set(zone_of.values())):
        litres = fuel_share * demand_mwh * 230 / zones
        out.append(
            f'[[sites]]\nname = "{z}"\n  [[sites.tanks]]\n  name = "main"\n  fuel = "oil"\n'
            f"  capacity_litres = {litres * 2:.0f}\n  initial_litres = {litres * 0.7:.0f}\n"
        )
        out.append(
            f'[[routes]]\nfrom = "refinery"\nto = "{z}"\nfuel = "oil"\n'
            f"litres_per_trip = {litres * 0.02:.0f}\ntrips_per_period = 1\nlead_periods = 3\n"
        )
    out.append(
        f'[[depots]]\nname = "refinery"\nfuel = "oil"\ninitial_litres = {fuel_share * demand_mwh * 230 * 0.3:.0f}\n'
    )
    for element in ("ext_grid", "gen"):
        for idx in net[element].index:
            if not bool(net[element].at[idx, "in_service"]):
                continue
            bus = int(net[element].at[idx, "bus"])
            out.append(
                f'[[generators]]\nname = "{element}{idx}"\nelement = "{element}"\nindex = {idx}\n'
                f'site = "{zone_of[bus]}"\nfuel = "oil"\nno_load_lph = 5\nlph_per_mw = {220 + (idx % 7) * 5}\n'
            )
    for i, idx in enumerate(net.load.index):
        if float(net.load.at[idx, "p_mw"]) < 0:
            continue
        tier = 1 if i % 7 == 0 else 2 if i % 3 == 0 else 3
        bus = int(net.load.at[idx, "bus"])
        out.append(
            f'[[loads]]\nindex = {idx}\nname = "L{idx}"\ntier = {tier}\n'
            f'community = "{zone_of[bus]}-{bus % 2}"\nprofile = "daily"\n'
        )
    return "\n".join(out)
