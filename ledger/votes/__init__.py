"""Votes that survive partitions: charters, ballots, tellers' seals, final results.

The fold (pure, same state on every laptop in any arrival order):

* ``bodies``: entry kinds and body parsing (charter fields, options, methods);
* ``view``: the fold ``fold(entries, roster) -> Votes``; ``state`` its data classes;
* ``seals``: which seals count and which sheet they seal; ``result``: slots and FINAL results;
* ``tally``, ``tally_v1``, ``irv``: counting by method (ranked choice in ``irv``);
* ``as_json``: the votes view as plain JSON data (``--json``, drills, dashboard);
* ``pins``: what a FINAL vote pins in the store's pruning limits.

Writing and checking:

* ``writer``: opening a vote, casting, stopping, closing and sealing (pre-checked, then signed);
  ``seal_checks``: what a seal is checked against first (also ``vote status``'s next seal);
* ``spec``: a vote's specification from operator input (flags or a TOML file, names resolved
  by the caller);
* ``roster_advice``: what a roster change would do to votes not yet final (warnings);
* ``audit``: re-checking a vote from its signed entries alone (``vote verify``); ``signed``:
  its pass over every stored row (signatures checked by forked children meanwhile);
* ``secret``: the secret-ballot cryptographic core (no entries, no folds);
* ``testing``: helpers that sign vote entries for tests and benchmarks.

Submodules are imported by name (``from ledger.votes import view``); this package imports none
of them.
"""

__all__ = [
    "as_json",
    "audit",
    "bodies",
    "irv",
    "pins",
    "result",
    "roster_advice",
    "seal_checks",
    "seals",
    "secret",
    "signed",
    "spec",
    "state",
    "tally",
    "tally_v1",
    "testing",
    "view",
    "writer",
]
