"""The writer whose disk loses power: run under the power-loss recorder (LD_PRELOAD).

``python -m tests.durability.workload DIR LOG SEED OPS`` creates a store in DIR
and does OPS random operations the way a laptop does them: appends (one entry,
or a few in one transaction), ingests of other members' entries (a sync), WAL
checkpoints, and closing and reopening the store. After each call returns —
the point where plurictl tells the user "appended" — it writes an ``A`` record
with the entry ids into LOG, in the same stream as the recorder's records.
"""

from __future__ import annotations

import os
import random
import struct
import sys
from pathlib import Path

from ledger.store import Store
from ledger.testing import MeshFixture


def ack(log_fd: int, ids: list[bytes]) -> None:
    for eid in ids:
        path = b"ack"
        os.write(
            log_fd, b"A" + struct.pack("<H", len(path)) + path + struct.pack("<qI", 0, 32) + eid
        )


def main(folder: str, log: str, seed: int, ops: int) -> None:
    rng = random.Random(seed)
    mesh = MeshFixture.create("alice", {"bob": ["operator"], "carol": ["operator"]})
    alice = mesh.person("alice")
    log_fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    path = Path(folder) / "ledger.db"
    store = Store(path, create=True)
    unsafe = os.environ.get("PL_UNSAFE_SYNC")  # the negative control: durability switched off
    if unsafe:
        store.db.execute(f"PRAGMA synchronous={unsafe}")
    store.ingest([e.raw for e in mesh.entries])
    ack(log_fd, [e.id for e in mesh.entries])
    for i in range(ops):
        op = rng.random()
        if op < 0.45:
            e = store.append(alice, "note", {"i": i, "text": "x" * rng.randrange(0, 3000)})
            ack(log_fd, [e.id])
        elif op < 0.6:
            made = store.append_many(alice, [("note", {"i": i, "j": j}) for j in range(3)])
            ack(log_fd, [e.id for e in made])
        elif op < 0.85:
            who = rng.choice(["bob", "carol"])
            batch = [mesh.write(who, "note", {"i": i, "k": k}) for k in range(rng.randrange(1, 40))]
            report = store.ingest([e.raw for e in batch])
            ack(log_fd, [e.id for e in report.accepted])
        elif op < 0.93:
            store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            store.close()
            store = Store(path)
            if unsafe:
                store.db.execute(f"PRAGMA synchronous={unsafe}")
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
