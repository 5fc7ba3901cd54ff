"""``claim`` and ``create_batch`` against the SPEC's contract (§4): a claim
starts the oldest queued run (or answers ``None`` after ``wait_ms``), two
claims never get the same run, a long-polling claim holds its
``Idempotency-Key`` in flight; a batch answers per item in order, and an
atomic batch raises its first refused item's problem with ``index``; a new
child of an ended parent is ``invalid_transition`` naming the parent's state
(§2.9), alone or as a batch item."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from runledger import (
    AsyncClient,
    Client,
    CreateRun,
    IdempotencyKeyInFlightError,
    InvalidTransitionError,
    NotFoundError,
    RetryPolicy,
    RunConflictError,
)

from conftest import Ids
from servers import Server


class TestClaim:
    def test_claims_the_oldest_queued_run_of_the_kinds(self, client: Client, ids: Ids) -> None:
        client.create(ids("k"), id=ids("first"))
        client.create(ids("k"), id=ids("second"))
        claimed = client.claim(owner="w", lease_ttl_ms=5_000, kind=[ids("k"), ids("other")])
        assert claimed is not None and claimed.id == ids("first") and claimed.state == "running"
        assert claimed.lease is not None and (claimed.lease.owner, claimed.lease.epoch) == ("w", 1)
        assert client.claim(owner="w", lease_ttl_ms=5_000, kind=ids("k")) is not None
        assert client.claim(owner="w", lease_ttl_ms=5_000, kind=ids("k")) is None

    def test_a_long_poll_returns_soon_after_a_run_is_queued(self, client: Client, ids: Ids) -> None:
        threading.Timer(0.5, lambda: client.create(ids("k"), id=ids("later"))).start()
        started = time.monotonic()
        claimed = client.claim(owner="w", lease_ttl_ms=5_000, kind=ids("k"), wait_ms=10_000)
        assert claimed is not None and claimed.id == ids("later")
        assert time.monotonic() - started < 2.0

    def test_two_claims_never_get_the_same_run(self, client: Client, ids: Ids) -> None:
        for n in range(10):
            client.create(ids("k"), id=ids(f"r{n}"))

        def one(n: int) -> str | None:
            run = client.claim(owner=f"w{n}", lease_ttl_ms=5_000, kind=ids("k"))
            return run.id if run is not None else None

        with ThreadPoolExecutor(max_workers=8) as pool:
            claimed = [run_id for run_id in pool.map(one, range(16)) if run_id is not None]
        assert sorted(claimed) == sorted(ids(f"r{n}") for n in range(10))

    def test_a_long_poll_holds_its_key_in_flight(self, server_url: str, ids: Ids) -> None:
        key = ids("key")
        with (
            Client(server_url) as first,
            Client(server_url, retry=RetryPolicy(max_attempts=1)) as second,
        ):
            waiting = threading.Thread(
                target=first.claim,
                kwargs={
                    "owner": "w",
                    "lease_ttl_ms": 5_000,
                    "kind": ids("k"),
                    "wait_ms": 3_000,
                    "idempotency_key": key,
                },
            )
            waiting.start()
            time.sleep(0.5)
            with pytest.raises(IdempotencyKeyInFlightError) as raised:
                second.claim(
                    owner="w", lease_ttl_ms=5_000, kind=ids("k"), wait_ms=3_000, idempotency_key=key
                )
            assert raised.value.status == 409
            waiting.join()

    def test_a_claim_repeated_with_its_idempotency_key_replays_the_same_run(
        self, client: Client, server_url: str, ids: Ids
    ) -> None:
        client.create(ids("k"), id=ids("first"))
        client.create(ids("k"), id=ids("second"))
        body = {"owner": "w", "lease_ttl_ms": 5_000, "kind": ids("k")}
        headers = {"Idempotency-Key": ids("key")}
        with httpx.Client(base_url=server_url, timeout=10.0) as http:
            first = http.post("/v1/runs/claim", json=body, headers=headers)
            again = http.post("/v1/runs/claim", json=body, headers=headers)
        assert (first.status_code, again.status_code) == (200, 200)
        assert first.json()["id"] == again.json()["id"] == ids("first")
        assert again.json() == first.json()  # the stored answer, byte for byte the same run
        assert again.headers.get("idempotent-replayed") == "true"
        assert first.headers.get("idempotent-replayed") is None
        assert client.get(ids("second")).state == "queued"  # the repeat claimed nothing
        other = client.claim(owner="w", lease_ttl_ms=5_000, kind=ids("k"))
        assert other is not None and other.id == ids("second")  # a new key claims anew


class TestBatch:
    def test_answers_per_item_in_order(self, client: Client, ids: Ids) -> None:
        client.create("a", id=ids("exists"))
        client.create("a", id=ids("other"))
        items = client.create_batch(
            [
                CreateRun("a", id=ids("new")),
                CreateRun("a", id=ids("exists")),
                # One id twice with other parameters in one batch is a 422
                # of the whole batch (SPEC §4); a conflict with a stored run
                # is the item's 409.
                CreateRun("b", id=ids("other")),
                CreateRun("step", parent_id=ids("new"), key="child"),
            ]
        )
        assert [item.status for item in items] == [201, 200, 409, 201]
        assert items[0].run is not None and items[0].run.id == ids("new")
        assert isinstance(items[2].problem, RunConflictError) and not items[2].ok
        assert items[3].run is not None and items[3].run.id == f"{ids('new')}:child"

    def test_an_atomic_batch_raises_the_first_refusal_with_its_index(
        self, client: Client, ids: Ids
    ) -> None:
        client.create("a", id=ids("exists"))
        with pytest.raises(RunConflictError) as raised:
            client.create_batch(
                [CreateRun("a", id=ids("fresh")), CreateRun("b", id=ids("exists"))], atomic=True
            )
        assert raised.value.index == 1
        with pytest.raises(NotFoundError):
            client.get(ids("fresh"))  # nothing of the batch was written


    def test_the_async_client_answers_the_same_items(self, server: Server, ids: Ids) -> None:
        async def scenario() -> None:
            async with AsyncClient(server.url) as client:
                items = await client.create_batch(
                    [CreateRun("a", id=ids("x")), CreateRun("a", id=ids("x"))], atomic=True
                )
                assert [item.status for item in items] == [201, 200]
                assert all(item.ok for item in items)
                with pytest.raises(RunConflictError) as raised:
                    await client.create_batch([CreateRun("b", id=ids("x"))], atomic=True)
                assert raised.value.index == 0

        asyncio.run(scenario())

    def test_a_new_child_of_an_ended_parent_is_an_invalid_transition(
        self, client: Client, ids: Ids
    ) -> None:
        client.create("a", id=ids("p"))
        client.create("step", parent_id=ids("p"), key="old")
        client.cancel(ids("p"))
        with pytest.raises(InvalidTransitionError) as raised:
            client.create("step", parent_id=ids("p"), key="new")
        assert raised.value.state == "cancelled"
        assert raised.value.parent_id == ids("p")
        items = client.create_batch(
            [
                CreateRun("step", parent_id=ids("p"), key="old"),
                CreateRun("step", parent_id=ids("p"), key="new"),
            ]
        )
        assert items[0].status == 200  # an identical repeat still answers the child
        assert items[1].status == 409
        assert isinstance(items[1].problem, InvalidTransitionError)
        assert items[1].problem.state == "cancelled"


@pytest.fixture
def server_url(server: Server) -> str:
    return server.url
