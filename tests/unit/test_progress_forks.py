"""A progress bar on a terminal must not stop `vote verify` from forking its workers
(review 36 M1): rich's refresh thread made ledger.forked.cores() say 0."""

from __future__ import annotations

import io
import threading

import pytest
from rich.console import Console

from ledger import forked
from plurictl.render import common


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr(
        common, "error_console", lambda: Console(file=out, force_terminal=True, width=100)
    )
    return out


def test_a_bar_for_forking_work_runs_no_thread(terminal: io.StringIO) -> None:
    before = threading.active_count()
    with common.progress_bar("Checking", 10, forks=True) as advance:
        assert threading.active_count() == before  # no refresh thread
        assert forked.cores() == (forked.possible() if before == 1 else 0)
        advance(4)
        advance(6)
    assert "10/10" in terminal.getvalue()  # redrawn at each advance, and at the end


def test_an_ordinary_bar_has_its_refresh_thread(terminal: io.StringIO) -> None:
    before = threading.active_count()
    with common.progress_bar("Waiting", 10) as advance:
        assert threading.active_count() == before + 1
        advance(10)
