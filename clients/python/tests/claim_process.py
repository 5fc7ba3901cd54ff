"""A claiming OS process for the claim race (``test_worker_fleet.py``):

    python claim_process.py URL KIND OWNER

prints ``ready``, waits for a line on stdin (so that every racer starts at
once), then claims runs of KIND for OWNER with ``wait_ms=0`` until the
server answers 204, printing ``claimed <id>`` for each, and ``done``.
"""

from __future__ import annotations

import sys

from runledger import Client


def main() -> None:
    url, kind, owner = sys.argv[1], sys.argv[2], sys.argv[3]
    with Client(url) as client:
        print("ready", flush=True)
        sys.stdin.readline()
        while (run := client.claim(owner=owner, lease_ttl_ms=60_000, kind=kind)) is not None:
            print(f"claimed {run.id}", flush=True)
    print("done", flush=True)


if __name__ == "__main__":
    main()
