"""`plurictl init`, `whoami`, `key show`, `key passwd`: this laptop's identity."""

from __future__ import annotations

import click

from plurictl.context import AppContext, pass_app
from plurictl.render.common import console, emit_json, json_option


def _identity_json(app: AppContext) -> dict[str, object]:
    from ledger.identity import curve_public_from_ed25519, fingerprint, is_sealed

    name, public = app.home.public_key()
    return {
        "name": name,
        "public_key": public.hex(),
        "fingerprint": fingerprint(public),
        "curve_public_z85": curve_public_from_ed25519(public).decode(),
        "sealed": is_sealed(app.home.path),
        "home": str(app.home.path),
    }


@click.command()
@click.option("--name", required=True, help="Your name or call sign, shown to other members.")
@click.option(
    "--passphrase",
    "use_passphrase",
    is_flag=True,
    help="Seal the key with a passphrase (asked twice; or from $PLURI_PASSPHRASE).",
)
@pass_app
def init(app: AppContext, name: str, use_passphrase: bool) -> None:
    """Create this laptop's identity: an ed25519 signing key and an empty ledger.

    Then read your fingerprint to an admin so they can add you to the mesh,
    or found a new mesh with `plurictl mesh create NAME`.
    """
    import os

    phrase = None
    if use_passphrase:
        phrase = os.environ.get("PLURI_PASSPHRASE") or click.prompt(
            "New passphrase", hide_input=True, confirmation_prompt=True, err=True
        )
    identity = app.home.init(name, phrase)
    out = console()
    out.print(f"[green]Identity created[/] in {app.home.path}")
    out.print(f"  name:        {identity.name}")
    out.print(f"  public key:  {identity.public_hex}")
    out.print(f"  fingerprint: [bold]{identity.fingerprint}[/]  (read this aloud to an admin)")
    if phrase:
        out.print("  sealed with a passphrase: you will be asked for it when signing.")


@click.command()
@json_option
@pass_app
def whoami(app: AppContext, as_json: bool) -> None:
    """Show this laptop's name, public key and fingerprint."""
    data = _identity_json(app)
    if as_json:
        emit_json(data)
        return
    out = console()
    out.print(f"name:        {data['name']}")
    out.print(f"public key:  {data['public_key']}")
    out.print(f"fingerprint: [bold]{data['fingerprint']}[/]")
    out.print(f"home:        {data['home']}")


@click.group()
def key() -> None:
    """Show the key to read aloud; seal or reseal it with a passphrase."""


@key.command("show")
@json_option
@pass_app
def key_show(app: AppContext, as_json: bool) -> None:
    """Show the public key and the fingerprint to read aloud over the radio."""
    data = _identity_json(app)
    if as_json:
        emit_json(data)
        return
    out = console()
    out.print(f"[bold]{data['fingerprint']}[/]")
    out.print(f"public key: {data['public_key']}")
    out.print("Read the fingerprint group by group; the admin checks it against what they add.")


@key.command("passwd")
@click.option("--remove", is_flag=True, help="Store the key without a passphrase.")
@pass_app
def key_passwd(app: AppContext, remove: bool) -> None:
    """Seal the key with a new passphrase (or remove the passphrase with --remove).

    The current passphrase is asked first if the key is sealed. Set
    $PLURI_NEW_PASSPHRASE to script it.
    """
    import os

    from ledger import identity as identity_mod

    identity = app.home.identity  # asks for the current passphrase if sealed
    phrase = None
    if not remove:
        phrase = os.environ.get("PLURI_NEW_PASSPHRASE") or click.prompt(
            "New passphrase", hide_input=True, confirmation_prompt=True, err=True
        )
    identity_mod.save(identity, app.home.path, phrase)
    console().print("Key sealed with the new passphrase." if phrase else "Passphrase removed.")
