"""Cross-check: our DC model in cost mode equals pandapower's own rundcopp objective."""

from __future__ import annotations

import warnings

import pytest

from planner.api import parse_scenario, solve


def _scenario(case: str):  # type: ignore[no-untyped-def]
    return parse_scenario(
        f'[scenario]\nname = "x"\n[network]\ncase = "{case}"\n[horizon]\nperiods = 1\n'
    )


@pytest.mark.parametrize(
    "case",
    [
        "case9",
        pytest.param("case30", marks=pytest.mark.slow),
        pytest.param("case118", marks=pytest.mark.slow),
    ],
)
def test_cost_mode_matches_pandapower_rundcopp(case: str) -> None:
    import pandapower as pp
    import pandapower.networks as pn

    net = getattr(pn, case)()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandapower's own OPF logs and warns about its inputs
        pp.rundcopp(net)
    reference = float(net.res_cost)
    ours = solve(_scenario(case), objective="cost")
    assert ours.status == "solved", ours.reason
    assert ours.data["objective_exact"] == pytest.approx(reference, rel=1e-5)
    # the dispatch agrees too (same generators, same limits)
    total = float(net.res_gen.p_mw.sum() + net.res_ext_grid.p_mw.sum())
    assert ours.data["generation_mw"] == pytest.approx(total, abs=1e-3)


def test_cost_mode_needs_cost_data() -> None:
    from planner.errors import ScenarioError

    with pytest.raises(ScenarioError, match="no cost data"):
        solve(_scenario("cigre_mv"), objective="cost")
