"""Turning `vote open` flags or a FILE.toml into a :class:`ledger.votes.writer.VoteSpec`.

Names are resolved to keys here, by the ``resolve`` function the caller hands in (the CLI
passes ``resolve_author``: a name, a full key or a key prefix); roles and the roll are resolved
into member ids by the writer, which checks everything before signing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: a member's name (or key, or key prefix) -> their public key; InvalidInput if none matches
Resolve = Callable[[str], bytes]


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:32].strip("-")


def parse_options(texts: list[Any], refs: dict[str, str]) -> list[dict[str, Any]]:
    """`--option ID=LABEL` / `--option LABEL` (or TOML tables) into charter options."""
    from ledger.errors import InvalidInput

    out: list[dict[str, Any]] = []
    for i, t in enumerate(texts, 1):
        if isinstance(t, dict):
            opt = {"id": str(t.get("id") or _slug(str(t.get("label", ""))) or f"o{i}")}
            opt["label"] = str(t.get("label") or opt["id"])
            if t.get("ref"):
                opt["ref"] = str(t["ref"])
        else:
            oid, sep, label = str(t).partition("=")
            if not sep:
                oid, label = _slug(str(t)) or f"o{i}", str(t)
            opt = {"id": oid.strip().lower(), "label": label.strip()}
        if opt["id"] in refs:
            opt["ref"] = refs[opt["id"]]
        out.append(opt)
    unknown = set(refs) - {o["id"] for o in out}
    if unknown:
        raise InvalidInput(f"--ref names no option: {', '.join(sorted(unknown))}")
    return out


def _pairs(texts: tuple[str, ...], flag: str) -> dict[str, str]:
    from ledger.errors import InvalidInput

    out = {}
    for t in texts:
        key, sep, value = t.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidInput(f"{flag} {t!r}: write KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def _weight(text: str, where: str) -> int:
    from ledger.errors import InvalidInput

    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{where}: weight {text!r} is not a whole number") from None


def _whole(value: Any, name: str) -> int | None:
    """A whole number from a flag or the file, or None when not given."""
    from ledger.errors import InvalidInput

    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{name} must be a whole number, not {value!r}")
    return value


def read_roll_file(resolve: Resolve, path: Path) -> dict[bytes, int]:
    """Roll file: one member per line, `NAME_OR_KEY [WEIGHT]`; `#` starts a comment."""
    from ledger.errors import InvalidInput

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"cannot read roll file {path}: {e}") from e
    roll: dict[bytes, int] = {}
    for n, line in enumerate(lines, 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) > 2:
            raise InvalidInput(f"{path}:{n}: write NAME_OR_KEY [WEIGHT]")
        key = resolve(words[0])
        if key in roll:
            raise InvalidInput(f"{path}:{n}: {words[0]} is listed twice")
        roll[key] = _weight(words[1], f"{path}:{n}") if len(words) == 2 else 1
    if not roll:
        raise InvalidInput(f"roll file {path} lists nobody")
    return roll


def _load_toml(path: Path) -> dict[str, Any]:
    import tomllib

    from ledger.errors import InvalidInput

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InvalidInput(f"cannot read vote file {path}: {e}") from e


def _roll(resolve: Resolve, roll_text: Any) -> tuple[str | None, dict[bytes, int] | None, str]:
    """The roll given inline: ``role:ROLE``, a TOML table NAME = weight, or a list of
    names (weight 1). Returns (roll role, roll, source); nothing given is (None, None, "")."""
    from ledger.errors import InvalidInput

    if isinstance(roll_text, str):
        if not roll_text.startswith("role:"):
            raise InvalidInput(f"--roll {roll_text!r}: write role:ROLE, e.g. role:operator")
        return roll_text.split(":", 1)[1].strip(), None, ""
    if isinstance(roll_text, dict):  # TOML table: NAME = weight
        return None, {resolve(n): _weight(str(w), "roll") for n, w in roll_text.items()}, "list"
    if isinstance(roll_text, list):
        return None, {resolve(str(n)): 1 for n in roll_text}, "list"
    return None, None, ""


def build_spec(resolve: Resolve, file: str | None, flags: dict[str, Any]) -> Any:
    """Merge FILE.toml and flags (flags win) into a VoteSpec with keys resolved."""
    from ledger.errors import InvalidInput
    from ledger.votes.writer import VoteSpec

    data = _load_toml(Path(file)) if file else {}
    known = {
        "title", "text", "method", "options", "roll", "roll_file", "tellers", "weights",
        "seal_threshold", "tolerate", "quorum", "credits", "window", "secret", "ceremony",
    }  # fmt: skip
    extra = set(data) - known
    if extra:
        raise InvalidInput(f"{file}: unknown key(s) {', '.join(sorted(extra))}")

    def pick(name: str, default: Any = None) -> Any:
        value = flags.get(name)
        if value not in (None, (), []):
            return value
        return data.get(name, default)

    title = pick("title")
    if not title:
        raise InvalidInput("a vote needs a title", hint='--title "Which plant restarts first?"')
    refs = _pairs(flags.get("refs", ()), "--ref")
    options = parse_options(list(pick("options", [])), refs)
    tellers_in = pick("tellers", [])
    if isinstance(tellers_in, str):
        tellers_in = [tellers_in]
    tellers = [resolve(str(t)) for t in tellers_in]
    roll_text, roll_file = pick("roll"), pick("roll_file")
    weights_in = pick("weights", {})
    if isinstance(weights_in, tuple | list):
        weights_in = _pairs(tuple(str(w) for w in weights_in), "--weight")
    if not isinstance(weights_in, dict):
        raise InvalidInput("weights: write NAME=W pairs (or a [weights] table in the file)")
    weights = {resolve(n): _weight(str(w), "--weight") for n, w in weights_in.items()}
    if roll_file:
        base = Path(file).parent if file and not flags.get("roll_file") else Path(".")
        roll_role, source = None, f"file:{Path(roll_file).name}"
        roll: dict[bytes, int] | None = read_roll_file(resolve, base / roll_file)
    else:
        roll_role, roll, source = _roll(resolve, roll_text)
    if roll is not None and weights:
        strangers = [k for k in weights if k not in roll]
        if strangers:
            raise InvalidInput(
                "--weight names someone who is not on the roll: "
                + ", ".join(k.hex()[:12] for k in strangers),
                hint="add them to the roll first; --weight only changes the weight of people on it",
            )
        for key, w in weights.items():
            roll[key] = w
        weights = {}
    method = str(pick("method", "plurality"))
    return VoteSpec(
        title=str(title),
        text=str(pick("text", "") or ""),
        options=options,
        method=method,
        tellers=tellers,
        roll_role=roll_role,
        roll=roll,
        weights=weights,
        k=_whole(pick("seal_threshold"), "seal_threshold"),
        tolerate=_whole(pick("tolerate"), "tolerate"),
        quorum_pct=_whole(pick("quorum", 0), "quorum") or 0,
        credits=_whole(pick("credits"), "credits"),
        window_minutes=_whole(pick("window"), "window"),
        roll_source=source,
        ceremony=_secret(bool(pick("secret", False)), pick("ceremony"), method),
    )


def _secret(secret: bool, ceremony: Any, method: str) -> str | None:
    """The key ceremony of a secret vote (``--secret --ceremony ID``), or None: an open vote."""
    from ledger.errors import InvalidInput

    if not secret:
        if ceremony:
            raise InvalidInput("--ceremony is for secret votes: add --secret")
        return None
    if method not in ("plurality", "approval"):
        raise InvalidInput(
            f"--secret works with plurality and approval votes, not {method}: ranked-choice "
            "and quadratic tallies would need a mixnet or range proofs (they stay open votes)",
            hint="drop --secret, or use --method plurality / approval",
        )
    if not isinstance(ceremony, str) or not ceremony.strip():
        raise InvalidInput(
            "a secret vote needs its tellers' key ceremony: --ceremony ID",
            hint="a coordinator runs `plurictl vote ceremony start --teller NAME ...` first",
        )
    return ceremony
