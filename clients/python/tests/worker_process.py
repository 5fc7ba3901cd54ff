"""A worker process for the shutdown test: ``python worker_process.py URL
KIND SLEEP_S GRACE_S`` claims runs of KIND, sleeps SLEEP_S in each handler,
prints ``claimed <id>`` when a handler starts, and exits when SIGTERM's
graceful shutdown is over."""

from __future__ import annotations

import sys
import time

from runledger import Client, RunContext, Worker


def main() -> None:
    url, kind, sleep_s, grace_s = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])

    def handle(ctx: RunContext) -> dict[str, object]:
        print(f"claimed {ctx.run.id}", flush=True)
        time.sleep(sleep_s)
        return {"stopping_seen": ctx.stopping.is_set()}

    with Client(url) as client:
        Worker(client, handle, kinds=kind, lease_ttl_ms=3_000, wait_ms=500, grace_s=grace_s).run()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
