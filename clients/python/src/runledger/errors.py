"""Exceptions: one class per problem ``code`` of the API (SPEC §4).

Every refusal of the server is an RFC 9457 problem ``{type, title, status,
detail, code, ...}``; :func:`problem_error` turns it into the
:class:`ProblemError` subclass registered for its ``code``, carrying every
field of the body (the structured extras too, e.g. ``active_run_ids`` of
``concurrency_limit`` or ``fields`` of ``run_conflict``). A ``code`` this
client does not know yet still raises :class:`ProblemError`, so callers can
always catch the base class.

Catch by class, not by message text::

    try:
        client.heartbeat(run.id, lease_epoch=epoch)
    except runledger.StaleLeaseError as lost:
        print("lease lost; the run is", lost.state)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class RunledgerError(Exception):
    """Base of every error this package raises."""


class TransportError(RunledgerError):
    """The server could not be reached, or the connection broke, and the
    retries were used up (or the request may not be retried). The
    underlying :mod:`httpx` exception is the ``__cause__``."""


class ProblemError(RunledgerError):
    """The server refused the request with a problem (RFC 9457).

    ``status``, ``title``, ``detail``, ``code`` and ``type`` are the
    problem's members; ``body`` is the whole problem object, extras included.
    """

    code_name: ClassVar[str | None] = None

    def __init__(self, body: Mapping[str, Any], *, status: int) -> None:
        self.body: dict[str, Any] = dict(body)
        self.status: int = _int(self.body.get("status"), status)
        self.code: str = str(self.body.get("code", "unknown"))
        self.title: str = str(self.body.get("title", ""))
        self.detail: str = str(self.body.get("detail", ""))
        self.type: str = str(self.body.get("type", "about:blank"))
        super().__init__(f"{self.status} {self.code}: {self.detail}")

    @property
    def run_id(self) -> str | None:
        """The run concerned, when there is one."""
        value = self.body.get("run_id")
        return value if isinstance(value, str) else None

    @property
    def index(self) -> int | None:
        """A batch's refused item (``POST /v1/runs/batch``), else ``None``."""
        value = self.body.get("index")
        return value if isinstance(value, int) else None


class InvalidRunIdError(ProblemError):
    """422 ``invalid_run_id``: the id breaks the grammar (``detail`` says which rule)."""

    code_name = "invalid_run_id"


class InvalidRequestError(ProblemError):
    """422 ``invalid_request``: a malformed request; ``field`` names the culprit."""

    code_name = "invalid_request"

    @property
    def field(self) -> str | None:
        """The offending field, as named in the JSON API."""
        value = self.body.get("field")
        return value if isinstance(value, str) else None


class NotFoundError(ProblemError):
    """404 ``not_found``: no such run (or route) in this tenant."""

    code_name = "not_found"

    @property
    def parent_id(self) -> str | None:
        """For a child's create: the missing parent."""
        value = self.body.get("parent_id")
        return value if isinstance(value, str) else None


class RunConflictError(ProblemError):
    """409 ``run_conflict``: the id exists with other creation parameters."""

    code_name = "run_conflict"

    @property
    def fields(self) -> list[str]:
        """The creation parameters that differ (``kind``, ``attributes``, …)."""
        return _strings(self.body.get("fields"))


class ConcurrencyLimitError(ProblemError):
    """409 ``concurrency_limit``: the group is full and ``on_full`` is ``reject``."""

    code_name = "concurrency_limit"

    @property
    def active_run_ids(self) -> list[str]:
        """The group's active runs, oldest first."""
        return _strings(self.body.get("active_run_ids"))

    @property
    def concurrency_key(self) -> str | None:
        """The group."""
        value = self.body.get("concurrency_key")
        return value if isinstance(value, str) else None

    @property
    def limit(self) -> int | None:
        """The limit applied."""
        value = self.body.get("limit")
        return value if isinstance(value, int) else None


class InvalidTransitionError(ProblemError):
    """409 ``invalid_transition``: the run's state does not allow the operation."""

    code_name = "invalid_transition"

    @property
    def operation(self) -> str | None:
        """The refused operation (``start``, ``cancel``, …)."""
        value = self.body.get("operation")
        return value if isinstance(value, str) else None

    @property
    def state(self) -> str | None:
        """The run's current state."""
        value = self.body.get("state")
        return value if isinstance(value, str) else None

    @property
    def parent_id(self) -> str | None:
        """The ended parent, when a new child was refused (SPEC §2.9)."""
        value = self.body.get("parent_id")
        return value if isinstance(value, str) else None


class StaleLeaseError(ProblemError):
    """409 ``stale_lease``: the lease epoch is not the run's, or the run stopped running."""

    code_name = "stale_lease"

    @property
    def current_epoch(self) -> int | None:
        """The run's current lease epoch."""
        value = self.body.get("current_epoch")
        return value if isinstance(value, int) else None

    @property
    def state(self) -> str | None:
        """The run's current state."""
        value = self.body.get("state")
        return value if isinstance(value, str) else None


class VersionConflictError(ProblemError):
    """412 ``version_conflict``: ``If-Match`` named another version."""

    code_name = "version_conflict"

    @property
    def current_version(self) -> int | None:
        """The run's current version."""
        value = self.body.get("current_version")
        return value if isinstance(value, int) else None

    @property
    def expected_version(self) -> int | None:
        """The version ``If-Match`` named."""
        value = self.body.get("expected_version")
        return value if isinstance(value, int) else None


class UnsupportedMediaTypeError(ProblemError):
    """415 ``unsupported_media_type``: the body is not JSON."""

    code_name = "unsupported_media_type"


class MethodNotAllowedError(ProblemError):
    """405 ``method_not_allowed``."""

    code_name = "method_not_allowed"


class IdempotencyKeyReusedError(ProblemError):
    """422 ``idempotency_key_reused``: the key was used with another body."""

    code_name = "idempotency_key_reused"


class IdempotencyKeyInFlightError(ProblemError):
    """409 ``idempotency_key_in_flight``: the first request with the key is still running."""

    code_name = "idempotency_key_in_flight"


class UnauthorizedError(ProblemError):
    """401 ``unauthorized``: tokens exist and no valid one was sent."""

    code_name = "unauthorized"


class RateLimitedError(ProblemError):
    """429 ``rate_limited``: the token's rate limit is exhausted."""

    code_name = "rate_limited"

    @property
    def retry_after_s(self) -> int | None:
        """Seconds until a request may succeed."""
        value = self.body.get("retry_after_s")
        return value if isinstance(value, int) else None


class PayloadTooLargeError(ProblemError):
    """413 ``payload_too_large``: the body is over 1 MiB."""

    code_name = "payload_too_large"


class ForbiddenOriginError(ProblemError):
    """403 ``forbidden_origin``: a cross-site request."""

    code_name = "forbidden_origin"


class MisdirectedRequestError(ProblemError):
    """421 ``misdirected_request``: a ``Host`` the server does not answer for."""

    code_name = "misdirected_request"


class TooManyStreamsError(ProblemError):
    """429 ``too_many_streams``: the token's open streams are capped."""

    code_name = "too_many_streams"


class InsufficientStorageError(ProblemError):
    """507 ``insufficient_storage``: a write refused for lack of disk space."""

    code_name = "insufficient_storage"


class UriTooLongError(ProblemError):
    """414 ``uri_too_long``: the path and query are too long."""

    code_name = "uri_too_long"


class HeadersTooLargeError(ProblemError):
    """431 ``headers_too_large``: too many header fields."""

    code_name = "headers_too_large"


class InternalError(ProblemError):
    """500 ``internal``: the server failed; its log has the detail."""

    code_name = "internal"


#: The exception class of every problem ``code``.
ERROR_CLASSES: Mapping[str, type[ProblemError]] = {
    cls.code_name: cls
    for cls in (
        InvalidRunIdError,
        InvalidRequestError,
        NotFoundError,
        RunConflictError,
        ConcurrencyLimitError,
        InvalidTransitionError,
        StaleLeaseError,
        VersionConflictError,
        UnsupportedMediaTypeError,
        MethodNotAllowedError,
        IdempotencyKeyReusedError,
        IdempotencyKeyInFlightError,
        UnauthorizedError,
        RateLimitedError,
        PayloadTooLargeError,
        ForbiddenOriginError,
        MisdirectedRequestError,
        TooManyStreamsError,
        InsufficientStorageError,
        UriTooLongError,
        HeadersTooLargeError,
        InternalError,
    )
    if cls.code_name is not None
}


def problem_error(status: int, body: object) -> ProblemError:
    """The exception for a refused response: its ``code``'s class when the
    body is a problem object, else a plain :class:`ProblemError` whose
    ``detail`` holds the text (e.g. a proxy's HTML error page)."""
    if isinstance(body, Mapping):
        cls = ERROR_CLASSES.get(str(body.get("code")), ProblemError)
        return cls(body, status=status)
    return ProblemError(
        {"status": status, "code": "unknown", "detail": str(body)[:1000]}, status=status
    )


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) else default


def _strings(value: object) -> list[str]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [str(item) for item in value]
    return []
