"""Running the dashboard: the socket, uvicorn, this laptop's LAN addresses, the QR code."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import ipaddress
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from plurictl.dashboard.errors import AddressInUse, DashboardError

SIOCGIFADDR = 0x8915


def check_libraries() -> None:
    """Refuse clearly when the dashboard's optional libraries are not installed."""
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise DashboardError(
            f"the dashboard needs {e.name}, which is not installed",
            hint="install the dashboard extra: pip install 'plurigrid[dashboard]' (or `make .venv/.stamp-run`)",
        ) from e


def lan_addresses() -> list[str]:
    """This laptop's IPv4 addresses other than loopback (the hotspot's is among them)."""
    found = []
    with contextlib.suppress(OSError):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with probe:
            for _, name in socket.if_nameindex():
                if name == "lo":
                    continue
                request = struct.pack("256s", name.encode()[:15])
                try:
                    reply = fcntl.ioctl(probe.fileno(), SIOCGIFADDR, request)
                except OSError:
                    continue  # interface without an IPv4 address
                address = socket.inet_ntoa(reply[20:24])
                if not ipaddress.ip_address(address).is_loopback:
                    found.append(address)
    return sorted(set(found), key=lambda a: (not ipaddress.ip_address(a).is_private, a))


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or AddressInUse saying what to do."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise AddressInUse(
                f"port {port} on {host} is already in use",
                hint="is a dashboard already running? Otherwise pick another: --port 8081",
            ) from e
        raise AddressInUse(
            f"cannot listen on {host}:{port}: {e.strerror}",
            hint="give an address of this laptop with --bind (see `ip -4 addr`)",
        ) from e
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def qr_text(url: str) -> str:
    """The URL as a QR code made of text blocks, for a phone to scan off the terminal."""
    import io

    import segno

    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


def make_server(app: Any, sock: socket.socket) -> Any:
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
        lifespan="off",
        server_header=False,
    )
    return uvicorn.Server(config)


def serve(app: Any, sock: socket.socket) -> None:
    """Serve until Ctrl-C (uvicorn handles the signal and shuts down)."""
    server = make_server(app, sock)
    server.run(sockets=[sock])


class BackgroundServer:
    """The dashboard served from a thread (for tests and benchmarks)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = bind(host, port)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.server = make_server(app, self.sock)
        self.server.install_signal_handlers = lambda: None
        self.thread = threading.Thread(target=self._run, daemon=True, name="dashboard-http")

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        for _ in range(400):
            if self.server.started:
                break
            self.thread.join(0.025)
        if not self.server.started:
            raise DashboardError("the dashboard did not start in 10 s")
        return self

    def __exit__(self, *exc: object) -> None:
        dash = getattr(getattr(self.server.config.app, "state", None), "dashboard", None)
        if dash is not None:
            dash.stopping.set()
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@contextlib.contextmanager
def running_views(home: Path) -> Iterator[Any]:
    """The live views of ``home``, watching the ledger until the block ends."""
    from plurictl.dashboard.live import LiveViews

    live = LiveViews(home)
    live.start()
    try:
        yield live
    finally:
        live.stop()
