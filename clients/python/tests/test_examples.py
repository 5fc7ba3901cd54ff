"""The examples run: the FastAPI route and the worker process create the
same run id and get one record; the worker claims and finishes it (that
part needs the server's claim). Skipped when FastAPI is not installed."""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from runledger import Client, Worker

from conftest import Ids
from servers import Server

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture
def examples(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ModuleType, ModuleType]]:
    pytest.importorskip("fastapi")
    monkeypatch.setenv("RUNLEDGER_SERVER", server.url)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    app = importlib.import_module("app")
    worker = importlib.import_module("worker")
    yield app, worker
    for name in ("app", "worker"):
        sys.modules.pop(name, None)


def test_the_route_and_the_worker_make_one_record(
    examples: tuple[ModuleType, ModuleType], client: Client, ids: Ids
) -> None:
    app, worker = examples
    day = ids("day")

    async def call_twice() -> list[dict[str, object]]:
        # The app's own lifespan opens its runledger client; httpx calls the
        # ASGI app in-process.
        async with app.app.router.lifespan_context(app.app):
            transport = httpx.ASGITransport(app=app.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as api:
                return [(await api.post(f"/reports/{day}")).json() for _ in range(2)]

    first, again = asyncio.run(call_twice())
    assert first == {"run_id": f"report-{day}", "state": "queued", "created": True}
    assert again["created"] is False
    assert worker.ensure_report(client, day).created is False
    assert [run.id for run in client.list_runs(kind="nightly-report").runs].count(
        f"report-{day}"
    ) == 1


def test_the_worker_claims_and_builds_the_report(
    examples: tuple[ModuleType, ModuleType], client: Client, ids: Ids
) -> None:
    _app, worker_module = examples
    day = ids("day")
    worker_module.ensure_report(client, day)
    worker = Worker(client, worker_module.build_report, kinds="nightly-report", wait_ms=200)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while not client.get(f"report-{day}").is_terminal and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
        worker.join()
    run = client.get(f"report-{day}")
    assert (run.state, run.result) == ("succeeded", {"day": day, "rows": 300, "complete": True})
