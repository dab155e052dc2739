"""Times and durations as a coordinator reads them: this laptop's local time, short."""

from __future__ import annotations

import time
from datetime import datetime


def local(ms: int | float | None, *, now_ms: int | None = None) -> str:
    """'14:05' today, 'Tue 14:05' this week, else '2025-09-14 14:05' (laptop's local time)."""
    if ms is None:
        return "-"
    try:
        when = datetime.fromtimestamp(ms / 1000)
    except (OverflowError, OSError, ValueError):
        return "-"
    now = datetime.fromtimestamp((now_ms if now_ms is not None else time.time() * 1000) / 1000)
    if when.date() == now.date():
        return when.strftime("%H:%M")
    if abs((when - now).days) < 6:
        return when.strftime("%a %H:%M")
    return when.strftime("%Y-%m-%d %H:%M")


def hlc_local(hlc: int | None, *, now_ms: int | None = None) -> str:
    """The wall-clock part of a packed hybrid logical clock, as :func:`local` text."""
    return "-" if not hlc else local(hlc >> 16, now_ms=now_ms)


def duration(seconds: float | None) -> str:
    """'3 h 20 min', '12 min', '45 s' (None: '-')."""
    if seconds is None:
        return "-"
    s = max(0, round(seconds))
    if s >= 48 * 3600:
        return f"{s // 86400} d {(s % 86400) // 3600} h"
    if s >= 3600:
        return f"{s // 3600} h {(s % 3600) // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min"
    return f"{s} s"


def parse_label(text: object) -> int | None:
    """A plan's period label or order time ('2025-09-14 06:00', '...T06:00') as local ms."""
    if not isinstance(text, str):
        return None
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            return int(datetime.strptime(text.strip(), fmt).timestamp() * 1000)
        except ValueError:
            continue
    return None
