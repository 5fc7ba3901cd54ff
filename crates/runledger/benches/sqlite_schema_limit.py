#!/usr/bin/env python3
"""The SQLite ceiling for runledger's own create, with nothing but the
database doing the work: runledger's schema (the migrations next door), a run
row and its `created` event per create, positions from MAX(position) + 1 in
the write transaction, WAL, synchronous=FULL, one writer, B creates per
transaction. Ids follow `runledger bench --workload create`: each of 16
callers has its own prefix, so every batch inserts at 16 places of each id
index (the shared `sqlite-limit` uses one ascending key and a two-index
schema, and writes far fewer pages per commit).

With 16 callers, each waiting for its answer, a commit can hold at most 16
creates: the "16 creates/txn" figure bounds `--workload create --clients 16`.

    python3 crates/runledger/benches/sqlite_schema_limit.py [N]   # N creates per figure (default 60000)
"""
import os, sqlite3, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
MIGRATIONS = os.path.join(HERE, "..", "migrations", "sqlite")
CALLERS = 16
CREATED = '{"key":null,"kind":"bench","parent_id":null,"state":"queued"}'


def figure(batch, n):
    with tempfile.TemporaryDirectory() as d:
        db = sqlite3.connect(os.path.join(d, "limit.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA temp_store=MEMORY")
        for name in sorted(os.listdir(MIGRATIONS)):
            db.executescript(open(os.path.join(MIGRATIONS, name)).read())
        ids = [f"t-p1-c{c}-{k}" for k in range(1, n // CALLERS + 2) for c in range(CALLERS)][:n]
        started = time.perf_counter()
        for i in range(0, n, batch):
            db.execute("BEGIN IMMEDIATE")
            (first,) = db.execute(
                "SELECT COALESCE(MAX(position), 0) + 1 FROM events WHERE tenant = 'default'"
            ).fetchone()
            chunk = ids[i:i + batch]
            db.executemany(
                "INSERT INTO runs (tenant, id, kind, state, attributes, version, last_seq, "
                "created_order, created_at, updated_at) VALUES ('default', ?, 'bench', 'queued', "
                "'{}', 1, 1, ?, 1, 1)",
                [(run, first + j) for j, run in enumerate(chunk)],
            )
            db.executemany(
                "INSERT INTO events (tenant, run_id, seq, position, type, data, at) "
                "VALUES ('default', ?, 1, ?, 'created', ?, 1)",
                [(run, first + j, CREATED) for j, run in enumerate(chunk)],
            )
            db.execute("COMMIT")
        rate = n / (time.perf_counter() - started)
        print(f"runledger schema, {CALLERS} callers' ids, {batch:3d} creates/txn {int(rate):8d} /s   ({n} creates)")


n = int(sys.argv[1]) if len(sys.argv) > 1 else 60000
for batch in (16, 100):
    figure(batch, n)
