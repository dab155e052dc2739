"""Which run of a peer we talk to: its epochs, proven or only announced (pure, no I/O).

Every station draws a random epoch when it starts (:func:`mesh.radio.crypto.new_epoch`)
and frame keys bind both stations' epochs. Epochs carry no order, so a receiver
believes a peer's epoch only on proof that the peer is running it *now*:

* a hello that echoes our own epoch (it was signed after our start), or
* a sealed frame that opens under it (its key holds our epoch too).

An epoch announced without proof (a boot hello, or a hello recorded long ago and
played back) is a *candidate*: frames are tried under it, and the first one that
opens promotes it. The epoch it replaces, and candidates announced before it, are
*retired*: a hello or frame of a retired epoch is refused as a replay for the rest of
this run. After our own restart nothing is remembered, and nothing needs to be: every
frame recorded before it was sealed for our old epoch and opens under no key we hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mesh.radio.crypto import ReplayWindow

MAX_CANDIDATES = 4  # announced, unproven epochs kept per peer (the oldest is forgotten)


@dataclass
class PeerEpochs:
    current: bytes | None = None  # proven: the epoch we seal to
    candidates: list[bytes] = field(default_factory=list)  # announced, oldest first
    #: every epoch this peer ran and replaced, for the whole of our run: never capped, or a
    #: peer's old run could come back (its recorded frames replayed, its live run locked
    #: out). Only proven switches add to it: a few epochs per real restart, 8 bytes each.
    retired: set[bytes] = field(default_factory=set)
    windows: dict[bytes, ReplayWindow] = field(default_factory=dict)

    def order(self) -> list[bytes]:
        """Epochs to try a frame under: the proven one, then the newest candidates."""
        head = [self.current] if self.current is not None else []
        return head + self.candidates[::-1]

    def heard_hello(self, epoch: bytes, *, proven: bool) -> str:
        """ "stale" (a retired epoch), "same", "new" (a candidate now) or "switched"."""
        if epoch in self.retired:
            return "stale"
        if epoch == self.current:
            return "same"
        if proven:
            self.promote(epoch)
            return "switched"
        if epoch in self.candidates:
            return "same"
        self.candidates.append(epoch)
        if len(self.candidates) > MAX_CANDIDATES:  # forgotten, not retired: replayed hellos
            self.candidates.pop(0)  # of old runs must not get a live run refused for good
        return "new"

    def promote(self, epoch: bytes) -> bool:
        """``epoch`` is proven live: seal to it from now on. True if it replaced another."""
        if epoch == self.current:
            return False
        before = self.candidates[: self.candidates.index(epoch)] if epoch in self.candidates else []
        for old in [*before, *([self.current] if self.current is not None else [])]:
            self._retire(old)
        replaced = self.current is not None
        self.candidates = [e for e in self.candidates if e != epoch and e not in before]
        self.current = epoch
        return replaced

    def window(self, epoch: bytes) -> ReplayWindow:
        if epoch not in self.windows:
            self.windows[epoch] = ReplayWindow()
        return self.windows[epoch]

    def _retire(self, epoch: bytes) -> None:
        self.windows.pop(epoch, None)
        self.retired.add(epoch)
