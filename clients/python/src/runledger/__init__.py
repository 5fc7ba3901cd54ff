"""Python client of runledger: run records whose guarantees the database
enforces (one record per run, atomic outbox, concurrency limits, leases and
fencing), served by the ``runledger`` binary this package installs.

Start at :class:`Client` (or :class:`AsyncClient`) and :class:`Worker`;
every refusal of the server is a :class:`ProblemError` subclass named after
its ``code`` (:mod:`runledger.errors`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("runledger")
except PackageNotFoundError:  # imported from a source tree, not installed
    __version__ = "0.0.0"

from ._retry import RetryPolicy
from .async_client import AsyncClient
from .client import Client
from .errors import (
    ConcurrencyLimitError,
    ForbiddenOriginError,
    HeadersTooLargeError,
    IdempotencyKeyInFlightError,
    IdempotencyKeyReusedError,
    InsufficientStorageError,
    InternalError,
    InvalidRequestError,
    InvalidRunIdError,
    InvalidTransitionError,
    MethodNotAllowedError,
    MisdirectedRequestError,
    NotFoundError,
    PayloadTooLargeError,
    ProblemError,
    RateLimitedError,
    RunConflictError,
    RunledgerError,
    StaleLeaseError,
    TooManyStreamsError,
    TransportError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
    UriTooLongError,
    VersionConflictError,
)
from .models import (
    Appended,
    BatchItem,
    Concurrency,
    Created,
    CreateRun,
    Event,
    Lease,
    LeaseRequest,
    OnFull,
    Order,
    Outcome,
    Run,
    RunPage,
    RunState,
)
from .streams import AsyncEventStream, EventStream
from .worker import Handler, RunContext, Worker

__all__ = [
    "Appended",
    "AsyncClient",
    "AsyncEventStream",
    "BatchItem",
    "Client",
    "Concurrency",
    "ConcurrencyLimitError",
    "CreateRun",
    "Created",
    "Event",
    "EventStream",
    "ForbiddenOriginError",
    "Handler",
    "HeadersTooLargeError",
    "IdempotencyKeyInFlightError",
    "IdempotencyKeyReusedError",
    "InsufficientStorageError",
    "InternalError",
    "InvalidRequestError",
    "InvalidRunIdError",
    "InvalidTransitionError",
    "Lease",
    "LeaseRequest",
    "MethodNotAllowedError",
    "MisdirectedRequestError",
    "NotFoundError",
    "OnFull",
    "Order",
    "Outcome",
    "PayloadTooLargeError",
    "ProblemError",
    "RateLimitedError",
    "RetryPolicy",
    "Run",
    "RunContext",
    "RunConflictError",
    "RunPage",
    "RunState",
    "RunledgerError",
    "StaleLeaseError",
    "TooManyStreamsError",
    "TransportError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "UriTooLongError",
    "VersionConflictError",
    "Worker",
    "__version__",
]
