"""``Worker`` against the real server's claim: results and failures become
the run's outcome, appends carry the epoch, heartbeats hold the lease,
``lease_lost`` fires on cancel and on ``stale_lease``, concurrency is
bounded, no run is handled twice, a claim whose answer was lost is asked
again with its key (and gets its run), and SIGTERM shuts down gracefully."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runledger import Client, RetryPolicy, RunContext, StaleLeaseError, Worker

from conftest import Ids
from faults import DroppingProxy
from servers import Server

DEADLINE_S = 30.0


def eventually(condition: Callable[[], bool], what: str) -> None:
    """Polls ``condition`` until true, failing after a deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def running() -> Iterator[Callable[[Worker], Worker]]:
    """Starts workers in the background; stops and joins them after the test."""
    workers: list[Worker] = []

    def start(worker: Worker) -> Worker:
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
    for worker in workers:
        worker.join()


def _final(client: Client, run_id: str) -> str:
    eventually(lambda: client.get(run_id).is_terminal, f"{run_id} to end")
    return client.get(run_id).state


def test_a_handler_result_succeeds_and_its_appends_carry_the_epoch(
    client: Client, ids: Ids, running: Callable[[Worker], Worker]
) -> None:
    def handle(ctx: RunContext) -> dict[str, int]:
        ctx.append("progress", {"half": ctx.run.attributes["n"] // 2})
        return {"double": ctx.run.attributes["n"] * 2}

    client.create(ids("kind"), id=ids("r"), attributes={"n": 21})
    running(Worker(client, handle, kinds=ids("kind"), wait_ms=200))
    assert _final(client, ids("r")) == "succeeded"
    run = client.get(ids("r"))
    assert run.result == {"double": 42}
    assert [(e.type, e.data) for e in client.list_events(ids("r"))][2] == ("progress", {"half": 10})


def test_an_exception_fails_the_run_with_it(
    client: Client, ids: Ids, running: Callable[[Worker], Worker]
) -> None:
    def handle(_ctx: RunContext) -> None:
        raise ValueError("the input file is empty")

    client.create(ids("kind"), id=ids("r"))
    running(Worker(client, handle, kinds=[ids("kind"), ids("other")], wait_ms=200))
    assert _final(client, ids("r")) == "failed"
    error = client.get(ids("r")).error or ""
    assert "ValueError: the input file is empty" in error


def test_heartbeats_hold_the_lease_past_its_length(
    client: Client, ids: Ids, running: Callable[[Worker], Worker]
) -> None:
    client.create(ids("kind"), id=ids("r"))
    running(
        Worker(
            client, lambda _ctx: time.sleep(2.0), kinds=ids("kind"), lease_ttl_ms=600, wait_ms=200
        )
    )
    assert _final(client, ids("r")) == "succeeded"


def test_cancel_sets_lease_lost_and_the_run_stays_cancelled(
    client: Client, ids: Ids, running: Callable[[Worker], Worker]
) -> None:
    started = threading.Event()
    noticed = threading.Event()
    append_refused = threading.Event()

    def handle(ctx: RunContext) -> str:
        started.set()
        if ctx.lease_lost.wait(DEADLINE_S):
            noticed.set()
            try:
                ctx.append("late", None)
            except StaleLeaseError:
                append_refused.set()
        return "ignored"

    client.create(ids("kind"), id=ids("r"))
    running(Worker(client, handle, kinds=ids("kind"), lease_ttl_ms=900, wait_ms=200))
    assert started.wait(DEADLINE_S)
    client.cancel(ids("r"), reason="operator")
    assert noticed.wait(DEADLINE_S) and append_refused.wait(DEADLINE_S)
    time.sleep(0.3)
    run = client.get(ids("r"))
    assert (run.state, run.error) == ("cancelled", "operator")


def test_concurrency_is_bounded_and_no_run_is_handled_twice(
    client: Client, ids: Ids, running: Callable[[Worker], Worker]
) -> None:
    lock = threading.Lock()
    active = 0
    most = 0
    handled: Counter[str] = Counter()

    def handle(ctx: RunContext) -> None:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
            handled[ctx.run.id] += 1
        time.sleep(0.1)
        with lock:
            active -= 1

    for n in range(12):
        client.create(ids("kind"), id=ids(f"r{n}"))
    running(Worker(client, handle, kinds=ids("kind"), concurrency=3, wait_ms=200))
    running(Worker(client, handle, kinds=ids("kind"), concurrency=2, wait_ms=200))
    for n in range(12):
        assert _final(client, ids(f"r{n}")) == "succeeded"
    assert set(handled.values()) == {1} and len(handled) == 12
    assert most <= 5


def test_runs_still_busy_after_the_grace_period_fail_naming_the_shutdown(
    client: Client, ids: Ids
) -> None:
    started = threading.Event()

    def handle(ctx: RunContext) -> None:
        started.set()
        ctx.lease_lost.wait(DEADLINE_S)

    client.create(ids("kind"), id=ids("r"))
    worker = Worker(client, handle, kinds=ids("kind"), wait_ms=200, grace_s=0.3)
    worker.start()
    assert started.wait(DEADLINE_S)
    worker.stop()
    worker.join()
    run = client.get(ids("r"))
    assert run.state == "failed" and "shut down before the handler returned" in (run.error or "")


def test_sigterm_stops_claiming_and_lets_the_handler_finish(
    server: Server, client: Client, ids: Ids
) -> None:
    script = Path(__file__).with_name("worker_process.py")
    process = subprocess.Popen(
        [sys.executable, str(script), server.url, ids("kind"), "1.5", "20"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        client.create(ids("kind"), id=ids("busy"))
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"claimed {ids('busy')}"
        process.send_signal(signal.SIGTERM)
        client.create(ids("kind"), id=ids("late"))
        assert process.wait(DEADLINE_S) == 0
        assert process.stdout.read().strip() == "stopped"
    finally:
        process.kill()
    busy = client.get(ids("busy"))
    assert (busy.state, busy.result) == ("succeeded", {"stopping_seen": True})
    assert client.get(ids("late")).state == "queued"


def test_a_claim_whose_answer_was_lost_is_replayed_not_left_to_time_out(
    server: Server, client: Client, ids: Ids
) -> None:
    """The claim starts the run but its answer never arrives and the
    client's retries are spent: the worker's next claim carries the same
    ``Idempotency-Key``, so the server replays the run it started instead of
    the run waiting, unhandled, for its lease to expire."""
    client.create(ids("kind"), id=ids("r"))
    proxy = DroppingProxy(server.port)
    proxy.drop_answers = 1
    handled: list[str] = []
    try:
        with Client(proxy.url, retry=RetryPolicy(max_attempts=1)) as flaky:
            worker = Worker(
                flaky,
                lambda ctx: handled.append(ctx.run.id),
                kinds=ids("kind"),
                lease_ttl_ms=5_000,
                wait_ms=200,
            )
            worker.start()
            try:
                assert _final(client, ids("r")) == "succeeded"
            finally:
                worker.stop()
                worker.join()
    finally:
        proxy.close()
    assert proxy.dropped == 1 and handled == [ids("r")]
