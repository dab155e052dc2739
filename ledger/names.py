"""Names typed by tired people: tell a typo from a new name.

A name that is not known but within a typo's distance of a known one (one or two
letters added, dropped, changed or swapped; case, spaces, dashes and underscores
ignored) is almost certainly a typo. Commands refuse it with a "did you mean"
hint instead of silently creating a new site or filtering down to nothing.
Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from ledger.errors import InvalidInput


def normalise(name: str) -> str:
    """Case, spaces, dashes and underscores do not make a different name."""
    return "".join(c for c in name.casefold() if c not in " -_.")


def distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from ``a`` to ``b``
    (optimal string alignment distance)."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            row[j] = min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[i - 2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def typo_budget(name: str) -> int:
    """How many edits still count as a typo: one for short names, two from six letters."""
    return 1 if len(normalise(name)) < 6 else 2


def close_matches(name: str, known: Iterable[str]) -> list[str]:
    """Known names within a typo's distance of ``name`` (closest first), never ``name`` itself."""
    target = normalise(name)
    scored = []
    for k in set(known):
        if k == name:
            continue
        d = distance(target, normalise(k))
        if d <= min(typo_budget(name), typo_budget(k)):
            scored.append((d, k))
    return [k for _, k in sorted(scored)]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` — did you mean 'x'?`` for the closest known name, or an empty string."""
    close = close_matches(name, known)
    return f" — did you mean {close[0]!r}?" if close else ""


def require_known(name: str, known: Iterable[str], what: str, *, listing: str = "") -> str:
    """``name`` if it is one of ``known``; else ``InvalidInput`` naming the known ones.

    ``listing`` is the command that shows them, for the hint.
    """
    known = sorted(set(known))
    if name in known:
        return name
    shown = ", ".join(known[:12]) + (" …" if len(known) > 12 else "")
    raise InvalidInput(
        f"unknown {what} {name!r}{did_you_mean(name, known)} (known: {shown or 'none yet'})",
        hint=f"see `{listing}`" if listing else None,
    )


def refuse_near_miss(name: str, known: Iterable[str], what: str, *, override: str) -> None:
    """Refuse a *new* name that is a typo's distance from a known one.

    A name far from every known one is fine (a genuinely new site); ``override`` is
    the flag that says "yes, this is a new one" (e.g. ``--new-site``).
    """
    known = set(known)
    if name in known:
        return
    close = close_matches(name, known)
    if close:
        raise InvalidInput(
            f"no {what} {name!r} yet{did_you_mean(name, close)} Nothing was written.",
            hint=f"if {name!r} really is a new {what}, add {override}",
        )
