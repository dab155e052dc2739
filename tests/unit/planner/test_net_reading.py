"""Reading a network the faster way gives the very net pandapower's own reading gives.

``planner.network.load_net`` reads through ``planner.netread``: pandapower imported
without its plotting back end, one empty net per read instead of three, and a file's
empty tables that are exactly the empty net's own left to the empty net. None of it may
change a single value the planner or the AC check reads: every case the toolkit accepts
by name and every shipped network file is read both ways and compared table by table
(values and dtypes), then turned into the DC arrays (``Grid``) both ways.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from planner.api import load_scenario, parse_scenario
from planner.network import BUILTIN_CASES, build_network, load_net

SCENARIOS = Path(__file__).resolve().parents[3] / "field_guides" / "scenarios"
FILES = sorted(SCENARIOS.glob("*-net.json"))
#: Read in `make test`: the shipped scenario's case, a transmission case with transformers, a
#: pegase case and a distribution case. Every other built-in case reads the same way (the same
#: formats, the same code) and is checked with the slow tests (`make test-slow`).
QUICK = ("case118", "case14", "case89pegase", "cigre_mv")


def _pandapower_read(case: str | None, file: Path | None) -> Any:
    """The net as pandapower itself reads it: a fresh empty net for every step."""
    import pandapower as pp
    import pandapower.networks as pn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if file is not None:
            return pp.from_json(str(file))
        if case == "cigre_mv":
            return pn.create_cigre_network_mv(with_der="pv_wind")
        if case == "cigre_lv":
            return pn.create_cigre_network_lv()
        return getattr(pn, str(case))()


def _same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        assert isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame), where
        pd.testing.assert_frame_equal(a, b, check_exact=True, obj=where)
        assert a.index.name == b.index.name, where
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True, obj=where)
    elif isinstance(a, pd.Index):
        pd.testing.assert_index_equal(a, b, exact=True, obj=where)
    elif sp.issparse(a):
        assert sp.issparse(b) and a.dtype == b.dtype and a.shape == b.shape, where
        assert (a != b).nnz == 0, where
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            if k != "et":  # a power flow's elapsed seconds (mv_oberrhein runs one)
                _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), where
    else:
        assert type(a) is type(b) and a == b, where


def _same_net(ours: Any, theirs: Any) -> None:
    assert list(ours.keys()) == list(theirs.keys())
    for key in theirs:
        _same(ours[key], theirs[key], key)


def _same_grid(a: Any, b: Any) -> None:
    for name, value in vars(b).items():
        mine = getattr(a, name)
        if sp.issparse(value):
            assert mine.dtype == value.dtype and mine.shape == value.shape, name
            assert (mine != value).nnz == 0, name
        elif isinstance(value, np.ndarray):
            assert mine.dtype == value.dtype, name
            assert np.array_equal(mine, value, equal_nan=True), name
        else:
            assert mine == value, name


def _scenario(case: str | None, file: Path | None) -> Any:
    where = f'file = "{file}"' if file is not None else f'case = "{case}"'
    return parse_scenario(
        f'[scenario]\nname = "read"\n[network]\n{where}\n[horizon]\nperiods = 1\n'
    )


READS = [
    pytest.param(c, None, id=c, marks=[] if c in QUICK else [pytest.mark.slow])
    for c in BUILTIN_CASES
] + [pytest.param(None, f, id=f.name) for f in FILES]


@pytest.mark.parametrize(("case", "file"), READS)
def test_a_network_reads_to_the_same_net_and_arrays_as_pandapower_reads_it(
    case: str | None, file: Path | None
) -> None:
    ours = load_net(case, file)
    theirs = _pandapower_read(case, file)
    _same_net(ours, theirs)  # the AC check's input: every table, value and dtype
    sc = _scenario(case, file)
    _same_grid(build_network(sc, net=ours).grid, build_network(sc, net=theirs).grid)


def test_the_empty_net_is_pandapowers_again_after_a_read() -> None:
    # nothing of the read is left behind: the next reader builds its own empty nets
    import sys

    import pandapower.create

    load_net("case9")
    for name in ("pandapower.io_utils", "pandapower.convert_format"):
        module = sys.modules[name]
        assert module.create_empty_network is pandapower.create.create_empty_network


def test_an_older_format_file_is_read_with_one_empty_net(monkeypatch: pytest.MonkeyPatch) -> None:
    # pandapower ships case118 in format 3.1.0: read alone, it builds three empty nets
    import sys

    import pandapower.create

    made: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(1)
        return pandapower.create.create_empty_network(*args, **kwargs)

    for name in ("pandapower.io_utils", "pandapower.convert_format"):
        monkeypatch.setattr(sys.modules[name], "create_empty_network", counted)
    load_net("case118")
    assert len(made) == 1
    made.clear()
    _pandapower_read("case118", None)
    assert len(made) == 3


def test_an_empty_net_written_by_pandapower_reads_back_the_same_with_every_table_its_own(
    tmp_path: Path,
) -> None:
    # pandapower's empty net, written by pandapower: every table written with its dtypes
    # is left to the empty net, and the net read is pandapower's own read of the file
    import pandapower as pp

    from planner.netread import EmptyNets, _without_plain_empty_tables

    path = tmp_path / "empty.json"
    pp.to_json(pp.create_empty_network(), str(path))
    text = path.read_text()
    with EmptyNets() as empty:
        left = _without_plain_empty_tables(text, empty)
        tables = [k for k, v in empty.template().items() if isinstance(v, pd.DataFrame)]
    assert left is not None
    written, kept = json.loads(text)["_object"], json.loads(left)["_object"]
    typed = [k for k in tables if "dtype" in written.get(k, {})]  # a few are written without
    assert len(typed) >= 70 and [k for k in typed if k in kept] == []
    _same_net(load_net(None, path), _pandapower_read(None, path))


def test_the_island_files_empty_tables_are_not_read() -> None:
    from planner.netread import EmptyNets, _without_plain_empty_tables

    text = (SCENARIOS / "island-microgrid-net.json").read_text()
    with EmptyNets() as empty:
        left = _without_plain_empty_tables(text, empty)
    assert left is not None
    before, after = json.loads(text)["_object"], json.loads(left)["_object"]
    assert len(before) - len(after) >= 70 and {"bus", "line", "load"} <= after.keys()


@pytest.mark.parametrize(
    ("bus", "said"), [(None, "has no bus table"), ("x", "'bus' table is a str")]
)
def test_a_net_whose_bus_table_is_not_a_table_is_refused_by_name(
    tmp_path: Path, bus: object, said: str
) -> None:
    """Review 15r: `"bus": null` in a hand-edited file ended in "unexpected AttributeError"
    (exit 1); now a NetworkError (exit 10) that names the table."""
    from planner.errors import NetworkError

    source = next(f for f in FILES if f.name == "island-microgrid-net.json")
    doc = json.loads(source.read_text())
    doc["_object"]["bus"] = bus
    (tmp_path / source.name).write_text(json.dumps(doc))
    sc = load_scenario(source.with_name("island-microgrid.toml"))
    moved = replace(sc, network=replace(sc.network, file=tmp_path / source.name))
    with pytest.raises(NetworkError, match=said):
        build_network(moved)


def test_no_code_plots_through_pandapower() -> None:
    """pandapower is imported with matplotlib hidden (``netread.import_pandapower``): its
    plotting and control helpers then believe matplotlib is missing for the whole process.
    That is safe only while nothing here uses them; plots go through ``planner.plot``."""
    root = Path(__file__).resolve().parents[3]
    for package in ("planner", "plurictl", "ledger", "mesh"):
        for source in (root / package).rglob("*.py"):
            text = source.read_text(encoding="utf-8")
            assert "pandapower.plotting" not in text and "pandapower.control" not in text, source


def test_a_network_file_that_is_a_pipe_is_refused_before_anything_reads_it(
    tmp_path: Path,
) -> None:
    """Review 15r: the cache key read `network.file` before anything checked it, so a FIFO
    hung `plan restore` for ever and /dev/zero filled memory. Now: exit 10, named."""
    import os

    from planner.errors import NetworkError

    pipe = tmp_path / "net.json"
    os.mkfifo(pipe)
    sc = load_scenario(FILES[0].with_name("island-microgrid.toml"))
    for file in (pipe, Path("/dev/zero")):
        moved = replace(sc, network=replace(sc.network, file=file))
        with pytest.raises(NetworkError, match="is not a regular file"):
            build_network(moved)
