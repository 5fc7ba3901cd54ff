"""``follow`` and ``follow_tenant``: the SSE streams (SPEC §4) read as
iterators that lose nothing and repeat nothing (SPEC §2.7).

Each connection resumes with ``Last-Event-ID`` = the last seq (run stream)
or position (tenant stream) handed out. When a connection breaks, times out
(no keep-alive for :data:`~runledger._sse.STREAM_READ_TIMEOUT_S`) or ends
because the server shut down, the follower waits a jittered back-off and
reconnects; problems that cannot heal (``401``, ``404``, ``422``) are
raised. A run stream ends after the run's terminal event — or at once when
the run had already ended at or before ``after``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

import httpx

from ._http import decode_body
from ._retry import RetryPolicy, is_retryable_answer
from ._sse import STREAM_READ_TIMEOUT_S, ResumeCursor, SseDecoder
from .errors import TransportError, problem_error
from .models import Event, Run

if TYPE_CHECKING:
    from .async_client import AsyncClient
    from .client import Client

_STREAM_TIMEOUT = httpx.Timeout(10.0, read=STREAM_READ_TIMEOUT_S)


class EventStream:
    """An iterator of :class:`~runledger.Event` over a live stream; closing
    it (or leaving its ``with`` block) closes the connection."""

    def __init__(self, events: Iterator[Event]) -> None:
        self._events = events

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> Event:
        return next(self._events)

    def close(self) -> None:
        """Stops following and closes the connection."""
        close = getattr(self._events, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncEventStream:
    """The async twin of :class:`EventStream` (``async for``, ``async with``)."""

    def __init__(self, events: AsyncIterator[Event]) -> None:
        self._events = events

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> Event:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        """Stops following and closes the connection."""
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()

    async def __aenter__(self) -> AsyncEventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def follow_sync(client: Client, path: str, after: int, run_id: str | None) -> Iterator[Event]:
    """The events of the stream at ``path`` after ``after``; ``run_id`` set
    for a run stream (seq cursor, ends after the terminal event)."""
    cursor = ResumeCursor(after, "seq" if run_id is not None else "position")
    crowded = 0
    while not cursor.finished:
        retry_after: str | None = None
        ended_cleanly = False
        try:
            with client._http.stream(
                "GET", path, headers=cursor.headers(), timeout=_STREAM_TIMEOUT
            ) as response:
                if response.status_code != 200:
                    response.read()
                    crowded = crowded + 1 if response.status_code == 429 else 0
                    retry_after = _refused(response, client.retry, crowded)
                else:
                    crowded = 0
                    decoder = SseDecoder()
                    for line in response.iter_lines():
                        message = decoder.feed(line)
                        event = cursor.accept(message) if message is not None else None
                        if event is not None:
                            yield event
                            if cursor.finished:
                                return
                    ended_cleanly = True
        except httpx.TransportError:
            pass
        if run_id is not None and ended_cleanly:
            # The server ends a stream at once when the run ended at or
            # before the cursor, and when it shuts down: ask which.
            try:
                if _ended_before(client.get(run_id), cursor):
                    return
            except TransportError:
                pass
        time.sleep(_wait_s(cursor, retry_after))


async def follow_async(
    client: AsyncClient, path: str, after: int, run_id: str | None
) -> AsyncIterator[Event]:
    """The async twin of :func:`follow_sync`."""
    cursor = ResumeCursor(after, "seq" if run_id is not None else "position")
    crowded = 0
    while not cursor.finished:
        retry_after: str | None = None
        ended_cleanly = False
        try:
            async with client._http.stream(
                "GET", path, headers=cursor.headers(), timeout=_STREAM_TIMEOUT
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    crowded = crowded + 1 if response.status_code == 429 else 0
                    retry_after = _refused(response, client.retry, crowded)
                else:
                    crowded = 0
                    decoder = SseDecoder()
                    async for line in response.aiter_lines():
                        message = decoder.feed(line)
                        event = cursor.accept(message) if message is not None else None
                        if event is not None:
                            yield event
                            if cursor.finished:
                                return
                    ended_cleanly = True
        except httpx.TransportError:
            pass
        if run_id is not None and ended_cleanly:
            try:
                if _ended_before(await client.get(run_id), cursor):
                    return
            except TransportError:
                pass
        await asyncio.sleep(_wait_s(cursor, retry_after))


def _refused(response: httpx.Response, retry: RetryPolicy, crowded: int) -> str:
    """Raises the problem of a refused stream unless it may heal; then the
    ``Retry-After`` to honour ("" for none). A server that is restarting
    (502–504) is waited for as long as it takes; ``crowded`` 429s in a row
    (``too_many_streams``, the rate limit) raise once ``retry`` gives up."""
    problem = problem_error(response.status_code, decode_body(response))
    if not is_retryable_answer(response.status_code, problem.code):
        raise problem
    retry_after = response.headers.get("retry-after")
    if crowded and retry.delay_s(crowded, retry_after) is None:
        raise problem
    return str(retry_after or "")


def _ended_before(run: Run, cursor: ResumeCursor) -> bool:
    """Whether a run stream has nothing left: the run ended and its last
    event (the terminal one) is at or before the cursor."""
    return run.is_terminal and run.last_seq <= cursor.last


def _wait_s(cursor: ResumeCursor, retry_after: str | None) -> float:
    if retry_after and retry_after.strip().isdigit():
        return float(retry_after)
    return cursor.next_backoff_s()
