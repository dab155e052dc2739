"""A local cache of prepared networks: re-planning the same grid skips pandapower.

Loading a network with pandapower and converting it costs more than planning a small
one (case118: 0.4 s to read the JSON, pandapower's import another second on a field
laptop), and a coordinator re-plans the same grid all night as fuel reports come in.
The DC arrays (``Grid``) are therefore kept on disk, keyed by everything they are made
from: the network itself (the case name and pandapower's version, or the file's bytes),
the scenario's ``[network]`` options, units, loads and batteries, and the source of the
modules that build them. Anything else in the key changing means a fresh build; a file
that does not read back exactly is ignored and rebuilt. Arrays are stored bit for bit
(``.npz``, no pickle), so a plan from the cache has the same hash as one without it.

Where: ``$PLURI_CACHE_DIR``, else ``$XDG_CACHE_HOME/plurigrid``, else
``~/.cache/plurigrid``. ``PLURI_CACHE_DIR=off`` turns it off. A cache that cannot be
written is simply not used.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from planner.canonical import blake_hex, canonical_bytes
from planner.grid import BatteryModel, Grid, NetLoad, Unit
from planner.scenario import Scenario

FORMAT = 1
ARRAYS = (
    "pbusinj",
    "pfinj",
    "ref_buses",
    "ref_angles",
    "branch_rate_mw",
    "branch_index",
    "branch_from",
    "branch_to",
    "fixed_demand_mw",
)
SOURCES = ("grid.py", "network.py", "netread.py", "network_arrays.py", "netcache.py")


def cache_dir() -> Path | None:
    where = os.environ.get("PLURI_CACHE_DIR")
    if where is not None:
        return None if where.strip().lower() in ("", "off", "0", "no") else Path(where)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "plurigrid"


def cache_key(scenario: Scenario, data: bytes | None = None) -> str | None:
    """Everything the DC arrays depend on, hashed; None when it cannot be known cheaply.

    ``data``: the network file's bytes as this run read them (``planner.network.file_bytes``),
    so that the key names exactly the bytes the arrays are made from, even if the file is
    rewritten while the plan runs."""
    spec = scenario.network
    try:
        source: Any = {"case": spec.case, "pandapower": metadata.version("pandapower")}
        if spec.file is not None:
            source = {"file": blake_hex(data if data is not None else spec.file.read_bytes())}
        here = Path(__file__).resolve().parent
        code = blake_hex(b"".join((here / name).read_bytes() for name in SOURCES))
    except (OSError, metadata.PackageNotFoundError):
        return None
    network = dataclasses.asdict(spec) | {"file": None}
    body = {
        "format": FORMAT,
        "source": source,
        "code": code,
        "network": network,
        "generators": [dataclasses.asdict(g) for g in scenario.generators],
        "loads": [[ld.index, ld.name] for ld in scenario.loads],
        "batteries": [dataclasses.asdict(b) for b in scenario.batteries],
    }
    return blake_hex(canonical_bytes(_jsonable(body)))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return repr(value)
    if isinstance(value, Path):
        return str(value)
    return value


def load(key: str) -> tuple[Grid, dict[int, int], dict[str, int]] | None:
    """(grid, bus islands, AC gen rows) from the cache, or None."""
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / f"grid-{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode("utf-8"))
            if meta.get("key") != key:
                return None
            return _grid(z, meta), _int_map(meta["bus_island"]), meta["ac_gen_index"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(key: str, grid: Grid, bus_island: dict[int, int], ac_gen_index: dict[str, int]) -> None:
    """Write the entry atomically; any failure leaves no file (the cache is optional)."""
    folder = cache_dir()
    if folder is None:
        return
    meta = {
        "key": key,
        "base_mva": grid.base_mva,
        "f_hz": grid.f_hz,
        "n_bus": grid.n_bus,
        "bus_names": grid.bus_names,
        "branch_kind": grid.branch_kind,
        "branch_names": grid.branch_names,
        "notes": grid.notes,
        "units": [_unit_row(u) for u in grid.units],
        "loads": [dataclasses.asdict(ld) for ld in grid.loads],
        "batteries": [_battery_row(b) for b in grid.batteries],
        "load_bus": [[k, v] for k, v in grid.load_bus.items()],
        "unit_bus": [[k[0], k[1], v] for k, v in grid.unit_bus.items()],
        "bus_island": [[k, v] for k, v in bus_island.items()],
        "ac_gen_index": ac_gen_index,
    }
    arrays = {name: np.asarray(getattr(grid, name)) for name in ARRAYS}
    for name in ("Bbus", "Bf"):
        m = sp.csr_matrix(getattr(grid, name))
        arrays |= {f"{name}_data": m.data, f"{name}_indices": m.indices, f"{name}_indptr": m.indptr}
        arrays[f"{name}_shape"] = np.asarray(m.shape)
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub: a key might be allow_pickle
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".grid-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue())
        os.replace(tmp, folder / f"grid-{key}.npz")
    except OSError:
        return


def _unit_row(u: Unit) -> dict[str, Any]:
    row = dataclasses.asdict(u)
    row["spec"] = u.spec.name if u.spec is not None else None
    return row


def _battery_row(b: BatteryModel) -> dict[str, Any]:
    row = dataclasses.asdict(b)
    row["spec"] = b.spec.name if b.spec is not None else None
    return row


def _int_map(pairs: list[list[int]]) -> dict[int, int]:
    return {int(k): int(v) for k, v in pairs}


def _grid(z: Any, meta: dict[str, Any]) -> Grid:
    mats = {
        name: sp.csr_matrix(
            (z[f"{name}_data"], z[f"{name}_indices"], z[f"{name}_indptr"]),
            shape=tuple(int(v) for v in z[f"{name}_shape"]),
        )
        for name in ("Bbus", "Bf")
    }
    return Grid(
        base_mva=float(meta["base_mva"]),
        f_hz=float(meta.get("f_hz", 50.0)),
        n_bus=int(meta["n_bus"]),
        bus_names=list(meta["bus_names"]),
        branch_kind=list(meta["branch_kind"]),
        branch_names=list(meta["branch_names"]),
        units=[Unit(**u) for u in meta["units"]],
        loads=[NetLoad(**ld) for ld in meta["loads"]],
        notes=list(meta["notes"]),
        batteries=[BatteryModel(**b) for b in meta["batteries"]],
        load_bus=_int_map(meta["load_bus"]),
        unit_bus={(str(e), int(i)): int(b) for e, i, b in meta["unit_bus"]},
        **mats,
        **{name: np.asarray(z[name]) for name in ARRAYS},
    )


def attach_specs(grid: Grid, scenario: Scenario) -> Grid:
    """Units and batteries from the cache name their scenario entries: put them back."""
    gens = {g.name: g for g in scenario.generators}
    bats = {b.name: b for b in scenario.batteries}
    for u in grid.units:
        if isinstance(u.spec, str):
            u.spec = gens[u.spec]
    for b in grid.batteries:
        if isinstance(b.spec, str):
            b.spec = bats[b.spec]
    return grid
