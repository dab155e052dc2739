"""Tiny hand-checkable networks for planner tests, written as pandapower JSON files."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from planner.api import Scenario, parse_scenario

KV = 20.0


def line_rating_ka(mw: float) -> float:
    """max_i_ka that gives a DC rating of ``mw`` at 20 kV."""
    return mw / (math.sqrt(3) * KV)


def make_net(
    n_bus: int,
    lines: list[tuple[int, int, float | None]],
    loads: list[tuple[int, float, float, str]],
    *,
    length_km: float = 1.0,
    x_ohm_per_km: float = 0.3,
) -> Any:
    """Buses 0..n-1 at 20 kV; lines (from, to, rating MW or None = unlimited); loads (bus, P, Q, name)."""
    import pandapower as pp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = pp.create_empty_network(sn_mva=1.0)
        for b in range(n_bus):
            pp.create_bus(net, vn_kv=KV, name=f"b{b}", min_vm_pu=0.95, max_vm_pu=1.05)
        for f, t, mw in lines:
            pp.create_line_from_parameters(
                net,
                f,
                t,
                length_km=length_km,
                r_ohm_per_km=0.1,
                x_ohm_per_km=x_ohm_per_km,
                c_nf_per_km=0.0,
                max_i_ka=line_rating_ka(mw) if mw is not None else 99.0,
            )
        for bus, p, q, name in loads:
            pp.create_load(net, bus, p_mw=p, q_mvar=q, name=name)
    return net


@pytest.fixture
def write_case(tmp_path: Path) -> Callable[..., Scenario]:
    """write_case(net, toml_body) -> Scenario: saves the net as JSON and parses the scenario."""

    def write(net: Any, body: str, *, name: str = "case") -> Scenario:
        import pandapower as pp

        net_file = tmp_path / f"{name}-net.json"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.to_json(net, str(net_file))
        text = f'[scenario]\nname = "{name}"\n\n[network]\nfile = "{net_file.name}"\n' + body
        path = tmp_path / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        return parse_scenario(text, name=path.name, base_dir=tmp_path, source=path)

    return write


def find(rows: list[dict[str, Any]], key: str, value: Any) -> dict[str, Any]:
    for r in rows:
        if r[key] == value:
            return r
    raise AssertionError(f"no row with {key}={value!r}")
