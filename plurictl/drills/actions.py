"""What each drill step does. ``do_<action>(runner, args) -> short result text``.

Writes go through the same library functions the CLI commands call, on the
node's own home, followed by a nudge to its running node (exactly what the
CLI does); faults go through the nodes' control sockets.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ledger.entry import create
from ledger.errors import InvalidInput, PluriError
from ledger.roster import writer as trust
from plurictl import lifeline

if TYPE_CHECKING:
    from plurictl.drills.runner import DrillRunner


def _nodes(r: DrillRunner, args: dict[str, Any]) -> list[str]:
    return list(args.get("nodes") or r.drill.names)


def do_found(r: DrillRunner, args: dict[str, Any]) -> str:
    founder = args.get("founder") or r.drill.names[0]
    r.cluster.init_homes(r.drill.names)
    roles = {n.name: n.roles for n in r.drill.nodes}
    if "admin" not in roles[founder]:
        roles[founder] = ["admin", *roles[founder]]
    mesh_id = r.cluster.found_mesh(founder, roles, args.get("mesh", r.drill.name))
    with r.home(founder) as h:
        r.ack(founder, h.store.entries(author=h.identity.public))
    return f"mesh {mesh_id.hex()[:12]} founded by {founder}, {len(r.drill.names)} members"


def do_start(r: DrillRunner, args: dict[str, Any]) -> str:
    names = _nodes(r, args)
    for n in names:
        r.cluster.start(n, extra=r.node_extra(n))
    return f"{len(names)} node(s) running"


def do_stop(r: DrillRunner, args: dict[str, Any]) -> str:
    r.collect_traffic(args["node"])
    r.cluster.stop(args["node"])
    return "stopped cleanly"


def do_kill(r: DrillRunner, args: dict[str, Any]) -> str:
    r.collect_traffic(args["node"])
    r.cluster.kill(args["node"])
    return "killed (SIGKILL)"


def do_restart(r: DrillRunner, args: dict[str, Any]) -> str:
    name = args["node"]
    if r.cluster.running(name):
        r.collect_traffic(name)
        r.cluster.stop(name)
    r.cluster.start(name, extra=r.node_extra(name))
    return "running again"


def do_partition(r: DrillRunner, args: dict[str, Any]) -> str:
    groups = [list(g) for g in args["groups"]]
    r.cluster.partition(groups)
    return " | ".join(",".join(g) for g in groups)


def do_heal(r: DrillRunner, args: dict[str, Any]) -> str:
    r.cluster.heal()
    return "all links restored"


def do_loss(r: DrillRunner, args: dict[str, Any]) -> str:
    r.cluster.degrade(_nodes(r, args), loss=float(args["percent"]) / 100)
    return f"{args['percent']}% loss"


def do_delay(r: DrillRunner, args: dict[str, Any]) -> str:
    r.cluster.degrade(_nodes(r, args), delay_ms=int(args["ms"]))
    return f"{args['ms']} ms delay"


def _lab(r: DrillRunner, action: str) -> Any:
    if r.cluster.net is None:
        raise InvalidInput(
            f"`{action}` cuts a real link: run the drill with --network netns (needs root)"
        )
    return r.cluster.net


def do_link_down(r: DrillRunner, args: dict[str, Any]) -> str:
    _lab(r, "link-down").link_down(args["node"])
    return f"{args['node']}'s network interface is down"


def do_link_up(r: DrillRunner, args: dict[str, Any]) -> str:
    _lab(r, "link-up").link_up(args["node"])
    return f"{args['node']}'s network interface is up"


def do_unplug(r: DrillRunner, args: dict[str, Any]) -> str:
    _lab(r, "unplug").detach(args["node"])
    return f"{args['node']}'s port is detached from the bridge"


def do_plug(r: DrillRunner, args: dict[str, Any]) -> str:
    _lab(r, "plug").attach(args["node"])
    return f"{args['node']}'s port is back on the bridge"


def do_write(r: DrillRunner, args: dict[str, Any]) -> str:
    name = args["node"]
    count = int(args.get("count", 1))
    kind = str(args.get("kind", "note"))
    body = dict(args.get("body", {"text": f"drill note from {name}"}))
    with r.member_home(name) as h:
        entries = h.store.append_many(h.identity, [(kind, {**body, "n": i}) for i in range(count)])
    r.ack(name, entries)
    return f"{count} {kind} entr{'y' if count == 1 else 'ies'}"


def do_wait_converged(r: DrillRunner, args: dict[str, Any]) -> str:
    timeout = r.duration(args.get("timeout", "60s"), "timeout")
    nodes = args.get("nodes")
    label = str(args.get("label") or ("converge " + ",".join(nodes) if nodes else "converge all"))
    took = r.wait_converged(nodes, timeout, label)
    return f"{took:.2f} s"


def do_sleep(r: DrillRunner, args: dict[str, Any]) -> str:
    lifeline.sleep(r.duration(args["seconds"], "seconds"))  # a SIGTERM always ends it
    return ""


def do_check(r: DrillRunner, args: dict[str, Any]) -> str:
    from plurictl.drills.checker import check_all

    results = check_all(r, final=False)
    r.report.midway.extend(results)
    failed = [i.name for i in results if not i.ok]
    return "FAILED: " + ", ".join(failed) if failed else "ok"


def do_courier(r: DrillRunner, args: dict[str, Any]) -> str:
    """A courier walks the gap: frontier from `to` to `from`, bundle from `from` to `to`."""
    from ledger.courier import export as courier
    from ledger.courier import frontier

    src, dst = args["from"], args["to"]
    stick = r.root / "usb-stick"
    stick.mkdir(exist_ok=True)
    fpath, bpath = stick / f"frontier-{dst}.plf", stick / f"{src}-to-{dst}.plb"
    with r.home(dst) as h:
        frontier.write_file(fpath, h.store, h.identity, overwrite=True)
    with r.member_home(src) as h:
        since = courier.load_since(h.store, fpath)
        result = courier.export_bundle(h.store, h.identity, bpath, since=since, overwrite=True)
    with r.home(dst) as h:
        report = courier.import_bundle(bpath, h.store)
    r.cluster.nudge(dst)
    return f"{result.entries} entries carried, {report.new_entries} new on {dst}"


def do_revoke(r: DrillRunner, args: dict[str, Any]) -> str:
    by = args.get("by") or r.drill.names[0]
    key = r.member_key(args["node"])
    with r.member_home(by) as h:
        at = args.get("at")
        if at is None and h.store.stored_heads().get(key) is None:
            at = 0  # the admin has seen nothing of that laptop: cut everything, explicitly
        res = trust.revoke(h.store, h.identity, key, str(args.get("reason", "drill")), at)
        r.ack(by, res.entry)
    r.expelled.add(args["node"])
    return f"{args['node']} revoked by {by} at seq {res.cut_at} (its laptop is cut off from now on)"


def do_rotate(r: DrillRunner, args: dict[str, Any]) -> str:
    """Lost laptop: the old one disappears; the member gets a new key on a new laptop
    (with a radio on the same channel if the old one had one)."""
    from plurictl.drills.radio import restart_bridge, stop_bridge

    name = args["node"]
    by = args.get("by") or r.drill.names[0]
    old_key = r.member_key(name)
    radio = stop_bridge(r, name)
    r.lose_laptop(name)
    with r.member_home(by) as h:
        res = trust.rotate(h.store, h.identity, old_key, r.member_key(name))
        r.ack(by, res.entry)
    r.pin(name)
    r.cluster.start(name, extra=r.node_extra(name))
    if radio is not None:
        restart_bridge(r, name, radio)
    return f"{name} moved to a new key {r.member_key(name).hex()[:12]}"


def do_equivocate(r: DrillRunner, args: dict[str, Any]) -> str:
    """A copied laptop: `node`'s key signs a second, different entry at its next seq; the copy
    shows up at `via`. Every node must end up with the fork proof."""
    name = args["node"]
    via = args.get("via") or next(n for n in r.drill.names if n != name)
    with r.member_home(name) as h:
        head = h.store.stored_heads().get(h.identity.public)
        seq, prev = (head.seq, head.id) if head else (0, h.store.mesh_id)
        twin = create(
            h.identity,
            seq=seq + 1,
            prev=prev,
            hlc=(int(time.time() * 1000) << 16),
            kind="note",
            body={"text": "written on a copied laptop"},
        )
        honest = h.append("note", {"text": "written on the real laptop"})
        history = h.store.range_raw(h.identity.public, 1, seq, limit=10**9)
    r.ack(name, honest)
    with r.home(via) as h:
        # the copy carries the whole feed up to the fork, then its own entry
        report = h.store.ingest([*history, twin.raw])
    r.cluster.nudge(via)
    r.expect_forks.add(name)
    found = f", {len(report.forks)} proof found at once" if report.forks else ""
    return f"copy of {name}'s key signed seq {seq + 1} differently; the copy reached {via}{found}"


def do_nemesis(r: DrillRunner, args: dict[str, Any]) -> str:
    from plurictl.drills.nemesis import run_nemesis

    return run_nemesis(r, args)


# --- votes -----------------------------------------------------------------------------


def _named(r: DrillRunner, kind: str, name: str) -> str:
    key = f"{kind}:{name}"
    if key not in r.named:
        raise ValueError(f"no {kind} named {name!r} was created earlier in this drill")
    return str(r.named[key])


def do_vote_open(r: DrillRunner, args: dict[str, Any]) -> str:
    from ledger.votes.spec import parse_options
    from ledger.votes.writer import VoteSpec, open_vote

    node = args["node"]
    options = []
    for o in args["options"]:
        if args.get("plans") and isinstance(o, str):  # every option is a plan, by drill name
            o = {"id": o, "label": f"plan {o}", "plan": o}
        if isinstance(o, dict) and o.get("plan"):  # an option that adopts a plan when it wins
            o = {
                "id": o.get("id", o["plan"]),
                "label": o.get("label", o["plan"]),
                "ref": _named(r, "plan", o["plan"]),
            }
        options.append(o)
    roll = str(args.get("roll", "role:operator"))
    tellers = [r.member_key(t) for t in args.get("tellers", [])]
    spec = VoteSpec(
        title=str(args["title"]),
        options=parse_options(options, {}),
        method=str(args.get("method", "plurality")),
        tellers=tellers,
        roll_role=roll.removeprefix("role:") if roll.startswith("role:") else None,
        quorum_pct=int(args.get("quorum", 0)),
        tolerate=int(args["tolerate"]) if "tolerate" in args else None,
    )
    if "ceremony" in args:  # a secret vote: tellers, k and f are the ceremony's
        spec.ceremony, spec.tellers, spec.tolerate = (
            _named(r, "ceremony", args["ceremony"]),
            [],
            None,
        )
    with r.member_home(node) as h:
        entry = open_vote(h.store, h.identity, spec)
        r.ack(
            node,
            h.store.entries(
                author=h.identity.public, newest_first=True, limit=1 + len(spec.options)
            ),
        )
    r.named[f"vote:{args.get('id', args['title'])}"] = entry.id.hex()
    return f"vote {entry.id.hex()[:12]} opened with {len(entry.body['tellers'])} tellers"


def do_vote_cast(r: DrillRunner, args: dict[str, Any]) -> str:
    from ledger.votes.writer import cast

    node = args["node"]
    choice = args["choice"]
    words = [str(c) for c in choice] if isinstance(choice, list) else [str(choice)]
    with r.member_home(node) as h:
        res = cast(h.store, h.identity, _named(r, "vote", args["vote"]), words=words)
    r.ack(node, res.entry)
    if "sealed" in res.entry.body:  # what the checker compares the decrypted counts with
        r.named[f"plain:{res.entry.id.hex()}"] = sorted(words)
    return f"{node} voted {' '.join(words)}" + (
        f" (replaces {res.replaced})" if res.replaced else ""
    )


def do_vote_close(r: DrillRunner, args: dict[str, Any]) -> str:
    from ledger.votes.writer import close

    node = args["node"]
    with r.member_home(node) as h:
        res = close(h.store, h.identity, _named(r, "vote", args["vote"]), force=True)
    r.ack(node, res.entry)
    return f"close sheet {res.entry.id.hex()[:12]} lists {res.count} ballots"


def do_clone(r: DrillRunner, args: dict[str, Any]) -> str:
    """A backup of `node`'s laptop is taken now; a later step may restore it on another
    machine (`vote-seal` with `copy`): the same key, signing from this point again."""
    name = args["node"]
    with r.member_home(name) as h:
        head = h.store.stored_heads().get(h.identity.public)
        seq, prev = (head.seq, head.id) if head else (0, h.store.mesh_id)
        history = h.store.range_raw(h.identity.public, 1, seq, limit=10**9)
    r.named[f"clone:{name}"] = (seq, prev, history)
    return f"backup of {name}'s laptop at seq {seq}"


def _copy_seals(r: DrillRunner, name: str, vote: str, side: str) -> str:
    """The restored copy of `name`'s laptop, on `side`'s side of a split, seals the sheet
    that `side`'s laptop would pick: a second entry at the seq the real laptop also uses."""
    from ledger.votes.bodies import SEAL
    from ledger.votes.pick import pick_sheet
    from ledger.votes.writer import find_vote, load

    if f"clone:{name}" not in r.named:
        raise ValueError(f"no backup of {name} was taken (a `clone` step comes first)")
    seq, prev, history = r.named[f"clone:{name}"]
    with r.home(side) as h:
        v = find_vote(load(h.store)[0], vote)
        sheet = pick_sheet(v, None)
    with r.member_home(name) as h:
        body = {"vote": v.id.hex(), "sheet": sheet.id.hex(), "root": sheet.root.hex()}
        twin = create(
            h.identity, seq=seq + 1, prev=prev, hlc=int(time.time() * 1000) << 16,
            kind=SEAL, body=body,
        )  # fmt: skip
    with r.home(side) as h:
        h.store.ingest([*history, twin.raw])
    r.named[f"clone:{name}"] = (seq + 1, twin.id, [*history, twin.raw])
    r.cluster.nudge(side)
    r.expect_forks.add(name)
    return f"the copy of {name}'s laptop sealed sheet {sheet.id.hex()[:12]} on {side}'s side"


def do_vote_seal(r: DrillRunner, args: dict[str, Any]) -> str:
    from ledger.votes.writer import seal

    node = args["node"]
    if args.get("copy"):
        return _copy_seals(r, node, _named(r, "vote", args["vote"]), str(args["copy"]))
    try:
        with r.member_home(node) as h:
            res = seal(h.store, h.identity, _named(r, "vote", args["vote"]), accept_late=True)
    except PluriError as e:  # a refused seal is a legitimate drill outcome
        return f"seal refused: {e}"
    if res.entry is None:  # a secret vote: this teller's share is already there
        return f"nothing to write ({res.share})"
    r.ack(node, res.entry)
    if res.share == "written":
        return f"decryption share on sealed sheet {res.sheet.id.hex()[:12]} ({res.state})"
    said = f"{res.seals}/{res.k} seals on sheet {res.sheet.id.hex()[:12]} ({res.state})"
    return said + ("; share held back" if res.share == "held" else "")


def do_ceremony_start(r: DrillRunner, args: dict[str, Any]) -> str:
    from ledger.votes.secret_writer import start

    tellers = [r.member_key(t) for t in args["tellers"]]
    tolerate = int(args["tolerate"]) if "tolerate" in args else None
    with r.member_home(args["node"]) as h:
        entry = start(h.store, h.identity, tellers, None, tolerate)
    r.ack(args["node"], entry)
    r.named[f"ceremony:{args['id']}"] = entry.id.hex()
    return f"key ceremony {entry.id.hex()[:12]} among {len(tellers)} tellers (k={entry.body['k']})"


def do_ceremony_deal(r: DrillRunner, args: dict[str, Any]) -> str:
    from ledger.votes.secret_writer import step

    node = args["node"]
    with r.member_home(node) as h:
        res = step(h.store, h.identity, _named(r, "ceremony", args["ceremony"]))
    for e in res.entries:
        r.ack(node, e)
    done = "complete" if res.ceremony.complete else "not complete"
    wrote = ", ".join(w for _, w in res.written) or "nothing"
    return f"{node} (teller {res.index}) wrote {wrote}; ceremony {done} here"


# --- playbooks ----------------------------------------------------------------------------


def do_playbook_start(r: DrillRunner, args: dict[str, Any]) -> str:
    from ledger.playbooks import writer as playbooks
    from plurictl import shipped

    path = playbooks.resolve_file(str(args["playbook"]), shipped.folder("playbooks"))
    if path is None:
        raise ValueError(f"no playbook {args['playbook']!r}")
    node = args["node"]
    with r.member_home(node) as h:
        written = playbooks.start(
            h.store, h.identity, path.read_text(), source=path.name, site=args.get("site")
        )
    r.ack(node, written.entry)
    r.named[f"run:{args.get('id', args['playbook'])}"] = written.entry.id.hex()
    return f"run {written.entry.id.hex()[:12]} of {path.stem}"


def do_playbook_sign(r: DrillRunner, args: dict[str, Any]) -> str:
    from ledger.playbooks import writer as playbooks

    node = args["node"]
    with r.member_home(node) as h:
        written = playbooks.sign(
            h.store,
            h.identity,
            _named(r, "run", args["run"]),
            str(args["step"]),
            early=bool(args.get("early")),
            readings=_readings(args.get("readings")),
        )
    r.ack(node, written.entry)
    return f"{node} signed {args['step']}" + (
        f" ({'; '.join(written.warnings)})" if written.warnings else ""
    )


def _readings(value: Any) -> dict[str, float] | None:
    """A drill step's ``readings = { frequency = 50.0, ... }`` (numbers only)."""
    if value is None:
        return None
    if not isinstance(value, dict) or any(
        isinstance(v, bool) or not isinstance(v, int | float) for v in value.values()
    ):
        raise ValueError("readings must be a table of numbers, e.g. { frequency = 50.0 }")
    return {str(k): float(v) for k, v in value.items()}


def do_playbook_waive(r: DrillRunner, args: dict[str, Any]) -> str:
    from ledger.playbooks import writer as playbooks

    node = args["node"]
    with r.member_home(node) as h:
        written = playbooks.waive(
            h.store,
            h.identity,
            _named(r, "run", args["run"]),
            str(args["step"]),
            int(args.get("check", 0)),
            str(args.get("reason", "drill")),
        )
    r.ack(node, written.entry)
    return f"check {args.get('check', 0)} of {args['step']} waived"


# --- fuel and plans ---------------------------------------------------------------------


def do_fuel_report(r: DrillRunner, args: dict[str, Any]) -> str:
    from ledger.fuel import writer as fuel

    node = args["node"]
    with r.member_home(node) as h:
        e = fuel.report(
            h.store,
            h.identity,
            str(args["site"]),
            float(args["litres"]),
            tank=str(args.get("tank", "main")),
        )
    r.ack(node, e)
    return f"{args['site']}: {float(args['litres']):,.0f} L"


def do_plan_run(r: DrillRunner, args: dict[str, Any]) -> str:
    """Run the planner from the node's ledger fuel, propose the plan, optionally adopt it."""
    from ledger.plans import writer as plans
    from planner.api import load_scenario, solve
    from plurictl import shipped
    from plurictl.coordination import ledger_inventory, propose_plan

    node = args["node"]
    path = shipped.resolve("scenarios", str(args["scenario"]))
    with r.member_home(node) as h:
        scenario = load_scenario(path)
        inventory = ledger_inventory(h.store, scenario)
        result = solve(
            scenario.with_inventory(inventory.litres), periods=args.get("periods"), validate=False
        )
        if result.status not in ("solved", "partial"):
            raise ValueError(f"the planner could not plan: {result.reason}")
        entry = propose_plan(h.store, h.identity, result.to_json())
        parts = int(entry.body["blob"]["count"])
        r.ack(
            node,
            [
                e
                for e in h.store.entries(author=h.identity.public)
                if entry.seq - parts <= e.seq <= entry.seq
            ],
        )
        name = str(args.get("id", args["scenario"]))
        r.named[f"plan:{name}"] = entry.id.hex()
        if args.get("adopt"):
            r.ack(node, plans.adopt(h.store, h.identity, entry.id.hex()))
    served = result.to_json()["summary"]["served_pct"]
    return f"plan {entry.id.hex()[:12]} ({served}% served)" + (
        ", adopted" if args.get("adopt") else ""
    )


def do_plan_futures(r: DrillRunner, args: dict[str, Any]) -> str:
    """Plan the futures of a scenario from the node's ledger fuel and propose them all as
    one set (no AC check: a drill rehearses people, not power flow); each is named
    ``ID-LABEL`` for later steps (e.g. ``futures-reserve-24h``)."""
    from planner.api import load_scenario
    from planner.futures import run_futures, tagged
    from plurictl import shipped
    from plurictl.coordination import ledger_inventory, propose_plan

    node, name = args["node"], str(args.get("id", "futures"))
    hours = tuple(float(h) for h in args.get("reserve_hours", [24]))
    with r.member_home(node) as h:
        scenario = load_scenario(shipped.resolve("scenarios", str(args["scenario"])))
        scenario = scenario.with_inventory(ledger_inventory(h.store, scenario).litres)
        data, futures = run_futures(
            scenario, reserve_hours=hours, max_energy=bool(args.get("max_energy")), ac=False
        )
        for row, fut in zip(data["futures"], futures, strict=True):
            if row["status"] != "solved":
                continue
            if fut.plan is None:
                continue
            plan = tagged(fut.plan, data["id"], row["label"])
            tag = {"id": data["id"], "label": row["label"], "policy": row["policy"][:160]}
            entry = propose_plan(h.store, h.identity, plan, tag)
            parts = int(entry.body["blob"]["count"])
            mine = h.store.entries(author=h.identity.public)
            r.ack(node, [e for e in mine if entry.seq - parts <= e.seq <= entry.seq])
            r.named[f"plan:{name}-{row['label']}"] = entry.id.hex()
    r.named[f"futures:{name}"] = data["id"]
    return f"futures {data['id']}: " + ", ".join(row["label"] for row in data["futures"])


def do_plan_adopt(r: DrillRunner, args: dict[str, Any]) -> str:
    from ledger.plans import writer as plans

    node = args["node"]
    name = str(args.get("plan", ""))
    with r.member_home(node) as h:
        e = plans.adopt(h.store, h.identity, _named(r, "plan", name))
    r.ack(node, e)
    return f"plan {name} adopted by {node}"


def do_radio(r: DrillRunner, args: dict[str, Any]) -> str:
    from plurictl.drills.radio import do_radio as start_radio

    return start_radio(r, args)
