"""A restoration order (``plan restore``) written as a playbook the crews can run.

One operator step per switching action, signed by two people (every step closes a
breaker or starts a unit); before each load block a coordinator release step; a hold
after each block pickup for frequency and voltage to settle; the steps chained by
prerequisites in the order computed. The restore plan's id is in the playbook's id,
title, summary and header, so a run is tied to what was computed. The text is checked
with the playbook validator before it is returned: what this writes, ``playbook
validate`` accepts.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ledger.errors import InvalidInput
from ledger.playbooks.format import validate
from ledger.playbooks.model import MAX_HOLD_S, MAX_STEPS, MAX_TEXT_BYTES


def _q(text: str) -> str:
    """A TOML basic string (JSON escaping is valid TOML)."""
    return json.dumps(text, ensure_ascii=False)


def _ml(text: str) -> str:
    return '"""\n' + text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') + '\n"""'


def playbook_id(plan: dict[str, Any]) -> str:
    name = re.sub(r"[^a-z0-9_.-]+", "-", str(plan["scenario"]).lower()).strip("-.") or "network"
    return f"restore-{name[:36]}-{str(plan['id'])[2:10]}"


def _readings(f_hz: float) -> str:
    lo, hi = round(f_hz * 0.99, 2), round(f_hz * 1.01, 2)
    return (
        f'readings = {{ frequency = {{ min = {lo:g}, max = {hi:g}, unit = "Hz" }}, '
        'voltage_pct = { min = 90, max = 110, unit = "% of nominal" } }'
    )


def _action_text(step: dict[str, Any], plan: dict[str, Any]) -> str:
    lines = [f"Step {step['step']} of the restore plan {plan['id']} (minute {step['minute']:g})."]
    for u in step["starts"]:
        if u["black_start"]:
            lines.append(
                f"- Start **{u['unit']}** (black start). Onto a dead bus: close its breaker "
                "once voltage and frequency are steady. Onto a live bus: synchronise first."
            )
        else:
            lines.append(
                f"- Start **{u['unit']}** (it draws {u['cranking_mw']:g} MW cranking power "
                "from the live network); synchronise before closing its breaker."
            )
    if step["closes"]:
        lines.append("- Close, in this order: " + ", ".join(step["closes"]) + ".")
    for name in step.get("joins", []):
        lines.append(
            f"- **{name} joins two live islands**: two sets run apart until it closes. Close "
            "it only through a synchronism check (sync-check relay, or frequency, voltage "
            "and phase angle matched across the breaker)."
        )
    for name in step.get("loops", []):
        lines.append(
            f"- **{name} closes a loop in a live island**: check the voltage angle across "
            "the breaker before closing."
        )
    if step["energises"]:
        lines.append("- This energises: " + ", ".join(step["energises"]) + ".")
    if step["picks_up"] and (step["closes"] or step["starts"]):
        lines.append(
            "- **Pick up only once every start and closure above is done**: the block's "
            "cold-load surge needs the units running and the islands joined. If a unit will "
            "not start or a synchronism check will not close, do not pick up: stop and ask "
            "the coordinator."
        )
    for b in step["picks_up"]:
        lines.append(
            f"- Pick up block **{b['block']}** (tier {b['tier']}: {', '.join(b['loads'])}): "
            f"{b['mw']:g} MW, up to {b['cold_load_mw']:g} MW in its first minutes (cold-load pickup)."
        )
    lines.append(
        f"- Expected: {step['demand_mw']:g} MW drawn, {step['online_mw']:g} MW online, "
        f"margin {step['margin_mw']:g} MW."
    )
    ac = step.get("ac") or {}
    if ac.get("converged"):
        bad = len(ac.get("violations") or [])
        lines.append(
            f"- AC check: voltage {ac.get('v_min_pu')}-{ac.get('v_max_pu')} pu, "
            + (f"**{bad} violation(s): look before closing**." if bad else "no violation.")
        )
    elif ac.get("converged") is False:
        lines.append(
            "- AC check: **the power flow did not converge**: stop and ask the coordinator."
        )
    lines.append("Both signers enter frequency and voltage after the step has settled.")
    return "\n".join(lines)


def _wait_minutes(step: dict[str, Any], nxt: dict[str, Any] | None, hold: float) -> float:
    """How long the next step waits after this one: until its planned minute (the order
    counts on earlier cold-load surges having decayed and started units running by
    then), and at least ``hold_minutes`` after a block pickup."""
    gap = float(nxt["minute"]) - float(step["minute"]) if nxt else 0.0
    return min(max(gap, hold if step["picks_up"] else 0.0), MAX_HOLD_S / 60.0)


def _wait_text(wait: float, nxt: dict[str, Any] | None) -> str:
    if wait <= 0:
        return ""
    if nxt is None:
        return f"\nThen hold {wait:g} min for frequency and voltage to settle."
    return (
        f"\nThen hold {wait:g} min: step {nxt['step']} is planned for minute {nxt['minute']:g}. "
        "The order counts on that time: cold-load surges decay and started units come up to "
        "speed. The hold is part of the plan, not a formality."
    )


def _duration(minutes: float) -> str:
    seconds = max(1, round(minutes * 60))
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def _release_text(step: dict[str, Any]) -> str:
    blocks = ", ".join(
        f"{b['block']} (tier {b['tier']}, {b['cold_load_mw']:g} MW cold)" for b in step["picks_up"]
    )
    return (
        f"Release {blocks} for step {step['step']}. Before signing, read the frequency and "
        "voltage the crew entered at the last step (shown with this step): release only when "
        f"both are back in range and the online units can take the cold-load step "
        f"(planned margin {step['margin_mw']:g} MW)."
    )


def _step(
    lines: list[str], sid: str, title: str, role: str, prereq: str | None, **extra: str
) -> None:
    lines += [
        "",
        "[[steps]]",
        f"id = {_q(sid)}",
        f"title = {_q(title[:200])}",
        f"role = {_q(role)}",
    ]
    for key in ("type", "signoffs", "hold"):
        if key in extra:
            lines.append(f"{key} = {extra[key]}")
    if prereq:
        lines.append(f"prerequisites = [{_q(prereq)}]")
    lines.append(f"instructions = {_ml(extra['text'])}")
    if "readings" in extra:
        lines.append(extra["readings"])


def _header(plan: dict[str, Any], pid: str, rid: str, k: int = 1, of: int = 1) -> list[str]:
    part = f" part {k} of {of}" if of > 1 else ""
    return [
        f"# Generated by `plurictl plan restore {plan['scenario']}`: restore plan {rid},",
        f"# scenario hash {plan['scenario_hash'][:16]}. Check it against the site before use.",
        "",
        "format = 1",
        f"id = {_q(pid)}",
        f"title = {_q('Restore ' + str(plan['scenario']) + ' (restore plan ' + rid + ')' + part)}",
        'version = "1.0"',
        'roles = ["coordinator", "operator"]',
        "summary = "
        + _ml(
            f"Restoration order {rid} computed by `plurictl plan restore` for scenario "
            f"{plan['scenario']}: {len(plan['steps'])} switching steps, "
            f"{plan['energy_mwh']:g} MWh served over the horizon. Each block waits for the "
            "coordinator's release; each switching step needs two signatures."
            + (f" This is part {k} of {of}: run the parts in order." if of > 1 else "")
        ),
        "sources = [",
        '  "plurictl field_guides/restoration.md (how the order is computed)",',
        '  "ISO 8528-5, generating sets: load acceptance in steps",',
        '  "IEEE PES, cold load pickup: a returning load draws a multiple of its demand",',
        "]",
        "abort_criteria = [",
        '  "Frequency or voltage out of range and not recovering within the hold",',
        '  "A unit trips, overloads or goes into reverse power",',
        '  "A protection operates on a feeder being closed",',
        "]",
    ]


def restore_playbooks(plan: dict[str, Any]) -> list[str]:
    """The playbook TOML texts of a ``plan restore`` result: one, or several parts in
    order when one playbook cannot hold the whole order (at most ``MAX_STEPS`` steps and
    ``MAX_TEXT_BYTES`` bytes each: a run embeds its playbook in one signed entry)."""
    steps = plan["steps"]
    parts: list[list[int]] = [list(range(len(steps)))]
    text = _render(plan, parts[0], 1, 1)
    if _fits(text):
        return [text]
    sizes = [len(_op_lines(plan, i, "x").encode("utf-8")) + 1 for i in range(len(steps))]
    counts = [2 if steps[i]["picks_up"] else 1 for i in range(len(steps))]
    room = MAX_TEXT_BYTES - len(_render(plan, [], 1, 9).encode("utf-8")) - 2_000
    parts = [[]]
    used = [0, 0]
    for i in range(len(steps)):
        if parts[-1] and (used[0] + sizes[i] > room or used[1] + counts[i] > MAX_STEPS - 3):
            parts.append([])
            used = [0, 0]
        parts[-1].append(i)
        used = [used[0] + sizes[i], used[1] + counts[i]]
    texts = [_render(plan, part, k + 1, len(parts)) for k, part in enumerate(parts)]
    if not all(_fits(t) for t in texts):  # pragma: no cover - the packing above is bounded
        raise InvalidInput("the restore order does not fit in playbooks of 60,000 bytes")
    return texts


def _fits(text: str) -> bool:
    return len(text.encode("utf-8")) <= MAX_TEXT_BYTES and text.count("[[steps]]") <= MAX_STEPS


def _op_lines(plan: dict[str, Any], i: int, prev: str | None) -> str:
    """The release (before a block) and switching step of the order's ``i``-th step."""
    steps = plan["steps"]
    step, nxt = steps[i], steps[i + 1] if i + 1 < len(steps) else None
    lines: list[str] = []
    n = step["step"]
    if step["picks_up"]:
        rel = f"release-{n}"
        names = ", ".join(b["block"] for b in step["picks_up"])
        _step(lines, rel, f"Release {names}", "coordinator", prev, type='"release"',
              text=_release_text(step))  # fmt: skip
        prev = rel
    what = ", ".join([u["unit"] for u in step["starts"]] + [b["block"] for b in step["picks_up"]])
    wait = _wait_minutes(step, nxt, float(plan.get("hold_minutes") or 0))
    extra = {
        "signoffs": "2",
        "text": _action_text(step, plan) + _wait_text(wait, nxt),
        "readings": _readings(float(plan.get("f_hz") or 50.0)),
    }
    if wait > 0:
        extra["hold"] = _q(_duration(wait))
    title = f"Step {n}: {what or 'energise ' + ', '.join(step['energises'])}"
    _step(lines, f"step-{n}", title, "operator", prev, **extra)
    return "\n".join(lines)


def _render(plan: dict[str, Any], part: list[int], k: int, of: int) -> str:
    """Playbook ``k`` of ``of`` holding the order's steps ``part``."""
    steps, rid = plan["steps"], plan["id"]
    lines = _header(plan, playbook_id(plan) + (f"-p{k}" if of > 1 else ""), rid, k, of)
    prev: str | None = None
    if k > 1:
        first = steps[part[0]] if part else None
        _step(lines, "previous-part", f"Part {k - 1} of {of} is complete", "coordinator", None,
              text=f"Start only when part {k - 1} of restore plan {rid} is complete (its last "
              "step signed)" + (f" and minute {first['minute']:g} of the order is reached "
              "(the hold at the end of that part)" if first else "") + ".")  # fmt: skip
        prev = "previous-part"
    for i in part:
        lines.append(_op_lines(plan, i, prev))
        prev = f"step-{steps[i]['step']}"
    if k < of:
        _step(lines, "part-done", f"Part {k} of {of} done: go on with part {k + 1}",
              "coordinator", prev, text=f"All steps of this part are done. Hold as the last "
              f"step says, then start part {k + 1} of restore plan {rid}.")  # fmt: skip
    else:
        left = ", ".join(plan["not_restored"]) or "none"
        _step(lines, "stable", "Restoration complete: declare the network stable",
              "coordinator", prev, text=f"All steps of {rid} are done. Blocks this plan does "
              f"not restore: {left}. Let PV and batteries rejoin, set watches, report to the "
              "operations centre.")  # fmt: skip
    text = "\n".join(lines) + "\n"
    problems = validate(text) if _fits(text) else []
    if problems:  # pragma: no cover - a bug here, not in the input
        raise InvalidInput(
            "generated playbook is invalid: " + "; ".join(str(p) for p in problems[:3])
        )
    return text


def restore_playbook(plan: dict[str, Any]) -> str:
    """The one playbook of a ``plan restore`` result (``InvalidInput`` if it needs parts)."""
    texts = restore_playbooks(plan)
    if len(texts) > 1:
        raise InvalidInput(f"the restore order needs {len(texts)} playbooks (parts)")
    return texts[0]
