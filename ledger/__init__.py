"""Signed local ledger: identities, entries, the SQLite store, clocks, bundles and views.

Imports no sibling package (see DESIGN.md, "Layout").
"""

# Concepts above the roster advise on roster changes (see ledger/roster/advice.py).
from ledger.votes import roster_advice as _roster_advice  # noqa: F401
