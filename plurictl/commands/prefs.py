"""`plurictl prefs set|clear|show`: a site's signed order of its own loads.

The planner honours it within each tier, after fairness between communities, when it
plans from the ledger (`plan run --from-ledger`). Guide: field_guides/restoration.md
("Site preferences").
"""

from __future__ import annotations

import click

from plurictl.context import AppContext, pass_app
from plurictl.nudge import nudge_node
from plurictl.render.common import console, emit_json, hlc_time, json_option


@click.group()
def prefs() -> None:
    """A site's order of its own loads: who is shed last, within a tier.

    Example: plurictl prefs set north --rank pump,shelter

    Guide: field_guides/restoration.md.
    """


@prefs.command("set")
@click.argument("site")
@click.option("--rank", required=True, metavar="LOAD,LOAD,...",
              help="The site's loads, most important first (comma-separated).")  # fmt: skip
@click.option(
    "--note", default="", help="Why, for the record (e.g. 'agreed at the 18:00 meeting')."
)
@pass_app
def set_(app: AppContext, site: str, rank: str, note: str) -> None:
    """Sign SITE's order of its loads (operators and coordinators).

    Within each tier, after fairness between communities, the loads named first are
    shed last; the site's loads not named come after all named ones.

    Example: plurictl prefs set north --rank pump,shelter
    """
    from ledger.plans.writer import set_preference

    entry = set_preference(app.home.store, app.home.identity, site, rank.split(","), note)
    nudge_node(app.home.path)
    console().print(
        f"{site}: preference {', '.join(entry.body['rank'])} signed ({entry.id.hex()[:12]})"
    )


@prefs.command("clear")
@click.argument("site")
@pass_app
def clear(app: AppContext, site: str) -> None:
    """Clear SITE's preference: its loads share shortfalls evenly again.

    Example: plurictl prefs clear north
    """
    from ledger.plans.writer import set_preference

    set_preference(app.home.store, app.home.identity, site, [])
    nudge_node(app.home.path)
    console().print(f"{site}: preference cleared")


@prefs.command("show")
@json_option
@pass_app
def show(app: AppContext, as_json: bool) -> None:
    """Every site's standing preference.

    Example: plurictl prefs show --json
    """
    from ledger.plans.writer import preferences

    standing = preferences(app.home.store)
    if as_json:
        emit_json({"preferences": [p.to_json() for p in standing.values()]})
        return
    out = console()
    if not standing:
        out.print("No site has set a preference: loads share shortfalls evenly.")
    for p in standing.values():
        note = f" ({p.note})" if p.note else ""
        out.print(f"{p.site}: {', '.join(p.rank)} — set by {p.by} at {hlc_time(p.hlc)}{note}")
