"""``Worker``: claims runs and executes them with a handler, holding each
run's lease for it (SPEC §2.5, §9).

Threads, not asyncio: handlers are plain functions (the code teams already
have: ETL steps, API calls, subprocesses), and a blocking handler cannot
starve the heartbeats of the others because each run's heartbeat has its
own thread. An async handler can call ``asyncio.run`` inside.

Per run the worker:

1. claims it (``POST /v1/runs/claim`` with ``wait_ms`` long-polling; at most
   ``concurrency`` runs at once, one claiming slot per allowed run; a claim
   that got no answer is asked again with its ``Idempotency-Key``);
2. heartbeats every third of the lease in the background;
3. calls ``handler(ctx)``; ``ctx.append`` carries the lease epoch, and
   ``ctx.lease_lost`` is set as soon as a heartbeat or append answers
   ``stale_lease`` (the run was cancelled, reaped or taken over; a cancel
   is noticed by the next heartbeat, within a third of the lease), or when
   the lease has run out on the worker's own clock without a successful
   heartbeat (the server does not answer; the process was frozen): stop
   working and return, nothing you write will count;
4. finishes it with the epoch: the handler's return value is the
   ``succeeded`` run's ``result``; an exception makes it ``failed`` with the
   exception as ``error``.

Shutdown (SIGTERM, SIGINT or :meth:`Worker.stop`): claiming stops at once,
``ctx.stopping`` is set, and in-flight handlers get ``grace_s`` seconds to
return. A run whose handler is still busy after that is finished ``failed``
(naming the shutdown) and its ``ctx.lease_lost`` set, so the run does not
wait for its lease to expire.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from ._retry import is_retryable_answer
from .client import Client
from .errors import (
    InvalidTransitionError,
    NotFoundError,
    ProblemError,
    StaleLeaseError,
    TransportError,
)
from .models import Appended, Run

logger = logging.getLogger("runledger.worker")

#: What a worker runs: called with the run's context; returns the ``result``.
Handler = Callable[["RunContext"], Any]

#: Longest ``error`` a failed run is given (the API's limit is 64 KiB).
ERROR_CHARS_MAX = 16 * 1024
#: Seconds a claiming slot waits after the server could not be reached.
CLAIM_RETRY_WAIT_S = 1.0


class RunContext:
    """What a handler gets: the claimed ``run``, its lease ``epoch``, and
    two flags to watch in long loops — ``lease_lost`` (stop: the run is no
    longer yours) and ``stopping`` (the worker is shutting down; finish
    soon)."""

    def __init__(self, client: Client, run: Run, stopping: threading.Event) -> None:
        if run.lease is None:
            raise ValueError(f"run {run.id} was handed to a worker without a lease")
        self.client = client
        self.run = run
        self.epoch = run.lease.epoch
        self.lease_lost = threading.Event()
        self.stopping = stopping

    def append(self, type: str, data: Any = None) -> Appended:
        """Appends an event to the run's log under the lease; a
        :class:`~runledger.StaleLeaseError` also sets ``lease_lost``."""
        try:
            return self.client.append_event(self.run.id, type, data, lease_epoch=self.epoch)
        except StaleLeaseError:
            self.lease_lost.set()
            raise


class Worker:
    """Claims runs of ``kinds`` (a kind, a list, or ``None`` for any) and
    runs ``handler`` on each, at most ``concurrency`` at once.

    ``owner`` names this worker in leases (default ``host:pid:random``);
    ``lease_ttl_ms`` is each lease's length (heartbeats every third);
    ``wait_ms`` is a claim's long poll (≤ 30,000); ``grace_s`` is how long
    in-flight handlers may run after a shutdown begins.

    :meth:`run` blocks until SIGTERM/SIGINT or :meth:`stop`; :meth:`start`
    and :meth:`join` do the same without touching signals.
    """

    def __init__(
        self,
        client: Client,
        handler: Handler,
        *,
        kinds: str | Sequence[str] | None = None,
        concurrency_key: str | None = None,
        concurrency: int = 1,
        owner: str | None = None,
        lease_ttl_ms: int = 30_000,
        wait_ms: int = 5_000,
        grace_s: float = 30.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be 1 or more, not {concurrency}")
        self.client = client
        self.handler = handler
        self.kinds = kinds
        self.concurrency_key = concurrency_key
        self.concurrency = concurrency
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_ttl_ms = lease_ttl_ms
        self.wait_ms = wait_ms
        self.grace_s = grace_s
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.runs_finished = 0
        self._lock = threading.Lock()
        self._slots: list[threading.Thread] = []
        self._in_flight: dict[str, _Execution] = {}

    # -- control ----------------------------------------------------------------

    def run(self) -> None:
        """Starts the worker and blocks until it has stopped; SIGTERM and
        SIGINT begin a graceful shutdown, a second one raises
        ``KeyboardInterrupt`` at once (signals are handled only when called
        from the main thread).
        Raises what made the worker give up (e.g. the server refusing claims)."""
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, self._on_signal)
        try:
            self.start()
            self.join()
        finally:
            for restored, handler in previous.items():
                signal.signal(restored, handler)
        if self.error is not None:
            raise self.error

    def start(self) -> None:
        """Starts the claiming slots and returns."""
        if self._slots:
            raise RuntimeError("this worker was already started")
        logger.info(
            "worker %s claiming %s (concurrency %d)", self.owner, self.kinds, self.concurrency
        )
        for index in range(self.concurrency):
            slot = threading.Thread(
                target=self._slot, name=f"runledger-worker-{index}", daemon=True
            )
            self._slots.append(slot)
            slot.start()

    def stop(self) -> None:
        """Begins a graceful shutdown: no new claims; in-flight handlers
        have ``grace_s`` to return (see :meth:`join`)."""
        self.stopping.set()

    def join(self) -> None:
        """Waits until :meth:`stop` was called (or a slot gave up) and every
        in-flight run is done, or ``grace_s`` has passed since the stop; runs
        still in flight then are finished ``failed``."""
        self.stopping.wait()
        deadline = time.monotonic() + self.grace_s
        for slot in self._slots:
            slot.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            abandoned = list(self._in_flight.values())
        for execution in abandoned:
            execution.abandon(
                f"worker {self.owner} shut down before the handler returned "
                f"(grace period {self.grace_s:g} s)"
            )

    # -- slots ------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.stopping.is_set():
            # A second signal: the operator does not want to wait for the grace period.
            raise KeyboardInterrupt(f"{name} during the graceful shutdown")
        logger.info("worker %s: %s, shutting down (again to stop at once)", self.owner, name)
        self.stop()

    def _slot(self) -> None:
        # One Idempotency-Key per claim until it gets a definite answer: a
        # claim whose answer was lost (the client's retries ran out) may
        # have started a run for us, and asking again with its key replays
        # that run instead of leaving it to time out unhandled.
        key: str | None = None
        # When an attempt under ``key`` first failed: a run replayed for the
        # key was started (its lease began) no later than that.
        failed_at: float | None = None
        while not self.stopping.is_set():
            key = key or str(uuid.uuid4())
            try:
                run = self.client.claim(
                    owner=self.owner,
                    lease_ttl_ms=self.lease_ttl_ms,
                    kind=self.kinds,
                    concurrency_key=self.concurrency_key,
                    wait_ms=self.wait_ms,
                    idempotency_key=key,
                )
            except TransportError as error:
                logger.warning("worker %s: claim failed: %s", self.owner, error)
                failed_at = failed_at or time.monotonic()
                self.stopping.wait(CLAIM_RETRY_WAIT_S)
                continue
            except ProblemError as problem:
                if is_retryable_answer(problem.status, problem.code) or problem.status >= 500:
                    logger.warning("worker %s: claim refused: %s", self.owner, problem)
                    failed_at = failed_at or time.monotonic()
                    self.stopping.wait(CLAIM_RETRY_WAIT_S)
                    continue
                logger.error("worker %s: giving up, claim refused: %s", self.owner, problem)
                self.error = problem
                self.stopping.set()
                return
            leased_from = failed_at or time.monotonic()
            key, failed_at = None, None
            if run is not None:
                # A run claimed as the shutdown began is still ours: run it.
                self._execute(run, leased_from)

    def _execute(self, run: Run, leased_from: float) -> None:
        execution = _Execution(self, RunContext(self.client, run, self.stopping), leased_from)
        with self._lock:
            self._in_flight[run.id] = execution
        try:
            execution.run()
        finally:
            with self._lock:
                self._in_flight.pop(run.id, None)


class _Execution:
    """One claimed run: its heartbeat thread, its handler call, its finish
    (taken once, by whoever comes first: the handler's return or the
    shutdown's abandon)."""

    def __init__(self, worker: Worker, ctx: RunContext, leased_from: float) -> None:
        self.worker = worker
        self.ctx = ctx
        self.done = threading.Event()
        self._finish_lock = threading.Lock()
        self._finished = False
        # Our own clock's bound on the lease (monotonic), for when the
        # server does not answer: past it the run is presumed timed out.
        # From the claim's answer (or, for a claim replayed after a lost
        # answer, from when that loss was seen) at first, then from when
        # each successful heartbeat was *sent* (the server extended the
        # lease a moment after that, so the bound never outlives the lease).
        self._lease_until = leased_from + worker.lease_ttl_ms / 1000

    def run(self) -> None:
        name = self.ctx.run.id
        heartbeat = threading.Thread(
            target=self._heartbeat, name=f"runledger-heartbeat-{name}", daemon=True
        )
        watchdog = threading.Thread(
            target=self._watch, name=f"runledger-lease-watch-{name}", daemon=True
        )
        heartbeat.start()
        watchdog.start()
        try:
            result = self.worker.handler(self.ctx)
        except Exception as error:  # the handler's failure is the run's outcome
            self._finish("failed", error=_describe(error))
        else:
            self._finish("succeeded", result=result)
        finally:
            self.done.set()
            heartbeat.join()
            watchdog.join()

    def abandon(self, reason: str) -> None:
        """Fails the run now (the handler is still busy) and tells the handler."""
        self._finish("failed", error=reason)
        self.ctx.lease_lost.set()
        self.done.set()

    def _finish(self, outcome: str, *, result: Any = None, error: str | None = None) -> None:
        with self._finish_lock:
            if self._finished or self.ctx.lease_lost.is_set():
                return
            self._finished = True
            run_id = self.ctx.run.id
            try:
                finished = self.worker.client.finish(
                    run_id,
                    lease_epoch=self.ctx.epoch,
                    outcome="succeeded" if outcome == "succeeded" else "failed",
                    result=result,
                    error=error,
                )
            except (StaleLeaseError, InvalidTransitionError, NotFoundError) as lost:
                self.ctx.lease_lost.set()
                logger.warning("run %s: lease lost before finishing: %s", run_id, lost)
            except (ProblemError, TransportError) as failure:
                logger.error("run %s: finish failed: %s", run_id, failure)
            else:
                logger.info("run %s %s", run_id, finished.state)
                with self.worker._lock:
                    self.worker.runs_finished += 1

    def _heartbeat(self) -> None:
        interval_s = self.worker.lease_ttl_ms / 3 / 1000
        # Once the lease is lost (stale_lease, or given up by the watchdog)
        # extending it would only delay the reaping of a run nobody works on.
        while not self.done.wait(interval_s) and not self.ctx.lease_lost.is_set():
            sent = time.monotonic()
            try:
                self.worker.client.heartbeat(self.ctx.run.id, lease_epoch=self.ctx.epoch)
            except (StaleLeaseError, InvalidTransitionError, NotFoundError) as lost:
                logger.warning("run %s: lease lost: %s", self.ctx.run.id, lost)
                self.ctx.lease_lost.set()
                return
            except (ProblemError, TransportError) as failure:
                # The watchdog gives the lease up when it runs out.
                logger.warning("run %s: heartbeat failed: %s", self.ctx.run.id, failure)
            else:
                self._lease_until = sent + self.worker.lease_ttl_ms / 1000

    def _watch(self) -> None:
        """Sets ``lease_lost`` as soon as the lease has run out on our own
        clock without a successful heartbeat — the server is unreachable or
        hangs, or this process was frozen — instead of after the HTTP
        timeouts and retries of a heartbeat that gets no answer."""
        while True:
            remaining_s = self._lease_until - time.monotonic()
            if remaining_s <= 0:
                if not self.ctx.lease_lost.is_set():
                    logger.warning(
                        "run %s: lease ran out without a successful heartbeat; presumed lost",
                        self.ctx.run.id,
                    )
                    self.ctx.lease_lost.set()
                return
            if self.done.wait(remaining_s) or self.ctx.lease_lost.is_set():
                return


def _describe(error: BaseException) -> str:
    """A failed run's ``error``: the exception and its traceback, the end kept."""
    text = "".join(traceback.format_exception(error)).rstrip()
    return text if len(text) <= ERROR_CHARS_MAX else "…" + text[-ERROR_CHARS_MAX:]
