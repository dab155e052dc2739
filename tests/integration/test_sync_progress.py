"""`plurictl sync` shows entries received against the total the peer announced, not "0/?"
(issue 18 item 8)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from plurictl.cluster import LocalCluster
from tests.conftest import Invoke

pytestmark = pytest.mark.timeout(120)

NOTES = 2500


@pytest.fixture
def big_peer(tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path, interval=0.3)
    c.init_homes(["a", "b"])
    c.found_mesh("a", {"a": ["admin", "operator"], "b": ["operator"]})
    with c.home("a") as h:
        h.store.append_many(h.identity, [("note", {"i": i}) for i in range(NOTES)])
    c.start("a", peers=[])
    try:
        yield c
    finally:
        c.stop_all()


def test_sync_progress_counts_towards_the_announced_total(
    big_peer: LocalCluster, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mesh.oneshot
    from plurictl.render import common as render

    screen = io.StringIO()
    monkeypatch.setattr(
        render,
        "error_console",
        lambda: Console(file=screen, force_terminal=True, width=100, color_system=None),
    )
    calls: list[tuple[int, int]] = []
    real = mesh.oneshot.sync_once

    def spy(*args: Any, progress: Any = None, **kwargs: Any) -> Any:
        def record(received: int, expected: int) -> None:
            calls.append((received, expected))
            progress(received, expected)

        return real(*args, progress=record, **kwargs)

    monkeypatch.setattr(mesh.oneshot, "sync_once", spy)
    total = NOTES + 2  # a's genesis and b's roster entry, then the notes
    r = invoke(big_peer.nodes["b"].home, "sync", "--peer", big_peer.nodes["a"].addr)
    assert r.exit_code == 0, r.output + r.stderr
    shown = [int(n) for n in re.findall(rf"(\d+)/{total}\b", screen.getvalue())]
    # during the transfer the bar counts against the announced total, and ends full
    assert shown and min(shown) < total and shown[-1] == total, screen.getvalue()
    # from the first report on, the total is what a announced; received only grows to it
    assert calls and {expected for _, expected in calls} == {total}
    received = [got for got, _ in calls]
    assert received == sorted(received) and received[-1] == total
    r = invoke(big_peer.nodes["b"].home, "sync", "--peer", big_peer.nodes["a"].addr, "--json")
    assert json.loads(r.stdout)["received"] == 0  # already in sync: nothing more to count
