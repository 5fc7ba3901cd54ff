"""What the sync and async clients share around one HTTP exchange: the
headers of an attempt and the reading of an answer."""

from __future__ import annotations

import json
import uuid
from typing import Any, Protocol

import httpx

from ._operations import Call
from .errors import ProblemError, problem_error

#: The replay marker the server sets on an answer replayed for an
#: ``Idempotency-Key`` it has seen (SPEC §4).
REPLAYED_HEADER = "idempotent-replayed"


def idempotency_key_for(call: Call[Any]) -> str | None:
    """The key every attempt of ``call`` sends: the caller's, else a new
    UUID (one per logical call) for a call that a repeat could run twice,
    else none."""
    if call.idempotency_key is not None:
        return call.idempotency_key
    return str(uuid.uuid4()) if call.needs_key else None


def attempt_headers(call: Call[Any], idempotency_key: str | None) -> dict[str, str]:
    """The headers of one attempt."""
    headers = dict(call.headers)
    if idempotency_key is not None:
        headers["idempotency-key"] = idempotency_key
    return headers


def attempt_timeout(base: httpx.Timeout, call: Call[Any]) -> httpx.Timeout:
    """The client's timeout, lengthened for a long poll."""
    if not call.extra_timeout_s:
        return base

    def longer(value: float | None) -> float | None:
        return None if value is None else value + call.extra_timeout_s

    return httpx.Timeout(
        connect=base.connect, read=longer(base.read), write=base.write, pool=base.pool
    )


class Answered(Protocol):
    """What is read of an answer: an :class:`httpx.Response`, or the
    blocking client's own (``_wire.Answer``)."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...


def decode_body(response: Answered) -> Any:
    """The answer's JSON, ``None`` when empty, the text when it is not JSON."""
    if not response.content:
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return response.content.decode("utf-8", "replace")


def refusal(response: Answered) -> ProblemError | None:
    """The problem of a 4xx/5xx answer (as its exception), or ``None`` for a success."""
    if response.status_code < 400:
        return None
    return problem_error(response.status_code, decode_body(response))
