"""Courier bundle benchmark: export and import of 100,000 entries, and memory vs size.

Run with ``make bench``. Each export/import runs in its own subprocess so that
peak memory (max RSS growth and tracemalloc peak) belongs to that operation
alone; timings come from runs without tracemalloc. The raw ed25519 verify rate
is measured in the same run on the same entries, so the import ratio does not
depend on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

SIZES = (10_000, 100_000)
MEMBERS = 10
TARGET_RATIO = 0.6


def build_store(directory: Path, n: int) -> Path:
    """A ledger of ``n`` entries: genesis, MEMBERS adds, then notes spread over the members."""
    from ledger.store import Store
    from ledger.testing import MeshFixture

    mesh = MeshFixture.create("alice", {f"m{i}": ["operator"] for i in range(MEMBERS)})
    home = directory / f"src-{n}"
    home.mkdir()
    store = Store.open(home, create=True)
    store.ingest([e.raw for e in mesh.entries])
    left = n - len(mesh.entries)
    people = [mesh.person(f"m{i}") for i in range(MEMBERS)]
    i = 0
    while left > 0:
        who = people[i % MEMBERS]
        chunk = min(1000, left)
        store.append_many(
            who,
            [
                ("fuel.report", {"site": f"base-{j % 17}", "litres": j % 900, "note": "tank dip"})
                for j in range(i * 1000, i * 1000 + chunk)
            ],
        )
        left -= chunk
        i += 1
    assert store.count() == n
    store.close()
    return home


def raw_verify_rate(bundle: str) -> float:
    """ed25519 verifications per second over the bundle's entries (pynacl, nothing else)."""
    import nacl.bindings

    from ledger.courier.bundle import T_ENTRY, BundleReader
    from ledger.entry import DOMAIN, decode, unsigned_part

    jobs = []
    with BundleReader(bundle) as reader:
        for item in reader.items():
            if item.type == T_ENTRY:
                e = decode(item.payload)
                jobs.append((e.sig + DOMAIN + unsigned_part(e), e.author))
    start = time.perf_counter()
    for message, key in jobs:
        nacl.bindings.crypto_sign_open(message, key)
    return len(jobs) / (time.perf_counter() - start)


def run_worker(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _status_mib(field: str) -> float:
    """VmRSS / VmHWM of this process from /proc (Linux), in MiB; ru_maxrss elsewhere.

    ru_maxrss is not used on Linux: after fork+exec it starts from the parent's
    high-water mark (pytest's), which would hide the worker's own peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Start the peak-RSS high-water mark afresh (Linux: write 5 to clear_refs)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def worker(mode: str, home: str, bundle: str, traced: bool) -> dict[str, float]:
    """One export or import in a fresh process; returns time and memory figures."""
    import tracemalloc

    from ledger.courier import export as courier
    from ledger.courier.bundle import BundleReader
    from ledger.store import Store
    from ledger.testing import MeshFixture

    alice = MeshFixture.create("alice").person("alice")
    if mode == "export":
        store = Store.open(Path(home))
    else:
        with BundleReader(bundle) as reader:  # the header only
            mesh_id = reader.header.mesh  # type: ignore[union-attr]
        store = Store.open(Path(home), create=True)
        store.pin_mesh(mesh_id)
    _reset_peak()
    base_rss = _status_mib("VmRSS")
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    if mode == "export":
        n = courier.export_bundle(store, alice, bundle).entries
    else:
        report = courier.import_bundle(bundle, store)
        assert report.read.intact and report.rejected.total == 0, report.to_json()
        n = report.new_entries
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    store.close()
    rss = _status_mib("VmHWM")
    # Same process, right after the import: the ratio compares like with like.
    verify = raw_verify_rate(bundle) if mode == "import" and not traced else 0.0
    return {
        "verify_rate": verify,
        "entries": n,
        "seconds": seconds,
        "rss_growth_mib": rss - base_rss,
        "rss_peak_mib": rss,
        "traced_peak_mib": peak / (1024 * 1024),
    }


@pytest.mark.bench
def test_bundle_export_import_speed_and_memory() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as d:
        directory = Path(d)
        results: dict[tuple[str, int], dict[str, float]] = {}
        for n in SIZES:
            src = build_store(directory, n)
            bundle = str(directory / f"b-{n}.plb")
            for mode in ("export", "import"):
                home = str(src) if mode == "export" else str(directory / f"dst-{n}-{mode}")
                timed = run_worker(mode, home, bundle, "0")
                if mode == "export":
                    os.replace(bundle, bundle + ".keep")
                mem_home = home if mode == "export" else home + "-mem"
                memory = run_worker(mode, mem_home, bundle, "1")
                if mode == "export":
                    os.replace(bundle + ".keep", bundle)
                results[(mode, n)] = {**timed, "traced_peak_mib": memory["traced_peak_mib"]}
        size = os.path.getsize(directory / f"b-{max(SIZES)}.plb")
    for (mode, n), r in sorted(results.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        rows.append(
            (
                mode,
                f"{n:,}",
                f"{r['seconds']:.2f}",
                f"{r['entries'] / r['seconds']:,.0f}",
                f"{r['rss_peak_mib']:.1f}",
                f"{r['rss_growth_mib']:.1f}",
                f"{r['traced_peak_mib']:.1f}",
            )
        )
    for n in SIZES:
        rate = results[("import", n)]["verify_rate"]
        rows.append(("raw ed25519 verify", f"{n:,}", "", f"{rate:,.0f}", "", "", ""))
    ratios = {
        n: results[("import", n)]["entries"]
        / results[("import", n)]["seconds"]
        / results[("import", n)]["verify_rate"]
        for n in SIZES
    }
    ratio = ratios[max(SIZES)]
    header = (
        "operation",
        "entries",
        "seconds",
        "entries/s",
        "peak RSS MiB",
        "RSS growth MiB",
        "traced peak MiB",
    )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    print()
    print(
        f"Courier bundles ({MEMBERS + 1} feeds; {max(SIZES):,}-entry bundle = {size / 1e6:.1f} MB)"
    )
    for row in (header, *rows):
        print("  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    print(
        "import / raw verify: "
        + ", ".join(f"{ratios[n]:.2f} at {n:,}" for n in SIZES)
        + f" ({verdict} the {TARGET_RATIO} target; the verify rate is measured in the "
        "import's own process, right after it)"
    )
    for mode in ("export", "import"):
        small, big = results[(mode, SIZES[0])], results[(mode, SIZES[1])]
        print(
            f"{mode}: traced peak {small['traced_peak_mib']:.1f} MiB at {SIZES[0]:,} entries, "
            f"{big['traced_peak_mib']:.1f} MiB at {SIZES[1]:,}"
        )
        # memory must not grow with the bundle: 10x the entries, (almost) the same peak
        assert big["traced_peak_mib"] < 1.5 * small["traced_peak_mib"] + 2.0


if __name__ == "__main__":
    mode_, home_, bundle_, traced_ = sys.argv[1:5]
    print(json.dumps(worker(mode_, home_, bundle_, traced_ == "1")))
