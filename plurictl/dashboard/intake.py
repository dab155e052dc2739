"""Fuel readings from phones: check the form, keep the photo, sign with this laptop's key.

The reading goes through the same writer as `plurictl fuel report`, with
``via`` naming the phone: the ledger says this laptop vouched for what that
phone sent. A gauge photo is re-encoded small (its location and camera data
dropped) and kept by content hash in ``HOME/blobs/``; the entry carries the hash.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from plurictl.dashboard.errors import DashboardInputError

BLOBS = "blobs"
MAX_UPLOAD = 12 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 1280
MAX_NOTE = 500
MAX_LITRES = 10_000_000
_write_lock = threading.Lock()
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


@dataclass
class FuelForm:
    site: str
    tank: str
    litres: float
    note: str
    photo: bytes | None


def parse(fields: dict[str, Any], photo: bytes | None, sites: list[str]) -> FuelForm:
    """The reading a form describes, or DashboardInputError naming the first bad field."""
    site = str(fields.get("site") or "").strip()
    if site not in sites:
        raise DashboardInputError("pick the site from the list")
    tank = str(fields.get("tank") or "main").strip() or "main"
    if len(tank) > 64 or not tank.isprintable():
        raise DashboardInputError("the tank name must be at most 64 printable characters")
    litres = parse_litres(str(fields.get("litres") or ""))
    if not math.isfinite(litres) or not 0 <= litres <= MAX_LITRES:
        raise DashboardInputError(f"litres must be between 0 and {MAX_LITRES:,}")
    note = str(fields.get("note") or "").replace("\r\n", "\n").strip()
    if len(note) > MAX_NOTE:
        raise DashboardInputError(f"the note is longer than {MAX_NOTE} characters")
    if printable(note) != note:
        raise DashboardInputError(
            "the note must be printable characters (no control or text-direction characters)"
        )
    return FuelForm(site, tank, litres, note, photo or None)


def printable(text: str) -> str:
    """``text`` without control or text-direction characters (to re-show a refused form)."""
    return "".join(c for c in text if c.isprintable() or c in "\n\t")


def parse_litres(raw: str) -> float:
    """Litres as typed on a phone, read strictly: a comma only as an unambiguous decimal point.

    "1100.5" and "1100,5" are 1100.5 and "1,5" is 1.5; "1,100" (1.1 or 1100?), "1,100.5"
    and any other thousands separator are refused rather than guessed.
    """
    text = raw.strip()
    if "," in text:
        whole, _, frac = text.partition(",")
        if "," in frac or "." in text or len(frac) == 3 or not _DECIMAL_COMMA.fullmatch(text):
            raise DashboardInputError(
                f"litres {text!r} is ambiguous: write 1100.5, without thousands separators"
            )
        text = f"{whole}.{frac}"
    if not _NUMBER.fullmatch(text):
        if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise DashboardInputError(f"litres must be between 0 and {MAX_LITRES:,}")
        raise DashboardInputError("litres must be a number, e.g. 1200 or 1100.5")
    return float(text)


def shrink_photo(data: bytes) -> bytes:
    """A JPEG at most 1280 px on its longest side, upright, without EXIF (no GPS)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if len(data) > MAX_UPLOAD:
        raise DashboardInputError(f"the photo is larger than {MAX_UPLOAD // (1024 * 1024)} MB")
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > MAX_PIXELS:
                raise DashboardInputError("the photo has too many pixels")
            img.load()
            upright = ImageOps.exif_transpose(img) or img
            small = upright.convert("RGB")
            small.thumbnail((MAX_SIDE, MAX_SIDE))
            out = io.BytesIO()
            small.save(out, "JPEG", quality=80, optimize=True)
            return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise DashboardInputError("the photo is not an image this laptop can read") from e


def keep_photo(data: bytes, home: Path) -> str:
    """Store a shrunk photo by its content hash; returns the hash (64 hex characters)."""
    small = shrink_photo(data)
    digest = hashlib.blake2b(small, digest_size=32).hexdigest()
    folder = Path(home) / BLOBS
    folder.mkdir(mode=0o700, exist_ok=True)
    target = folder / f"{digest}.jpg"
    if not target.exists():
        tmp = folder / f".{digest}.tmp"
        tmp.write_bytes(small)
        os.replace(tmp, target)
    return digest


def blob_path(home: Path, name: str) -> Path | None:
    """The file of a stored photo named ``<64 hex>.jpg``; None for any other name."""
    stem, dot, ext = name.partition(".")
    if ext != "jpg" or not dot or len(stem) != 64 or any(c not in "0123456789abcdef" for c in stem):
        return None
    path = Path(home) / BLOBS / f"{stem}.jpg"
    return path if path.is_file() else None


def submit(home: Any, form: FuelForm, device_label: str) -> Any:
    """Sign the reading with this laptop's key (the fuel writer checks roles and values)."""
    from ledger.fuel import writer as fuel
    from plurictl.nudge import nudge_node

    with _write_lock:
        photo = keep_photo(form.photo, home.path) if form.photo else ""
        entry = fuel.report(
            home.store,
            home.identity,
            form.site,
            form.litres,
            tank=form.tank,
            note=form.note,
            via=device_label,
            photo=photo,
        )
    nudge_node(home.path)
    return entry
