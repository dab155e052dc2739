"""The status sheet as a PDF, without a browser (WeasyPrint renders the /sheet page)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from plurictl.dashboard.errors import DashboardError


def sheet_html(home: Path) -> str:
    """The /sheet page of ``home``'s ledger as it is now (styles inlined from the package)."""
    from plurictl.dashboard import model
    from plurictl.dashboard.live import LiveViews
    from plurictl.dashboard.render import Renderer

    live = LiveViews(home)
    try:
        live.refresh()
        snap, now = live.snapshot, int(time.time() * 1000)
        ctx = {**model.sheet(snap, live.me, now), "snap": snap, "now_ms": now, "page": "sheet"}
        return Renderer().html("sheet.html", ctx)
    finally:
        live.stop()


def write_sheet(home: Path, target: Path) -> int:
    """Write the sheet to ``target``; returns the number of pages."""
    # The page links its stylesheet by URL; here the styles are handed over directly.
    html = sheet_html(home).replace('<link rel="stylesheet" href="/static/dashboard.css">', "")
    try:
        with warnings.catch_warnings():
            # WeasyPrint ≥ 66 warns at import when libharfbuzz-subset is absent; it then
            # subsets fonts with fontTools, so the sheet is the same. Advice, not an error.
            warnings.filterwarnings("ignore", "HarfBuzz-Subset", DeprecationWarning)
            import weasyprint
    except (ImportError, OSError) as e:  # OSError: the Pango library is missing
        raise DashboardError(
            f"cannot make a PDF here ({e})",
            hint="install the dashboard extra and Pango (Debian: apt-get install libpango-1.0-0 "
            "libpangoft2-1.0-0), or open /sheet in a browser and print it",
        ) from e
    from plurictl.dashboard.render import asset

    css, _ = asset("dashboard.css") or (b"", "")
    document = weasyprint.HTML(string=html, url_fetcher=_no_fetch).render(
        stylesheets=[weasyprint.CSS(string=css.decode())]
    )
    try:
        document.write_pdf(target)
    except OSError as e:
        raise DashboardError(f"cannot write {target}: {e.strerror}") from e
    return len(document.pages)


def _no_fetch(url: str, *args: object, **kwargs: object) -> dict[str, object]:
    """Nothing is fetched while making the PDF (styles are passed in directly)."""
    raise ValueError(f"not fetched: {url}")
