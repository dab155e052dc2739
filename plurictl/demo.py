"""`make demo`: a short walkthrough of the local ledger and trust layer.

Runs real `plurictl` commands in throw-away homes and shows each one as an
operator would type it. (The drill demo replaces this once drills exist.)
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console

console = Console()


def run(home: Path, *args: str, show: bool = True) -> str:
    cmd = ["plurictl", "--home", str(home), *args]
    if show:
        console.print(f"[bold cyan]$[/] plurictl --home {home.name} {shlex.join(args)}")
    proc = subprocess.run(
        [sys.executable, "-m", "plurictl", "--home", str(home), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": str(console.width)},
    )
    if proc.returncode != 0:
        console.print(proc.stdout + proc.stderr)
        raise SystemExit(f"demo step failed: {shlex.join(cmd)} (exit {proc.returncode})")
    if show and proc.stdout.strip():
        console.print(proc.stdout.rstrip(), markup=False, highlight=False)
    return proc.stdout


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="plurigrid-demo-") as tmp:
        root = Path(tmp)
        alice, bob = root / "alice", root / "bob"
        console.rule("1. Two laptops each create an identity")
        run(alice, "init", "--name", "alice")
        run(bob, "init", "--name", "bob")
        console.rule("2. Alice founds the mesh; Bob reads his fingerprint to her")
        run(alice, "mesh", "create", "hurricane-relief")
        who = json.loads(run(bob, "whoami", "--json", show=False))
        run(bob, "key", "show")
        run(
            alice,
            "roster",
            "add",
            who["public_key"],
            "--name",
            "bob",
            "--role",
            "operator",
            "--fingerprint",
            who["fingerprint"],
        )
        console.rule("3. Alice signs entries into her ledger")
        run(alice, "log", "append", "--kind", "note", "--body", '{"text": "gen 2 started, 40 kW"}')
        run(
            alice, "log", "append", "--kind", "status.radio", "--body", '{"channel": 7, "ok": true}'
        )
        run(alice, "log", "show")
        console.rule("4. Every entry re-verified from its bytes")
        run(alice, "log", "verify")
        run(alice, "roster", "list")
        console.print("\n[green]Demo finished.[/] Next: `make test`, and field_guides/README.md.")


if __name__ == "__main__":
    main()
