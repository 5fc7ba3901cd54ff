"""A worker OS process for the fleet tests (``test_worker_fleet.py``):

    python fleet_worker.py URL KIND LOG_PATH CONCURRENCY LEASE_TTL_MS

runs a :class:`~runledger.Worker` claiming runs of KIND until SIGTERM. Each
handler appends ``<run id> <pid>`` to LOG_PATH (one ``O_APPEND`` write per
line, so the lines of several processes never mix), appends a ``handled``
event carrying the pid under the lease, and then does what the run's
attributes ask:

- ``{"sleep_s": S}``: sleeps S seconds (a run that is busy when killed);
- ``{"wait_lost_s": S}``: waits up to S seconds on ``ctx.lease_lost``;
  when it is set prints ``lost <id>`` and tries one more append, printing
  ``append refused <id>`` when it answers ``stale_lease``.

Stdout, one line per write: ``ready`` once the worker is about to claim,
``claimed <id>`` when a handler has logged and appended, ``stopped`` after
the graceful shutdown.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from runledger import Client, RunContext, StaleLeaseError, Worker

_print_lock = threading.Lock()


def say(line: str) -> None:
    """One whole line on stdout, flushed (handlers print from several threads)."""
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def main() -> None:
    url, kind, log_path = sys.argv[1], sys.argv[2], sys.argv[3]
    concurrency, lease_ttl_ms = int(sys.argv[4]), int(sys.argv[5])
    pid = os.getpid()
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def handle(ctx: RunContext) -> dict[str, Any]:
        os.write(log, f"{ctx.run.id} {pid}\n".encode())
        ctx.append("handled", {"pid": pid})
        say(f"claimed {ctx.run.id}")  # after the append: the run is now only waited on
        attributes = ctx.run.attributes
        if "sleep_s" in attributes:
            time.sleep(float(attributes["sleep_s"]))
        if "wait_lost_s" in attributes and ctx.lease_lost.wait(float(attributes["wait_lost_s"])):
            say(f"lost {ctx.run.id}")
            try:
                ctx.append("late", None)
            except StaleLeaseError:
                say(f"append refused {ctx.run.id}")
        return {"pid": pid}

    with Client(url) as client:
        worker = Worker(
            client,
            handle,
            kinds=kind,
            concurrency=concurrency,
            lease_ttl_ms=lease_ttl_ms,
            wait_ms=1_000,
            grace_s=10.0,
        )
        say("ready")
        worker.run()
    os.close(log)
    say("stopped")


if __name__ == "__main__":
    main()
