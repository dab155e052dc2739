"""Body schemas: the in-line pass of simple field checks answers exactly as the checks.

A schema tests a field in line when its check passes every value of one type and size
(text within its length, a list or map of anything within its count, either of those);
otherwise it calls the check. The reference here calls every check, as schemas did
before: same answer, same message, for every reserved kind and any body.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import schemas
from ledger.schemas import Schema


def reference(s: Schema, body: Any, path: str = "body") -> str | None:
    """Schema.__call__ without the in-line pass: every present field's check is called."""
    if not isinstance(body, dict):
        return f"{path} must be a map"
    for name in sorted(s.required):
        if body.get(name) is None:
            return f"{path}.{name} is required"
    for name, check in s.fields.items():
        value = body.get(name)
        if value is not None:
            sub = f"{path}.{name}" if path != "body" else name
            problem = (
                reference(check, value, sub) if isinstance(check, Schema) else check(value, sub)
            )
            if problem:
                return problem
    return None


def _boundary() -> list[Any]:
    """Values of every (type, size) the in-line pass knows, one below, at and above it."""
    out: list[Any] = []
    sizes = {p for passes in schemas._PASSES.values() for p in passes}
    for kind, most in sorted(sizes, key=repr):
        for n in (most - 1, most, most + 1):
            if kind is str:
                out.append("a" * n)
            elif kind is list:
                out.append([1] * n)
            elif kind is dict:
                out.append({str(i): 1 for i in range(n)})
    return out


BOUNDARY = _boundary()
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=True)
    | st.binary(max_size=4)
    | st.text(max_size=4)
)
values = st.sampled_from(BOUNDARY) | st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=6,
)
KINDS = sorted(schemas.RESERVED_KINDS)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(st.sampled_from(KINDS))
    check = schemas._REGISTRY[kind]
    assert isinstance(check, Schema)
    names = [*check.fields, "other"]
    body = draw(st.dictionaries(st.sampled_from(names), values, max_size=len(names)))
    return kind, draw(st.sampled_from([body, body, body, [body], None]))


@settings(max_examples=1500, deadline=None)
@given(case=bodies())
def test_schemas_answer_as_calling_every_check(case: tuple[str, Any]) -> None:
    kind, body = case
    check = schemas._REGISTRY[kind]
    assert isinstance(check, Schema)
    assert check(body) == reference(check, body)


def test_the_in_line_pass_is_used_for_the_vote_fields() -> None:
    ballot = schemas._REGISTRY["vote.ballot"]
    assert isinstance(ballot, Schema)
    passes = {name: p for name, _, p in ballot._plan}
    assert passes["vote"] == ((str, 64),)
    assert passes["choice"] == ((list, 10_000), (dict, 10_000))
    assert passes["replaces"] == ()  # a list of texts: its items are checked by the call
