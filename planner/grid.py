"""The DC network as plain arrays: what the formulation sees of a pandapower net.

``planner.network`` fills these from pandapower; nothing here imports it. Every load
and every unit of the input is here, reachable or not: a load whose bus no unit can
reach has ``bus == -1`` (the planner reports it shed, "no generation can reach it"),
a unit at such a bus the same (it appears in the plan at 0 MW).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from planner.scenario import Battery, Generator

UNREACHABLE = -1  # the bus of a load or unit that no generation can reach


@dataclass
class Unit:
    """One dispatchable injection in the LP: a genset, an ext_grid, PV, a negative load,
    or one side of a battery (``role`` "charge": injects -charge, "discharge": +discharge)."""

    name: str
    element: str  # gen | sgen | ext_grid | load (negative load) | storage
    index: int
    bus: int  # internal (ppci) bus, UNREACHABLE when its island has no generation
    p_min_mw: float
    p_max_mw: float
    spec: Generator | None = None  # the scenario's entry, None for undeclared units
    curtailable: bool = False  # sgen / negative load: 0..available
    in_service: bool = True
    role: str = ""  # "" | "charge" | "discharge" (storage only)

    @property
    def reachable(self) -> bool:
        return self.bus != UNREACHABLE


@dataclass
class NetLoad:
    name: str
    index: int
    bus: int  # internal bus, UNREACHABLE when no generation can reach it
    p_mw: float  # demand at profile 1.0 (0 for a load out of service)
    q_mvar: float
    in_service: bool = True

    @property
    def reachable(self) -> bool:
        return self.bus != UNREACHABLE


@dataclass
class BatteryModel:
    """A battery: state of charge (MWh) between limits, charge and discharge units."""

    name: str
    index: int
    bus: int
    e_min_mwh: float
    e_max_mwh: float
    e_start_mwh: float
    charge_efficiency: float
    discharge_efficiency: float
    charge_unit: int  # positions in Grid.units
    discharge_unit: int
    spec: Battery | None = None


@dataclass
class Grid:
    """The DC network as arrays (per unit on ``base_mva``), ready for the formulation."""

    base_mva: float
    n_bus: int
    bus_names: list[str]
    Bbus: sp.csr_matrix
    Bf: sp.csr_matrix
    pbusinj: np.ndarray
    pfinj: np.ndarray
    ref_buses: np.ndarray
    ref_angles: np.ndarray
    branch_rate_mw: np.ndarray  # inf = unlimited
    branch_kind: list[str]
    branch_index: np.ndarray
    branch_names: list[str]
    branch_from: np.ndarray
    branch_to: np.ndarray
    fixed_demand_mw: np.ndarray  # per bus: wards, shunt conductance (never shed)
    units: list[Unit]
    loads: list[NetLoad]
    notes: list[str] = field(default_factory=list)
    batteries: list[BatteryModel] = field(default_factory=list)
    load_bus: dict[int, int] = field(default_factory=dict)  # net.load row -> pandapower bus
    unit_bus: dict[tuple[str, int], int] = field(default_factory=dict)  # (element, row) -> bus
    f_hz: float = 50.0  # the network's nominal frequency (what `plan restore` reports)
