"""Every operation of the API (SPEC §4) as a :class:`Call`: the request to
send and how to read its answer. :class:`~runledger.Client` and
:class:`~runledger.AsyncClient` only send calls, so the two can never
disagree on a path, a body or a parse."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from .errors import problem_error
from .models import (
    Appended,
    BatchItem,
    Created,
    CreateRun,
    Event,
    Order,
    Outcome,
    Run,
    RunPage,
    RunState,
)

T = TypeVar("T")

#: Seconds added to the client's timeout for a claim's long poll.
CLAIM_TIMEOUT_MARGIN_S = 10.0


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request and the reader of its successful answer ``(status, body)``
    (``body`` is the decoded JSON, or ``None`` for an empty answer)."""

    method: str
    path: str
    parse: Callable[[int, Any], T]
    json: Mapping[str, Any] | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    extra_timeout_s: float = 0.0
    idempotency_key: str | None = None
    #: Whether a repeat of this call could do its work twice (a create with
    #: no id, an append, a claim, a batch), so that its attempts carry a
    #: generated ``Idempotency-Key`` when the caller gave none. Every other
    #: POST is safe to send again as it is (a create with an id answers the
    #: same run; start, heartbeat, finish and cancel repeat harmlessly), and
    #: a key would cost the server two more writes per call.
    needs_key: bool = False


def run_path(run_id: str, *rest: str) -> str:
    """``/v1/runs/{id}/...`` with the id percent-encoded, so a malformed id
    reaches the server (and gets ``invalid_run_id``) rather than another route."""
    return "/".join(("/v1/runs", quote(run_id, safe=":"), *rest))


def if_match_header(if_match: int | None) -> dict[str, str]:
    """``If-Match: "<version>"`` (SPEC §4), or nothing."""
    return {} if if_match is None else {"if-match": f'"{if_match}"'}


def _run(_status: int, body: Any) -> Run:
    return Run.from_json(body)


def _created(status: int, body: Any) -> Created:
    return Created(run=Run.from_json(body), created=status == 201)


def create(request: CreateRun, *, idempotency_key: str | None = None) -> Call[Created]:
    """``POST /v1/runs``."""
    return Call(
        "POST",
        "/v1/runs",
        _created,
        json=request.to_json(),
        idempotency_key=idempotency_key,
        needs_key=request.id is None and request.key is None,
    )


def get(run_id: str) -> Call[Run]:
    """``GET /v1/runs/{id}``."""
    return Call("GET", run_path(run_id), _run)


def list_runs(
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
) -> Call[RunPage]:
    """``GET /v1/runs`` with only the filters given."""
    given: dict[str, object] = {
        "state": state,
        "kind": kind,
        "parent_id": parent_id,
        "concurrency_key": concurrency_key,
        "created_after": created_after,
        "created_before": created_before,
        "order": order,
        "limit": limit,
        "cursor": cursor,
    }
    params = {name: _query_value(value) for name, value in given.items() if value is not None}
    return Call("GET", "/v1/runs", lambda _status, body: RunPage.from_json(body), params=params)


def start(
    run_id: str,
    *,
    owner: str,
    lease_ttl_ms: int,
    if_match: int | None = None,
    idempotency_key: str | None = None,
) -> Call[Run]:
    """``POST /v1/runs/{id}/start``."""
    return Call(
        "POST",
        run_path(run_id, "start"),
        _run,
        json={"owner": owner, "lease_ttl_ms": lease_ttl_ms},
        headers=if_match_header(if_match),
        idempotency_key=idempotency_key,
    )


def heartbeat(
    run_id: str,
    *,
    lease_epoch: int,
    lease_ttl_ms: int | None = None,
    if_match: int | None = None,
    idempotency_key: str | None = None,
) -> Call[Run]:
    """``POST /v1/runs/{id}/heartbeat``."""
    body: dict[str, Any] = {"lease_epoch": lease_epoch}
    if lease_ttl_ms is not None:
        body["lease_ttl_ms"] = lease_ttl_ms
    return Call(
        "POST",
        run_path(run_id, "heartbeat"),
        _run,
        json=body,
        headers=if_match_header(if_match),
        idempotency_key=idempotency_key,
    )


def finish(
    run_id: str,
    *,
    lease_epoch: int,
    outcome: Outcome,
    result: Any = None,
    error: str | None = None,
    if_match: int | None = None,
    idempotency_key: str | None = None,
) -> Call[Run]:
    """``POST /v1/runs/{id}/finish``."""
    body: dict[str, Any] = {"lease_epoch": lease_epoch, "outcome": outcome}
    if result is not None:
        body["result"] = result
    if error is not None:
        body["error"] = error
    return Call(
        "POST",
        run_path(run_id, "finish"),
        _run,
        json=body,
        headers=if_match_header(if_match),
        idempotency_key=idempotency_key,
    )


def cancel(
    run_id: str,
    *,
    reason: str | None = None,
    cascade: bool = False,
    if_match: int | None = None,
    idempotency_key: str | None = None,
) -> Call[Run]:
    """``POST /v1/runs/{id}/cancel``; ``cascade`` is sent only when true."""
    body: dict[str, Any] = {}
    if reason is not None:
        body["reason"] = reason
    if cascade:
        body["cascade"] = True
    return Call(
        "POST",
        run_path(run_id, "cancel"),
        _run,
        json=body,
        headers=if_match_header(if_match),
        idempotency_key=idempotency_key,
    )


def claim(
    *,
    owner: str,
    lease_ttl_ms: int,
    kind: str | Sequence[str] | None = None,
    concurrency_key: str | None = None,
    wait_ms: int | None = None,
    idempotency_key: str | None = None,
) -> Call[Run | None]:
    """``POST /v1/runs/claim``: ``200`` the run, ``204`` none within ``wait_ms``."""
    body: dict[str, Any] = {"owner": owner, "lease_ttl_ms": lease_ttl_ms}
    if kind is not None:
        body["kind"] = kind if isinstance(kind, str) else list(kind)
    if concurrency_key is not None:
        body["concurrency_key"] = concurrency_key
    if wait_ms is not None:
        body["wait_ms"] = wait_ms

    def parse(status: int, answer: Any) -> Run | None:
        return None if status == 204 else Run.from_json(answer)

    return Call(
        "POST",
        "/v1/runs/claim",
        parse,
        json=body,
        extra_timeout_s=(wait_ms or 0) / 1000 + CLAIM_TIMEOUT_MARGIN_S,
        idempotency_key=idempotency_key,
        needs_key=True,
    )


def create_batch(
    runs: Sequence[CreateRun], *, atomic: bool = False, idempotency_key: str | None = None
) -> Call[list[BatchItem]]:
    """``POST /v1/runs/batch``: one answer per item, in request order."""
    body: dict[str, Any] = {"runs": [run.to_json() for run in runs]}
    if atomic:
        body["atomic"] = True

    def parse(_status: int, answer: Any) -> list[BatchItem]:
        items = []
        for item in answer["results"]:
            status = int(item["status"])
            if "run" in item and item["run"] is not None:
                items.append(BatchItem(status=status, run=Run.from_json(item["run"])))
            else:
                items.append(
                    BatchItem(status=status, problem=problem_error(status, item.get("problem")))
                )
        return items

    return Call(
        "POST",
        "/v1/runs/batch",
        parse,
        json=body,
        idempotency_key=idempotency_key,
        needs_key=True,
    )


def append_event(
    run_id: str,
    event_type: str,
    data: Any,
    *,
    lease_epoch: int | None = None,
    if_match: int | None = None,
    idempotency_key: str | None = None,
) -> Call[Appended]:
    """``POST /v1/runs/{id}/events``."""
    body: dict[str, Any] = {"type": event_type, "data": data}
    if lease_epoch is not None:
        body["lease_epoch"] = lease_epoch
    return Call(
        "POST",
        run_path(run_id, "events"),
        lambda _status, answer: Appended.from_json(answer),
        json=body,
        headers=if_match_header(if_match),
        idempotency_key=idempotency_key,
        needs_key=True,
    )


def list_events(run_id: str, *, after: int = 0, limit: int | None = None) -> Call[list[Event]]:
    """``GET /v1/runs/{id}/events``: the events after seq ``after``."""
    params = {"after": str(after)}
    if limit is not None:
        params["limit"] = str(limit)
    return Call(
        "GET",
        run_path(run_id, "events"),
        lambda _status, body: [Event.from_json(event) for event in body["events"]],
        params=params,
    )


def health() -> Call[bool]:
    """``GET /healthz``: true when the server and its database answer."""
    return Call("GET", "/healthz", lambda status, _body: status == 200)


def _query_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)
