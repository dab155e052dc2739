"""What each page shows, built from the read commands' JSON (:mod:`plurictl.readouts`).

Pure functions of a :class:`~plurictl.dashboard.live.Snapshot` and the time: no
store, no network. The JSON each page is built on is the same document the CLI
prints with ``--json``; what is added here is presentation only (hours of fuel
left, what is due soon, what needs a human now).
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

from plurictl import readouts
from plurictl.dashboard import timefmt
from plurictl.dashboard.memo import ByIdentity
from plurictl.dashboard.plan_model import adopted_plans, planned_burn, timed_plans

#: a site with less fuel than this many hours of burn gets a banner
LOW_FUEL_HOURS = 24.0
#: a playbook hold ending within this many seconds gets a banner
HOLD_SOON_S = 15 * 60
#: readings older than this are not used to estimate a burn rate
BURN_WINDOW_MS = 48 * 3600 * 1000


# --- fuel ---------------------------------------------------------------------------


_SITE_HISTORY = ByIdentity()


def reading_history(state: Any) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """site -> tank -> every reading in time order (for the charts and burn estimates)."""
    return {
        name: _SITE_HISTORY.get(site, functools.partial(_site_history, site))
        for name, site in sorted(state.sites.items())
    }


def _site_history(site: Any) -> dict[str, list[dict[str, Any]]]:
    current_ids = {r.id for t in site.tanks.values() for r in t.current}
    return {
        tank_name: [
            {
                "time_ms": r.hlc >> 16,
                "litres": r.litres,
                "by": r.name,
                "current": r.id in current_ids,
                "conflict": tank.conflict and r.id in current_ids,
            }
            for r in tank.readings
        ]
        for tank_name, tank in sorted(site.tanks.items())
    }


def burn_from_readings(points: list[dict[str, Any]], now_ms: int) -> float | None:
    """Litres per hour one tank burned between its readings of the 48 hours before
    ``now_ms`` (a rise between two readings is a delivery, not burn)."""
    recent = [p for p in points if 0 <= now_ms - p["time_ms"] <= BURN_WINDOW_MS]
    burned, hours = 0.0, 0.0
    for a, b in itertools.pairwise(recent):
        dt = (b["time_ms"] - a["time_ms"]) / 3_600_000
        if dt > 0 and b["litres"] <= a["litres"]:
            burned += a["litres"] - b["litres"]
            hours += dt
    return burned / hours if hours >= 0.25 and burned > 0 else None


_SITE_BURN = ByIdentity()


def burn_by_site(history: dict[str, Any]) -> dict[str, float]:
    """site -> litres per hour from its readings (up to its newest reading; time-free)."""
    out = {}
    for site, tanks in history.items():
        rate = _SITE_BURN.get(tanks, functools.partial(_site_burn, tanks))
        if rate:
            out[site] = rate
    return out


def _site_burn(tanks: dict[str, list[dict[str, Any]]]) -> float | None:
    newest = max((p[-1]["time_ms"] for p in tanks.values() if p), default=0)
    known = [r for r in (burn_from_readings(p, newest) for p in tanks.values()) if r]
    return sum(known) if known else None


def site_rows(
    doc: dict[str, Any],
    history: dict[str, Any],
    plan_burn: dict[str, float],
    read_burn: dict[str, float],
) -> list[dict[str, Any]]:
    """One row per site: fuel now, the burn estimate (and where it comes from), hours left."""
    rows = []
    for s in doc["sites"]:
        name = s["site"]
        burn, source = s.get("burn_rate_lph"), "declared"
        if not burn:
            burn, source = read_burn.get(name), "from readings"
        if not burn and plan_burn.get(name):
            burn, source = plan_burn[name], "adopted plan"
        litres = float(s.get("estimate_now_litres", s["inventory_litres"]))
        hours = litres / burn if burn else None
        rows.append(
            {
                "site": name,
                "litres": litres,
                "inventory": s["inventory_litres"],
                "burn_lph": burn,
                "burn_source": source if burn else "",
                "hours_left": hours,
                "low": hours is not None and hours < LOW_FUEL_HOURS,
                "conflicts": s["conflicts"],
                "read_time_ms": s["read_time_ms"],
                "tanks": s["tanks"],
                "history": history.get(name, {}),
            }
        )
    return rows


def fuel_status(snap: Any, now_ms: int) -> dict[str, Any]:
    """`fuel status --json` for now (the time-free part built once per ledger state)."""
    whole = snap.cached("fuel:json", snap.fuel.to_json)
    return readouts.fuel_status(snap.fuel, now_ms, whole=whole)


def fuel_page(snap: Any, now_ms: int) -> dict[str, Any]:
    doc = fuel_status(snap, now_ms)
    history = snap.cached("fuel:history", lambda: reading_history(snap.fuel))
    plans = snap.cached("plans:adopted", lambda: adopted_plans(snap.plans))
    read_burn = snap.cached("fuel:burn", lambda: burn_by_site(history))
    rows = site_rows(doc, history, planned_burn(plans), read_burn)
    moving = [t for t in doc["transfers"] if t["state"] in ("planned", "dispatched")]
    return {"doc": doc, "sites": rows, "in_flight": moving, "now_ms": now_ms}


# --- votes --------------------------------------------------------------------------

#: A seq past any this laptop's key has written: the roster's answer there is what holds for
#: the key's next entry (a cut or a role removed applies to every later seq).
FROM_NOW_ON = 2**62


def vote_rows(snap: Any, me: bytes) -> list[dict[str, Any]]:
    """Each vote: state, seals k of n, quorum, my seal if wanted, the result once sealed."""
    from ledger.votes import as_json as vote_json

    votes, roster = snap.votes, snap.roster
    if votes is None:
        return []
    me_member = roster.member_of(me) if roster is not None else None
    rows = []
    for row in readouts.vote_list(votes, roster)["votes"]:
        vote = votes.votes[bytes.fromhex(row["id"])]
        status = vote_json.status(vote, votes, roster)
        mine = next(
            (t for t in status["tellers_detail"] if me_member and t["member"] == me_member.hex()),
            None,
        )
        open_sheets = [s for s in status["sheets"] if not s.get("sealed")]
        # `vote seal` refuses a key that is cut (revoked, rotated), lost the teller role, or
        # does not hold this vote's seat (the seat stays with the key the vote opened with)
        may_seal = (
            me_member is not None
            and roster.authority(me, FROM_NOW_ON, "teller") is None
            and vote.charter.fields.teller_keys.get(me_member, me_member) == me
        )
        sec = vote.secret  # sealed, not decrypted: a teller without a valid share adds one
        share_wanted = bool(
            mine
            and may_seal
            and row["state"] == "SEALED"
            and sec is not None
            and sec.counts is None
            and not any(x.valid and x.member == me_member for x in sec.shares)
            and not (vote.stuck is not None and not vote.stuck.unless)
        )
        # Stuck for good (no seal could finish it): say so, never ask for a seal the CLI refuses
        stuck = vote.stuck.advice if vote.stuck is not None else None
        dead = vote.stuck is not None and not vote.stuck.unless
        rows.append(
            {
                **row,
                "stuck_advice": stuck,
                "quorum_pct": status["turnout"]["quorum_pct"],
                "turnout": status["turnout"],
                "sheets": status["sheets"],
                "i_am_teller": mine is not None,
                "my_seal_wanted": bool(
                    mine
                    and may_seal
                    and mine["sealed_sheet"] is None
                    and open_sheets
                    and row["state"] not in ("SEALED", "FINAL")
                    and not dead
                )
                or share_wanted,
                "result": readouts.vote_result(vote, roster)["result"]
                if row["state"] in ("SEALED", "FINAL")
                else None,
            }
        )
    return rows


# --- playbooks ----------------------------------------------------------------------


def run_rows(snap: Any, now_ms: int) -> list[dict[str, Any]]:
    """Every playbook run as `playbook status RUN --json` shows it, holds counted now."""
    if snap.playbooks is None:
        return []
    return [readouts.run_status(r, now_ms) for r in readouts.playbook_runs(snap.playbooks)]


# --- banners and overview -----------------------------------------------------------


def banners(snap: Any, me: bytes, now_ms: int) -> list[dict[str, str]]:
    """Anything that needs a human now, most urgent first: (level, text, link)."""
    out: list[dict[str, str]] = []
    for s in fuel_page(snap, now_ms)["sites"]:
        if s["low"]:
            out.append(
                _banner(
                    "alert",
                    f"{s['site']}: about {timefmt.duration(s['hours_left'] * 3600)} of fuel left "
                    f"({s['litres']:,.0f} L at {s['burn_lph']:,.0f} L/h, {s['burn_source']})",
                    "/fuel",
                )
            )
        if s["conflicts"]:
            out.append(
                _banner(
                    "warn",
                    f"{s['site']}: tank readings disagree ({', '.join(s['conflicts'])}): "
                    "read the tank again",
                    "/fuel",
                )
            )
    for plan in timed_plans(snap, now_ms):
        out.extend(_plan_banners(plan, now_ms))
    for v in snap.cached("votes:rows", lambda: vote_rows(snap, me)):
        if v["my_seal_wanted"]:
            out.append(
                _banner(
                    "alert", f"Vote “{v['title']}” is waiting for your seal as teller", "/votes"
                )
            )
    for run in run_rows(snap, now_ms):
        for step in run["steps"]:
            left = step.get("hold_remaining_s")
            if step["state"] == "holding" and left is not None and left <= HOLD_SOON_S:
                out.append(
                    _banner(
                        "warn",
                        f"{run['playbook']['title']}: hold before “{step['title']}” ends in "
                        f"{timefmt.duration(left)}",
                        "/playbooks",
                    )
                )
    if snap.mesh.get("forks"):
        out.append(
            _banner(
                "alert",
                f"{snap.mesh['forks']} key(s) signed two histories (a copied laptop?): "
                "see `plurictl forks list`",
                "/",
            )
        )
    order = {"alert": 0, "warn": 1}
    return sorted(out, key=lambda b: order.get(b["level"], 2))


def _banner(level: str, text: str, link: str) -> dict[str, str]:
    return {"level": level, "text": text, "link": link}


def _plan_banners(plan: dict[str, Any], now_ms: int) -> list[dict[str, str]]:
    if plan["horizon_state"] == "ended":
        return [
            _banner(
                "warn",
                f"The adopted plan for {plan['scenario']} ended at "
                f"{timefmt.local(plan['end_ms'], now_ms=now_ms)}: plan again",
                "/plan",
            )
        ]
    overdue = [o for o in plan["orders"] if o["overdue"]]
    if not overdue:
        return []
    sites = sorted({str(o.get("site") or "-") for o in overdue})
    return [
        _banner(
            "alert",
            f"{len(overdue)} order(s) overdue and not acknowledged ({', '.join(sites)})",
            "/plan",
        )
    ]


def overview(snap: Any, me: bytes, now_ms: int) -> dict[str, Any]:
    """The overview page (and `/api/overview`)."""
    peers = snap.peers
    votes = snap.cached("votes:rows", lambda: vote_rows(snap, me))
    return {
        "now_ms": now_ms,
        "mesh": snap.mesh,
        "peers": peers,
        "waiting": {
            "they_lack": sum(p["ahead"] or 0 for p in peers),
            "we_lack": sum(p["behind"] or 0 for p in peers),
        },
        "banners": banners(snap, me, now_ms),
        "fuel": [
            {k: s[k] for k in ("site", "litres", "hours_left", "burn_lph", "low", "conflicts")}
            for s in fuel_page(snap, now_ms)["sites"]
        ],
        "votes_open": [v for v in votes if v["state"] not in ("FINAL",)],
        "runs": [
            {k: r[k] for k in ("id", "playbook", "state", "progress")}
            for r in run_rows(snap, now_ms)
        ],
    }


def sheet(snap: Any, me: bytes, now_ms: int) -> dict[str, Any]:
    """The one-page status sheet for the wall (and `/api/sheet`)."""
    plans = timed_plans(snap, now_ms)
    return {
        "now_ms": now_ms,
        "mesh": snap.mesh,
        "banners": banners(snap, me, now_ms),
        "fuel": fuel_page(snap, now_ms)["sites"],
        "orders": [o for p in plans for o in p["orders"] if o["due_soon"]],
        "plans": plans,
        "votes": snap.cached("votes:rows", lambda: vote_rows(snap, me)),
        "runs": run_rows(snap, now_ms),
    }
