"""An API that accepts report requests and records each as a run.

The run id is derived from the request (``report-<day>``), not generated,
so this route and the worker process (``worker.py``), which both create the
same run, end up with one record: whoever comes first creates it, the other
gets it back (``created`` says which). Nobody sees "already exists".

Run it (three terminals, after ``pip install runledger fastapi uvicorn``)::

    runledger serve
    uvicorn app:app --port 8000
    python worker.py

    curl -X POST localhost:8000/reports/2025-01-02
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from runledger import AsyncClient

REPORT_KIND = "nightly-report"


def report_run_id(day: str) -> str:
    """The one run id of a day's report, shared with the worker."""
    return f"report-{day}"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # RUNLEDGER_SERVER and RUNLEDGER_TOKEN from the environment.
    async with AsyncClient() as client:
        app.state.runledger = client
        yield


app = FastAPI(lifespan=lifespan)


@app.post("/reports/{day}")
async def request_report(day: str) -> dict[str, object]:
    """Records the day's report run (once, however often it is asked for)."""
    client: AsyncClient = app.state.runledger
    created = await client.create(REPORT_KIND, id=report_run_id(day), attributes={"day": day})
    return {"run_id": created.run.id, "state": created.run.state, "created": created.created}
