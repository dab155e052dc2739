"""Rebuild the network JSON files the shipped scenarios use (run once; output is committed).

    .venv/bin/python field_guides/scenarios/build_networks.py

* island-microgrid-net.json: pandapower's CIGRE MV network after a hurricane: the
  wind turbine is down, the big aggregate loads are cut to what is left standing,
  and the remaining loads are named for what they serve (hospital, water plant,
  shelters, comms). The scenario adds three diesel gensets and islands it.
* three-bases-net.json: three separate 11 kV base microgrids (no ties between
  them: fuel by truck is all they share), two gensets per base.
"""

from __future__ import annotations

import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent


def island_net():  # type: ignore[no-untyped-def]
    import pandapower.networks as pn

    net = pn.create_cigre_network_mv(with_der="pv_wind")
    net.sgen.loc[net.sgen.type == "WP", "in_service"] = False  # wind turbine down
    # (load name in CIGRE, new name, MW, power factor)
    plan = {
        "Load R1": ("north-homes", 2.5, 0.95),
        "Load CI1": ("hospital", 0.8, 0.95),
        "Load R3": ("north-homes-2", 0.28, 0.95),
        "Load CI3": ("school-shelter", 0.22, 0.9),
        "Load R4": ("north-homes-3", 0.43, 0.95),
        "Load R5": ("north-homes-4", 0.73, 0.95),
        "Load R6": ("north-homes-5", 0.55, 0.95),
        "Load CI7": ("comms-tower", 0.08, 0.9),
        "Load R8": ("east-homes", 0.59, 0.95),
        "Load CI9": ("grocery-fuel-station", 0.57, 0.9),
        "Load R10": ("east-homes-2", 0.48, 0.95),
        "Load CI10": ("clinic", 0.07, 0.9),
        "Load R11": ("east-homes-3", 0.33, 0.95),
        "Load R12": ("south-homes", 2.2, 0.95),
        "Load CI12": ("water-plant", 0.6, 0.85),
        "Load CI13": ("church-shelter", 0.15, 0.9),
        "Load R14": ("south-homes-2", 0.21, 0.95),
        "Load CI14": ("police-fire", 0.33, 0.9),
    }
    for idx in net.load.index:
        name, p, pf = plan[net.load.at[idx, "name"]]
        net.load.at[idx, "name"] = name
        net.load.at[idx, "p_mw"] = p
        net.load.at[idx, "q_mvar"] = round(p * (1 / pf**2 - 1) ** 0.5, 4)
        net.load.at[idx, "sn_mva"] = round(p / pf * 1.2, 3)
    net.name = "CIGRE MV after a hurricane"
    return net


def bases_net():  # type: ignore[no-untyped-def]
    import pandapower as pp

    net = pp.create_empty_network(name="three bases", sn_mva=1.0)
    bases = {
        # name: (loads [(name, MW, pf)], gensets [(name, MW)])
        "alpha": (
            [
                ("alpha-ops", 0.35, 0.9),
                ("alpha-medical", 0.25, 0.9),
                ("alpha-water", 0.2, 0.85),
                ("alpha-hangar", 0.6, 0.9),
                ("alpha-housing", 0.9, 0.95),
            ],
            [("alpha-G1", 1.2), ("alpha-G2", 0.8)],
        ),
        "bravo": (
            [
                ("bravo-ops", 0.3, 0.9),
                ("bravo-medical", 0.4, 0.9),
                ("bravo-water", 0.25, 0.85),
                ("bravo-hangar", 0.5, 0.9),
                ("bravo-housing", 1.1, 0.95),
            ],
            [("bravo-G1", 1.5), ("bravo-G2", 0.8)],
        ),
        "charlie": (
            [
                ("charlie-ops", 0.25, 0.9),
                ("charlie-medical", 0.15, 0.9),
                ("charlie-water", 0.15, 0.85),
                ("charlie-hangar", 0.3, 0.9),
                ("charlie-housing", 0.6, 0.95),
            ],
            [("charlie-G1", 0.8), ("charlie-G2", 0.5)],
        ),
    }
    for base, (loads, gens) in bases.items():
        main = pp.create_bus(net, vn_kv=11.0, name=f"{base}-main", min_vm_pu=0.95, max_vm_pu=1.05)
        feeders = []
        for j in range(2):
            b = pp.create_bus(
                net, vn_kv=11.0, name=f"{base}-feeder{j + 1}", min_vm_pu=0.95, max_vm_pu=1.05
            )
            pp.create_line_from_parameters(
                net,
                main,
                b,
                length_km=1.5 + j,
                r_ohm_per_km=0.32,
                x_ohm_per_km=0.35,
                c_nf_per_km=10.0,
                max_i_ka=0.12,
                name=f"{base}-line{j + 1}",
            )
            feeders.append(b)
        for k, (name, p, pf) in enumerate(loads):
            bus = main if k < 3 else feeders[k - 3]
            pp.create_load(net, bus, p_mw=p, q_mvar=round(p * (1 / pf**2 - 1) ** 0.5, 4), name=name)
        for k, (name, p) in enumerate(gens):
            pp.create_gen(
                net,
                main,
                p_mw=0.0,
                vm_pu=1.0,
                name=name,
                min_p_mw=0.0,
                max_p_mw=p,
                min_q_mvar=-0.75 * p,
                max_q_mvar=0.75 * p,
                slack=(k == 0),
                controllable=True,
            )
    return net


def main() -> None:
    import pandapower as pp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.to_json(island_net(), str(HERE / "island-microgrid-net.json"))
        pp.to_json(bases_net(), str(HERE / "three-bases-net.json"))


if __name__ == "__main__":
    main()
