"""Restart playbooks: TOML files of steps, runs of them, sign-offs, checks, logs.

* ``model``: steps, checks, problems, durations (plain objects); ``format``: parsing and
  validating the TOML file into them, with every problem located;
* ``checks``: the check vocabulary, evaluated against a ``Facts`` object passed in;
* ``view``: the pure fold over ``playbook.*`` entries; ``judge`` judges each entry in its causal
  past; ``state`` is the data the fold produces;
* ``facts``: the ``Facts`` a laptop reads from its own ledger (fuel and plan views);
* ``writer``: starting runs, signing steps, failing, skipping, aborting (pre-checked, signed).

Submodules are imported by name (``from ledger.playbooks import view``); this package imports
none of them.
"""

__all__ = ["checks", "facts", "format", "judge", "model", "state", "view", "writer"]
