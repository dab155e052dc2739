"""The greedy restoration order: the baseline the MILP must match or beat.

At each step: start every unit that can start, then close the highest-priority block
(tier first, biggest first) whose path from the live network, cold-load pickup and
block-loading limits fit, then energise the path to the next unit waiting for cranking
power, checked with a one-step transport LP and the island block-loading check (the
same rules as the MILP). The result is a full schedule in the MILP's own terms (``Schedule``), so it
also serves as the MILP's starting solution: the MILP can only do better.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from planner.highs import Solver
from planner.restore_case import RBlock, RestoreCase, adjacency, loading_cap, never_fit


@dataclass
class Schedule:
    """On/off per step (steps x items) of buses, branches, units and blocks, and unit MW."""

    x: np.ndarray
    z: np.ndarray
    u: np.ndarray
    y: np.ndarray
    p: np.ndarray
    notes: list[str] = field(default_factory=list)

    def energy_mwh(self, case: RestoreCase) -> float:
        p = np.array([b.p_mw for b in case.blocks])
        return float((self.y @ p).sum() * case.step_hours) if len(p) else 0.0

    def tier_energy(self, case: RestoreCase, tier: int) -> float:
        p = np.array([b.p_mw if b.tier == tier else 0.0 for b in case.blocks])
        return float((self.y @ p).sum() * case.step_hours) if len(p) else 0.0


def block_demand(case: RestoreCase, y: np.ndarray, s: int) -> np.ndarray:
    """MW per bus drawn at step ``s`` by the blocks closed in ``y`` (with cold-load pickup)."""
    d = np.zeros(case.n_bus)
    for j, b in enumerate(case.blocks):
        if not y[s, j]:
            continue
        back = s - b.cold_steps
        cold = b.cold_steps > 0 and (back < 0 or not y[back, j])
        factor = b.cold_factor if cold else 1.0
        for bus, mw in b.demand_mw.items():
            d[bus] += factor * mw
    return d


def step_dispatch(
    case: RestoreCase,
    live: np.ndarray,
    closed: np.ndarray,
    can_run: np.ndarray,
    p_prev: np.ndarray,
    demand: np.ndarray,
) -> np.ndarray | None:
    """Unit MW meeting ``demand`` at one step over the closed branches, or None."""
    g_bus = np.array([u.bus for u in case.units], dtype=int)
    cap = np.array([loading_cap(case, u.p_max_mw) for u in case.units]) * can_run
    step = np.array([u.step_mw for u in case.units])
    hi_p = np.minimum(cap, p_prev + step)
    big = float(sum(u.p_max_mw for u in case.units)) + 1.0
    rate = np.where(np.isfinite(case.branch_rate_mw), case.branch_rate_mw, big) * closed
    ng, nk, nb = len(case.units), len(rate), case.n_bus
    rows_g = sp.csr_matrix((np.ones(ng), (g_bus, np.arange(ng))), shape=(nb, ng))
    inc = sp.csr_matrix(
        (
            np.r_[np.ones(nk), -np.ones(nk)],
            (np.r_[case.branch_to, case.branch_from], np.r_[np.arange(nk), np.arange(nk)]),
        ),
        shape=(nb, nk),
    )
    a = sp.hstack([rows_g, inc]).tocsc()
    need = demand + case.fixed_mw * live
    if cap.sum() < need.sum() - 1e-9:
        return None  # not enough rating, less the spinning reserve
    solver = Solver(a, np.r_[np.zeros(ng), -rate], np.r_[hi_p, rate], need, need)
    out = solver.solve()
    if out.status != "optimal" or out.x is None:
        return None
    return np.clip(out.x[:ng], 0.0, None)


def path_to(case: RestoreCase, live: np.ndarray, targets: list[int]) -> tuple[list[int], list[int]]:
    """Buses and branches of the shortest paths from the live network to ``targets``
    (breadth first, lowest index first: the same on every laptop); empty when unreachable."""
    adj = adjacency(case)
    buses: set[int] = set()
    branches: set[int] = set()
    for target in targets:
        if live[target] or target in buses:
            continue
        prev: dict[int, tuple[int, int]] = {}
        seen = {target}
        queue = deque([target])
        hit = -1
        while queue:
            b = queue.popleft()
            if live[b] or b in buses:
                hit = b
                break
            for nxt, k in adj.get(b, []):
                if nxt not in seen:
                    seen.add(nxt)
                    prev[nxt] = (b, k)
                    queue.append(nxt)
        if hit < 0:
            return [], []
        node = hit
        while node != target:
            back, k = prev[node]
            branches.add(k)
            buses.add(back)
            node = back
    return sorted(buses), sorted(branches)


def greedy(case: RestoreCase, prefix: Schedule | None = None) -> Schedule:
    """The greedy schedule (see the module text), continuing ``prefix`` when given (its
    steps are kept as they are)."""
    S, nb, nk = case.steps, case.n_bus, len(case.branch_from)
    ng, nl = len(case.units), len(case.blocks)
    sch = Schedule(
        np.zeros((S, nb), bool), np.zeros((S, nk), bool), np.zeros((S, ng), bool),
        np.zeros((S, nl), bool), np.zeros((S, ng)),
    )  # fmt: skip
    first = 0
    p_prev = np.zeros(ng)
    if prefix is not None:
        first = min(S, len(prefix.x))
        for mine, theirs in zip(
            (sch.x, sch.z, sch.u, sch.y, sch.p),
            (prefix.x, prefix.z, prefix.u, prefix.y, prefix.p),
            strict=True,
        ):
            mine[:first] = theirs[:first]
        p_prev = sch.p[first - 1].copy() if first else p_prev
    never = set(never_fit(case))  # no order can close them: they never wait in line
    order = sorted(
        (j for j in range(nl) if j not in never),
        key=lambda j: (case.blocks[j].tier, -case.blocks[j].p_mw, j),
    )
    for s in range(first, S):
        if s:
            for arr in (sch.x, sch.z, sch.u, sch.y):
                arr[s] = arr[s - 1]
        p_prev = _step(case, sch, s, order, p_prev)
    return sch


def truncated(sch: Schedule, steps: int) -> Schedule:
    """The first ``steps`` steps of a schedule."""
    return Schedule(sch.x[:steps], sch.z[:steps], sch.u[:steps], sch.y[:steps], sch.p[:steps])


def _step(
    case: RestoreCase, sch: Schedule, s: int, order: list[int], p_prev: np.ndarray
) -> np.ndarray:
    live_before = sch.x[s - 1].copy() if s else np.zeros(case.n_bus, bool)
    for g, unit in enumerate(case.units):
        if sch.u[s, g]:
            continue
        if unit.black_start:
            sch.u[s, g] = sch.x[s, unit.bus] = True
        elif live_before[unit.bus]:
            sch.u[s, g] = True
            if _dispatch(case, sch, s, p_prev) is None:
                sch.u[s, g] = False
    taken = 0
    pending = [j for j in order if not sch.y[s, j]]
    if pending and _try_block(case, sch, s, pending[0], p_prev):
        taken = 1
    elif pending:  # the first in priority does not fit: join its island to another
        _join_islands(case, sch, s, p_prev, near=next(iter(case.blocks[pending[0]].demand_mw)))
    for j in order:
        if taken >= case.blocks_per_step or sch.y[s, j]:
            continue
        if _try_block(case, sch, s, j, p_prev):
            taken += 1
    _crank_path(case, sch, s, p_prev)
    p = _dispatch(case, sch, s, p_prev)
    p = p if p is not None else np.zeros(len(case.units))
    sch.p[s] = p
    return p


def _join_islands(case: RestoreCase, sch: Schedule, s: int, p_prev: np.ndarray, near: int) -> None:
    """Synchronise two live islands over the shortest path between them (one join per
    step, the island nearest to bus ``near`` first): a block too big for one island's
    units often fits once islands are joined."""
    tried: set[tuple[int, ...]] = set()
    while True:
        path = _join_path(case, sch.x[s], sch.z[s], tried, _nearest_live(case, sch.x[s], near))
        if path is None:
            return
        buses, branches = path
        tried.add(tuple(branches))
        if _try_path(case, sch, s, p_prev, buses, branches):
            return


def _nearest_live(case: RestoreCase, live: np.ndarray, bus: int) -> int:
    """The live bus nearest to ``bus`` over any branch (breadth first), or -1."""
    adj = adjacency(case)
    seen, queue = {bus}, deque([bus])
    while queue:
        b = queue.popleft()
        if live[b]:
            return b
        for nxt, _ in adj.get(b, []):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return -1


def _join_path(
    case: RestoreCase,
    live: np.ndarray,
    closed: np.ndarray,
    tried: set[tuple[int, ...]],
    first: int = -1,
) -> tuple[list[int], list[int]] | None:
    """Dead buses and open branches of the shortest path joining two live islands (from
    the island of bus ``first``, then of the lowest bus, breadth first: the same on
    every laptop), not tried yet."""
    isl = islands(case, live, closed)
    adj = adjacency(case, ~np.asarray(closed, dtype=bool))
    homes = sorted({int(i) for i in isl if i >= 0})
    if first >= 0 and isl[first] >= 0:
        homes = [int(isl[first])] + [h for h in homes if h != isl[first]]
    for home in homes:
        start = [int(b) for b in np.flatnonzero(isl == home)]
        prev: dict[int, tuple[int, int]] = {}
        seen, queue = set(start), deque(start)
        while queue:
            b = queue.popleft()
            for nxt, k in adj.get(b, []):
                if nxt in seen or isl[nxt] == home:
                    continue
                seen.add(nxt)
                prev[nxt] = (b, k)
                if isl[nxt] < 0:
                    queue.append(nxt)
                    continue
                buses, branches, node = [], [], nxt
                while node in prev:
                    back, kk = prev[node]
                    branches.append(kk)
                    if isl[back] < 0:
                        buses.append(back)
                    node = back
                if tuple(sorted(branches)) not in tried:
                    return sorted(buses), sorted(branches)
    return None


def _crank_path(case: RestoreCase, sch: Schedule, s: int, p_prev: np.ndarray) -> None:
    """Energise the path to the first unit that waits for cranking power, if it fits."""
    for unit in case.units:
        if unit.black_start or sch.x[s, unit.bus]:
            continue
        buses, branches = path_to(case, sch.x[s], [unit.bus])
        if not branches:
            continue
        if _try_path(case, sch, s, p_prev, buses, branches):
            return


def _try_path(
    case: RestoreCase,
    sch: Schedule,
    s: int,
    p_prev: np.ndarray,
    buses: list[int],
    branches: list[int],
) -> bool:
    """Energise ``buses`` over ``branches`` in step ``s`` if the step still dispatches;
    else leave the step as it was."""
    saved = (sch.x[s].copy(), sch.z[s].copy())
    sch.x[s, buses] = True
    sch.z[s, branches] = True
    if _dispatch(case, sch, s, p_prev) is not None:
        return True
    sch.x[s], sch.z[s] = saved
    return False


def _try_block(case: RestoreCase, sch: Schedule, s: int, j: int, p_prev: np.ndarray) -> bool:
    block: RBlock = case.blocks[j]
    buses, branches = path_to(case, sch.x[s], sorted(block.demand_mw))
    if any(not sch.x[s, b] for b in block.demand_mw) and not buses and not branches:
        return False
    saved = (sch.x[s].copy(), sch.z[s].copy())
    sch.x[s, buses] = True
    sch.x[s, list(block.demand_mw)] = True
    sch.z[s, branches] = True
    sch.y[s, j] = True
    if _dispatch(case, sch, s, p_prev) is not None:
        return True
    sch.x[s], sch.z[s] = saved
    sch.y[s, j] = False
    return False


def islands(case: RestoreCase, live: np.ndarray, closed: np.ndarray) -> np.ndarray:
    """Island number per bus over the closed branches (-1: dead bus)."""
    out = np.full(case.n_bus, -1, dtype=int)
    adj = adjacency(case, np.asarray(closed, dtype=bool))
    for start in np.flatnonzero(live):
        if out[start] >= 0:
            continue
        out[start] = start
        todo = [int(start)]
        while todo:
            for nxt, _ in adj.get(todo.pop(), []):
                if live[nxt] and out[nxt] < 0:
                    out[nxt] = start
                    todo.append(nxt)
    return out


def pickup_short(case: RestoreCase, sch: Schedule, s: int) -> float:
    """MW by which the pickup of step ``s`` (blocks closing with their cold load, units
    cranking, buses turning live) exceeds the block-loading steps of the units running in
    its island, worst island first; 0 when every island carries its pickup."""
    isl = islands(case, sch.x[s], sch.z[s])
    need: dict[int, float] = {}
    room: dict[int, float] = {}

    def add(bus: int, mw: float, into: dict[int, float]) -> None:
        if isl[bus] >= 0:
            into[int(isl[bus])] = into.get(int(isl[bus]), 0.0) + mw

    was = (lambda a, i: bool(a[s - 1, i])) if s else (lambda a, i: False)
    for b in np.flatnonzero(sch.x[s]):
        if not was(sch.x, b):
            add(int(b), float(case.fixed_mw[b]), need)
    for j, block in enumerate(case.blocks):
        if sch.y[s, j] and not was(sch.y, j):
            factor = block.cold_factor if block.cold_steps else 1.0
            for bus, mw in block.demand_mw.items():
                add(bus, factor * mw, need)
    for g, unit in enumerate(case.units):
        if not sch.u[s, g]:
            continue
        if unit.black_start or was(sch.u, g):
            add(unit.bus, unit.step_mw, room)
        else:
            add(unit.bus, unit.cranking_mw, need)
    return max([0.0] + [mw - room.get(i, 0.0) for i, mw in need.items()])


def _dispatch(case: RestoreCase, sch: Schedule, s: int, p_prev: np.ndarray) -> np.ndarray | None:
    if pickup_short(case, sch, s) > 1e-9:
        return None  # the units of an island cannot take its pickup at once
    demand = block_demand(case, sch.y, s)
    can_run = np.zeros(len(case.units))
    for g, unit in enumerate(case.units):
        started = sch.u[s, g] and not (s and sch.u[s - 1, g])
        if started and not unit.black_start:
            demand[unit.bus] += unit.cranking_mw  # cranking: draws, cannot yet give
        else:
            can_run[g] = 1.0 if sch.u[s, g] else 0.0
    return step_dispatch(case, sch.x[s], sch.z[s], can_run, p_prev, demand)
