"""The synchronous client: every operation of the API (SPEC §4) as a
method, problems raised as :mod:`runledger.errors` exceptions, POSTs
retried under one ``Idempotency-Key`` per call.

::

    from runledger import Client

    with Client() as client:  # RUNLEDGER_SERVER / RUNLEDGER_TOKEN, or the defaults
        run = client.create("nightly-etl", id="etl-2025-01-02").run
        for event in client.follow(run.id):
            print(event.seq, event.type, event.data)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from . import _operations as ops
from ._config import DEFAULT_TIMEOUT_S, base_headers, resolve_base_url, resolve_token
from ._http import attempt_headers, attempt_timeout, decode_body, idempotency_key_for, refusal
from ._retry import RetryPolicy, is_retryable_answer
from ._wire import Answer, Wire, WireError, direct_route
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
from .streams import EventStream, follow_sync

T = TypeVar("T")


class Client:
    """A blocking client of a runledger server.

    ``base_url`` defaults to ``$RUNLEDGER_SERVER``, then
    ``http://127.0.0.1:7878``; ``token`` to ``$RUNLEDGER_TOKEN``. ``retry``
    sets how connection failures and "later" answers (429, 503, …) are
    retried. ``http_client`` lets you bring a configured
    :class:`httpx.Client` (proxies, event hooks); its base URL and headers
    are set from the other arguments. Use it as a context manager, or call
    :meth:`close`. Safe to share between threads.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url = resolve_base_url(base_url)
        self.retry = retry or RetryPolicy()
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._headers = base_headers(resolve_token(token))
        # Request/answer calls go over the standard library's keep-alive
        # connections (_wire.py says why) unless the caller brought an
        # httpx client or a proxy is configured; streams always use httpx,
        # made on first use.
        self._wire = (
            Wire(self.base_url, self._headers)
            if http_client is None and direct_route(self.base_url)
            else None
        )
        self._brought = http_client
        self._httpx: httpx.Client | None = None
        self._httpx_lock = threading.Lock()

    @property
    def _http(self) -> httpx.Client:
        """The httpx client of the streams (and of every call when brought)."""
        with self._httpx_lock:
            if self._httpx is None:
                self._httpx = self._brought or httpx.Client()
                self._httpx.base_url = httpx.URL(self.base_url)
                self._httpx.headers.update(self._headers)
            return self._httpx

    def close(self) -> None:
        """Closes the connections."""
        if self._wire is not None:
            self._wire.close()
        with self._httpx_lock:
            if self._httpx is not None:
                self._httpx.close()
            elif self._brought is not None:
                self._brought.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- runs -------------------------------------------------------------

    def create(
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
        return self._send(ops.create(request, idempotency_key=idempotency_key))

    def create_batch(
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
        return self._send(ops.create_batch(runs, atomic=atomic, idempotency_key=idempotency_key))

    def get(self, run_id: str) -> Run:
        """The run; :class:`~runledger.NotFoundError` when there is none."""
        return self._send(ops.get(run_id))

    def list_runs(
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
        return self._send(
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

    def iter_runs(
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
    ) -> Iterator[Run]:
        """Every run matching the filters, page after page (lazily)."""
        cursor: str | None = None
        while True:
            page = self.list_runs(
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
            yield from page.runs
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # -- lifecycle ----------------------------------------------------------

    def start(
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
        return self._send(
            ops.start(
                run_id,
                owner=owner,
                lease_ttl_ms=lease_ttl_ms,
                if_match=if_match,
                idempotency_key=idempotency_key,
            )
        )

    def claim(
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
        return self._send(
            ops.claim(
                owner=owner,
                lease_ttl_ms=lease_ttl_ms,
                kind=kind,
                concurrency_key=concurrency_key,
                wait_ms=wait_ms,
                idempotency_key=idempotency_key,
            )
        )

    def heartbeat(
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
        return self._send(
            ops.heartbeat(
                run_id,
                lease_epoch=lease_epoch,
                lease_ttl_ms=lease_ttl_ms,
                if_match=if_match,
                idempotency_key=idempotency_key,
            )
        )

    def finish(
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
        return self._send(
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

    def cancel(
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
        return self._send(
            ops.cancel(
                run_id,
                reason=reason,
                cascade=cascade,
                if_match=if_match,
                idempotency_key=idempotency_key,
            )
        )

    # -- events -------------------------------------------------------------

    def append_event(
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
        return self._send(
            ops.append_event(
                run_id,
                type,
                data,
                lease_epoch=lease_epoch,
                if_match=if_match,
                idempotency_key=idempotency_key,
            )
        )

    def list_events(self, run_id: str, *, after: int = 0, limit: int | None = None) -> list[Event]:
        """The run's events after seq ``after``, in seq order (one page)."""
        return self._send(ops.list_events(run_id, after=after, limit=limit))

    def follow(self, run_id: str, after: int = 0) -> EventStream:
        """The run's events after seq ``after``, live, ending after its
        terminal event. Reconnects (resuming after the last seq delivered)
        whenever the connection breaks or the server restarts: every event
        exactly once, in order. Close it (or use ``with``) to stop early."""
        return EventStream(
            follow_sync(self, ops.run_path(run_id, "events", "stream"), after, run_id)
        )

    def follow_tenant(self, after: int = 0) -> EventStream:
        """Every event of the tenant after position ``after``, live, forever
        (until closed); resumes like :meth:`follow`."""
        return EventStream(follow_sync(self, "/v1/events/stream", after, None))

    def health(self) -> bool:
        """Whether the server and its database answer (``GET /healthz``)."""
        return self._send(ops.health())

    # -- plumbing -------------------------------------------------------------

    def _send(self, call: ops.Call[T]) -> T:
        key = idempotency_key_for(call)
        headers = attempt_headers(call, key)
        timeout = attempt_timeout(self._timeout, call)
        attempt = 0
        while True:
            attempt += 1
            try:
                response: Answer | httpx.Response
                if self._wire is not None:
                    response = self._wire.exchange(
                        call.method,
                        call.path,
                        params=call.params,
                        body=call.json,
                        headers=headers,
                        timeout=timeout,
                    )
                else:
                    response = self._http.request(
                        call.method,
                        call.path,
                        json=call.json,
                        params=dict(call.params),
                        headers=headers,
                        timeout=timeout,
                    )
            except httpx.UnsupportedProtocol as error:
                raise TransportError(f"{call.method} {call.path}: {error}") from error
            except (httpx.TransportError, WireError) as error:
                delay = self.retry.delay_s(attempt, None)
                if delay is None:
                    raise TransportError(
                        f"{call.method} {call.path}: {error!r} (after {attempt} attempts)"
                    ) from error
                time.sleep(delay)
                continue
            problem = refusal(response)
            if problem is None:
                return call.parse(response.status_code, decode_body(response))
            if is_retryable_answer(response.status_code, problem.code):
                delay = self.retry.delay_s(attempt, response.headers.get("retry-after"))
                if delay is not None:
                    time.sleep(delay)
                    continue
            raise problem
