"""The bridge process: one link, this laptop's ledger, and the station between them.

``plurictl radio up --link ...`` runs :class:`Bridge` in the foreground beside
(or without) ``plurictl node up`` on the same home: both read and write the
same ledger, so what the radio brings in reaches the mesh and the other way
round. The bridge writes ``radio.json`` in the home every second for
``plurictl radio status``. If the link drops (cable pulled, TNC restarted),
the bridge keeps its state and opens the link again, waiting a little longer
each time (up to 30 s); transfers resume where they stopped.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.errors import NotInitialised, PluriError
from ledger.home import Home
from mesh.control import pid_alive
from mesh.radio.budget import Budget, BudgetSpec, parse_budget
from mesh.radio.errors import (
    BridgeNotRunning,
    BridgeRunning,
    KeyRetired,
    LinkSpecError,
    LinkUnavailable,
)
from mesh.radio.ledger_port import LocalLedger
from mesh.radio.links import Link, LinkSpec, check_mtu, open_link
from mesh.radio.persist import RadioState
from mesh.radio.session import SessionConfig
from mesh.radio.station import Station, StationConfig

STATUS_FILE = "radio.json"
#: Budget when --budget is not given: a wire is free, shared radio channels are not.
DEFAULT_BUDGET = {"serial": "100%", "sim": "100%", "kiss": "50%", "meshtastic": "10%"}
POLL = 0.25
STATUS_EVERY = 1.0


@dataclass
class BridgeConfig:
    cleartext: bool = False
    budget: BudgetSpec | None = None  # None: the default for the link type
    max_entry_bytes: int = 64 * 1024
    summary_interval: float = 60.0


@dataclass
class Bridge:
    home: Home
    spec: LinkSpec
    config: BridgeConfig = field(default_factory=BridgeConfig)
    link: Link | None = None
    events: Callable[[str], None] = field(default=lambda _m: None)
    station: Station = field(init=False)
    stopping: bool = False

    def __post_init__(self) -> None:
        self.recent: deque[tuple[float, str]] = deque(maxlen=30)
        self.started = time.time()
        self.link_up_since: float | None = None
        self.link_error: str | None = None
        self._retry_at = 0.0
        self._backoff = 1.0
        self._next_poll = self._next_status = 0.0
        self.state = RadioState(self.home.path)

    # --- life cycle ----------------------------------------------------------------------

    def _event(self, msg: str) -> None:
        self.recent.append((time.time(), msg))
        self.events(msg)

    def start(self) -> None:
        other = read_status(self.home.path)
        if other is not None and other.get("pid") != os.getpid() and pid_alive(int(other["pid"])):
            raise BridgeRunning(
                f"a radio bridge already runs on this home (pid {other['pid']}, {other['link']})",
                hint="see it with `plurictl radio status`; stop it before starting another",
            )
        store = self.home.store
        if store.mesh_id is None:
            raise NotInitialised(
                "this laptop is not in a mesh yet: the radio carries a mesh's ledger",
                hint="found or join a mesh first; a new laptop gets the roster from a member "
                "(mesh or courier bundle) before it can use the radio",
            )
        identity = self.home.identity
        roster = store.roster()
        info = roster.keys.get(identity.public)
        if info is not None and identity.public not in roster.connectable_keys():
            self._refuse_retired(info.status)  # before keying up with a key nobody hears
        if self.link is None:
            self.link = open_link(self.spec)
        budget = self.config.budget or parse_budget(DEFAULT_BUDGET[self.spec.scheme])
        try:
            check_mtu(self.link.mtu, self.link.describe())
            Budget(budget, self.link.airtime, self.link.mtu)  # refuses one that sends nothing
        except LinkSpecError:
            self.link.close()
            raise
        self.link_up_since = time.time()
        station_config = StationConfig(
            cleartext=self.config.cleartext,
            budget=budget,
            session=SessionConfig(
                summary_interval=self.config.summary_interval,
                max_entry_bytes=self.config.max_entry_bytes,
            ),
        )
        self.station = Station(
            LocalLedger(store),
            identity.signing_key,
            station_config,
            mtu=self.link.mtu,
            airtime=self.link.airtime,
            reserve=self.state.reserve,
            names=lambda k: store.roster().name_of(k),
            events=self._event,
        )
        self._event(f"on the air: {self.link.describe()}; budget {budget.describe()}")
        if self.config.cleartext:
            self._event("cleartext: frames are signed and authenticated, not encrypted")
        self._write_status()

    def run(self, until: Callable[[], bool] | None = None) -> None:
        while not self.stopping and not (until and until()):
            self.step()

    def close(self) -> None:
        if self.link is not None:
            with contextlib.suppress(Exception):
                self.link.close()
            self.link = None
        self._write_status(stopped=True)
        self._event("radio bridge stopped")

    # --- the loop --------------------------------------------------------------------------

    def step(self, max_wait: float = 0.1) -> None:
        now = time.monotonic()
        wait = max(0.0, min(max_wait, self.station.wakeup(now) - now, self._next_poll - now))
        if self.link is not None and not self.link.ready():
            wait = max(wait, min(max_wait, 0.02))  # the radio is busy: do not spin
        if self.link is None:
            self._reopen(now)
            time.sleep(min(wait, 0.2))
        else:
            self._guarded(self._exchange, wait)
        now = time.monotonic()
        if now >= self._next_poll:
            self._next_poll = now + POLL
            self._guarded(self.station.poll_ledger, now)
        if self.station.retired is not None:
            self._refuse_retired(self.station.retired)
        self.station.tick(now)
        if self.link is not None:
            self._guarded(self._transmit, now)
        if now >= self._next_status:
            self._next_status = now + STATUS_EVERY
            self._write_status()

    def _refuse_retired(self, status: str) -> None:
        """Our key was rotated or revoked (by the mesh, a bundle or the radio itself): the
        other stations drop everything it sends, so the bridge stops instead of keying up
        in vain with a key that identifies nobody any more."""
        raise KeyRetired(
            f"this laptop's key was {status} in the roster: the other stations "
            "no longer hear it, so the radio bridge stops",
            hint="if the member moved to a new laptop, run `plurictl radio up` there (its new "
            "key); `plurictl roster list --all` shows this key's state",
        )

    def _exchange(self, wait: float) -> None:
        assert self.link is not None
        for frame in self.link.receive(wait):
            self.station.receive(frame, time.monotonic())

    def _transmit(self, now: float) -> None:
        assert self.link is not None
        while self.link.ready():
            frame = self.station.next_frame(now)
            if frame is None:
                return
            self.link.send(frame)

    def _guarded(self, fn: Callable[..., Any], *args: Any) -> None:
        """A lost link is reopened; a busy disk is reported; the bridge keeps running."""
        try:
            fn(*args)
        except LinkUnavailable as e:
            self._link_lost(str(e))
        except PluriError as e:
            self._event(f"error (kept running): {e}")

    def _link_lost(self, why: str) -> None:
        self._event(f"link lost: {why}; trying again")
        if self.link is not None:
            with contextlib.suppress(Exception):
                self.link.close()
        self.link = None
        self.link_up_since = None
        self.link_error = why
        self._retry_at = time.monotonic() + self._backoff

    def _reopen(self, now: float) -> None:
        if now < self._retry_at:
            return
        try:
            self.link = open_link(self.spec)
        except LinkUnavailable as e:
            self.link_error = str(e)
            self._backoff = min(30.0, self._backoff * 2)
            self._retry_at = now + self._backoff
            return
        self._backoff = 1.0
        self.link_up_since = time.time()
        self.link_error = None
        self._event(f"link back: {self.link.describe()}")

    # --- status ---------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        store = self.home.store
        return {
            "pid": os.getpid(),
            "name": self.home.identity.name,
            "mesh": store.roster().name,
            "link": self.spec.text,
            "link_description": self.link.describe() if self.link else None,
            "link_up": self.link is not None,
            "link_error": self.link_error,
            "started": self.started,
            "updated": time.time(),
            "stopped": False,
            "station": self.station.status(time.monotonic()),
            "events": [{"t": t, "event": m} for t, m in self.recent],
        }

    def _write_status(self, *, stopped: bool = False) -> None:
        with contextlib.suppress(Exception):
            data = self.status()
            data["stopped"] = stopped
            write_status(self.home.path, data)


def write_status(home: Path, data: dict[str, Any]) -> None:
    path = Path(home) / STATUS_FILE
    tmp = path.with_name(STATUS_FILE + ".tmp")
    tmp.write_text(json.dumps(data))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def read_status(home: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(home) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "pid" in data else None


def running_status(home: Path) -> dict[str, Any]:
    """The running bridge's last status; BridgeNotRunning if none runs on this home."""
    data = read_status(home)
    if data is None:
        raise BridgeNotRunning(
            f"no radio bridge has run on {home}",
            hint="start one with `plurictl radio up --link ...` (see field_guides/radio.md)",
        )
    if data.get("stopped") or not pid_alive(int(data["pid"])):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(data.get("updated", 0)))
        raise BridgeNotRunning(
            f"the radio bridge on this home is not running (last seen {when}, {data.get('link')})",
            hint="start it again with `plurictl radio up --link ...`",
        )
    return data
