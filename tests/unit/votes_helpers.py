"""Shared set-up for the votes view tests: a small council mesh and fold helpers."""

from __future__ import annotations

from collections.abc import Iterable

from ledger.entry import Entry
from ledger.roster.view import Roster
from ledger.testing import MeshFixture
from ledger.votes import as_json as vote_json
from ledger.votes import view as votes_view
from ledger.votes.testing import VoteBook

VOTERS = ["alice", "bob", "carol", "dave", "erin", "frank"]
TELLERS = ["bob", "carol", "dave"]


def council() -> tuple[MeshFixture, VoteBook]:
    """alice founds (admin, coordinator, operator); bob/carol/dave are tellers too."""
    m = MeshFixture.create(
        "alice",
        {
            "bob": ["operator", "teller"],
            "carol": ["operator", "teller"],
            "dave": ["operator", "teller"],
            "erin": ["operator"],
            "frank": ["operator"],
            "olga": ["observer"],
            "cody": ["coordinator"],
        },
    )
    return m, VoteBook(m)


def fold(
    m: MeshFixture, entries: Iterable[Entry] | None = None, roster: Roster | None = None
) -> votes_view.Votes:
    return votes_view.fold(list(m.entries if entries is None else entries), roster or m.roster())


def one(m: MeshFixture, charter: Entry, entries: Iterable[Entry] | None = None) -> votes_view.Vote:
    return fold(m, entries).votes[charter.id]


def snapshot(m: MeshFixture, entries: Iterable[Entry], roster: Roster) -> dict:
    return vote_json.everything(votes_view.fold(list(entries), roster), roster)
