"""Child processes that die with their parent, whatever ends it.

A drill starts its nodes as child processes. Ctrl-C in a terminal reaches them all,
but a drill ended by a timeout, CI or cron gets one SIGTERM (or SIGKILL) for the
runner alone: without care its nodes run on for ever with parent pid 1. Three
layers, so that no way of ending a drill leaves one behind:

* each node runs in its own process group, so signals meant for the runner's
  terminal or job reach the runner, which then stops its nodes in order;
* the runner turns SIGTERM (and SIGHUP) into an ordinary exit (``exits_on_signals``),
  so its clean-up code runs. The exception a handler raises can be lost: CPython runs
  the handler wherever the main thread happens to be, and some C code drops it (seen
  while importing a module compiled from source). So the handler also records the
  signal, and long waits and step boundaries call ``checkpoint()``, which raises it again;
* on Linux the node asks the kernel for a parent-death signal (``prctl`` with
  ``PR_SET_PDEATHSIG``) first thing at start-up, so even a SIGKILL of the runner,
  which runs no code at all, takes the nodes down.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

#: set in a child's environment: the pid of the parent it must not outlive
ENV = "PLURI_DIE_WITH_PARENT"
PR_SET_PDEATHSIG = 1


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process that must die with this one."""
    return {**(os.environ if env is None else env), ENV: str(os.getpid())}


def set_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def honour_parent() -> None:
    """Called first thing in a child started with ``child_env``: die with that parent.

    If the parent is already gone (it died while this process was starting), exit
    at once: the kernel would never send the signal.
    """
    wanted = os.environ.pop(ENV, "")
    if not wanted.isdigit():
        return
    set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != int(wanted):
        os._exit(1)


class Terminated(SystemExit):
    """SIGTERM or SIGHUP arrived: leave through the normal clean-up paths."""


#: set by the handler of ``exits_on_signals``: a signal came (even if its exception was lost)
_stopping = threading.Event()
_code: list[int] = []  # 128 + the signal


def stopping() -> bool:
    """A SIGTERM or SIGHUP came inside ``exits_on_signals``."""
    return _stopping.is_set()


def checkpoint() -> None:
    """Raise ``Terminated`` if a signal came: its first exception may have been lost."""
    if _stopping.is_set():
        raise Terminated(_code[0])


def sleep(seconds: float) -> None:
    """``time.sleep`` that a SIGTERM or SIGHUP always ends, lost exception or not."""
    _stopping.wait(seconds)
    checkpoint()


@contextlib.contextmanager
def exits_on_signals() -> Iterator[None]:
    """Inside: SIGTERM and SIGHUP raise ``Terminated`` (exit 128 + signal), once; a second
    signal during clean-up is ignored, so the clean-up finishes."""

    def handler(signum: int, frame: FrameType | None) -> None:
        for s in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        _code[:] = [128 + signum]
        _stopping.set()
        raise Terminated(128 + signum)

    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread can install handlers (and receives the signals)
        return
    _stopping.clear()
    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _stopping.clear()
