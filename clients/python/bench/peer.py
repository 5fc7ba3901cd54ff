"""The `runledger-python` peer for the shared peer harness
(`../shared/bench/peers`): run creation (W1 race, W2 unique, W3 repeat)
through this repository's Python client instead of raw `http.client`, on
`runledger serve` exactly as the harness's `runledger-http-*` peers run it.

    cp -r ../shared/bench/peers /tmp/peers && (cd /tmp/peers && ./setup.sh && ./pg.sh start)
    /tmp/peers/.venv/bin/pip install httpx==<pinned in ci-requirements.txt>
    RUNLEDGER_BIN=$PWD/target/release/runledger PEERS_DIR=/tmp/peers \\
      /tmp/peers/.venv/bin/python clients/python/bench/peer.py \\
      runledger-python-sqlite runledger-python-pg runledger-http-sqlite runledger-http-pg pg-upsert \\
      pg-boss-short graphile-dedupe --reps 3 --tag python-client
    /tmp/peers/.venv/bin/python /tmp/peers/report.py --tag python-client

Run as the harness's driver it registers the two peers and hands over to
`bench.py`'s `main`; run by the harness as a worker (`worker JOBFILE`) it
registers the worker and hands over to `py_worker.py`'s `main`. Each worker
thread has its own `runledger.Client` (its own keep-alive connection), creating
`Client.create("bench", id=key)`: 201 created, 200 existed.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS_DIR = os.environ.get("PEERS_DIR", "/tmp/peers")
sys.path.insert(0, PEERS_DIR)
sys.path.insert(0, os.path.join(HERE, "..", "src"))


def peer_runledger_python(opts: dict[str, Any]) -> tuple[Callable[[], None], Callable[[], Any]]:
    """The worker side: one client per thread."""
    from runledger import Client

    base = f"http://{opts['host']}:{opts['port']}"

    def setup() -> None:
        pass

    def make_thread() -> Callable[[str], tuple[str, str]]:
        client = Client(base, timeout=120)

        def create(key: str) -> tuple[str, str]:
            created = client.create("bench", id=key)
            return created.run.id, "created" if created.created else "existing"

        return create

    return setup, make_thread


def driver(argv: list[str]) -> None:
    import bench  # the harness's orchestrator

    class RunledgerPython(bench.RunledgerHttp):  # type: ignore[misc, name-defined]
        impl = "runledger-python"

        def __init__(self, name: str, backend: str) -> None:
            super().__init__(name, backend)
            self.note = ("runledger serve; Client.create('bench', id=key) from this repository's "
                         "Python client, one client per thread")

        def cmd(self, jobfile: str) -> list[str]:
            return [bench.PY, os.path.abspath(__file__), "worker", jobfile]

        def version(self) -> str:
            return super().version().replace("http.client", "runledger client")

    for backend, store in (("sqlite", "sqlite"), ("pg", "postgres")):
        name = f"runledger-python-{backend}"
        bench.PEERS[name] = lambda name=name, store=store: RunledgerPython(name, store)
    sys.argv = ["bench.py", *argv]
    bench.main()


def worker(jobfile: str) -> None:
    import py_worker  # the harness's worker runner

    py_worker.PEERS["runledger-python"] = peer_runledger_python
    sys.argv = ["py_worker.py", jobfile]
    py_worker.main()


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker(sys.argv[2])
    else:
        driver(sys.argv[1:])
