"""Errors of the dashboard (part of the one PluriError tree)::

PluriError
└── DashboardError           exit 1  the dashboard cannot start (missing libraries, no PDF)
    ├── DashboardInputError  exit 5  a bad device label, an unreadable devices file
    └── AddressInUse         exit 9  the port is taken, or the address is not this laptop's
"""

from __future__ import annotations

from ledger.errors import PluriError


class DashboardError(PluriError):
    exit_code = 1


class DashboardInputError(DashboardError):
    exit_code = 5


class AddressInUse(DashboardError):
    exit_code = 9
