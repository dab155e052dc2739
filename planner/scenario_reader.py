"""Typed, field-named access to a parsed TOML document, and where each field is written.

``_Reader`` reads one table with checks that name the field (``sites[2].tanks[0].
capacity_litres``); ``_Locator`` finds the line that field is on, so every error an
operator sees says where to look. Pure stdlib.
"""

from __future__ import annotations

import math
import re
from typing import Any

from planner.errors import ScenarioError

# a table header: [name] or [[name]], dotted names allowed, a comment after it
_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\s]+?)\s*\]\]?\s*(#.*)?$")
_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_\-]*)(?:\[(\d+)\])?")


class _Locator:
    """Finds the line of a field in the TOML text, so errors can say 'line 42'.

    A path is dotted with array indexes, as the reader names fields:
    ``sites[2].tanks[0].capacity_litres`` is the key in the first ``[[sites.tanks]]``
    under the third ``[[sites]]``. When the key itself is not written (a default, or a
    missing required field) the line of its table's header is given.
    """

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers: list[tuple[int, str, bool]] = []  # (line index, dotted name, is array)
        for i, line in enumerate(self.lines):
            m = _HEADER.match(line)
            if m:
                name = re.sub(r"\s*\.\s*", ".", m.group(2).strip())
                self.headers.append((i, name, m.group(1) == "[["))

    def line_of(self, path: str) -> int | None:
        segments = _SEGMENT.findall(path)
        table, start, end = "", -1, len(self.lines)
        for name, index in segments:
            full = f"{table}.{name}" if table else name
            hits = [
                h[0]
                for h in self.headers
                if h[1] == full and h[2] == bool(index) and start < h[0] < end
            ]
            pick = int(index) if index else 0
            if pick < len(hits):
                start, table = hits[pick], full
                end = self._end_of(start, full, end)
                continue
            if not index and self._implicit(full, start, end):
                table = full  # [a.b.c] written without [a.b]: look further down
                continue
            # a key (or an inline table, whose fields are on its line), else the parent
            found = None if index else self._key_line(name, start, end)
            return found if found is not None else self._line(start)
        return self._line(start)

    def _implicit(self, full: str, start: int, end: int) -> bool:
        """A table defined only by the headers of its sub-tables."""
        return any(start < i < end and name.startswith(full + ".") for i, name, _ in self.headers)

    @staticmethod
    def _line(start: int) -> int | None:
        return start + 1 if start >= 0 else None

    def _end_of(self, start: int, full: str, limit: int) -> int:
        """The first header after ``start`` that is not inside table ``full``."""
        for i, name, _ in self.headers:
            if start < i < limit and not name.startswith(full + "."):
                return i
        return limit

    def _key_line(self, key: str, start: int, end: int) -> int | None:
        """The line of ``key = ...`` written directly in the table (before any sub-table)."""
        stop = next((i for i, _, _ in self.headers if start < i < end), end)
        keyline = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for i in range(start + 1, stop):
            if keyline.match(self.lines[i]):
                return i + 1
        return None


class _Reader:
    """Typed access to one TOML table with field-named errors."""

    def __init__(self, data: dict[str, Any], path: str, loc: _Locator, file: str) -> None:
        self.data = data
        self.path = path
        self.loc = loc
        self.file = file
        self.used: set[str] = set()

    def fail(self, key: str | None, message: str) -> ScenarioError:
        return ScenarioError(f"{self.at(key)}: {message}")

    def at(self, key: str | None) -> str:
        """``FILE: field PATH (line N)`` of ``key``: also kept for checks made later,
        once the network is read."""
        where = f"{self.path}.{key}" if key and self.path else (key or self.path or "scenario")
        line = self.loc.line_of(where)
        return f"{self.file}: field {where}" + (f" (line {line})" if line else "")

    def _get(self, key: str, default: Any, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise self.fail(key, "is required")
            return default
        return self.data[key]

    def text(self, key: str, default: str | None = None, *, required: bool = False) -> Any:
        v = self._get(key, default, required)
        if v is not None and (not isinstance(v, str) or not v.strip()):
            raise self.fail(key, f"must be a non-empty string, got {v!r}")
        return v

    def choice(self, key: str, options: tuple[str, ...], default: str) -> str:
        v = self.text(key, default)
        if v not in options:
            raise self.fail(key, f"must be one of {', '.join(options)}, got {v!r}")
        return str(v)

    def flag(self, key: str, default: bool) -> bool:
        v = self._get(key, default, False)
        if not isinstance(v, bool):
            raise self.fail(key, f"must be true or false, got {v!r}")
        return v

    def num(
        self,
        key: str,
        default: float | None = None,
        *,
        required: bool = False,
        lo: float | None = None,
        hi: float | None = None,
        lo_open: bool = False,
    ) -> Any:
        v = self._get(key, default, required)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise self.fail(key, f"must be a finite number, got {v!r}")
        if lo is not None and (v <= lo if lo_open else v < lo):
            raise self.fail(key, f"must be {'>' if lo_open else '>='} {lo:g}, got {v!r}")
        if hi is not None and v > hi:
            raise self.fail(key, f"must be <= {hi:g}, got {v!r}")
        return float(v)

    def whole(
        self,
        key: str,
        default: int | None = None,
        *,
        required: bool = False,
        lo: int = 0,
        hi: int | None = None,
    ) -> Any:
        v = self._get(key, default, required)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(key, f"must be a whole number, got {v!r}")
        if v < lo:
            raise self.fail(key, f"must be >= {lo}, got {v!r}")
        if hi is not None and v > hi:
            raise self.fail(key, f"must be <= {hi}, got {v!r}")
        return v

    def int_or_list(self, key: str, *, required: bool = False) -> list[int] | None:
        v = self._get(key, None, required)
        if v is None:
            return None
        items = v if isinstance(v, list) else [v]
        if not items or any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in items):
            raise self.fail(key, f"must be a whole number >= 0 or a list of them, got {v!r}")
        return list(items)

    def tables(self, key: str) -> list[dict[str, Any]]:
        v = self._get(key, [], False)
        if not isinstance(v, list) or any(not isinstance(i, dict) for i in v):
            raise self.fail(key, "must be an array of tables, written [[" + key + "]]")
        return v

    def table(self, key: str, *, required: bool = False) -> dict[str, Any]:
        v = self._get(key, {}, required)
        if not isinstance(v, dict):
            raise self.fail(key, "must be a table, written [" + key + "]")
        return v

    def sub(self, key: str, data: dict[str, Any], index: int | None = None) -> _Reader:
        path = f"{self.path}.{key}" if self.path else key
        if index is not None:
            path += f"[{index}]"
        return _Reader(data, path, self.loc, self.file)

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise self.fail(unknown[0], f"unknown field (known: {', '.join(sorted(self.used))})")
