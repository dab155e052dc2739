"""install.md's offline path, end to end, as a field team follows it: make the kit in a
copy of the checkout, install it into a fresh venv with no index, and run the shipped
drill from a folder outside the checkout.

Slow (a couple of minutes: the kit downloads every wheel, the venv installs them), so
it is in the slow suite, and `.ci/run` runs it explicitly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "field_guides" / "install.md"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def offline_blocks() -> tuple[str, str]:
    """The two shell blocks of the guide's offline section: make the kit, install it."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text.split("## On laptops with no network", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2, "install.md's offline section has a kit block and a laptop block"
    return blocks[0], blocks[1]


def copy_checkout(dest: Path) -> None:
    """The files of this checkout git knows about (a clean clone, without .venv)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: copy what is here
        ignore = shutil.ignore_patterns(".venv", ".git", "wheelhouse", "build", "__pycache__")
        shutil.copytree(ROOT, dest, ignore=ignore, dirs_exist_ok=True)
        return
    for name in filter(None, listed):
        src = ROOT / os.fsdecode(name)
        if src.is_file():
            target = dest / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)


def sh(script: str, *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"$ {script}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_install_md_offline_path(tmp_path: Path) -> None:
    kit_block, laptop_block = offline_blocks()
    usb = tmp_path / "media" / "usb"
    checkout, home, elsewhere = tmp_path / "checkout", tmp_path / "home", tmp_path / "elsewhere"
    for d in (checkout, home, elsewhere):
        d.mkdir(parents=True)
    copy_checkout(checkout)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    env["HOME"] = str(home)
    env.pop("PLURI_HOME", None)

    # On the connected machine, in the checkout: exactly the guide's commands.
    sh(kit_block.replace("/media/usb", str(usb)), cwd=checkout, env=env)
    wheels = {p.name for p in (usb / "plurigrid" / "wheelhouse").iterdir()}
    assert any(n.startswith("plurigrid-") for n in wheels)
    assert any(n.startswith("matplotlib-") for n in wheels), "the plot extra is in the kit"
    assert all(n.endswith(".whl") for n in wheels), "nothing to build on a laptop offline"

    # On the field laptop, in a folder far from any checkout: no index, only the stick.
    shutil.rmtree(checkout)
    out = sh(laptop_block.replace("/media/usb", str(usb)), cwd=elsewhere, env=env)
    assert "all hold" in out.stderr + out.stdout

    plurictl = home / "plurigrid" / "bin" / "plurictl"

    def listing(*args: str) -> object:
        r = subprocess.run(
            [str(plurictl), *args, "--json"], cwd=elsewhere, env=env, capture_output=True
        )
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    # everything the checkout ships, the installed wheel ships
    guides = ROOT / "field_guides"
    assert len(listing("drill", "list")) == len(list((guides / "drills").glob("*.toml")))  # type: ignore[arg-type]
    shipped_playbooks = listing("playbook", "list")["shipped"]  # type: ignore[index]
    assert len(shipped_playbooks) == len(list((guides / "playbooks").glob("*.toml")))
    scenarios = listing("plan", "scenarios")
    assert len(scenarios) == len(list((guides / "scenarios").glob("*.toml")))  # type: ignore[arg-type]
    assert all(s["valid"] for s in scenarios)  # type: ignore[union-attr,index]
    python = home / "plurigrid" / "bin" / "python"
    r = subprocess.run(
        [str(python), "-c", "import matplotlib, plurictl.shipped as s; print(s.folder('drills'))"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "site-packages" in r.stdout, r.stderr
