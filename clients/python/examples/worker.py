"""A background worker process: makes sure today's report run exists (the
same id the API route uses, so one record either way), then claims report
runs and executes them until SIGTERM.

    python worker.py            # RUNLEDGER_SERVER / RUNLEDGER_TOKEN, or the defaults
"""

from __future__ import annotations

import logging
import time
from datetime import date

from app import REPORT_KIND, report_run_id

from runledger import Client, Created, RunContext, Worker


def ensure_report(client: Client, day: str) -> Created:
    """Creates the day's report run unless the API (or anyone) already did."""
    return client.create(REPORT_KIND, id=report_run_id(day), attributes={"day": day})


def build_report(ctx: RunContext) -> dict[str, object]:
    """Builds one day's report; the return value becomes the run's result."""
    day = ctx.run.attributes["day"]
    rows = 0
    for part in range(3):
        if ctx.lease_lost.is_set():  # cancelled or taken over: stop now
            return {"day": day, "rows": rows, "complete": False}
        time.sleep(0.2)  # the real work
        rows += 100
        ctx.append("progress", {"part": part + 1, "of": 3})
    return {"day": day, "rows": rows, "complete": True}


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    with Client() as client:
        created = ensure_report(client, date.today().isoformat())
        print(f"{created.run.id}: {'created' if created.created else 'already there'}", flush=True)
        Worker(client, build_report, kinds=REPORT_KIND, concurrency=2).run()


if __name__ == "__main__":
    main()
