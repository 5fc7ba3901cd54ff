"""Server-Sent Events for ``follow``: a line decoder (the WHATWG event
stream format, as far as the API uses it) and the resume cursor that makes
a follow lossless and duplicate-free across reconnects (SPEC §2.7). Pure:
no IO, shared by the sync and async followers."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Literal

from .models import TERMINAL_EVENT_TYPES, Event

#: Longest wait between two reconnects of a follow.
RECONNECT_BACKOFF_MAX_S = 5.0
#: First wait before a reconnect.
RECONNECT_BACKOFF_INITIAL_S = 0.1
#: Seconds without a byte (keep-alives included) after which a stream is
#: presumed dead and reopened; the server sends a keep-alive every 15 s.
STREAM_READ_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class SseMessage:
    """One dispatched message: ``event:``, the joined ``data:`` lines, ``id:``."""

    event: str
    data: str
    id: str | None


class SseDecoder:
    """Feeds lines (without their terminator) and returns each message when
    the blank line that ends it arrives; comments (keep-alives) yield nothing."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None

    def feed(self, line: str) -> SseMessage | None:
        """Takes one line; returns the message it completes, if any."""
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\x00" not in value:
            self._id = value
        return None

    def _dispatch(self) -> SseMessage | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return SseMessage(event=event or "message", data="\n".join(data), id=self._id)


class ResumeCursor:
    """The last seq (run stream) or position (tenant stream) delivered.

    ``accept`` turns a message into the next event, or ``None`` for a
    duplicate (an event at or before the cursor, possible when a reconnect
    overlaps what was already read); the cursor moves only when the event
    is handed out, so a reconnect resumes exactly after it.
    """

    def __init__(self, after: int, by: Literal["seq", "position"]) -> None:
        if after < 0:
            raise ValueError(f"after must be 0 or more, not {after}")
        self.last = after
        self.by = by
        self.failures = 0
        self.finished = False

    def accept(self, message: SseMessage) -> Event | None:
        """The event of ``message`` when it is new, else ``None``."""
        event = Event.from_json(json.loads(message.data))
        value = event.seq if self.by == "seq" else event.position
        if value <= self.last:
            return None
        self.last = value
        self.failures = 0
        if self.by == "seq" and event.type in TERMINAL_EVENT_TYPES:
            self.finished = True
        return event

    def headers(self) -> dict[str, str]:
        """The resume header of the next connection."""
        return {"last-event-id": str(self.last), "accept": "text/event-stream"}

    def next_backoff_s(self) -> float:
        """The jittered wait before the next reconnect; grows while connections fail."""
        self.failures += 1
        ceiling = min(
            RECONNECT_BACKOFF_MAX_S, RECONNECT_BACKOFF_INITIAL_S * 2 ** (self.failures - 1)
        )
        return random.uniform(ceiling / 2, ceiling)
