"""Entry kinds the toolkit itself writes, and which ones are roster entries.

Kinds are dotted lower-case names. The ones listed here carry meaning for the
views; ``plurictl log append`` refuses them so that they are only written by
the commands that validate them.
"""

from __future__ import annotations

GENESIS = "mesh.genesis"
ROSTER_CHANGE = "roster.change"
ROSTER_APPROVE = "roster.approve"
ROSTER_KINDS = frozenset({GENESIS, ROSTER_CHANGE, ROSTER_APPROVE})

#: Prefixes reserved for entries written by plurictl's own commands.
RESERVED_PREFIXES = ("mesh.", "roster.", "fuel.", "plan.", "order.", "vote.", "playbook.", "drill.")


def is_reserved(kind: str) -> bool:
    return kind.startswith(RESERVED_PREFIXES)
