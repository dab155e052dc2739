"""Restart playbooks as TOML files: parse, validate, and say exactly what is wrong where.

A playbook is checked completely before anyone executes it: every problem is
collected (not just the first), and each one names the step, the field and,
where it can be found, the line of the file. A run embeds the file's exact
text, so every laptop parses the same bytes; the SHA-256 of those bytes is the
version everyone can compare (``sha256sum FILE`` gives the same hash).

The schema is documented for humans in ``field_guides/playbooks.md``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Iterable
from typing import Any

from ledger.playbooks.fields import parse_step_fields
from ledger.playbooks.model import (
    CHECK_TYPES,
    FACT_CHECKS,
    FORMAT,
    ID_RE,
    MAX_SIGNOFFS,
    MAX_STEPS,
    MAX_TEXT_BYTES,
    STEP_FIELDS,
    STEP_ROLES,
    TOP_FIELDS,
    Check,
    Playbook,
    PlaybookInvalid,
    Problem,
    Step,
    dependencies,
    format_duration,
    parse_duration,
    text_hash,
)

__all__ = [
    "CHECK_TYPES",
    "FACT_CHECKS",
    "Check",
    "Playbook",
    "PlaybookInvalid",
    "Problem",
    "Step",
    "dependencies",
    "format_duration",
    "parse",
    "parse_duration",
    "text_hash",
    "validate",
]

_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


# --- where things are in the file ----------------------------------------------------------


class _Lines:
    """Best-effort line numbers for keys: tomllib reports lines for syntax errors only.

    Tracks ``[[steps]]`` / ``[[steps.checks]]`` headers and multi-line strings, so
    that a schema problem can point at the line of the key (or of its table).
    """

    def __init__(self, text: str) -> None:
        self.top: dict[str, int] = {}
        self.steps: list[tuple[int, dict[str, int]]] = []
        self.checks: dict[int, list[int]] = {}
        table = "top"
        in_string: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string is not None:
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            stripped = line.strip()
            if re.match(r"^\[\[\s*steps\s*\]\]", stripped):
                self.steps.append((number, {}))
                table = "step"
            elif re.match(r"^\[\[\s*steps\s*\.\s*checks\s*\]\]", stripped):
                if self.steps:
                    self.checks.setdefault(len(self.steps) - 1, []).append(number)
                table = "check"
            elif stripped.startswith("["):
                table = "other"
            else:
                key = re.match(r'^["\']?([A-Za-z0-9_-]+)["\']?\s*=', stripped)
                if key:
                    name = key.group(1)
                    if table == "top":
                        self.top.setdefault(name, number)
                    elif table == "step":
                        self.steps[-1][1].setdefault(name, number)
            for quote in ('"""', "'''"):
                if line.count(quote) % 2 == 1:
                    in_string = quote
                    break

    def of_top(self, name: str) -> int | None:
        return self.top.get(name)

    def of_step(self, index: int, name: str | None = None) -> int | None:
        if index >= len(self.steps):
            return None
        header, keys = self.steps[index]
        if name is None:
            return header
        return keys.get(name.split(".")[0], header)

    def of_check(self, step_index: int, check_index: int) -> int | None:
        lines = self.checks.get(step_index, [])
        if check_index < len(lines):
            return lines[check_index]
        return self.of_step(step_index, "checks")


def validate(text: str) -> list[Problem]:
    """Every problem of a playbook text (empty list: it is valid)."""
    try:
        parse(text)
    except PlaybookInvalid as e:
        return e.problems
    return []


def parse(text: str, source: str = "playbook") -> Playbook:
    """Parse and validate; raises PlaybookInvalid listing every problem found."""
    return _Parser(text, source).run()


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class _Parser:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.problems: list[Problem] = []
        self.lines = _Lines(text) if isinstance(text, str) else _Lines("")

    def problem(
        self, message: str, *, line: int | None, step: str | None = None, fld: str | None = None
    ) -> None:
        self.problems.append(Problem(message, line, step, fld))

    def run(self) -> Playbook:
        if not isinstance(self.text, str):
            raise PlaybookInvalid(self.source, [Problem("a playbook is UTF-8 text")])
        size = len(self.text.encode("utf-8"))
        if size > MAX_TEXT_BYTES:
            self.problem(
                f"the file is {size:,} bytes; a run embeds it in one signed entry, so the "
                f"limit is {MAX_TEXT_BYTES:,} bytes (shorten the instructions)",
                line=None,
            )
            raise PlaybookInvalid(self.source, self.problems)
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as e:
            message = str(e)
            pos = _TOML_POS.search(message)
            line = int(pos.group(1)) if pos else getattr(e, "lineno", None)
            if pos is None and _TOML_END.search(message):
                line = max(1, len(self.text.splitlines()))
                message = _TOML_END.sub(" (at the end of the file)", message)
            message = _TOML_POS.sub("", message)
            if pos:
                message += f" (column {pos.group(2)})"
            raise PlaybookInvalid(self.source, [Problem(f"not valid TOML: {message}", line)]) from e
        playbook = self._top(data)
        if self.problems or playbook is None:
            raise PlaybookInvalid(self.source, self.problems)
        return playbook

    # --- top level ---------------------------------------------------------------------

    def _text(self, data: dict[str, Any], name: str, *, required: bool = True) -> str | None:
        value = data.get(name)
        if value is None:
            if required:
                self.problem(f"'{name}' is missing", line=None, fld=name)
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(
                f"must be a non-empty text in quotes, got {value!r}",
                line=self.lines.of_top(name),
                fld=name,
            )
            return None
        return value.strip()

    def _text_list(self, value: Any, name: str, line: int | None, step: str | None) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem("must be a list of non-empty texts", line=line, step=step, fld=name)
            return []
        return [v.strip() for v in value]

    def _top(self, data: dict[str, Any]) -> Playbook | None:
        for key in data:
            if key not in TOP_FIELDS:
                self.problem(
                    f"unknown field{_suggest(key, TOP_FIELDS)}; allowed: {', '.join(TOP_FIELDS)}",
                    line=self.lines.of_top(key),
                    fld=key,
                )
        fmt = data.get("format", FORMAT)
        if fmt != FORMAT or isinstance(fmt, bool):
            self.problem(
                f"this plurictl reads playbook format {FORMAT}, not {fmt!r}",
                line=self.lines.of_top("format"),
                fld="format",
            )
        pid = self._text(data, "id")
        if pid is not None and not ID_RE.match(pid):
            self.problem(
                f"{pid!r}: use lower-case letters, digits, '-', '_' or '.' (at most 64)",
                line=self.lines.of_top("id"),
                fld="id",
            )
        title = self._text(data, "title")
        version = data.get("version")
        if version is None:
            self.problem("'version' is missing (e.g. version = \"1.0\")", line=None, fld="version")
        elif not isinstance(version, str) or not version.strip():
            self.problem(
                f'must be a text in quotes, e.g. version = "{version}"',
                line=self.lines.of_top("version"),
                fld="version",
            )
            version = None
        roles = self._roles(data.get("roles"))
        summary = data.get("summary", "")
        if not isinstance(summary, str):
            self.problem("must be a text", line=self.lines.of_top("summary"), fld="summary")
            summary = ""
        sources = self._text_list(
            data.get("sources"), "sources", self.lines.of_top("sources"), None
        )
        aborts = self._text_list(
            data.get("abort_criteria"), "abort_criteria", self.lines.of_top("abort_criteria"), None
        )
        steps = self._steps(data.get("steps"), roles)
        if self.problems or pid is None or title is None or version is None:
            return None
        return Playbook(
            id=pid,
            title=title,
            version=version.strip(),
            roles=tuple(roles),
            steps=tuple(steps),
            text=self.text,
            summary=summary.strip(),
            sources=tuple(sources),
            abort_criteria=tuple(aborts),
        )

    def _roles(self, value: Any) -> list[str]:
        line = self.lines.of_top("roles")
        if value is None:
            self.problem(
                'missing: the roles this playbook uses, e.g. roles = ["coordinator", "operator"]',
                line=None,
                fld="roles",
            )
            return []
        if not isinstance(value, list) or not value or not all(isinstance(r, str) for r in value):
            self.problem("must be a non-empty list of role names", line=line, fld="roles")
            return []
        good = []
        for role in value:
            if role not in STEP_ROLES:
                self.problem(
                    f"unknown role {role!r}{_suggest(role, STEP_ROLES)}; "
                    f"roles that can sign are {', '.join(STEP_ROLES)}",
                    line=line,
                    fld="roles",
                )
            elif role not in good:
                good.append(role)
        return good

    # --- steps -------------------------------------------------------------------------

    def _steps(self, value: Any, roles: list[str]) -> list[Step]:
        if value is None:
            self.problem("no steps: add at least one [[steps]] table", line=None, fld="steps")
            return []
        if not isinstance(value, list) or not all(isinstance(s, dict) for s in value):
            self.problem(
                "must be tables written as [[steps]]", line=self.lines.of_top("steps"), fld="steps"
            )
            return []
        if not value:
            self.problem("no steps: add at least one [[steps]] table", line=None, fld="steps")
            return []
        if len(value) > MAX_STEPS:
            self.problem(f"{len(value)} steps; the limit is {MAX_STEPS}", line=None, fld="steps")
            return []
        seen: dict[str, int] = {}
        steps: list[Step | None] = []
        for index, raw in enumerate(value):
            steps.append(self._step(index, raw, roles, seen))
        ids = list(seen)
        valid = [s for s in steps if s is not None]
        for index, raw in enumerate(value):
            self._references(index, raw, ids)
        self._cycles(valid)
        return valid

    def _step(
        self, index: int, raw: dict[str, Any], roles: list[str], seen: dict[str, int]
    ) -> Step | None:
        sid = raw.get("id")
        label = f"steps[{index}]"
        start = len(self.problems)

        def bad(message: str, fld: str) -> None:
            self.problem(message, line=self.lines.of_step(index, fld), step=label, fld=fld)

        sid = self._step_id(sid, index, seen, bad)
        if sid is not None:
            label = f"'{sid}'"
        title, instructions = self._step_texts(raw, bad)
        role = raw.get("role")
        if not isinstance(role, str):
            bad(f"missing: who signs this step, one of {', '.join(roles) or 'the roles'}", "role")
        elif role not in roles:
            bad(
                f"{role!r} is not in the playbook's roles ({', '.join(roles) or 'none'})"
                f"{_suggest(role, roles)}",
                "role",
            )
        kind, signers, readings, signoffs = parse_step_fields(raw, role, MAX_SIGNOFFS, bad)
        prereqs = raw.get("prerequisites", [])
        if not isinstance(prereqs, list) or not all(isinstance(p, str) for p in prereqs):
            bad('must be a list of step ids, e.g. prerequisites = ["isolate"]', "prerequisites")
            prereqs = []
        elif len(set(prereqs)) != len(prereqs):
            bad("lists the same step twice", "prerequisites")
        hold_s, hold = 0, raw.get("hold")
        if hold is not None:
            try:
                hold_s = parse_duration(hold)
            except ValueError as e:
                bad(str(e), "hold")
        checks = self._checks(index, label, raw.get("checks", []))
        aborts = self._text_list(
            raw.get("abort_criteria"),
            "abort_criteria",
            self.lines.of_step(index, "abort_criteria"),
            label,
        )
        if (
            len(self.problems) > start
            or sid is None
            or not isinstance(title, str)
            or not isinstance(instructions, str)
            or not isinstance(role, str)
        ):
            return None  # a wrong type above was recorded as a problem
        return Step(
            id=sid,
            title=title.strip(),
            instructions=instructions.strip(),
            role=role,
            signoffs=signoffs,
            prerequisites=tuple(prereqs),
            hold_s=hold_s,
            hold=hold,
            checks=tuple(checks),
            abort_criteria=tuple(aborts),
            type=kind,
            signers=signers,
            readings=readings,
        )

    @staticmethod
    def _step_texts(raw: dict[str, Any], bad: Callable[[str, str], None]) -> tuple[Any, Any]:
        """Unknown fields, the title and the instructions of a step (as found, checked)."""
        for key in raw:
            if key not in STEP_FIELDS:
                bad(
                    f"unknown field{_suggest(key, STEP_FIELDS)}; allowed: {', '.join(STEP_FIELDS)}",
                    key,
                )
        title = raw.get("title")
        if not isinstance(title, str) or not title.strip():
            bad("missing or empty: a short title for the checklist", "title")
        instructions = raw.get("instructions")
        if not isinstance(instructions, str) or not instructions.strip():
            bad(
                'missing or empty: what to do, in Markdown (use """ for several lines)',
                "instructions",
            )
        return title, instructions

    @staticmethod
    def _step_id(
        sid: Any, index: int, seen: dict[str, int], bad: Callable[[str, str], None]
    ) -> str | None:
        """The step's id, or None when it is missing or malformed (a problem recorded);
        a duplicate is recorded as a problem but keeps its id."""
        if not isinstance(sid, str) or not ID_RE.match(sid):
            bad(
                "missing or not a step id: use lower-case letters, digits, '-', '_' or '.'"
                if sid is None or not isinstance(sid, str)
                else f"{sid!r}: use lower-case letters, digits, '-', '_' or '.' (at most 64)",
                "id",
            )
            return None
        if sid in seen:
            bad(f"duplicate step id (also steps[{seen[sid]}])", "id")
        else:
            seen[sid] = index
        return sid

    def _checks(self, index: int, label: str, value: Any) -> list[Check]:
        if not isinstance(value, list) or not all(isinstance(c, dict) for c in value):
            self.problem(
                'must be a list of tables, e.g. checks = [{type = "manual", text = "..."}]',
                line=self.lines.of_step(index, "checks"),
                step=label,
                fld="checks",
            )
            return []
        out = []
        for j, raw in enumerate(value):
            line = self.lines.of_check(index, j)
            fld = f"checks[{j}]"

            def bad(message: str, line: int | None = line, fld: str = fld) -> None:
                self.problem(message, line=line, step=label, fld=fld)

            kind = raw.get("type")
            if kind is None:
                bad(f"a check needs a type; types are {', '.join(CHECK_TYPES)}")
                continue
            if kind not in CHECK_TYPES:
                bad(
                    f"unknown check type {kind!r}{_suggest(str(kind), CHECK_TYPES)}; "
                    f"types are {', '.join(CHECK_TYPES)}"
                )
                continue
            spec = CHECK_TYPES[kind]
            args: dict[str, Any] = {}
            ok = True
            for key in raw:
                if key not in spec and key not in ("type", "required"):
                    allowed = ", ".join(["type", "required", *spec])
                    bad(f"unknown field '{key}' for a {kind} check; allowed: {allowed}")
                    ok = False
            required = raw.get("required", True)
            if not isinstance(required, bool):
                bad("'required' must be true or false")
                ok = False
            for name, (what, needed) in spec.items():
                value_ = raw.get(name)
                if value_ is None:
                    if needed:
                        bad(f"a {kind} check needs '{name}'")
                        ok = False
                    continue
                problem = _check_value(what, value_)
                if problem:
                    bad(f"'{name}' {problem}")
                    ok = False
                else:
                    args[name] = (
                        float(value_)
                        if what in ("litres", "hours")
                        else value_.strip()
                        if what != "tier"
                        else value_
                    )
            if ok:
                out.append(Check(type=kind, required=required, **args))
        return out

    def _references(self, index: int, raw: dict[str, Any], ids: list[str]) -> None:
        """Unknown step ids in prerequisites and step_done checks (even if the step has other problems)."""
        sid = raw.get("id")
        label = f"'{sid}'" if isinstance(sid, str) and sid in ids else f"steps[{index}]"
        prereqs = raw.get("prerequisites", [])
        line = self.lines.of_step(index, "prerequisites")
        for p in prereqs if isinstance(prereqs, list) else []:
            if not isinstance(p, str):
                continue
            if p == sid:
                self.problem(
                    "a step cannot be its own prerequisite",
                    line=line,
                    step=label,
                    fld="prerequisites",
                )
            elif p not in ids:
                self.problem(
                    f"unknown step {p!r}{_suggest(p, ids)}; steps are {', '.join(ids)}",
                    line=line,
                    step=label,
                    fld="prerequisites",
                )
        checks = raw.get("checks", [])
        for j, check in enumerate(checks if isinstance(checks, list) else []):
            if not isinstance(check, dict) or check.get("type") != "step_done":
                continue
            ref = check.get("step")
            if isinstance(ref, str) and ref.strip() == sid:
                self.problem(
                    "a step_done check cannot name its own step",
                    line=self.lines.of_check(index, j),
                    step=label,
                    fld=f"checks[{j}]",
                )
            elif isinstance(ref, str) and ref.strip() and ref.strip() not in ids:
                self.problem(
                    f"unknown step {ref!r}{_suggest(ref, ids)}",
                    line=self.lines.of_check(index, j),
                    step=label,
                    fld=f"checks[{j}]",
                )

    def _cycles(self, steps: list[Step]) -> None:
        """Prerequisites (and required step_done checks) must not loop: it could never start."""
        # Self-references are reported on their own; here only real loops.
        edges = {s.id: [d for d in dependencies(s) if d != s.id] for s in steps}
        index_of = {s.id: i for i, s in enumerate(steps)}
        color: dict[str, int] = {}
        reported: set[frozenset[str]] = set()

        def visit(node: str, path: list[str]) -> None:
            color[node] = 1
            path.append(node)
            for nxt in edges.get(node, ()):
                if color.get(nxt) == 1:
                    cycle = [*path[path.index(nxt) :], nxt]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        self.problem(
                            "prerequisites form a loop, so no step in it can ever start: "
                            + " -> ".join(cycle),
                            line=self.lines.of_step(index_of[nxt], "prerequisites"),
                            step=f"'{nxt}'",
                            fld="prerequisites",
                        )
                elif color.get(nxt) is None:
                    visit(nxt, path)
            path.pop()
            color[node] = 2

        for s in steps:
            if color.get(s.id) is None:
                visit(s.id, [])


def _check_value(what: str, value: Any) -> str | None:
    if what == "text":
        return None if isinstance(value, str) and value.strip() else "must be a non-empty text"
    if what == "step":
        return None if isinstance(value, str) and value.strip() else "must be a step id"
    if what == "litres":
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            return f"must be a number of litres above 0, got {value!r}"
        return None
    if what == "hours":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 8760:
            return f"must be a number of hours above 0 (at most a year), got {value!r}"
        return None
    if what == "tier":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 9:
            return f"must be a priority tier from 1 to 9, got {value!r}"
        return None
    return f"unknown kind {what}"  # pragma: no cover - CHECK_TYPES is fixed
