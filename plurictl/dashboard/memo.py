"""Work kept per object: redone only for what changed between two ledger states."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class ByIdentity:
    """Values built from an object, kept while that same object is passed again.

    The fuel view keeps a site's object when a reading for another site arrives
    (see :mod:`plurictl.dashboard.fuel_cache`), so per-site work is redone only for
    the sites that changed.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: dict[int, tuple[Any, Any]] = {}
        self._lock = threading.Lock()

    def get(self, obj: Any, build: Callable[[], Any]) -> Any:
        with self._lock:
            hit = self._items.get(id(obj))
            if hit is not None and hit[0] is obj:
                return hit[1]
        value = build()
        with self._lock:
            if len(self._items) >= self.size:
                self._items.clear()
            self._items[id(obj)] = (obj, value)
        return value
