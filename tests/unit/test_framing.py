"""Frames: exact reads, truncation at every offset, bit flips, resync, atomic files."""

from __future__ import annotations

import errno
import hashlib
import io
import random
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.courier import framing
from ledger.errors import BundleError

LIMITS = {3: 4096, 7: 64}


def _frames(n: int = 30, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    return [
        framing.encode(3, bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200))))
        for _ in range(n)
    ]


def _read(data: bytes, **kw: object) -> tuple[list[framing.Frame], list[framing.Damage], object]:
    reader = framing.FrameReader(io.BytesIO(data), LIMITS, **kw)  # type: ignore[arg-type]
    items = list(reader)
    good = [i for i in items if isinstance(i, framing.Frame)]
    bad = [i for i in items if isinstance(i, framing.Damage)]
    return good, bad, reader


FRAMES = _frames()
DATA = b"".join(FRAMES)
ENDS = [sum(len(f) for f in FRAMES[: k + 1]) for k in range(len(FRAMES))]
STARTS = [0, *ENDS[:-1]]


def test_frame_layout_is_as_documented() -> None:
    frame = framing.encode(3, b"abc")
    assert frame[:4] == b"\xf3PBF"
    assert frame[4] == 3 and int.from_bytes(frame[5:9], "big") == 3
    import zlib

    assert int.from_bytes(frame[9:13], "big") == zlib.crc32(frame[4:9])
    assert frame[13:16] == b"abc"
    assert frame[16:] == hashlib.blake2b(frame[4:9] + b"abc", digest_size=16).digest()
    assert len(frame) == framing.OVERHEAD + 3


def test_clean_stream_reads_every_frame_with_offsets() -> None:
    good, bad, reader = _read(DATA)
    assert not bad and not reader.truncated  # type: ignore[attr-defined]
    assert [f.offset for f in good] == STARTS
    assert [framing.encode(f.type, f.payload) for f in good] == FRAMES


def test_truncation_at_every_offset_keeps_exactly_the_complete_frames() -> None:
    for cut in range(len(DATA) + 1):
        good, bad, reader = _read(DATA[:cut])
        complete = sum(1 for end in ENDS if end <= cut)
        assert len(good) == complete, cut
        assert [framing.encode(f.type, f.payload) for f in good] == FRAMES[:complete]
        at_boundary = cut == 0 or cut in ENDS
        assert reader.truncated is (not at_boundary), cut  # type: ignore[attr-defined]
        assert bool(bad) is (not at_boundary), cut


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(DATA) - 1), st.integers(0, 7))
def test_a_bit_flip_loses_at_most_the_frame_it_hits(pos: int, bit: int) -> None:
    data = bytearray(DATA)
    data[pos] ^= 1 << bit
    good, bad, _ = _read(bytes(data))
    hit = max(k for k, start in enumerate(STARTS) if start <= pos)
    assert bad, "every flipped bit is detected"
    expected = FRAMES[:hit] + FRAMES[hit + 1 :]
    assert [framing.encode(f.type, f.payload) for f in good] == expected


def test_damaged_length_field_is_caught_and_the_reader_resynchronises() -> None:
    data = bytearray(DATA)
    k = 5
    data[STARTS[k] + 5 : STARTS[k] + 9] = (10_000_000).to_bytes(4, "big")  # absurd length
    good, bad, _ = _read(bytes(data))
    assert len(good) == len(FRAMES) - 1
    assert bad[0].offset == STARTS[k] and bad[0].skipped == len(FRAMES[k])
    assert "header" in bad[0].reason


def test_unknown_type_or_oversized_frame_is_damage_not_trusted() -> None:
    odd = framing.encode(9, b"x")  # a type the reader was not told about
    big = framing.encode(7, b"y" * 100)  # over its limit of 64
    good, bad, _ = _read(FRAMES[0] + odd + big + FRAMES[1])
    assert [framing.encode(f.type, f.payload) for f in good] == FRAMES[:2]
    assert len(bad) == 1 and bad[0].skipped == len(odd) + len(big)


def test_resync_across_megabytes_of_garbage_in_constant_memory() -> None:
    rng = random.Random(7)
    garbage = bytes(rng.getrandbits(8) for _ in range(3 * 1024 * 1024 + 5)).replace(
        framing.SYNC, b"xxxx"
    )
    data = FRAMES[0] + garbage + FRAMES[1]
    reader = framing.FrameReader(io.BytesIO(data), LIMITS)
    items = list(reader)
    assert isinstance(items[0], framing.Frame) and isinstance(items[-1], framing.Frame)
    assert isinstance(items[1], framing.Damage) and items[1].skipped == len(garbage)
    assert len(reader._buf) < 3 * 1024 * 1024  # the reader never held it all


def test_garbage_to_the_end_is_reported_not_truncated() -> None:
    good, bad, reader = _read(FRAMES[0] + b"\x00" * 100)
    assert len(good) == 1 and bad[-1].skipped == 100
    assert not reader.truncated  # type: ignore[attr-defined]


def test_digest_before_covers_every_byte_before_a_frame() -> None:
    prefix = b"MAGIC!"
    reader = framing.FrameReader(io.BytesIO(DATA), LIMITS, start=len(prefix))
    reader.feed_prefix(prefix)
    for item in reader:
        assert isinstance(item, framing.Frame)
        whole = prefix + DATA
        expected = hashlib.blake2b(whole[: item.offset], digest_size=32).digest()
        assert reader.digest_before(item.offset) == expected


# --- atomic files --------------------------------------------------------------------


def test_atomic_file_appears_only_on_commit(tmp_path: Path) -> None:
    dest = tmp_path / "b.plb"
    with framing.AtomicFile(dest) as f:
        f.write(b"hello")
        assert not dest.exists()
        f.commit()
    assert dest.read_bytes() == b"hello"
    assert [p.name for p in tmp_path.iterdir()] == ["b.plb"]


def test_atomic_file_left_without_commit_leaves_nothing(tmp_path: Path) -> None:
    with framing.AtomicFile(tmp_path / "b.plb") as f:
        f.write(b"half")
    assert list(tmp_path.iterdir()) == []


def test_atomic_file_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    dest = tmp_path / "b.plb"
    dest.write_bytes(b"old")
    with pytest.raises(BundleError, match="already exists"):
        framing.AtomicFile(dest)
    with framing.AtomicFile(dest, overwrite=True) as f:
        f.write(b"new")
        f.commit()
    assert dest.read_bytes() == b"new"
    with pytest.raises(BundleError, match="folder"):
        framing.AtomicFile(tmp_path)


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        framing.AtomicFile(tmp_path / "no" / "such" / "b.plb")


class _FullDisk(io.RawIOBase):
    """A file that accepts ``room`` bytes, then fails like a full stick."""

    def __init__(self, path: Path, room: int) -> None:
        self._f = open(path, "wb")  # noqa: SIM115
        self.room = room

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self._f.write(data)

    def fileno(self) -> int:
        return self._f.fileno()

    def close(self) -> None:
        self._f.close()
        super().close()


@pytest.mark.parametrize(("room", "buffer"), [(0, 64), (10, 64), (5000, 64), (5000, 1 << 20)])
def test_full_disk_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, room: int, buffer: int
) -> None:
    """Whether the write or the final flush in commit() hits the full disk."""

    def create(self: framing.AtomicFile) -> BinaryIO:
        return io.BufferedWriter(_FullDisk(self.tmp, room), buffer_size=buffer)  # type: ignore[return-value]

    monkeypatch.setattr(framing.AtomicFile, "_create", create)
    with (
        pytest.raises(BundleError, match="no space left") as info,
        framing.AtomicFile(tmp_path / "b.plb") as f,
    ):
        for _ in range(100):
            f.write(b"x" * 100)
        f.commit()
    assert "nothing was left behind" in info.value.message
    assert list(tmp_path.iterdir()) == []


def test_read_only_medium_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def create(self: framing.AtomicFile) -> BinaryIO:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(framing.AtomicFile, "_create", create)
    with pytest.raises(BundleError, match="read-only"):
        framing.AtomicFile(tmp_path / "b.plb")
    assert list(tmp_path.iterdir()) == []
