"""`playbook sign --reading NAME=NUMBER`: plain ASCII decimals only (#24 hostile review F2:
``60_1`` was recorded as 601 and full-width digits were accepted)."""

from __future__ import annotations

import pytest

from ledger.errors import InvalidInput
from plurictl.commands.playbook import _readings


@pytest.mark.parametrize(
    "text",
    ["60_1", "4_7_8", "６０.１", "nan", "inf", "-inf", "1e400", "0x3C", "", "abc", "60.1.2", "١٢"],
)
def test_odd_numbers_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="NAME=NUMBER"):
        _readings((f"frequency={text}",))


@pytest.mark.parametrize(
    ("text", "value"),
    [("60.1", 60.1), ("-3", -3.0), (" 478 ", 478.0), ("5e-2", 0.05), (".5", 0.5), ("50.", 50.0)],
)
def test_plain_numbers_are_read(text: str, value: float) -> None:
    assert _readings((f"x={text}",)) == {"x": value}
