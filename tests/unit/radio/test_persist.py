"""Frame counters survive restarts and are never handed out twice."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from mesh.radio.persist import STATE_FILE, RadioState


def test_blocks_never_overlap_across_restarts(tmp_path: Path) -> None:
    first = RadioState(tmp_path)
    a = first.reserve(4096)
    b = first.reserve(4096)
    assert b >= a + 4096
    again = RadioState(tmp_path)  # a restart (or a crash right after reserving)
    c = again.reserve(4096)
    assert c >= b + 4096
    assert stat.S_IMODE((tmp_path / STATE_FILE).stat().st_mode) == 0o600


def test_receive_floors_are_kept(tmp_path: Path) -> None:
    state = RadioState(tmp_path)
    state.save({b"\x01" * 32: 77})
    state.save({b"\x01" * 32: 50, b"\x02" * 32: 5})  # never lowered
    assert RadioState(tmp_path).rx == {b"\x01" * 32: 77, b"\x02" * 32: 5}


def test_a_damaged_file_starts_somewhere_random(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text("{not json")
    starts = {RadioState(tmp_path).next_counter for _ in range(5)}
    assert len(starts) > 1 and all(0 <= s < 2**31 for s in starts)
    (tmp_path / STATE_FILE).write_text(json.dumps({"counter_next": -4}))
    assert 0 <= RadioState(tmp_path).next_counter < 2**31


def test_a_save_never_rolls_back_another_process_reservation(tmp_path: Path) -> None:
    bridge = RadioState(tmp_path)
    bridge.reserve(4096)
    check = RadioState(tmp_path)  # `radio check` on the same home, meanwhile
    taken = check.reserve(64)
    bridge.save({b"\x01" * 32: 9})  # the bridge saves its receive floors later
    assert RadioState(tmp_path).reserve(1) >= taken + 64
