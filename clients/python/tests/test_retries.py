"""POST retries reuse one ``Idempotency-Key`` per logical call, so a retry
after a lost answer or a server restart never writes twice; ``Retry-After``
is honoured; no 4xx but 429 and ``idempotency_key_in_flight`` is retried.
Every attempt is observed with httpx event hooks on the real exchanges."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from runledger import Client, NotFoundError, RetryPolicy, RunConflictError

from conftest import Ids, StartServer
from faults import DroppingProxy
from servers import Databases, Server, add_tenant

FAST_RETRY = RetryPolicy(max_attempts=60, backoff_initial_s=0.05, backoff_max_s=0.25)


class Recorder:
    """Every request sent and response received, through httpx's hooks."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.responses: list[httpx.Response] = []
        self.http = httpx.Client(
            event_hooks={"request": [self.requests.append], "response": [self.responses.append]}
        )

    def keys(self) -> list[str | None]:
        """The Idempotency-Key of every attempt."""
        return [request.headers.get("idempotency-key") for request in self.requests]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    made = Recorder()
    yield made
    made.http.close()


def test_a_lost_answer_is_retried_with_the_same_key_and_replayed(
    server: Server, recorder: Recorder, ids: Ids
) -> None:
    proxy = DroppingProxy(server.port)
    try:
        proxy.drop_answers = 1
        with Client(proxy.url, http_client=recorder.http, retry=FAST_RETRY) as client:
            created = client.create(ids("kind"))  # no id: only the key prevents a duplicate
    finally:
        proxy.close()
    assert proxy.dropped == 1
    keys = recorder.keys()
    assert len(keys) == 2 and keys[0] is not None and keys[0] == keys[1]
    assert recorder.responses[-1].headers.get("idempotent-replayed") == "true"
    assert created.created  # the replay is the first answer: 201
    with Client(server.url) as direct:
        runs = direct.list_runs(kind=ids("kind")).runs
    assert [run.id for run in runs] == [created.run.id]


def test_a_lost_claim_answer_is_replayed_not_claimed_twice(
    server: Server, recorder: Recorder, ids: Ids
) -> None:
    with Client(server.url) as direct:
        direct.create(ids("kind"), id=ids("first"))
        direct.create(ids("kind"), id=ids("second"))
        proxy = DroppingProxy(server.port)
        try:
            proxy.drop_answers = 1
            with Client(proxy.url, http_client=recorder.http, retry=FAST_RETRY) as client:
                claimed = client.claim(owner="w", lease_ttl_ms=5_000, kind=ids("kind"))
        finally:
            proxy.close()
        assert proxy.dropped == 1
        keys = recorder.keys()
        assert len(keys) == 2 and keys[0] is not None and keys[0] == keys[1]
        assert recorder.responses[-1].headers.get("idempotent-replayed") == "true"
        # The retry got the run the lost answer carried; the other is still queued.
        assert claimed is not None and claimed.id == ids("first")
        assert claimed.lease is not None and claimed.lease.epoch == 1
        assert direct.get(ids("second")).state == "queued"

def test_a_retry_across_a_server_restart_writes_once(
    start_server: StartServer, recorder: Recorder, ids: Ids
) -> None:
    server = start_server()
    server.stop()
    threading.Timer(1.0, server.start).start()
    started = time.monotonic()
    with Client(server.url, http_client=recorder.http, retry=FAST_RETRY) as client:
        created = client.create(ids("kind"))
        assert time.monotonic() - started >= 0.9
        assert [run.id for run in client.list_runs(kind=ids("kind")).runs] == [created.run.id]
    posts = [
        key
        for key, request in zip(recorder.keys(), recorder.requests, strict=True)
        if request.method == "POST"
    ]
    assert len(posts) > 1 and len(set(posts)) == 1


def test_every_call_has_its_own_key(recorder: Recorder, server: Server) -> None:
    with Client(server.url, http_client=recorder.http) as recorded:
        recorded.create("a")
        recorded.create("a")
        recorded.get(recorded.create("a").run.id)
    keys = recorder.keys()
    assert len(set(keys[:3])) == 3 and None not in keys[:3]
    assert keys[3] is None  # a GET needs none


def test_retry_after_is_honoured(
    start_server: StartServer, databases: Databases, recorder: Recorder
) -> None:
    db_url = databases.fresh()
    token = add_tenant(db_url, "limited")
    server = start_server("--rate-limit-rps", "1", "--rate-limit-burst", "1", db_url=db_url)
    with Client(server.url, token=token, http_client=recorder.http) as client:
        client.create("a", id="first")
        started = time.monotonic()
        client.create("a", id="second")
        waited = time.monotonic() - started
    statuses = [response.status_code for response in recorder.responses]
    assert statuses[0] == 201 and 429 in statuses and statuses[-1] == 201
    retry_after = float(recorder.responses[1].headers["retry-after"])
    assert waited >= retry_after * 0.9
    assert len(set(recorder.keys()[1:])) == 1


def test_other_refusals_are_not_retried(server: Server, recorder: Recorder, ids: Ids) -> None:
    with Client(server.url, http_client=recorder.http, retry=FAST_RETRY) as client:
        client.create("a", id=ids("c"))
        with pytest.raises(RunConflictError):
            client.create("b", id=ids("c"))
        with pytest.raises(NotFoundError):
            client.get(ids("missing"))
    assert len(recorder.requests) == 3
