"""CPU-bound checks in forked processes, beside this process's own work.

Python runs one thread at a time, and a thread that waits for it between two short C calls
(libsodium checks one signature in about 70 microseconds, under the GIL's rules) barely
runs while another thread computes. A forked child reads what this process already holds
(copy on write, nothing sent over) and sends back only its answer.

A child only saves time, it never decides anything: when children cannot be used (no
``fork`` on this system, one core) or one fails in any way (it raised, it died, its answer
did not arrive), :meth:`Children.results` says None and the caller does the work itself.
No orphan: children ignore Ctrl-C (this process ends them), are ended in ``close`` on every
path, and on Linux the kernel ends them when this process dies however it dies.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

R = TypeVar("R")
T = TypeVar("T")

#: How long an ended child gets to go before it is killed.
END_S = 2.0
#: Longest this process waits for an answer once it needs it (a child stopped or starved:
#: then it is ended, and the caller does the work itself). Never for ever.
SILENT_S = 120.0


def possible() -> int:
    """How many children are worth forking on this system: the cores this process may run
    on (at most 4; 0 when it cannot fork or has one core, where they would take turns)."""
    import multiprocessing

    if (
        not sys.platform.startswith("linux")
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        return 0
    n = len(os.sched_getaffinity(0))
    return min(n, 4) if n >= 2 else 0


def cores() -> int:
    """How many children to fork now: :func:`possible`, and 0 in a process running other
    threads (the dashboard's server, say): a thread may hold a lock at the fork that the
    child would then wait for."""
    import threading

    return possible() if threading.active_count() == 1 else 0


def die_with(parent: int) -> None:
    """Linux: the kernel ends this process when ``parent`` dies, even killed at once
    (``PR_SET_PDEATHSIG``), not only when this one next reads its pipe. (The planner's
    AC worker has its own copy: ``planner/`` imports no sibling package.)"""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the call
        os._exit(0)


class Children(Generic[R]):
    """``work(i)`` for each i in ``range(n)``, each in its own forked child, started now."""

    def __init__(self, work: Callable[[int], R], n: int) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        for stream in (sys.stdout, sys.stderr):  # what is buffered is written once, here
            stream.flush()
        self._conns: list[Any] = []
        self._procs: list[Any] = []
        for i in range(n):
            mine, theirs = ctx.Pipe(duplex=False)
            proc = ctx.Process(
                target=_serve, args=(work, i, theirs, mine, os.getpid()), daemon=True
            )
            proc.start()
            theirs.close()  # so that the child dying reads as EOF here
            self._conns.append(mine)
            self._procs.append(proc)

    def results(self) -> list[R] | None:
        """Every child's answer, in order; None when any could not give it."""
        out: list[R] = []
        deadline = time.monotonic() + SILENT_S
        try:
            for conn in self._conns:
                if not conn.poll(max(0.0, deadline - time.monotonic())):
                    return None  # silent too long: close() ends it
                msg = conn.recv()
                if msg[0] != "done":
                    return None
                out.append(msg[1])
        except (EOFError, OSError, TypeError, AttributeError, ValueError):
            return None
        finally:
            self.close()
        return out

    def close(self) -> None:
        """End the children (done, or no longer needed) and wait for them."""
        for conn in self._conns:
            conn.close()
        for proc in self._procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(END_S)
            if proc.is_alive():  # stopped or ignoring SIGTERM: SIGKILL always ends it
                proc.kill()
            proc.join()
            proc.close()
        self._conns, self._procs = [], []

    def __enter__(self) -> Children[R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve(work: Callable[[int], Any], i: int, conn: Any, parent_end: Any, parent: int) -> None:
    """A child: the work, then its answer (or why not) to the parent."""
    die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent ends its children
    parent_end.close()
    try:
        msg: tuple[str, Any] = ("done", work(i))
    except BaseException as e:  # any failure: the parent does the work itself
        msg = ("failed", f"{type(e).__name__}: {e}")
    with contextlib.suppress(OSError, EOFError):
        conn.send(msg)
    os._exit(0)  # nothing else: no buffer of the parent's is flushed twice, no exit hook


class Pool(Generic[T, R]):
    """Batches sent to forked workers as this process makes them, answers in order.

    For work on data this process is still building (reading a big table, say): the
    workers are forked at the first batch, while this process is small, and each batch
    is sent over (pickled), so neither side copies pages of a big shared memory when it
    writes. ``work`` must be a module-level function (it is pickled by name).
    """

    def __init__(self, work: Callable[[T], R], workers: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self._work = work
        self._futures: list[Future[R]] = []
        self._broken = False
        for stream in (sys.stdout, sys.stderr):  # what is buffered is written once, here
            stream.flush()
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_worker_start,
            initargs=(os.getpid(),),
        )

    def submit(self, batch: T) -> None:
        """Send ``batch`` to a worker. A pool that can no longer take work (a worker died)
        takes no more: :meth:`results` then says None."""
        if self._pool is None or self._broken:
            return
        try:
            self._futures.append(self._pool.submit(self._work, batch))
        except Exception:  # BrokenProcessPool, RuntimeError after a shutdown
            self._broken = True

    def results(self) -> list[R] | None:
        """Every batch's answer, in order; None when any could not be had (a worker died,
        raised, or was silent for ``SILENT_S``): the caller does the work itself."""
        deadline = time.monotonic() + SILENT_S
        try:
            if self._broken:
                return None
            return [f.result(max(0.0, deadline - time.monotonic())) for f in self._futures]
        except Exception:  # BrokenProcessPool, TimeoutError, the work's own error
            return None
        finally:
            self.close()

    def close(self) -> None:
        """End the workers (done, or no longer needed) and wait for them."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for f in self._futures:
            f.cancel()
        procs = list(getattr(pool, "_processes", {}).values())  # the executor's own
        if any(not f.done() for f in self._futures):  # still working: no need to wait
            for p in procs:
                p.terminate()
            for p in procs:
                p.join(END_S)
                if p.is_alive():  # stopped or ignoring SIGTERM: SIGKILL always ends it
                    p.kill()
        pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Pool[T, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _worker_start(parent: int) -> None:
    die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent ends its workers
