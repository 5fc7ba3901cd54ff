"""The blocking client's own keep-alive connections (``_wire.py``): a
connection the server closed while it sat idle is replaced at once, not
after a retry delay; a call retried over new connections across a server
restart keeps its ``Idempotency-Key`` (one run); and the client falls back
to httpx when the environment names a proxy for the server."""

from __future__ import annotations

import threading
import time

import pytest

from runledger import Client, RetryPolicy
from runledger._wire import direct_route

from conftest import StartServer

#: A retry delay no passing test can wait through.
SLOW_RETRY = RetryPolicy(max_attempts=3, backoff_initial_s=5.0, backoff_max_s=5.0)


def test_a_connection_closed_while_idle_is_replaced_without_a_retry(
    start_server: StartServer,
) -> None:
    # The server closes a kept-alive connection 300 ms after its last answer.
    server = start_server("--header-read-timeout-ms", "300")
    with Client(server.url, retry=SLOW_RETRY) as client:
        for round_ in range(3):
            started = time.monotonic()
            created = client.create("wire", id=f"idle-{round_}")
            assert created.created
            assert time.monotonic() - started < 2.0, "a retry delay was waited through"
            time.sleep(0.8)


def test_a_create_retried_across_a_restart_creates_one_run(start_server: StartServer) -> None:
    server = start_server()
    fast = RetryPolicy(max_attempts=200, backoff_initial_s=0.05, backoff_max_s=0.1)
    with Client(server.url, retry=fast) as client:
        client.create("before")  # a pooled connection the restart will break
        server.stop()
        answers: list[str] = []
        # A create without an id: only its Idempotency-Key keeps a retry
        # from making a second run.
        worker = threading.Thread(target=lambda: answers.append(client.create("across").run.id))
        worker.start()
        time.sleep(0.3)  # refused while the server is down, retried
        server.start()
        worker.join(timeout=30)
        assert len(answers) == 1
        runs = client.list_runs(kind="across").runs
        assert [run.id for run in runs] == answers


def test_a_proxy_in_the_environment_sends_calls_through_httpx(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert direct_route("http://127.0.0.1:7878")
    assert not direct_route("ftp://127.0.0.1:7878")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    assert not direct_route("http://runledger.internal:7878")
    monkeypatch.setenv("NO_PROXY", "runledger.internal")
    assert direct_route("http://runledger.internal:7878")
