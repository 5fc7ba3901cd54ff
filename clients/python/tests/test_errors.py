"""Every problem code the server produces maps to its exception class,
carrying the problem's fields; each is provoked for real. Codes the client
cannot send by construction (a non-JSON body) are provoked with raw httpx
and read with the client's own decoder."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import httpx
import pytest

import runledger
from runledger import (
    Client,
    Concurrency,
    ConcurrencyLimitError,
    HeadersTooLargeError,
    IdempotencyKeyInFlightError,
    IdempotencyKeyReusedError,
    InvalidRequestError,
    InvalidRunIdError,
    InvalidTransitionError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ProblemError,
    RateLimitedError,
    RetryPolicy,
    RunConflictError,
    StaleLeaseError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    UriTooLongError,
    VersionConflictError,
)
from runledger._http import refusal
from runledger.errors import ERROR_CLASSES

from conftest import Ids, StartServer
from servers import Databases, Server, add_tenant

NO_RETRY = RetryPolicy(max_attempts=1)


def test_every_spec_code_has_its_own_class_under_problem_error() -> None:
    spec_codes = {
        "invalid_run_id", "invalid_request", "not_found", "run_conflict", "concurrency_limit",
        "invalid_transition", "stale_lease", "version_conflict", "unsupported_media_type",
        "method_not_allowed", "idempotency_key_reused", "idempotency_key_in_flight",
        "unauthorized", "rate_limited", "payload_too_large", "forbidden_origin",
        "misdirected_request", "too_many_streams", "insufficient_storage",
    }  # fmt: skip
    assert spec_codes <= set(ERROR_CLASSES)
    assert len(set(ERROR_CLASSES.values())) == len(ERROR_CLASSES)
    for code, cls in ERROR_CLASSES.items():
        assert issubclass(cls, ProblemError) and issubclass(cls, runledger.RunledgerError)
        assert cls.code_name == code


def test_not_found_carries_the_problem_members(client: Client, ids: Ids) -> None:
    with pytest.raises(NotFoundError) as raised:
        client.get(ids("nope"))
    problem = raised.value
    assert (problem.status, problem.code, problem.type) == (
        404,
        "not_found",
        "urn:runledger:problem:not_found",
    )
    assert problem.title and ids("nope") in problem.detail
    assert problem.body["code"] == "not_found"


def test_not_found_parent_names_it(client: Client, ids: Ids) -> None:
    with pytest.raises(NotFoundError) as raised:
        client.create("step", parent_id=ids("ghost"), key="k")
    assert raised.value.parent_id == ids("ghost")


def test_run_conflict(client: Client, ids: Ids) -> None:
    client.create("a", id=ids("r"))
    with pytest.raises(RunConflictError) as raised:
        client.create("b", id=ids("r"))
    assert raised.value.fields == ["kind"] and raised.value.run_id == ids("r")


def test_concurrency_limit(client: Client, ids: Ids) -> None:
    client.create("a", id=ids("one"), concurrency=Concurrency(ids("g"), limit=1))
    with pytest.raises(ConcurrencyLimitError) as raised:
        client.create("a", id=ids("two"), concurrency=Concurrency(ids("g"), limit=1))
    assert raised.value.active_run_ids == [ids("one")] and raised.value.status == 409


def test_invalid_transition(client: Client, ids: Ids) -> None:
    client.create("a", id=ids("t"))
    with pytest.raises(InvalidTransitionError) as raised:
        client.heartbeat(ids("t"), lease_epoch=1)
    assert (raised.value.operation, raised.value.state) == ("heartbeat", "queued")
    client.cancel(ids("t"))
    with pytest.raises(InvalidTransitionError) as start_cancelled:
        client.start(ids("t"), owner="w", lease_ttl_ms=5_000)
    assert (start_cancelled.value.operation, start_cancelled.value.state) == ("start", "cancelled")


def test_stale_lease(client: Client, ids: Ids) -> None:
    client.create("a", id=ids("s"))
    client.start(ids("s"), owner="w", lease_ttl_ms=5_000)
    with pytest.raises(StaleLeaseError) as raised:
        client.heartbeat(ids("s"), lease_epoch=7)
    assert (raised.value.current_epoch, raised.value.state) == (1, "running")
    client.cancel(ids("s"))
    with pytest.raises(StaleLeaseError) as after_cancel:
        client.append_event(ids("s"), "log", "late", lease_epoch=1)
    assert after_cancel.value.state == "cancelled"


def test_version_conflict(client: Client, ids: Ids) -> None:
    client.create("a", id=ids("v"))
    with pytest.raises(VersionConflictError) as raised:
        client.cancel(ids("v"), if_match=9)
    assert raised.value.status == 412 and raised.value.current_version == 1


def test_invalid_request_names_the_field(client: Client, ids: Ids) -> None:
    client.create("a", id=ids("q"))
    with pytest.raises(InvalidRequestError) as raised:
        client.start(ids("q"), owner="w", lease_ttl_ms=5)
    assert raised.value.status == 422 and raised.value.field == "lease_ttl_ms"
    with pytest.raises(InvalidRequestError):
        client.append_event(ids("q"), "created", None)  # a lifecycle name


def test_invalid_run_id_says_which_rule(client: Client) -> None:
    with pytest.raises(InvalidRunIdError) as raised:
        client.create("a", id="has space")
    assert raised.value.status == 422 and "U+0020 at position 4" in raised.value.detail
    with pytest.raises(InvalidRunIdError):
        client.get("a/b")


def test_idempotency_key_reused(client: Client, ids: Ids) -> None:
    client.create("a", id=ids("k1"), idempotency_key=ids("key"))
    with pytest.raises(IdempotencyKeyReusedError) as raised:
        client.create("a", id=ids("k2"), idempotency_key=ids("key"))
    assert raised.value.status == 422


def test_idempotency_key_in_flight_then_replayed(
    server: Server, databases: Databases, ids: Ids
) -> None:
    if databases.backend != "postgres":
        pytest.skip(
            "held in flight by a table lock, which only PostgreSQL can take from outside "
            "the server; test_claim_batch.py provokes it on both backends with a long poll"
        )
    psql = shutil.which("psql")
    assert psql is not None
    locker = subprocess.Popen(
        [psql, server.db_url, "-qAtc",
         "BEGIN; LOCK TABLE runs IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(2); COMMIT;"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        held = (
            "SELECT count(*) FROM pg_locks JOIN pg_class ON pg_class.oid = relation "
            "WHERE relname = 'runs' AND mode = 'AccessExclusiveLock' AND granted"
        )
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                [psql, server.db_url, "-qAtc", held], capture_output=True, text=True
            ).stdout.strip()
            != "1"
        ):
            assert time.monotonic() < deadline, "the lock was never taken"
            time.sleep(0.05)
        answers: list[object] = []
        with Client(server.url) as first:
            waiting = threading.Thread(
                target=lambda: answers.append(
                    first.create("a", id=ids("x"), idempotency_key=ids("key"))
                )
            )
            waiting.start()
            time.sleep(0.5)  # the first request holds the key, blocked behind the lock
            with (
                Client(server.url, retry=NO_RETRY) as impatient,
                pytest.raises(IdempotencyKeyInFlightError) as raised,
            ):
                impatient.create("a", id=ids("x"), idempotency_key=ids("key"))
            assert raised.value.status == 409
            # With retries, the same call waits for the first answer and gets it replayed.
            replayed = first.create("a", id=ids("x"), idempotency_key=ids("key"))
            waiting.join()
        assert replayed == answers[0] and replayed.created
    finally:
        locker.wait(30)


def test_payload_too_large(client: Client, ids: Ids) -> None:
    with pytest.raises(PayloadTooLargeError) as raised:
        client.create("a", id=ids("big"), attributes={"blob": "x" * (1024 * 1024 + 1)})
    assert raised.value.status == 413


def test_uri_too_long(client: Client) -> None:
    with pytest.raises(UriTooLongError) as raised:
        client.get("a" * 9000)
    assert raised.value.status == 414


def test_headers_too_large(server_url: str) -> None:
    crowded = httpx.Client(headers={f"x-filler-{n}": "1" for n in range(120)})
    with Client(server_url, http_client=crowded) as client, pytest.raises(HeadersTooLargeError):
        client.health()


def test_unsupported_media_type_and_method_not_allowed(server_url: str) -> None:
    answer = httpx.post(
        f"{server_url}/v1/runs", content=b"kind=a", headers={"content-type": "text/plain"}
    )
    assert isinstance(refusal(answer), UnsupportedMediaTypeError)
    answer = httpx.delete(f"{server_url}/v1/runs")
    problem = refusal(answer)
    assert isinstance(problem, MethodNotAllowedError) and problem.status == 405


def test_unauthorized_then_the_token_decides_the_tenant(
    start_server: StartServer, databases: Databases
) -> None:
    db_url = databases.fresh()
    token = add_tenant(db_url, "acme")
    server = start_server(db_url=db_url)
    with Client(server.url) as anonymous, pytest.raises(UnauthorizedError) as raised:
        anonymous.list_runs()
    assert raised.value.status == 401
    with Client(server.url, token="not-a-token") as wrong, pytest.raises(UnauthorizedError):
        wrong.list_runs()
    with Client(server.url, token=token) as acme:
        assert acme.create("a", id="owned").run.tenant == "acme"


def test_token_and_server_come_from_the_environment(
    start_server: StartServer, databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_url = databases.fresh()
    token = add_tenant(db_url, "envy")
    server = start_server(db_url=db_url)
    monkeypatch.setenv("RUNLEDGER_SERVER", server.url)
    monkeypatch.setenv("RUNLEDGER_TOKEN", token)
    with Client() as client:
        assert client.base_url == server.url
        assert client.create("a", id="from-env").run.tenant == "envy"


def test_rate_limited_carries_retry_after(start_server: StartServer, databases: Databases) -> None:
    db_url = databases.fresh()
    token = add_tenant(db_url, "slow")
    server = start_server("--rate-limit-rps", "1", "--rate-limit-burst", "1", db_url=db_url)
    with Client(server.url, token=token, retry=NO_RETRY) as client:
        client.list_runs()
        with pytest.raises(RateLimitedError) as raised:
            client.list_runs()
    assert raised.value.status == 429 and raised.value.retry_after_s is not None


@pytest.fixture
def server_url(server: Server) -> str:
    return server.url
