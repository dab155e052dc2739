"""One validation layer for everything typed on a command line (exit 5 on bad input).

Three parts, applied to every command:

* :func:`check_argv` refuses arguments that are not UTF-8 text (Python keeps
  undecodable bytes as lone surrogates, which fail later when written);
* :func:`check_params` runs on every command's parsed values before its code:
  numbers must be finite and within 2**53, text must be valid Unicode, a path
  must not be empty;
* shared parameter types with bounds (:func:`count_type`, :func:`seconds_type`,
  :func:`finite_float`, :func:`output_path`) for options whose sane range the
  generic rules cannot know.

Echoed bad values are cut to a readable length (:func:`clip`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ledger.errors import InvalidInput

#: Integers beyond this are refused anywhere (they overflow SQLite or exhaust memory).
MAX_INT = 2**53
#: Longest value echoed back in an error message.
ECHO_CHARS = 60
#: Deepest JSON nesting read from a file or option.
MAX_JSON_DEPTH = 64
#: Places no output file may go (they are not disks).
SPECIAL_DIRS = ("/proc", "/sys", "/dev")


def clip(value: Any, limit: int = ECHO_CHARS) -> str:
    """``repr`` of a value for an error message, cut to ``limit`` characters."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text):,} characters)"


def has_surrogates(text: str) -> bool:
    """True if ``text`` holds lone surrogates (undecodable bytes, or a JSON \\ud800)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check_argv(args: list[str]) -> None:
    """Refuse command-line arguments that are not UTF-8 text."""
    from plurictl.errors import BadArgument

    for i, arg in enumerate(args, 1):
        if isinstance(arg, str) and has_surrogates(arg):
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise BadArgument(
                f"argument {i} ({clip(shown)}) is not valid UTF-8 text; "
                "plurictl reads its arguments as UTF-8"
            )


def check_params(ctx: click.Context) -> None:
    """The generic rules, over every parsed value of ``ctx``'s command."""
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        values = value if isinstance(value, tuple | list) else (value,)
        for v in values:
            _check_value(param, v)


def _option_name(param: click.Parameter) -> str:
    opts = getattr(param, "opts", None) or []
    return max(opts, key=len) if opts else (param.name or "value").upper()


def _check_value(param: click.Parameter, v: Any) -> None:
    name = _option_name(param)
    if isinstance(v, float) and not math.isfinite(v):
        raise InvalidInput(f"{name}: {v} is not a finite number")
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT:
        raise InvalidInput(f"{name}: {clip(v)} is too large (at most {MAX_INT:,})")
    if isinstance(v, str) and has_surrogates(v):
        raise InvalidInput(f"{name}: not valid Unicode text")
    if isinstance(param.type, click.Path) and v is not None and str(v) == "":
        raise InvalidInput(f"{name}: the path is empty")


def guard_commands(command: click.Command) -> click.Command:
    """Make ``command`` (and every sub-command) run :func:`check_params` first. Idempotent."""
    if getattr(command, "_plurictl_guarded", False):
        return command
    command._plurictl_guarded = True  # type: ignore[attr-defined]
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            guard_commands(sub)
    callback = command.callback
    if callback is not None:
        command.callback = _guarded(callback)
    return command


def _guarded(callback: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        check_params(click.get_current_context())
        return callback(*args, **kwargs)

    run.__wrapped__ = callback  # type: ignore[attr-defined]
    run.__doc__ = callback.__doc__
    return run


# --- shared types with bounds ----------------------------------------------------------------


class _Bounded(click.ParamType):
    """A number within [low, high], finite, refused with exit 5 and a clipped echo."""

    def __init__(
        self, kind: type[int] | type[float], low: float, high: float, unit: str = ""
    ) -> None:
        self.kind = kind
        self.low = low
        self.high = high
        self.unit = unit
        self.name = "integer" if kind is int else "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, self.kind) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = self.kind(str(value).strip())
            except (ValueError, OverflowError):
                raise InvalidInput(
                    f"{self._name(param)}: {clip(value)} is not a {self.name}"
                ) from None
        if isinstance(number, float) and not math.isfinite(number):
            raise InvalidInput(f"{self._name(param)}: {clip(value)} is not a finite number")
        if not self.low <= number <= self.high:
            raise InvalidInput(
                f"{self._name(param)}: {clip(value)} is out of range "
                f"({self.low:g} to {self.high:g}{self.unit})"
            )
        return number

    @staticmethod
    def _name(param: click.Parameter | None) -> str:
        return _option_name(param) if param is not None else "value"


def count_type(maximum: int = 10**9, minimum: int = 1) -> click.ParamType:
    """A whole number from ``minimum`` to ``maximum``."""
    return _Bounded(int, minimum, maximum)


def litres_type(maximum: float = 10_000_000) -> click.ParamType:
    """A finite number of litres from 0 to ``maximum`` (nan, inf and -1 alike: exit 5)."""
    return _Bounded(float, 0.0, maximum, " L")


def seconds_type(max_seconds: float = 86_400, min_seconds: float = 0.0) -> click.ParamType:
    """A finite duration in seconds."""
    return _Bounded(float, min_seconds, max_seconds, " s")


def finite_float(low: float, high: float) -> click.ParamType:
    """A finite number from ``low`` to ``high``."""
    return _Bounded(float, low, high)


class _OutputPath(click.ParamType):
    name = "file"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        name = _option_name(param) if param is not None else "file"
        text = str(value)
        if not text.strip():
            raise InvalidInput(f"{name}: the file name is empty")
        path = Path(text).expanduser()
        real = os.path.realpath(path)
        if any(real == d or real.startswith(d + "/") for d in SPECIAL_DIRS):
            raise InvalidInput(f"{name}: {clip(text)} is a system file, not a place to write to")
        if path.is_dir():
            raise InvalidInput(f"{name}: {clip(text)} is a folder; give a file name")
        if path.exists() and not path.is_file():
            raise InvalidInput(f"{name}: {clip(text)} is not a regular file")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise InvalidInput(f"{name}: the folder {clip(str(parent))} does not exist")
        return path


def output_path() -> click.ParamType:
    """A file to write: non-empty, not a folder, not under /proc, /sys or /dev."""
    return _OutputPath()


# --- JSON text and files ----------------------------------------------------------------------


def parse_json_text(text: str, what: str) -> Any:
    """JSON from text: NaN/Infinity, lone surrogates and deep nesting refused (exit 5)."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidInput(f"{what} is nested too deeply") from None
    except ValueError as e:
        raise InvalidInput(f"{what} is not valid JSON: {clip(str(e), 120)}") from None
    problem = text_tree_problem(value)
    if problem:
        raise InvalidInput(f"{what}: {problem}")
    return value


def read_json_file(path: Path, what: str = "the file") -> Any:
    """JSON from a UTF-8 file, with the checks of :func:`parse_json_text`."""
    return parse_json_text(read_text_file(path, what), f"{what} {clip(str(path))}")


def read_text_file(path: Path, what: str = "the file") -> str:
    """A UTF-8 text file; exit 5 naming the file when it is not readable text."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise InvalidInput(f"cannot read {what} {clip(str(path))}: {e.strerror}") from e
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidInput(
            f"{what} {clip(str(path))} is not UTF-8 text (byte {e.start:,})"
        ) from None


def text_tree_problem(value: Any, depth: int = 0) -> str | None:
    """Why a parsed JSON value cannot be stored (lone surrogates, too deep), or None."""
    if depth > MAX_JSON_DEPTH:
        return f"nested deeper than {MAX_JSON_DEPTH} levels"
    if isinstance(value, str):
        return "text holds a lone surrogate (not valid Unicode)" if has_surrogates(value) else None
    if isinstance(value, dict):
        for k, v in value.items():
            problem = text_tree_problem(k, depth + 1) or text_tree_problem(v, depth + 1)
            if problem:
                return problem
    elif isinstance(value, list):
        for v in value:
            problem = text_tree_problem(v, depth + 1)
            if problem:
                return problem
    return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (use a number or a string)")


def threshold_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--tolerate F`` and ``--seal-threshold K``, the same for `vote open` and
    `vote ceremony start` (a secret vote's k and F are its ceremony's)."""
    command = click.option(
        "--seal-threshold",
        type=click.IntRange(min=1),
        help="Seals (and, for secret votes, decryption shares) needed: k "
        "(default: the smallest with 2k - tellers >= F + 1).",
    )(command)
    return click.option(
        "--tolerate",
        type=click.IntRange(min=0),
        metavar="F",
        help="Equivocating tellers (copied keys) tolerated (default 1 with 4+ tellers, else 0).",
    )(command)
