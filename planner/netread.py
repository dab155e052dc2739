"""Reading a pandapower net on a first run without the costs that change nothing.

A first run on a laptop (no network cache yet) pays pandapower's import and its JSON
reader before the planner can start. Measured on the shipped networks, most of that is
work whose result is thrown away or rebuilt identically:

* ``import pandapower`` imports its plotting, and that ``matplotlib.pyplot`` whenever the
  ``plot`` extra is installed (0.5 s): see ``import_pandapower``;
* the reader builds a fresh empty net (about 90 typed tables, 0.15-0.3 s) to read into,
  and converting an older format (every case pandapower ships as JSON) builds two more:
  here one is built per read and copied (``EmptyNets``);
* a file written by pandapower holds every table, most of them empty, and pandas takes
  2-3 ms to read each empty one (0.2 s for the island microgrid's 80): an empty table
  whose columns and dtypes are exactly those of the empty net's is left out of the text
  pandapower reads, so it keeps the empty net's own, the very table it would have read.

Nothing is kept from one read to the next. tests/unit/planner/test_net_reading.py reads
every built-in case and every shipped network both ways and compares every table, value
and dtype, and the DC arrays built from them.
"""

from __future__ import annotations

import copy
import io
import json
import sys
import threading
from typing import Any

_IMPORT_LOCK = threading.Lock()
_EMPTY_NET_LOCK = threading.Lock()
#: The modules of ``pp.from_json`` and ``pp.convert_format`` that build empty nets.
_EMPTY_NET_USERS = ("pandapower.io_utils", "pandapower.convert_format")
#: What pandapower writes for a plain table, besides its rows.
_PLAIN_TABLE = {"orient", "dtype", "is_multiindex", "is_multicolumn"}


def import_pandapower() -> None:
    """Import pandapower without its plotting back end.

    The planner never plots through pandapower (``planner.plot`` imports matplotlib
    itself), so while pandapower is imported matplotlib looks absent to it, exactly as on
    a laptop without the ``plot`` extra; matplotlib stays importable for everything else.
    Nothing to do when pandapower or matplotlib is already imported.
    """
    if "pandapower" in sys.modules or "matplotlib" in sys.modules:
        return
    with _IMPORT_LOCK:
        sys.modules["matplotlib"] = None  # type: ignore[assignment]  # "not installed"
        try:
            import pandapower  # noqa: F401
        finally:
            if sys.modules.get("matplotlib", 0) is None:
                del sys.modules["matplotlib"]


class EmptyNets:
    """One ``create_empty_network()`` per read: inside the block, pandapower's reader and
    format conversion get deep copies of a single empty net, built on first use; calls
    with arguments go to pandapower. Nothing outlives the block."""

    def __enter__(self) -> EmptyNets:
        _EMPTY_NET_LOCK.acquire()
        self._saved: list[tuple[Any, Any]] = []
        self._template: Any = None
        for name in _EMPTY_NET_USERS:
            module = sys.modules.get(name)
            original = getattr(module, "create_empty_network", None)
            if original is None:
                continue
            self._original = original

            def fresh(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                if args or kwargs:
                    return _original(*args, **kwargs)
                return copy.deepcopy(self.template())

            self._saved.append((module, original))
            module.create_empty_network = fresh  # type: ignore[union-attr]
        return self

    def template(self) -> Any:
        """The empty net of this read (never handed out: only copies are)."""
        if self._template is None:
            import pandapower as pp

            self._template = getattr(self, "_original", pp.create_empty_network)()
        return self._template

    def __exit__(self, *exc: Any) -> None:
        try:
            for module, original in self._saved:
                module.create_empty_network = original
        finally:
            _EMPTY_NET_LOCK.release()


def read_file(text: str, empty: EmptyNets) -> Any:
    """pandapower's ``from_json`` of a file's text, its empty tables taken from the
    empty net when they are exactly its own (see the module text)."""
    import pandapower as pp

    return pp.from_json(io.StringIO(_without_plain_empty_tables(text, empty) or text))


def _without_plain_empty_tables(text: str, empty: EmptyNets) -> str | None:
    """The text without the empty tables the empty net has exactly; None: unchanged."""
    from pandapower._version import __format_version__

    try:
        doc = json.loads(text)
    except ValueError:
        return None  # pandapower says what is wrong with it
    if not isinstance(doc, dict) or doc.get("_class") != "pandapowerNet":
        return None
    obj = doc.get("_object")
    if not isinstance(obj, dict):
        return None
    if obj.get("format_version") != __format_version__:
        return None  # converted: every table as pandapower reads it
    template = empty.template()
    drop = [key for key, table in obj.items() if _is_its_empty_table(table, template.get(key))]
    if not drop:
        return None
    for key in drop:
        del obj[key]
    return json.dumps(doc)


def _is_its_empty_table(table: Any, own: Any) -> bool:
    """``table`` (as written by pandapower) is empty, with exactly ``own``'s columns
    and dtypes and nothing else (no index name, no multi-index)."""
    import pandas as pd  # type: ignore[import-untyped]

    if not isinstance(own, pd.DataFrame) or len(own) or not isinstance(table, dict):
        return False
    if table.get("_class") != "DataFrame" or table.get("_module") != "pandas.core.frame":
        return False
    extra = set(table) - {"_module", "_class", "_object"}
    if not extra <= _PLAIN_TABLE or table.get("orient") != "split":
        return False
    if table.get("is_multiindex", False) or table.get("is_multicolumn", False):
        return False
    if own.index.name is not None or own.columns.name is not None:
        return False
    if table.get("dtype") != {str(c): str(t) for c, t in own.dtypes.items()}:
        return False
    try:
        rows = json.loads(table["_object"])
    except (TypeError, ValueError):
        return False
    return rows == {"columns": [str(c) for c in own.columns], "index": [], "data": []}
