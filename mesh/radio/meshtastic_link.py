"""Meshtastic LoRa radios through the ``meshtastic`` Python API (an optional extra).

``pip install 'plurigrid[meshtastic]'``. The package is imported only when such
a link is opened, never when ``plurictl`` starts.

Frames go out with ``interface.sendData(frame, destinationId="^all",
portNum=PRIVATE_APP (256), wantAck=False, channelIndex=channel)``: a broadcast on
the private application port, without Meshtastic's own acknowledgements (the
bridge acknowledges selectively itself). Meshtastic refuses payloads above
``mesh_pb2.Constants.DATA_PAYLOAD_LEN`` (233 bytes in meshtastic 2.x), so that is
the largest MTU. Received packets arrive through pypubsub on the topic
``meshtastic.receive.data.PRIVATE_APP`` as dictionaries whose
``packet["decoded"]["payload"]`` holds the bytes.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable
from typing import Any

from mesh.radio.errors import LinkSpecError, LinkUnavailable, RadioExtraMissing
from mesh.radio.links import LinkSpec, Pacer, check_mtu

PRIVATE_APP = 256
TOPIC = "meshtastic.receive.data.PRIVATE_APP"
PAYLOAD_LIMIT = 233
#: Meshtastic's header and LoRa's own framing, for airtime estimates.
PACKET_OVERHEAD = 32
BROADCAST = "^all"


class MeshtasticLink:
    """Frames as broadcasts on Meshtastic's private app port."""

    def __init__(
        self,
        interface: Any,
        subscribe: Callable[[Callable[..., None], str], None],
        *,
        channel: int = 0,
        mtu: int = PAYLOAD_LIMIT,
        bitrate: float = 1000.0,
        label: str = "Meshtastic radio",
        unsubscribe: Callable[[Callable[..., None], str], None] | None = None,
    ) -> None:
        self.interface = interface
        self.channel = channel
        self.mtu = mtu
        self.bitrate = bitrate
        self.label = label
        self.inbox: queue.Queue[bytes] = queue.Queue()
        self.pacer = Pacer()
        self._unsubscribe = unsubscribe
        subscribe(self._on_receive, TOPIC)

    @classmethod
    def open(cls, spec: LinkSpec) -> MeshtasticLink:
        # the options first: a typo is reported as a typo, with or without the package
        limit = _payload_limit()
        why = f" (a Meshtastic packet carries at most {limit} bytes)"
        mtu = (
            spec.mtu(limit, why=why)
            if spec.option("mtu")
            else check_mtu(limit, f"--link {spec.text}")
        )
        channel = int(spec.number("channel", minimum=0, maximum=7))
        bitrate = spec.number("bitrate", minimum=10, maximum=1e6)
        tcp = spec.tcp
        try:
            import meshtastic  # noqa: F401 - checks the install
            from pubsub import pub
        except ImportError as e:
            raise RadioExtraMissing(
                "the meshtastic package is not installed on this laptop",
                hint="install it with: pip install 'plurigrid[meshtastic]' (on a connected "
                "laptop, or from the wheelhouse)",
            ) from e
        try:
            if tcp is not None:
                from meshtastic.tcp_interface import TCPInterface

                interface = TCPInterface(hostname=tcp[0], portNumber=tcp[1])
                label = f"Meshtastic radio at {tcp[0]}:{tcp[1]}"
            else:
                from meshtastic.serial_interface import SerialInterface

                interface = SerialInterface(devPath=spec.target)
                label = f"Meshtastic radio on {spec.target}"
        except Exception as e:  # the library raises many kinds (serial, socket, protobuf, exit)
            raise LinkUnavailable(
                f"cannot open the Meshtastic radio {spec.target}: {e}",
                hint="check the cable or address; close the Meshtastic app or CLI using it",
            ) from e
        return cls(
            interface,
            pub.subscribe,
            channel=channel,
            mtu=mtu,
            bitrate=bitrate,
            label=f"{label}, channel {channel}",
            unsubscribe=pub.unsubscribe,
        )

    # pypubsub calls this from the meshtastic library's thread
    def _on_receive(self, packet: dict[str, Any], interface: Any = None) -> None:
        if interface is not None and interface is not self.interface:
            return
        decoded = packet.get("decoded") or {}
        if decoded.get("portnum") not in ("PRIVATE_APP", PRIVATE_APP):
            return
        payload = decoded.get("payload")
        if isinstance(payload, bytes | bytearray) and payload:
            self.inbox.put(bytes(payload))

    def describe(self) -> str:
        return self.label

    def airtime(self, nbytes: int) -> float:
        return (nbytes + PACKET_OVERHEAD) * 8 / self.bitrate

    def ready(self) -> bool:
        return self.pacer.ready()

    def send(self, frame: bytes) -> None:
        if len(frame) > self.mtu:
            raise LinkSpecError(
                f"frame of {len(frame)} bytes is over the Meshtastic limit {self.mtu}"
            )
        try:
            self.interface.sendData(
                frame,
                destinationId=BROADCAST,
                portNum=PRIVATE_APP,
                wantAck=False,
                channelIndex=self.channel,
            )
        except Exception as e:  # serial or socket errors inside the library
            raise LinkUnavailable(f"the Meshtastic radio stopped answering: {e}") from e
        self.pacer.sent(self.airtime(len(frame)))

    def receive(self, timeout: float) -> list[bytes]:
        out = []
        deadline = time.monotonic() + max(0.0, timeout)
        try:
            out.append(self.inbox.get(timeout=max(0.0, timeout)))
        except queue.Empty:
            return out
        while time.monotonic() <= deadline or not self.inbox.empty():
            try:
                out.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        return out

    def close(self) -> None:
        if self._unsubscribe is not None:
            with contextlib.suppress(Exception):  # already gone
                self._unsubscribe(self._on_receive, TOPIC)
        with contextlib.suppress(Exception):  # a radio unplugged mid-run
            self.interface.close()


def _payload_limit() -> int:
    try:
        from meshtastic.protobuf import mesh_pb2  # meshtastic >= 2.3 keeps protobufs here
    except ImportError:
        try:
            from meshtastic import mesh_pb2
        except ImportError:
            return PAYLOAD_LIMIT
    try:
        return int(mesh_pb2.Constants.DATA_PAYLOAD_LEN)
    except AttributeError:
        return PAYLOAD_LIMIT
