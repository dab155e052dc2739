"""`plan restore` plans no flow a branch cannot carry in AC (review 22c C2): the order is
a transport model, so a branch's reactance limits what it may carry (``transfer_mw``),
not only its rating; otherwise the AC check of the order does not converge."""

from __future__ import annotations

from pathlib import Path

import pandapower as pp

from planner.network import build_network
from planner.restore import restore
from planner.restore_case import MAX_ANGLE_DEG, build_case, transfer_mw
from tests.unit.planner.test_restore import _gen, _load, _scenario

FLAT = (
    "[restore]\nblock_load_pct = 100\n"
    "[restore.cold_load]\nflat = { factor = 1.0, minutes = 0 }\n"
    '[restore.load_class]\nnear = "flat"\nfar = "flat"\n'
)


def _long_line(tmp: Path) -> None:
    """11 kV, one line of 82.9 ohm (0.685 pu on 1 MVA): it carries at most 1.46 MW in AC
    (V^2/X), 0.5 MW at 20 deg; its 19 MW current rating never limits it."""
    net = pp.create_empty_network(f_hz=50.0)
    for b in range(2):
        pp.create_bus(net, vn_kv=11.0, name=f"b{b}")
    pp.create_line_from_parameters(
        net, 0, 1, length_km=1.0, r_ohm_per_km=0.1, x_ohm_per_km=82.9,
        c_nf_per_km=0.0, max_i_ka=1.0, name="long",
    )  # fmt: skip
    pp.create_load(net, 0, p_mw=0.3, q_mvar=0.03, name="near")
    pp.create_load(net, 1, p_mw=1.6, q_mvar=0.16, name="far")
    pp.to_json(net, str(tmp / "net.json"))


def test_a_load_past_a_branch_the_ac_cannot_cross_is_not_planned(tmp_path: Path) -> None:
    _long_line(tmp_path)
    sc = _scenario(tmp_path, _gen("g", 0, 3.0), _load(0, "near", 1) + _load(1, "far", 1), FLAT)
    case = build_case(sc, build_network(sc).grid)
    limit = transfer_mw(build_network(sc).grid)[0]
    assert 0.45 < limit < 0.55 and MAX_ANGLE_DEG == 20.0  # 1.46 MW x sin 20 deg
    assert case.branch_rate_mw[0] == limit
    plan = restore(sc)
    # on main: "far" (1.6 MW) was planned over the line and the AC check did not converge
    assert plan["not_restored"] == ["far"] and plan["ac_failed_steps"] == []
    assert all(s["ac"]["converged"] for s in plan["steps"])
    assert "carry at most 0.5" in plan["why_not_restored"]["far"]
    assert "at 20 deg across it" in plan["why_not_restored"]["far"]
