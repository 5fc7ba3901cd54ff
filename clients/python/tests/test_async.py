"""``AsyncClient`` is the twin of ``Client``: the same operations, the same
exceptions, the same retries and the same lossless follow, over asyncio.
Each test runs its coroutine with ``asyncio.run`` (no plugin needed)."""

from __future__ import annotations

import asyncio
import inspect

import httpx
import pytest

from runledger import (
    AsyncClient,
    Client,
    Concurrency,
    ConcurrencyLimitError,
    LeaseRequest,
    NotFoundError,
    RetryPolicy,
    StaleLeaseError,
    VersionConflictError,
)

from conftest import Ids, StartServer
from faults import DroppingProxy
from servers import Server


def test_every_sync_method_has_an_async_twin_with_the_same_parameters() -> None:
    public = [
        name for name in dir(Client) if not name.startswith("_") and callable(getattr(Client, name))
    ]
    for name in public:
        twin = "aclose" if name == "close" else name
        assert hasattr(AsyncClient, twin), name
        if name in ("close",):
            continue
        assert (
            inspect.signature(getattr(Client, name)).parameters.keys()
            == inspect.signature(getattr(AsyncClient, twin)).parameters.keys()
        ), name


def test_operations_and_errors(server: Server, ids: Ids) -> None:
    async def scenario() -> None:
        async with AsyncClient(server.url) as client:
            created = await client.create("a", id=ids("r"), attributes={"x": 1})
            assert (
                created.created
                and not (await client.create("a", id=ids("r"), attributes={"x": 1})).created
            )
            with pytest.raises(NotFoundError):
                await client.get(ids("missing"))
            started = await client.start(ids("r"), owner="w", lease_ttl_ms=10_000)
            assert started.lease is not None
            epoch = started.lease.epoch
            with pytest.raises(StaleLeaseError):
                await client.heartbeat(ids("r"), lease_epoch=epoch + 1)
            with pytest.raises(VersionConflictError):
                await client.heartbeat(ids("r"), lease_epoch=epoch, if_match=1)
            await client.heartbeat(ids("r"), lease_epoch=epoch)
            appended = await client.append_event(ids("r"), "log", "hi", lease_epoch=epoch)
            assert appended.seq == 3
            done = await client.finish(ids("r"), lease_epoch=epoch, outcome="succeeded", result=[1])
            assert done.state == "succeeded" and done.result == [1]
            assert [e.type for e in await client.list_events(ids("r"))][-1] == "succeeded"
            await client.create("a", id=ids("g1"), concurrency=Concurrency(ids("g")))
            with pytest.raises(ConcurrencyLimitError) as full:
                await client.create("a", id=ids("g2"), concurrency=Concurrency(ids("g")))
            assert full.value.active_run_ids == [ids("g1")]
            cancelled = await client.cancel(ids("g1"), reason="enough")
            assert cancelled.error == "enough"
            running = (await client.create("b", id=ids("s"), start=LeaseRequest("w", 5_000))).run
            assert running.state == "running"
            kinds = [
                run.id
                async for run in client.iter_runs(kind="a", page_size=1)
                if run.id.startswith(ids(""))
            ]
            assert kinds == [ids("r"), ids("g1")]
            assert (await client.list_runs(kind="a", limit=1)).next_cursor is not None
            assert await client.health()

    asyncio.run(scenario())


def test_a_lost_answer_is_retried_with_the_same_key(server: Server, ids: Ids) -> None:
    keys: list[str | None] = []

    async def record(request: httpx.Request) -> None:
        keys.append(request.headers.get("idempotency-key"))

    async def scenario() -> None:
        proxy = DroppingProxy(server.port)
        proxy.drop_answers = 1
        http = httpx.AsyncClient(event_hooks={"request": [record]})
        try:
            async with AsyncClient(
                proxy.url, http_client=http, retry=RetryPolicy(backoff_initial_s=0.05)
            ) as client:
                created = await client.create(ids("kind"))
                page = await client.list_runs(kind=ids("kind"))
        finally:
            proxy.close()
        assert [run.id for run in page.runs] == [created.run.id]

    asyncio.run(scenario())
    assert len(keys) == 3 and keys[0] == keys[1] and keys[0] is not None and keys[2] is None


def test_follow_across_a_restart(start_server: StartServer, ids: Ids) -> None:
    server = start_server()

    async def scenario() -> None:
        async with AsyncClient(server.url) as client:
            await client.create("a", id=ids("r"))
            started = await client.start(ids("r"), owner="w", lease_ttl_ms=60_000)
            assert started.lease is not None
            epoch = started.lease.epoch
            seen: list[int] = []

            async def follow() -> None:
                async with client.follow(ids("r")) as stream:
                    async for event in stream:
                        seen.append(event.seq)

            task = asyncio.create_task(follow())
            await client.append_event(ids("r"), "before", 1, lease_epoch=epoch)
            while len(seen) < 3:
                await asyncio.sleep(0.02)
            await asyncio.to_thread(server.restart, kill=True)
            await client.append_event(ids("r"), "after", 2, lease_epoch=epoch)
            await client.finish(ids("r"), lease_epoch=epoch, outcome="failed", error="x")
            await asyncio.wait_for(task, 30)
            assert seen == [1, 2, 3, 4, 5]
            tenant: list[int] = []
            async with client.follow_tenant(after=2) as stream:
                async for event in stream:
                    tenant.append(event.position)
                    if len(tenant) == 3:
                        break
            assert tenant == [3, 4, 5]

    asyncio.run(scenario())
