"""The asyncio client: the twin of :class:`~runledger.Client`, method for
method, over :class:`httpx.AsyncClient`.

::

    from runledger import AsyncClient

    async with AsyncClient() as client:
        run = (await client.create("nightly-etl", id="etl-2025-01-02")).run
        async for event in client.follow(run.id):
            print(event.seq, event.type, event.data)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from . import _operations as ops
from ._config import DEFAULT_TIMEOUT_S, base_headers, resolve_base_url, resolve_token
from ._http import attempt_headers, attempt_timeout, decode_body, idempotency_key_for, refusal
from ._retry import RetryPolicy, is_retryable_answer
from .errors import TransportError
from .models import (
    Appended,
    BatchItem,
    Concurrency,
    Created,
    CreateRun,
    Event,
    LeaseRequest,
    Order,
    Outcome,
    Run,
    RunPage,
    RunState,
)
from .streams import AsyncEventStream, follow_async

T = TypeVar("T")


class AsyncClient:
    """An asyncio client of a runledger server (see :class:`~runledger.Client`).

    ``base_url`` defaults to ``$RUNLEDGER_SERVER``, then
    ``http://127.0.0.1:7878``; ``token`` to ``$RUNLEDGER_TOKEN``. ``retry``
    sets how connection failures and "later" answers (429, 503, …) are
    retried. ``http_client`` lets you bring a configured
    :class:`httpx.AsyncClient` (proxies, event hooks); its base URL and headers
    are set from the other arguments. Use it as a context manager, or call
    :meth:`aclose`. Use it from one event loop.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = resolve_base_url(base_url)
        self.retry = retry or RetryPolicy()
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._http = http_client or httpx.AsyncClient()
        self._http.base_url = httpx.URL(self.base_url)
        self._http.headers.update(base_headers(resolve_token(token)))

    async def aclose(self) -> None:
        """Closes the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- runs -------------------------------------------------------------

    async def create(
        self,
        kind: str,
        *,
        id: str | None = None,
        parent_id: str | None = None,
        key: str | None = None,
        attributes: Mapping[str, Any] | None = None,
        concurrency: Concurrency | None = None,
        start: LeaseRequest | None = None,
        idempotency_key: str | None = None,
    ) -> Created:
        """Creates a run, or returns the existing one with the same id and
        parameters (``created`` tells which). A run with ``id`` and other
        parameters raises :class:`~runledger.RunConflictError`; a full
        concurrency group with ``on_full="reject"``
        :class:`~runledger.ConcurrencyLimitError`. ``start`` starts it at
        once (lease epoch 1) when its slot is free."""
        request = CreateRun(
            kind=kind,
            id=id,
            parent_id=parent_id,
            key=key,
            attributes=attributes,
            concurrency=concurrency,
            start=start,
        )
        return await self._send(ops.create(request, idempotency_key=idempotency_key))

    async def create_batch(
        self,
        runs: Sequence[CreateRun],
        *,
        atomic: bool = False,
        idempotency_key: str | None = None,
    ) -> list[BatchItem]:
        """Creates up to 1,000 runs in one request (``POST /v1/runs/batch``);
        one :class:`~runledger.BatchItem` per run, in order. ``atomic``: all
        or nothing; a refusal raises the first refused item's problem, whose
        ``index`` names the item."""
        return await self._send(
            ops.create_batch(runs, atomic=atomic, idempotency_key=idempotency_key)
        )

    async def get(self, run_id: str) -> Run:
        """The run; :class:`~runledger.NotFoundError` when there is none."""
        return await self._send(ops.get(run_id))

    async def list_runs(
        self,
        *,
        state: RunState | None = None,
        kind: str | None = None,
        parent_id: str | None = None,
        concurrency_key: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        order: Order | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> RunPage:
        """One page of runs matching every filter given (oldest first unless
        ``order="desc"``); ``next_cursor`` continues it."""
        return await self._send(
            ops.list_runs(
                state=state,
                kind=kind,
                parent_id=parent_id,
                concurrency_key=concurrency_key,
                created_after=created_after,
                created_before=created_before,
                order=order,
                limit=limit,
                cursor=cursor,
            )
        )

    async def iter_runs(
        self,
        *,
        state: RunState | None = None,
        kind: str | None = None,
        parent_id: str | None = None,
        concurrency_key: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        order: Order | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[Run]:
        """Every run matching the filters, page after page (lazily)."""
        cursor: str | None = None
        while True:
            page = await self.list_runs(
                state=state,
                kind=kind,
                parent_id=parent_id,
                concurrency_key=concurrency_key,
                created_after=created_after,
                created_before=created_before,
                order=order,
                limit=page_size,
                cursor=cursor,
            )
            for run in page.runs:
                yield run
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # -- lifecycle ----------------------------------------------------------

    async def start(
        self,
        run_id: str,
        *,
        owner: str,
        lease_ttl_ms: int,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Starts a queued run for ``owner``; the answer's ``lease.epoch``
        must accompany every heartbeat, append and finish."""
        return await self._send(
            ops.start(
                run_id,
                owner=owner,
                lease_ttl_ms=lease_ttl_ms,
                if_match=if_match,
                idempotency_key=idempotency_key,
            )
        )

    async def claim(
        self,
        *,
        owner: str,
        lease_ttl_ms: int,
        kind: str | Sequence[str] | None = None,
        concurrency_key: str | None = None,
        wait_ms: int | None = None,
        idempotency_key: str | None = None,
    ) -> Run | None:
        """Starts the oldest queued run matching the filters for ``owner``,
        waiting up to ``wait_ms`` (≤ 30,000) for one; ``None`` when none came.
        Two claims never get the same run."""
        return await self._send(
            ops.claim(
                owner=owner,
                lease_ttl_ms=lease_ttl_ms,
                kind=kind,
                concurrency_key=concurrency_key,
                wait_ms=wait_ms,
                idempotency_key=idempotency_key,
            )
        )

    async def heartbeat(
        self,
        run_id: str,
        *,
        lease_epoch: int,
        lease_ttl_ms: int | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Extends the lease (by ``lease_ttl_ms``, else its previous length);
        :class:`~runledger.StaleLeaseError` when the lease is lost."""
        return await self._send(
            ops.heartbeat(
                run_id,
                lease_epoch=lease_epoch,
                lease_ttl_ms=lease_ttl_ms,
                if_match=if_match,
                idempotency_key=idempotency_key,
            )
        )

    async def finish(
        self,
        run_id: str,
        *,
        lease_epoch: int,
        outcome: Outcome,
        result: Any = None,
        error: str | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Ends a running run as ``succeeded`` (with ``result``) or ``failed``
        (with ``error``). A repeat with the same parameters returns the run."""
        return await self._send(
            ops.finish(
                run_id,
                lease_epoch=lease_epoch,
                outcome=outcome,
                result=result,
                error=error,
                if_match=if_match,
                idempotency_key=idempotency_key,
            )
        )

    async def cancel(
        self,
        run_id: str,
        *,
        reason: str | None = None,
        cascade: bool = False,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Cancels a pending, queued or running run (``reason`` becomes its
        ``error``); ``cascade`` also cancels its descendants. A repeat returns
        the run unchanged."""
        return await self._send(
            ops.cancel(
                run_id,
                reason=reason,
                cascade=cascade,
                if_match=if_match,
                idempotency_key=idempotency_key,
            )
        )

    # -- events -------------------------------------------------------------

    async def append_event(
        self,
        run_id: str,
        type: str,
        data: Any = None,
        *,
        lease_epoch: int | None = None,
        if_match: int | None = None,
        idempotency_key: str | None = None,
    ) -> Appended:
        """Appends a caller event (progress, log, metric) to the run's log;
        while the run is running, ``lease_epoch`` is required."""
        return await self._send(
            ops.append_event(
                run_id,
                type,
                data,
                lease_epoch=lease_epoch,
                if_match=if_match,
                idempotency_key=idempotency_key,
            )
        )

    async def list_events(
        self, run_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[Event]:
        """The run's events after seq ``after``, in seq order (one page)."""
        return await self._send(ops.list_events(run_id, after=after, limit=limit))

    def follow(self, run_id: str, after: int = 0) -> AsyncEventStream:
        """The run's events after seq ``after``, live, ending after its
        terminal event. Reconnects (resuming after the last seq delivered)
        whenever the connection breaks or the server restarts: every event
        exactly once, in order. Close it (or use ``with``) to stop early."""
        return AsyncEventStream(
            follow_async(self, ops.run_path(run_id, "events", "stream"), after, run_id)
        )

    def follow_tenant(self, after: int = 0) -> AsyncEventStream:
        """Every event of the tenant after position ``after``, live, forever
        (until closed); resumes like :meth:`follow`."""
        return AsyncEventStream(follow_async(self, "/v1/events/stream", after, None))

    async def health(self) -> bool:
        """Whether the server and its database answer (``GET /healthz``)."""
        return await self._send(ops.health())

    # -- plumbing -------------------------------------------------------------

    async def _send(self, call: ops.Call[T]) -> T:
        key = idempotency_key_for(call)
        headers = attempt_headers(call, key)
        timeout = attempt_timeout(self._timeout, call)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(
                    call.method,
                    call.path,
                    json=call.json,
                    params=dict(call.params),
                    headers=headers,
                    timeout=timeout,
                )
            except httpx.UnsupportedProtocol as error:
                raise TransportError(f"{call.method} {call.path}: {error}") from error
            except httpx.TransportError as error:
                delay = self.retry.delay_s(attempt, None)
                if delay is None:
                    raise TransportError(
                        f"{call.method} {call.path}: {error!r} (after {attempt} attempts)"
                    ) from error
                await asyncio.sleep(delay)
                continue
            problem = refusal(response)
            if problem is None:
                return call.parse(response.status_code, decode_body(response))
            if is_retryable_answer(response.status_code, problem.code):
                delay = self.retry.delay_s(attempt, response.headers.get("retry-after"))
                if delay is not None:
                    await asyncio.sleep(delay)
                    continue
            raise problem
