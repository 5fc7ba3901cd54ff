"""The pure parts, table-tested: SSE decoding, the resume cursor, the retry
decisions and ``Retry-After`` parsing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from runledger import CreateRun, RetryPolicy
from runledger import _operations as ops
from runledger._http import idempotency_key_for
from runledger._operations import Call
from runledger._retry import is_retryable_answer, parse_retry_after
from runledger._sse import ResumeCursor, SseDecoder, SseMessage


def _event(seq: int, position: int, type: str = "log") -> str:
    return json.dumps(
        {
            "run_id": "r",
            "seq": seq,
            "position": position,
            "type": type,
            "data": None,
            "at": "2025-01-02T03:04:05.678Z",
        }
    )


def test_the_decoder_joins_data_lines_and_skips_comments() -> None:
    decoder = SseDecoder()
    lines = [": keep-alive", "", "id: 3", "event: log", "data: a", "data:b", "", "data: c", ""]
    messages = [m for m in (decoder.feed(line) for line in lines) if m is not None]
    assert messages == [SseMessage("log", "a\nb", "3"), SseMessage("message", "c", "3")]


def test_the_cursor_drops_repeats_and_ends_a_run_after_its_terminal_event() -> None:
    cursor = ResumeCursor(1, "seq")
    assert cursor.accept(SseMessage("log", _event(1, 10), "1")) is None
    second = cursor.accept(SseMessage("log", _event(2, 11), "2"))
    assert second is not None and second.at.tzinfo is not None
    assert cursor.headers()["last-event-id"] == "2" and not cursor.finished
    assert cursor.accept(SseMessage("succeeded", _event(3, 12, "succeeded"), "3")) is not None
    assert cursor.finished
    tenant = ResumeCursor(11, "position")
    assert tenant.accept(SseMessage("log", _event(9, 11), "11")) is None
    assert tenant.accept(SseMessage("succeeded", _event(3, 12, "succeeded"), "12")) is not None
    assert not tenant.finished  # a tenant stream never ends by itself
    with pytest.raises(ValueError):
        ResumeCursor(-1, "seq")


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (429, "rate_limited", True), (429, "too_many_streams", True), (503, None, True),
        (502, None, True), (504, None, True), (409, "idempotency_key_in_flight", True),
        (409, "run_conflict", False), (409, "stale_lease", False), (404, "not_found", False),
        (422, "invalid_request", False), (401, "unauthorized", False), (500, "internal", False),
    ],
)  # fmt: skip
def test_only_later_answers_are_retried(status: int, code: str | None, retryable: bool) -> None:
    assert is_retryable_answer(status, code) is retryable


def test_retry_after_is_seconds_or_a_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (parse_retry_after(later) or 0) <= 31


def test_the_policy_honours_retry_after_and_stops() -> None:
    policy = RetryPolicy(
        max_attempts=3, backoff_initial_s=0.1, backoff_max_s=1.0, retry_after_max_s=10
    )
    assert policy.delay_s(1, "2") == 2.0
    assert policy.delay_s(1, "11") is None  # longer than we are willing to wait
    assert 0.05 <= (policy.delay_s(1, None) or 0) <= 0.1
    assert 0.1 <= (policy.delay_s(2, None) or 0) <= 0.2
    assert policy.delay_s(3, None) is None


@pytest.mark.parametrize(
    ("call", "keyed"),
    [
        (ops.create(CreateRun("k")), True),
        (ops.create(CreateRun("k", id="x")), False),
        (ops.create(CreateRun("k", parent_id="p", key="c")), False),
        (ops.create_batch([CreateRun("k", id="x")]), True),
        (ops.claim(owner="w", lease_ttl_ms=1_000), True),
        (ops.append_event("r", "log", None), True),
        (ops.start("r", owner="w", lease_ttl_ms=1_000), False),
        (ops.heartbeat("r", lease_epoch=1), False),
        (ops.finish("r", lease_epoch=1, outcome="succeeded"), False),
        (ops.cancel("r"), False),
        (ops.get("r"), False),
    ],
)
def test_only_calls_a_repeat_could_run_twice_get_a_generated_key(
    call: Call[object], keyed: bool
) -> None:
    first, second = idempotency_key_for(call), idempotency_key_for(call)
    assert (first is not None) == keyed
    if keyed:
        assert first != second  # one per logical call, made when it is sent


def test_a_key_the_caller_gives_is_always_sent() -> None:
    call = ops.finish("r", lease_epoch=1, outcome="succeeded", idempotency_key="mine")
    assert idempotency_key_for(call) == "mine"
