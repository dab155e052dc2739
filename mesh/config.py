"""Node settings: defaults, ``config.toml`` ([node] table), and the timers derived from them.

Every timer of the node that decides how fast a link heals lives here, so
mesh.md's promise ("back in sync within seconds") can be read off one place:

- outbound links carry ZMTP heartbeats every ``heartbeat`` seconds; a link
  whose peer does not answer a heartbeat within :attr:`NodeConfig.heartbeat_timeout`
  is closed and re-dialled by ZeroMQ at most :data:`RECONNECT_MAX_MS` apart;
- a peer that sent nothing back for :attr:`NodeConfig.silence` seconds after
  we sent it something is probed, then re-dialled (a fresh TCP connection,
  free of TCP's retransmission back-off after a long cut);
- while in sync, anti-entropy rounds back off from ``interval`` to
  ``idle_interval``; any change brings them back to ``interval``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mesh import discovery
from mesh.errors import MeshError

DEFAULT_PORT = 7800
#: ZeroMQ re-dials a broken outbound link every 100 ms, backing off to this.
RECONNECT_MAX_MS = 1000
#: A TCP connect that has not completed in this time is abandoned and retried
#: (a SYN lost to a cut would otherwise wait for the kernel's own back-off).
CONNECT_TIMEOUT_MS = 2000
#: A CURVE handshake must finish in this time, or the connection is dropped.
HANDSHAKE_MS = 5000

_NUMBERS = ("interval", "idle_interval", "heartbeat", "batch_entries", "window", "discover_port")


@dataclass
class NodeConfig:
    listen: str = f"tcp://0.0.0.0:{DEFAULT_PORT}"
    peers: list[str] = field(default_factory=list)
    discover: bool = False
    discover_port: int = discovery.BEACON_PORT
    discover_targets: list[str] = field(default_factory=lambda: ["255.255.255.255"])
    #: gossip interval: anti-entropy rounds while ledgers differ, and the node's tick
    interval: float = 1.0
    #: longest pause between anti-entropy rounds while everything is in sync
    idle_interval: float = 30.0
    #: ZMTP heartbeat interval on outbound links (seconds)
    heartbeat: float = 10.0
    #: entries per catch-up batch (fewer, larger batches: fewer commits and round trips)
    batch_entries: int = 1000
    window: int = 3
    #: tell peers our listen address (off for one-shot syncs on an ephemeral port)
    advertise: bool = True
    #: testing only: member names whose entries this node silently drops (a broken node
    #: that drills use to prove their checker can fail)
    drop_feeds: list[str] = field(default_factory=list)

    @property
    def heartbeat_timeout(self) -> float:
        """A heartbeat not answered in this time closes the link (ZeroMQ then re-dials)."""
        return min(self.heartbeat, 5.0)

    @property
    def silence(self) -> float:
        """Seconds without any reply after we sent something before a peer is re-dialled."""
        return max(3.0, 6 * self.interval)

    @classmethod
    def from_home(cls, home: Path) -> NodeConfig:
        """Settings from ``config.toml`` in the home ([node] table), if present."""
        import tomllib

        path = Path(home) / "config.toml"
        cfg = cls()
        if not path.exists():
            return cfg
        try:
            data = tomllib.loads(path.read_text()).get("node", {})
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise MeshError(f"{path}: {e}", hint="fix the file or move it away") from e
        for key in ("listen", "discover", *_NUMBERS):
            if key in data:
                setattr(cfg, key, data[key])
        if "peers" in data:
            if not isinstance(data["peers"], list):
                raise MeshError(f"{path}: node.peers must be a list of tcp://HOST:PORT")
            cfg.peers = [str(p) for p in data["peers"]]
        if "discover_targets" in data:
            cfg.discover_targets = [str(t) for t in data["discover_targets"]]
        cfg.check(str(path))
        return cfg

    def check(self, where: str = "node settings") -> None:
        """MeshError naming the setting when a number is out of range."""
        limits = {
            "interval": (0.05, 60.0),
            "idle_interval": (0.05, 3600.0),
            "heartbeat": (0.5, 600.0),
            "batch_entries": (1, 1000),
            "window": (1, 16),
            "discover_port": (1, 65535),
        }
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise MeshError(f"{where}: node.{name} must be a number")
            if not low <= value <= high:
                raise MeshError(f"{where}: node.{name} must be between {low} and {high}")
        self.idle_interval = max(self.idle_interval, self.interval)
