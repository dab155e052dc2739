"""The drill file (TOML): nodes with roles, then a timeline of steps.

Parsed into plain dataclasses and validated before anything starts, with
errors that name the step number and the field.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.errors import InvalidInput
from ledger.roster.view import ROLES
from plurictl.drills.radio import FIELDS as RADIO_FIELDS

#: step name -> (required fields, optional fields)
ACTIONS: dict[str, tuple[set[str], set[str]]] = {
    "found": (set(), {"founder", "mesh"}),
    "start": (set(), {"nodes"}),
    "stop": ({"node"}, set()),
    "kill": ({"node"}, set()),
    "restart": ({"node"}, set()),
    "partition": ({"groups"}, set()),
    "heal": (set(), set()),
    "link-down": ({"node"}, set()),
    "link-up": ({"node"}, set()),
    "unplug": ({"node"}, set()),
    "plug": ({"node"}, set()),
    "loss": ({"percent"}, {"nodes"}),
    "delay": ({"ms"}, {"nodes"}),
    "write": ({"node"}, {"kind", "body", "count"}),
    "wait-converged": (set(), {"timeout", "nodes", "label"}),
    "sleep": ({"seconds"}, set()),
    "check": (set(), set()),
    "courier": ({"from", "to"}, set()),
    "revoke": ({"node"}, {"by", "reason", "at"}),
    "rotate": ({"node"}, {"by"}),
    "equivocate": ({"node"}, {"via"}),
    "nemesis": ({"duration"}, {"seed", "writes_per_second", "kills"}),
    "fuel-report": ({"node", "site", "litres"}, {"tank", "fuel"}),
    "plan-run": ({"node", "scenario"}, {"periods", "adopt", "id"}),
    "plan-adopt": ({"node"}, {"plan"}),
    "plan-futures": ({"node", "scenario"}, {"id", "reserve_hours", "max_energy"}),
    "vote-open": (
        {"node", "title", "options"},
        {"id", "method", "roll", "tellers", "quorum", "plans", "tolerate", "ceremony"},
    ),
    "ceremony-start": ({"node", "id", "tellers"}, {"tolerate"}),
    "ceremony-deal": ({"node", "ceremony"}, set()),
    "vote-cast": ({"node", "vote", "choice"}, set()),
    "vote-close": ({"node", "vote"}, set()),
    "vote-seal": ({"node", "vote"}, {"copy"}),
    "clone": ({"node"}, set()),
    "playbook-start": ({"node", "playbook"}, {"id", "site"}),
    "playbook-sign": ({"node", "run", "step"}, {"early", "readings"}),
    "playbook-waive": ({"node", "run", "step"}, {"check", "reason"}),
    "radio": ({"nodes"}, set(RADIO_FIELDS)),  # a simulated radio link (drills/radio.py)
    # fault shapes (drills/shapes.py); flap and courier-every run in the background
    "one-way": ({"from", "to"}, set()),
    "bandwidth": ({"kbit"}, {"nodes"}),
    "flap": ({"node", "duration"}, {"up", "down", "seed"}),
    "clock": ({"node", "offset"}, set()),
    "courier-every": ({"from", "to", "every", "duration"}, set()),
}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")


MAX_DURATION_S = 7 * 24 * 3600  # a drill longer than a week is a typo


def seconds(value: Any, where: str) -> float:
    """'200ms', '5s', '2m' or a number of seconds: finite, from 0 to a week."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        n = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise InvalidInput(f"{where}: {value!r} is not a duration (use e.g. 200ms, 5s, 2m)")
        n = float(m.group(1))
        n = {"ms": n / 1000, "s": n, "m": n * 60, None: n}[m.group(2)]
    if not math.isfinite(n) or n < 0 or n > MAX_DURATION_S:
        raise InvalidInput(
            f"{where}: {value!r} is not a duration from 0 to 7 days (use e.g. 200ms, 5s, 2m)"
        )
    return n


@dataclass
class NodeSpec:
    name: str
    roles: list[str]


@dataclass
class Step:
    index: int
    action: str
    args: dict[str, Any]

    def describe(self) -> str:
        shown = {k: v for k, v in self.args.items() if k not in ("body",)}
        details = " ".join(f"{k}={v}" for k, v in shown.items())
        return f"{self.action} {details}".strip()


@dataclass
class Drill:
    name: str
    description: str
    interval: float
    nodes: list[NodeSpec]
    steps: list[Step]
    source: Path | None = None
    seed: int = 0
    expect_forks: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]


def load(path: str | Path) -> Drill:
    p = Path(path)
    try:
        data_bytes = p.read_bytes()
    except OSError as e:
        raise InvalidInput(f"cannot read drill file {p}: {e.strerror}") from e
    try:
        text = data_bytes.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidInput(f"{p.name}: not UTF-8 text (byte {e.start:,})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InvalidInput(f"{p.name}: not valid TOML: {e}") from e
    drill = parse(data, p.name)
    drill.source = p
    return drill


def parse(data: dict[str, Any], name: str = "drill") -> Drill:
    head = data.get("drill", {})
    if not isinstance(head, dict):
        raise InvalidInput(f"{name}: [drill] must be a table")
    nodes_raw = data.get("nodes")
    if not isinstance(nodes_raw, list) or not nodes_raw:
        raise InvalidInput(f"{name}: needs at least one [[nodes]] entry with name and roles")
    nodes = []
    for i, n in enumerate(nodes_raw, 1):
        where = f"{name}: nodes #{i}"
        if (
            not isinstance(n, dict)
            or not isinstance(n.get("name"), str)
            or not re.match(r"^[a-z][a-z0-9_-]{0,31}$", n["name"])
        ):
            raise InvalidInput(f"{where}: name must be lower-case letters, digits, - or _ (max 32)")
        roles = n.get("roles", ["operator"])
        if not isinstance(roles, list) or not roles or any(r not in ROLES for r in roles):
            raise InvalidInput(f"{where} ({n['name']}): roles must be a list of {', '.join(ROLES)}")
        nodes.append(NodeSpec(n["name"], list(roles)))
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise InvalidInput(f"{name}: node names must be different")
    steps_raw = data.get("step", [])
    if not isinstance(steps_raw, list):
        raise InvalidInput(f"{name}: steps are [[step]] tables")
    steps = []
    for i, s in enumerate(steps_raw, 1):
        where = f"{name}: step {i}"
        if not isinstance(s, dict) or "do" not in s:
            raise InvalidInput(f'{where}: every step needs do = "ACTION"')
        action = s["do"]
        if action not in ACTIONS:
            raise InvalidInput(
                f"{where}: unknown action {action!r} (known: {', '.join(sorted(ACTIONS))})"
            )
        args = {k: v for k, v in s.items() if k != "do"}
        required, optional = ACTIONS[action]
        missing = required - set(args)
        if missing:
            raise InvalidInput(f"{where} ({action}): missing {', '.join(sorted(missing))}")
        unknown = set(args) - required - optional
        if unknown:
            raise InvalidInput(f"{where} ({action}): unknown field(s) {', '.join(sorted(unknown))}")
        _check_names(args, names, where, action)
        for key in ("timeout", "duration", "seconds", "every", "up", "down"):
            if key in args:
                seconds(args[key], f"{where}: {key}")
        _check_shape(action, args, where)
        steps.append(Step(i, action, args))
    interval = seconds(head.get("interval", 0.3), f"{name}: drill.interval")
    return Drill(
        name=str(head.get("name", name)),
        description=str(head.get("description", "")),
        interval=interval,
        nodes=nodes,
        steps=steps,
        seed=int(head.get("seed", 0)),
    )


def _check_names(args: dict[str, Any], names: list[str], where: str, action: str) -> None:
    def check(value: Any, field_name: str) -> None:
        if value not in names:
            raise InvalidInput(
                f"{where} ({action}): {field_name} {value!r} is not a node of this drill"
            )

    for key in ("node", "from", "to", "by", "founder", "via", "copy"):
        if key in args:
            check(args[key], key)
    for key in ("nodes",):
        if key in args:
            if not isinstance(args[key], list):
                raise InvalidInput(f"{where} ({action}): {key} must be a list of node names")
            for v in args[key]:
                check(v, key)
    if "groups" in args:
        groups = args["groups"]
        if not isinstance(groups, list) or not all(isinstance(g, list) and g for g in groups):
            raise InvalidInput(
                f"{where} (partition): groups must be a list of non-empty lists of node names"
            )
        seen: set[str] = set()
        for g in groups:
            for v in g:
                check(v, "groups")
                if v in seen:
                    raise InvalidInput(f"{where} (partition): {v} is in two groups")
                seen.add(v)


def _check_shape(action: str, args: dict[str, Any], where: str) -> None:
    """The fault-shape fields that are not names or durations."""
    if action == "clock":
        from plurictl.drills.shapes import clock_offset_ms

        clock_offset_ms(args["offset"], f"{where} (clock): offset")
    if action == "bandwidth":
        kbit = args["kbit"]
        if not isinstance(kbit, int) or isinstance(kbit, bool) or not 0 <= kbit <= 10_000_000:
            raise InvalidInput(
                f"{where} (bandwidth): kbit must be a whole number, 0 (no cap) to 10000000"
            )
    if action in ("one-way", "courier-every") and args["from"] == args["to"]:
        raise InvalidInput(f"{where} ({action}): from and to must be two different nodes")
    if action == "flap" and "seed" in args and not isinstance(args["seed"], int):
        raise InvalidInput(f"{where} (flap): seed must be a whole number")
    for key in ("up", "down", "every"):  # a link flipped or a courier sent in a busy loop
        if action in ("flap", "courier-every") and key in args and seconds(args[key], key) < 0.1:
            raise InvalidInput(f"{where} ({action}): {key} must be at least 100ms")
