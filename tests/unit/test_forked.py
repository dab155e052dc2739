"""Forked children (ledger.forked): answers in order, and None, never a wrong answer or an
orphan, when a child fails in any way."""

from __future__ import annotations

import os
import signal

import pytest

from ledger import forked

pytestmark = pytest.mark.skipif(not forked.possible(), reason="needs fork and two cores")


def test_each_child_answers_its_share_in_order() -> None:
    data = list(range(1000))  # held before the fork: the children read it, nothing is sent
    with forked.Children(lambda i: sum(data[i::3]), 3) as children:
        assert children.results() == [sum(data[0::3]), sum(data[1::3]), sum(data[2::3])]


def test_children_run_in_other_processes() -> None:
    with forked.Children(lambda i: os.getpid(), 2) as children:
        pids = children.results()
    assert pids is not None and len(set(pids)) == 2 and os.getpid() not in pids


def test_a_child_that_raises_gives_none() -> None:
    def work(i: int) -> int:
        if i == 1:
            raise ValueError("broken share")
        return i

    assert forked.Children(work, 2).results() is None


def test_a_child_that_dies_gives_none_and_no_orphan() -> None:
    def work(i: int) -> int:
        if i == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return i

    children = forked.Children(work, 2)
    procs = list(children._procs)
    assert children.results() is None
    assert all(p._closed for p in procs)  # joined and closed: nothing left running


def test_close_ends_children_that_are_still_working() -> None:
    import threading

    started = threading.Event()  # in the parent only; the child blocks for ever
    children = forked.Children(lambda i: started.wait(), 2)
    pids = [p.pid for p in children._procs]
    children.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped: no such process


def test_no_child_is_forked_from_a_process_running_other_threads() -> None:
    import threading

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert forked.cores() == 0
    finally:
        stop.set()
        other.join()


def _total(batch: list[int]) -> int:
    return sum(batch)


def _die_on_seven(batch: list[int]) -> int:
    if 7 in batch:
        os.kill(os.getpid(), signal.SIGKILL)
    return sum(batch)


def _forever(batch: list[int]) -> int:
    signal.pause()  # never returns by itself
    return 0


def test_a_pool_answers_each_batch_in_order() -> None:
    with forked.Pool(_total, 2) as pool:
        for start in range(0, 100, 10):
            pool.submit(list(range(start, start + 10)))
        assert pool.results() == [sum(range(s, s + 10)) for s in range(0, 100, 10)]


def test_a_pool_whose_worker_dies_gives_none() -> None:
    pool = forked.Pool(_die_on_seven, 2)
    pool.submit([1, 2])
    pool.submit([7])
    assert pool.results() is None


def test_closing_a_pool_ends_workers_still_working() -> None:
    pool = forked.Pool(_forever, 2)
    pool.submit([1])
    pool.submit([2])
    pids = list(pool._pool._processes) if pool._pool is not None else []  # type: ignore[attr-defined]
    assert pids
    pool.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_pool_whose_worker_died_early_takes_no_more_work_and_gives_none() -> None:
    """Review 36 H2: a worker killed while batches were still being sent made submit raise
    BrokenProcessPool through `vote verify`; now the pool just answers None."""
    pool = forked.Pool(_die_on_seven, 2)
    pool.submit([7])
    assert pool._futures[0].exception(timeout=60) is not None  # the pool is broken now
    pool.submit([1, 2])  # no exception
    assert pool.results() is None


def _stop_self(i: int) -> int:
    os.kill(os.getpid(), signal.SIGSTOP)
    return i


def test_a_child_that_stops_answering_gives_none_within_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Review 36 L3: a stopped child hung `vote status` for ever."""
    monkeypatch.setattr(forked, "SILENT_S", 0.5)
    children = forked.Children(_stop_self, 1)
    pids = [p.pid for p in children._procs]
    assert children.results() is None
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_pool_whose_worker_stops_answering_gives_none_within_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(forked, "SILENT_S", 0.5)
    pool = forked.Pool(_forever, 2)
    pool.submit([1])
    assert pool.results() is None


def _stop_worker(batch: list[int]) -> int:
    os.kill(os.getpid(), signal.SIGSTOP)
    return 0


def test_a_pool_whose_worker_is_stopped_gives_none_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Review 36b M1: a SIGSTOPped worker ignores SIGTERM, and close() waited for it for
    ever (so did `vote verify`)."""
    monkeypatch.setattr(forked, "SILENT_S", 0.5)
    monkeypatch.setattr(forked, "END_S", 0.5)
    pool = forked.Pool(_stop_worker, 2)
    pool.submit([1])
    pids = list(pool._pool._processes) if pool._pool is not None else []  # type: ignore[attr-defined]
    assert pool.results() is None
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
