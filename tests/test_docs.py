"""Docs are part of the product: every command has help text and is mentioned in a field guide."""

from __future__ import annotations

from pathlib import Path

import click

from plurictl.cli import COMMANDS, cli

GUIDES = Path(__file__).resolve().parents[1] / "field_guides"


def all_commands() -> list[tuple[str, click.Command]]:
    out = []
    ctx = click.Context(cli)

    def walk(prefix: str, command: click.Command) -> None:
        out.append((prefix, command))
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(f"{prefix} {name}".strip(), sub)

    walk("", cli)
    return out


def test_every_command_has_help() -> None:
    missing = [name for name, cmd in all_commands() if name and not (cmd.help or cmd.short_help)]
    assert not missing, f"commands without help text: {missing}"


def test_every_command_is_in_a_field_guide() -> None:
    text = "\n".join(p.read_text() for p in GUIDES.rglob("*.md"))
    missing = [name for name, _ in all_commands() if name and f"plurictl {name}" not in text]
    assert not missing, f"commands no field guide mentions: {missing}"


def test_lazy_table_matches_the_commands() -> None:
    ctx = click.Context(cli)
    for name, (_, _, short) in COMMANDS.items():
        assert cli.get_command(ctx, name) is not None, name
        assert short, name


def test_field_guide_links_resolve() -> None:
    import re

    for page in GUIDES.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+\.md)\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"
