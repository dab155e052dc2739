"""One example per command, shown at the end of its ``--help``.

A command whose docstring already has an ``Example:`` keeps it; the others get the
line below (a test checks that every command, including new ones, shows one). Ids
in examples are the short prefixes the commands accept; KEY, MESH_ID and the like
are what the reader fills in.
"""

from __future__ import annotations

import click

EXAMPLES: dict[str, str] = {
    "init": "plurictl init --name alice",
    "whoami": "plurictl whoami --json",
    "key": "plurictl key show",
    "key show": "plurictl key show",
    "key passwd": "plurictl key passwd",
    "log": "plurictl log show --author bob --limit 20",
    "log show": "plurictl log show --kind fuel. --limit 20",
    "log verify": "plurictl log verify",
    "mesh": "plurictl mesh create hurricane-relief",
    "mesh create": "plurictl mesh create hurricane-relief",
    "mesh join": "plurictl mesh join MESH_ID",
    "mesh show": "plurictl mesh show",
    "roster": "plurictl roster list",
    "roster list": "plurictl roster list --all",
    "roster add": (
        "plurictl roster add KEY --name bob --role operator --role teller "
        "--fingerprint XXXX-XXXX-XXXX-XXXX"
    ),
    "roster grant": "plurictl roster grant bob teller",
    "roster remove-role": "plurictl roster remove-role bob teller",
    "roster revoke": "plurictl roster revoke bob --reason 'laptop stolen'",
    "roster rotate": "plurictl roster rotate bob NEW_KEY",
    "roster approve": "plurictl roster approve 3f2a9c1b",
    "roster threshold": "plurictl roster threshold 2",
    "forks": "plurictl forks list",
    "forks list": "plurictl forks list --json",
    "node": "plurictl node up --peer tcp://192.168.4.2:7800",
    "node up": "plurictl node up --peer tcp://192.168.4.2:7800",
    "node status": "plurictl node status",
    "node partition": "plurictl node partition alice,bob carol,dave",
    "node faults": "plurictl node faults --loss 10 --delay 200",
    "node heal": "plurictl node heal",
    "peers": "plurictl peers",
    "sync": "plurictl sync --peer tcp://192.168.4.2:7800",
    "fuel": "plurictl fuel report north --litres 1200",
    "fuel status": "plurictl fuel status --site north",
    "fuel transfer": "plurictl fuel transfer plan --from depot --to north --litres 2000",
    "fuel transfer dispatch": "plurictl fuel transfer dispatch 8c1f03aa --litres 1950",
    "fuel transfer receive": "plurictl fuel transfer receive 8c1f03aa --litres 1940",
    "fuel transfer cancel": "plurictl fuel transfer cancel 8c1f03aa --reason 'road flooded'",
    "orders": "plurictl orders --site north",
    "orders ack": "plurictl orders ack 5b7e21c0 --note 'truck left 14:10'",
    "orders deviate": "plurictl orders deviate 5b7e21c0 --note 'bridge out, 2 h late'",
    "drill": "plurictl drill run quickstart",
    "drill list": "plurictl drill list",
    "drill validate": "plurictl drill validate my-drill.toml",
    "playbook": "plurictl playbook start microgrid-black-start --site north",
    "playbook list": "plurictl playbook list",
    "playbook show": "plurictl playbook show microgrid-black-start",
    "playbook validate": "plurictl playbook validate my-playbook.toml",
    "playbook status": "plurictl playbook status 9d04e2b7",
    "playbook sign": "plurictl playbook sign 9d04e2b7 isolate-feeders --note 'breakers 1-4 open'",
    "playbook skip": "plurictl playbook skip 9d04e2b7 notify-utility --reason 'no radio link'",
    "playbook fail": "plurictl playbook fail 9d04e2b7 start-genset --reason 'will not crank'",
    "playbook waive": "plurictl playbook waive 9d04e2b7 start-genset 1 --reason 'gauge broken'",
    "playbook abort": "plurictl playbook abort 9d04e2b7 --reason 'fuel truck did not come'",
    "playbook resume": "plurictl playbook resume 9d04e2b7 --reason 'fuel arrived'",
    "playbook log": "plurictl playbook log 9d04e2b7 --markdown -o run-log.md",
    "bundle": "plurictl bundle export -o /media/usb/for-dave.plb --for dave",
    "bundle inspect": "plurictl bundle inspect /media/usb/to-north.plb",
    "bundle import": "plurictl bundle import /media/usb/to-north.plb",
    "bundle frontier": "plurictl bundle frontier -o /media/usb/north.plf",
    "bundle frontiers": "plurictl bundle frontiers",
    "vote": "plurictl vote list",
    "vote list": "plurictl vote list --json",
    "vote cast": "plurictl vote cast 4e8a1f02 north",
    "vote stop": "plurictl vote stop 4e8a1f02",
    "vote close": "plurictl vote close 4e8a1f02",
    "vote seal": "plurictl vote seal 4e8a1f02",
    "vote status": "plurictl vote status 4e8a1f02",
    "vote result": "plurictl vote result 4e8a1f02",
    "vote verify": "plurictl vote verify 4e8a1f02",
    "vote receipt": "plurictl vote receipt 4e8a1f02",
    "plan": "plurictl plan run island-microgrid --from-ledger --propose",
    "plan scenarios": "plurictl plan scenarios",
    "plan validate": "plurictl plan validate island-microgrid",
    "plan explain": "plurictl plan explain plan.json --site north",
    "plan propose": "plurictl plan propose plan.json",
    "plan list": "plurictl plan list",
    "plan adopt": "plurictl plan adopt 7a3c55e1 --note 'council agreed'",
    "plan withdraw": "plurictl plan withdraw 7a3c55e1 --reason 'tank readings were wrong'",
}


def has_example(command: click.Command) -> bool:
    return "Example" in (command.help or "") or "Example" in (command.epilog or "")


def attach_examples(command: click.Command, path: str) -> None:
    """Put the table's example at the end of the help of every command without one."""
    if not has_example(command) and path in EXAMPLES:
        # \b keeps click from re-wrapping the command line
        command.epilog = f"\b\nExample:\n  {EXAMPLES[path]}"
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            attach_examples(sub, f"{path} {name}")
