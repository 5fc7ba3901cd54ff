"""When to try a request again, and how long to wait first (pure decisions).

A request is retried when the connection failed or broke, and on answers
that say "later": ``429`` (``rate_limited``, ``too_many_streams``), ``502``,
``503``, ``504`` and ``409 idempotency_key_in_flight``. No other 4xx is ever
retried: the server refused the request itself, and sending it again would
be refused again. POSTs are safe to retry because every attempt of one
logical call carries the same ``Idempotency-Key``: the server runs the call
once and replays its answer to the retries.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

#: Statuses that mean "try again later" whatever the problem ``code``.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a call is retried.

    ``max_attempts`` counts the first attempt; back-off doubles from
    ``backoff_initial_s`` up to ``backoff_max_s``, with full jitter; a
    ``Retry-After`` from the server is honoured as given, up to
    ``retry_after_max_s`` (a longer one ends the retries).
    """

    max_attempts: int = 5
    backoff_initial_s: float = 0.2
    backoff_max_s: float = 5.0
    retry_after_max_s: float = 60.0

    def backoff_s(self, attempt: int) -> float:
        """The wait before attempt ``attempt + 1`` (``attempt`` from 1), jittered."""
        ceiling = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    def delay_s(self, attempt: int, retry_after: str | None) -> float | None:
        """The wait before retrying after attempt ``attempt``, or ``None`` when
        the retries are used up or the server asks for a longer wait than
        ``retry_after_max_s``."""
        if attempt >= self.max_attempts:
            return None
        asked = parse_retry_after(retry_after)
        if asked is None:
            return self.backoff_s(attempt)
        if asked > self.retry_after_max_s:
            return None
        return asked


def is_retryable_answer(status: int, code: str | None) -> bool:
    """Whether an answer with ``status`` (and problem ``code``) may succeed later."""
    if status in RETRYABLE_STATUSES:
        return True
    return status == 409 and code == "idempotency_key_in_flight"


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date); ``None``
    when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
