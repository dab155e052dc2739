"""Shell completion of what operators type: vote, run and plan ids, member and site names,
and the names of shipped drills, scenarios and playbooks.

Completers are attached by parameter name (``vote_id``, ``run``, ``plan_id``, ``member``,
``site`` …) when a command is first loaded, so every command that uses those names
completes them, including commands added later. They read this laptop's ledger (the
``--home`` given so far, or ``PLURI_HOME``), never write, and never fail: a laptop with
no ledger simply gets no suggestions. How to turn completion on: field_guides/install.md.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from ledger.store import Store

Completer = Callable[[click.Context, click.Parameter, str], "list[CompletionItem]"]


@contextlib.contextmanager
def _store(ctx: click.Context) -> Iterator[Store | None]:
    """This laptop's store, if it has one (opened only to read)."""
    from ledger.home import Home, resolve
    from ledger.store import DB_FILE

    path = resolve(ctx.find_root().params.get("home") or os.environ.get("PLURI_HOME"))
    if not (path / DB_FILE).exists():
        yield None
        return
    home = Home(path)
    try:
        yield home.store
    finally:
        home.close()


def _items(pairs: list[tuple[str, str]], incomplete: str) -> list[CompletionItem]:
    from click.shell_completion import CompletionItem

    low = incomplete.lower()
    seen: dict[str, str] = {}
    for value, help_ in pairs:
        if value.lower().startswith(low) and value not in seen:
            seen[value] = help_
    return [CompletionItem(v, help=h or None) for v, h in sorted(seen.items())]


def _from_ledger(read: Callable[[Store], list[tuple[str, str]]]) -> Completer:
    def complete(
        ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        try:
            with _store(ctx) as store:
                return [] if store is None else _items(read(store), incomplete)
        except Exception:  # completion must never break the shell
            return []

    return complete


def _votes(store: Store) -> list[tuple[str, str]]:
    from ledger.votes.writer import load

    votes, _ = load(store)
    return [(vid.hex()[:12], f"{v.charter.title} ({v.state})") for vid, v in votes.votes.items()]


def _runs(store: Store) -> list[tuple[str, str]]:
    from ledger.playbooks.writer import load_state

    return [
        (rid.hex()[:12], f"{run.playbook.title}" + (f" at {run.site}" if run.site else ""))
        for rid, run in load_state(store).runs.items()
    ]


def _plans(store: Store) -> list[tuple[str, str]]:
    from ledger.plans import writer as plans

    return [
        (pid.hex()[:12], f"{p.scenario} by {p.by}")
        for pid, p in plans.load(store).proposals.items()
    ]


def _members(store: Store) -> list[tuple[str, str]]:
    return [
        (info.name, ", ".join(sorted({r.role for r in info.roles if r.to_seq is None})))
        for info in store.roster().keys.values()
        if info.name and info.status == "active"
    ]


def _sites(store: Store) -> list[tuple[str, str]]:
    from ledger.fuel import writer as fuel
    from ledger.plans import writer as plans

    names = {name: "fuel reported" for name in fuel.load(store).sites}
    for order in plans.load(store).orders.values():
        site = order.order.get("site")
        if site:
            names.setdefault(str(site), "in an adopted plan's orders")
    return sorted(names.items())


def _shipped(kind: str) -> Completer:
    def complete(
        ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        try:
            from plurictl import shipped

            names = [(n, f"shipped {shipped.KINDS[kind]}") for n in shipped.names(kind)]
        except Exception:
            names = []
        from click.shell_completion import CompletionItem

        # the shipped names that fit, else the shell's own file completion (a file of
        # one's own): bash cannot offer both, a "file" answer clears the others
        return _items(names, incomplete) or [CompletionItem(incomplete, type="file")]

    return complete


def _comma_list(inner: Completer) -> Completer:
    """Complete the last name of a comma-separated list (``node partition alice,bo``)."""

    def complete(
        ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[CompletionItem]:
        from click.shell_completion import CompletionItem

        done, _, last = incomplete.rpartition(",")
        prefix = done + "," if done else ""
        taken = set(done.split(",")) if done else set()
        return [
            CompletionItem(prefix + item.value, help=item.help)
            for item in inner(ctx, param, last)
            if item.value not in taken
        ]

    return complete


VOTES, RUNS, PLANS = _from_ledger(_votes), _from_ledger(_runs), _from_ledger(_plans)
MEMBERS, SITES = _from_ledger(_members), _from_ledger(_sites)

#: parameter name -> completer, for every command
BY_NAME: dict[str, Completer] = {
    "vote_id": VOTES,
    "run": RUNS,
    "plan_id": PLANS,
    "member": MEMBERS,
    "for_member": MEMBERS,
    "tellers": MEMBERS,
    "author": MEMBERS,
    "groups": _comma_list(MEMBERS),
    "site": SITES,
    "site_name": SITES,
    "source": SITES,
    "target": SITES,
}
#: (command path, parameter name) -> completer, where a name means different things
BY_COMMAND: dict[tuple[str, str], Completer] = {
    ("drill run", "file"): _shipped("drills"),
    ("drill validate", "file"): _shipped("drills"),
    ("plan run", "file"): _shipped("scenarios"),
    ("plan validate", "file"): _shipped("scenarios"),
    ("playbook start", "file"): _shipped("playbooks"),
    ("playbook show", "target"): _shipped("playbooks"),
    ("playbook validate", "files"): _shipped("playbooks"),
}


def attach(command: click.Command, path: str) -> None:
    """Give the command's (and its sub-commands') parameters their completers, once."""
    if getattr(command, "_plurictl_completion", False):
        return
    command._plurictl_completion = True  # type: ignore[attr-defined]
    for param in command.params:
        completer = BY_COMMAND.get((path, str(param.name))) or BY_NAME.get(str(param.name))
        # click keeps a parameter's `shell_complete=` here; ours only where none was given
        if completer is not None and getattr(param, "_custom_shell_complete", None) is None:
            param._custom_shell_complete = completer
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            attach(sub, f"{path} {name}")


def completions(args: list[str], incomplete: str) -> list[dict[str, Any]]:
    """What the shell would offer after ``plurictl ARGS INCOMPLETE`` (for tests and docs)."""
    from click.shell_completion import ShellComplete

    from plurictl.cli import cli

    comp = ShellComplete(cli, {}, "plurictl", "_PLURICTL_COMPLETE")
    return [
        {"value": i.value, "help": i.help, "type": i.type}
        for i in comp.get_completions(args, incomplete)
    ]
