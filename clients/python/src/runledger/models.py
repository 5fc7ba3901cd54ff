"""Typed results and request parts: frozen stdlib dataclasses, one per JSON
object of the API (SPEC §1, §4), so the only dependency stays ``httpx``.

Results are built with ``from_json`` from the server's answer; times become
timezone-aware :class:`datetime.datetime` values. Request parts
(:class:`Concurrency`, :class:`LeaseRequest`, :class:`CreateRun`) serialize
with ``to_json``, leaving out what was not given so the server applies its
defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .errors import ProblemError

#: A run's state (SPEC §1).
RunState = Literal["pending", "queued", "running", "succeeded", "failed", "cancelled", "timed_out"]
#: How a finished run ended.
Outcome = Literal["succeeded", "failed"]
#: What a create does when its concurrency group is full (SPEC §3).
OnFull = Literal["reject", "enqueue", "cancel_active", "replace_pending"]
#: The order of ``list_runs``: ``asc`` oldest first (the default), ``desc`` newest first.
Order = Literal["asc", "desc"]

#: States a run never leaves.
TERMINAL_STATES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "timed_out"})
#: Lifecycle event types that end a run's event log.
TERMINAL_EVENT_TYPES: frozenset[str] = TERMINAL_STATES


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp of the API (``2025-01-02T03:04:05.678Z``) as an aware datetime."""
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


def _optional_time(value: object) -> datetime | None:
    return parse_time(value) if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Lease:
    """The lease a running run's worker holds."""

    owner: str
    epoch: int
    expires_at: datetime

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Lease:
        """Reads the API's ``lease`` object."""
        return cls(
            owner=body["owner"], epoch=body["epoch"], expires_at=parse_time(body["expires_at"])
        )


@dataclass(frozen=True, slots=True)
class Run:
    """A run record (SPEC §1). ``children`` counts direct children per state
    plus ``total``; ``version`` is what ``if_match`` compares against."""

    id: str
    tenant: str
    kind: str
    state: RunState
    attributes: dict[str, Any]
    version: int
    last_seq: int
    children: dict[str, int]
    created_at: datetime
    updated_at: datetime
    parent_id: str | None = None
    key: str | None = None
    concurrency_key: str | None = None
    concurrency_limit: int | None = None
    result: Any = None
    error: str | None = None
    lease: Lease | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the run has ended (succeeded, failed, cancelled, timed out)."""
        return self.state in TERMINAL_STATES

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Run:
        """Reads the API's run object."""
        lease = body.get("lease")
        return cls(
            id=body["id"],
            tenant=body["tenant"],
            kind=body["kind"],
            state=body["state"],
            attributes=dict(body.get("attributes") or {}),
            version=body["version"],
            last_seq=body["last_seq"],
            children=dict(body.get("children") or {"total": 0}),
            created_at=parse_time(body["created_at"]),
            updated_at=parse_time(body["updated_at"]),
            parent_id=body.get("parent_id"),
            key=body.get("key"),
            concurrency_key=body.get("concurrency_key"),
            concurrency_limit=body.get("concurrency_limit"),
            result=body.get("result"),
            error=body.get("error"),
            lease=Lease.from_json(lease) if isinstance(lease, Mapping) else None,
            started_at=_optional_time(body.get("started_at")),
            finished_at=_optional_time(body.get("finished_at")),
        )


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a run's event log: ``seq`` per run, ``position`` per tenant."""

    run_id: str
    seq: int
    position: int
    type: str
    data: Any
    at: datetime

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Event:
        """Reads the API's event object (lists and streams alike)."""
        return cls(
            run_id=body["run_id"],
            seq=body["seq"],
            position=body["position"],
            type=body["type"],
            data=body.get("data"),
            at=parse_time(body["at"]),
        )


@dataclass(frozen=True, slots=True)
class Appended:
    """Where an appended event landed."""

    seq: int
    position: int

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Appended:
        """Reads the answer of ``POST /v1/runs/{id}/events``."""
        return cls(seq=body["seq"], position=body["position"])


@dataclass(frozen=True, slots=True)
class RunPage:
    """One page of ``list_runs``; pass ``next_cursor`` as ``cursor`` for the next."""

    runs: list[Run]
    next_cursor: str | None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> RunPage:
        """Reads the answer of ``GET /v1/runs``."""
        return cls(
            runs=[Run.from_json(run) for run in body["runs"]],
            next_cursor=body.get("next_cursor"),
        )


@dataclass(frozen=True, slots=True)
class Created:
    """A create's answer: the run, and whether this call created it (201)
    or found it already there with the same parameters (200)."""

    run: Run
    created: bool


@dataclass(frozen=True, slots=True)
class Concurrency:
    """The concurrency group of a create (SPEC §3); ``limit`` and
    ``on_full`` default on the server to 1 and ``reject``."""

    key: str
    limit: int | None = None
    on_full: OnFull | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's ``concurrency`` object."""
        body: dict[str, Any] = {"key": self.key}
        if self.limit is not None:
            body["limit"] = self.limit
        if self.on_full is not None:
            body["on_full"] = self.on_full
        return body


@dataclass(frozen=True, slots=True)
class LeaseRequest:
    """A worker taking a run: ``start`` of a create."""

    owner: str
    lease_ttl_ms: int

    def to_json(self) -> dict[str, Any]:
        """The API's lease request object."""
        return {"owner": self.owner, "lease_ttl_ms": self.lease_ttl_ms}


@dataclass(frozen=True, slots=True)
class CreateRun:
    """One create: the body of ``POST /v1/runs`` and an item of a batch."""

    kind: str
    id: str | None = None
    parent_id: str | None = None
    key: str | None = None
    attributes: Mapping[str, Any] | None = None
    concurrency: Concurrency | None = None
    start: LeaseRequest | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's create body, without the members not given."""
        body: dict[str, Any] = {"kind": self.kind}
        if self.id is not None:
            body["id"] = self.id
        if self.parent_id is not None:
            body["parent_id"] = self.parent_id
        if self.key is not None:
            body["key"] = self.key
        if self.attributes is not None:
            body["attributes"] = dict(self.attributes)
        if self.concurrency is not None:
            body["concurrency"] = self.concurrency.to_json()
        if self.start is not None:
            body["start"] = self.start.to_json()
        return body


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One answer of a batch, in request order: ``run`` when created (201) or
    found identical (200), else ``problem`` (the exception it would raise)."""

    status: int
    run: Run | None = None
    problem: ProblemError | None = None

    @property
    def ok(self) -> bool:
        """Whether the item was created or already there."""
        return self.run is not None
