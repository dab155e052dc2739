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
from collections.abc import Callable
from typing import Any, Generic, TypeVar

R = TypeVar("R")

#: How long an ended child gets to go before it is killed.
END_S = 2.0


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
        try:
            for conn in self._conns:
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
