"""Signed local ledger: identities, entries, the SQLite store, clocks, bundles and views.

Imports no sibling package (see DESIGN.md, "Layout").
"""
