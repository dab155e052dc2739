"""`plurictl mesh create|show|join`: founding or joining a mesh."""

from __future__ import annotations

import click

from plurictl.context import AppContext, pass_app
from plurictl.render.common import console, emit_json, json_option


def _parse_cofounder(text: str) -> tuple[str, bytes]:
    from ledger.errors import InvalidInput
    from ledger.roster.writer import parse_key

    if "=" not in text:
        raise InvalidInput(f"--admin {text!r}: use NAME=PUBLIC_KEY")
    name, key = text.split("=", 1)
    return name.strip(), parse_key(key)


@click.group()
def mesh() -> None:
    """Found a mesh, join one, show which mesh this laptop is in."""


@mesh.command("create")
@click.argument("name")
@click.option(
    "--admin-threshold",
    type=int,
    default=1,
    show_default=True,
    help="Admins who must approve each roster change (needs that many founding admins).",
)
@click.option(
    "--admin",
    "cofounders",
    multiple=True,
    metavar="NAME=PUBLIC_KEY",
    help="A co-founding admin (repeatable).",
)
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(["admin", "coordinator", "operator", "teller", "observer"]),
    help="Your own roles (default: admin, coordinator, operator).",
)
@pass_app
def create(
    app: AppContext,
    name: str,
    admin_threshold: int,
    cofounders: tuple[str, ...],
    roles: tuple[str, ...],
) -> None:
    """Found a new mesh named NAME, with this laptop as its first admin.

    The genesis entry names the mesh; its id is the mesh id other laptops join.
    """
    from ledger.roster.writer import DEFAULT_FOUNDER_ROLES, create_mesh, mesh_fingerprint
    from plurictl.nudge import nudge_node

    entry = create_mesh(
        app.home.store,
        app.home.identity,
        name,
        admin_threshold=admin_threshold,
        roles=roles or DEFAULT_FOUNDER_ROLES,
        cofounders=[_parse_cofounder(c) for c in cofounders],
    )
    nudge_node(app.home.path)
    out = console()
    out.print(f"[green]Mesh founded:[/] {name}")
    out.print(f"  mesh id:     {entry.id.hex()}")
    out.print(f"  fingerprint: [bold]{mesh_fingerprint(entry.id)}[/]")
    out.print(
        "Newcomers run `plurictl mesh join MESH_ID`; you add them with `plurictl roster add`."
    )


@mesh.command("join")
@click.argument("mesh_id")
@pass_app
def join(app: AppContext, mesh_id: str) -> None:
    """Prepare this laptop to join the mesh MESH_ID (64 hex characters).

    Only that mesh's genesis will be accepted. Then get the roster by syncing
    with a member (`plurictl sync --peer ...`) or importing their courier bundle.
    """
    from ledger.roster.writer import mesh_fingerprint, parse_mesh_id

    value = parse_mesh_id(mesh_id)
    app.home.store.pin_mesh(value)
    console().print(
        f"Joining mesh {value.hex()[:16]}… (fingerprint [bold]{mesh_fingerprint(value)}[/]): "
        "check the fingerprint with an admin, then sync or import a bundle."
    )


@mesh.command("show")
@json_option
@pass_app
def show(app: AppContext, as_json: bool) -> None:
    """Show this laptop's mesh: id, fingerprint, members, and this laptop's roles."""
    from plurictl.readouts import mesh_info

    data = mesh_info(app.home.store, app.home.public_key()[1])
    if as_json:
        emit_json(data)
        return
    out = console()
    if data["mesh_id"] is None:
        if data["joining"]:
            out.print(f"Joining mesh {data['joining']}: waiting for its genesis (sync or bundle).")
        else:
            out.print(
                "Not in a mesh yet: `plurictl mesh create NAME` or `plurictl mesh join MESH_ID`."
            )
        return
    me = data["me"]
    out.print(f"mesh:        [bold]{data['name']}[/]")
    out.print(f"mesh id:     {data['mesh_id']}")
    out.print(f"fingerprint: {data['fingerprint']}")
    out.print(f"members:     {data['members']} active; admin threshold {data['admin_threshold']}")
    out.print(
        f"ledger:      {data['entries']} entries in {data['feeds']} feeds; forks: {data['forks']}"
    )
    out.print(
        f"this laptop: {me['name'] or '?'} ({me['status']}; roles: {', '.join(me['roles']) or 'none'})"
    )
    if data["pending_changes"]:
        out.print(
            f"[yellow]{data['pending_changes']} roster change(s) waiting for approvals[/] (`plurictl roster list`)"
        )
