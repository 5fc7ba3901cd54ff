"""``follow`` and ``follow_tenant`` deliver every event exactly once, in
order, across dropped connections and server restarts (graceful and
kill -9), and a run's stream ends after its terminal event (SPEC §2.7)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from runledger import Client, Event, EventStream, NotFoundError

from conftest import Ids, StartServer

DEADLINE_S = 30.0


def eventually(condition: Callable[[], bool], what: str) -> None:
    """Polls ``condition`` until true, failing after a deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Follower(threading.Thread):
    """Collects a stream's events in a thread."""

    def __init__(self, stream: EventStream, stop_after: int | None = None) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.stop_after = stop_after
        self.events: list[Event] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for event in self.stream:
                self.events.append(event)
                if self.stop_after is not None and len(self.events) >= self.stop_after:
                    self.stream.close()
                    return
        except BaseException as error:  # surfaced by the test
            self.error = error


def test_follow_delivers_everything_and_ends_after_the_terminal_event(
    client: Client, ids: Ids
) -> None:
    client.create("a", id=ids("r"))
    follower = Follower(client.follow(ids("r")))
    follower.start()
    epoch = _start(client, ids("r"))
    for n in range(3):
        client.append_event(ids("r"), "progress", {"n": n}, lease_epoch=epoch)
    client.finish(ids("r"), lease_epoch=epoch, outcome="succeeded")
    follower.join(DEADLINE_S)
    assert not follower.is_alive() and follower.error is None
    assert [e.type for e in follower.events] == [
        "created",
        "started",
        "progress",
        "progress",
        "progress",
        "succeeded",
    ]
    assert [e.seq for e in follower.events] == [1, 2, 3, 4, 5, 6]
    assert follower.events[3].data == {"n": 1}


def test_follow_after_resumes_and_an_ended_run_ends_at_once(client: Client, ids: Ids) -> None:
    client.create("a", id=ids("r"))
    client.cancel(ids("r"))
    assert [e.seq for e in client.follow(ids("r"), after=1)] == [2]
    assert list(client.follow(ids("r"), after=2)) == []


def test_follow_of_an_unknown_run_raises(client: Client, ids: Ids) -> None:
    with pytest.raises(NotFoundError):
        next(iter(client.follow(ids("ghost"))))


def test_follow_tenant_reads_positions_in_order(client: Client, ids: Ids) -> None:
    before = client.create("a", id=ids("first")).run
    after = client.list_events(before.id)[0].position
    for name in ("x", "y"):
        client.create("a", id=ids(name))
    with client.follow_tenant(after=after) as stream:
        seen = []
        for event in stream:
            seen.append(event)
            if event.run_id == ids("y"):
                break
    positions = [e.position for e in seen]
    assert positions == list(range(after + 1, after + 1 + len(positions)))
    assert [e.run_id for e in seen if e.run_id.startswith(ids(""))] == [ids("x"), ids("y")]


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "kill9"])
def test_follow_across_a_server_restart_loses_and_repeats_nothing(
    start_server: StartServer, ids: Ids, kill: bool
) -> None:
    server = start_server()
    with Client(server.url) as client:
        client.create("a", id=ids("r"))
        epoch = _start(client, ids("r"))
        follower = Follower(client.follow(ids("r")))
        tenant = Follower(client.follow_tenant(), stop_after=2 + 4 + 4 + 1)
        follower.start()
        tenant.start()
        for n in range(4):
            client.append_event(ids("r"), "before", n, lease_epoch=epoch)
        eventually(
            lambda: len(follower.events) == 6 and len(tenant.events) == 6, "the first six events"
        )
        server.restart(kill=kill)
        for n in range(4):
            client.append_event(ids("r"), "after", n, lease_epoch=epoch)
        client.finish(ids("r"), lease_epoch=epoch, outcome="succeeded")
        follower.join(DEADLINE_S)
        tenant.join(DEADLINE_S)
    for each in (follower, tenant):
        assert not each.is_alive() and each.error is None
        assert [e.seq for e in each.events] == list(range(1, 12))
        assert [e.position for e in each.events] == list(range(1, 12))
    assert [e.type for e in follower.events][-1] == "succeeded"


def _start(client: Client, run_id: str) -> int:
    lease = client.start(run_id, owner="follower-test", lease_ttl_ms=60_000).lease
    assert lease is not None
    return lease.epoch


def test_a_follow_past_the_stream_cap_raises_once_its_retries_give_up(
    start_server: StartServer, ids: Ids
) -> None:
    from runledger import RetryPolicy, TooManyStreamsError

    server = start_server("--max-streams-per-token", "1")
    quick = RetryPolicy(max_attempts=3, backoff_initial_s=0.05, backoff_max_s=0.1)
    with Client(server.url, retry=quick) as client:
        client.create("capped", id=ids("held"))
        held = client.follow_tenant()
        assert next(iter(held)).type == "created"  # holds the one slot
        started = time.monotonic()
        with pytest.raises(TooManyStreamsError):
            next(iter(client.follow(ids("held"))))
        assert time.monotonic() - started < 10.0
        held.close()
    # Once the server has seen the held stream go, the same follow goes through.
    patient = RetryPolicy(max_attempts=100, backoff_initial_s=0.05, backoff_max_s=0.2)
    with Client(server.url, retry=patient) as client:
        assert next(iter(client.follow(ids("held")))).type == "created"
