"""Everything that turns plain data into what an operator reads.

* ``common``: consoles (rich, imported only when something is rendered), JSON output,
  small formatting helpers every command uses;
* ``votes``, ``plans``, ``playbooks``: the tables and panels of those command groups.

Commands build plain data, then print it as JSON (``--json``) or hand it to a renderer here.
Submodules are imported by name (``from plurictl.render import votes``); this package imports
none of them, so ``--json`` output loads no rich.
"""

__all__ = ["common", "plans", "playbooks", "votes"]
