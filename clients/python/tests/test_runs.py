"""Every run operation of SPEC §4 through the sync client, against the real
server: create (idempotent, child, generated id, with start, concurrency
groups), get, list with filters and pages, start, heartbeat, finish, cancel,
events, If-Match."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from runledger import (
    Client,
    Concurrency,
    ConcurrencyLimitError,
    LeaseRequest,
    NotFoundError,
    RunConflictError,
    VersionConflictError,
)

from conftest import Ids


def test_create_is_idempotent_and_a_repeat_is_200(client: Client, ids: Ids) -> None:
    first = client.create("etl", id=ids("a"), attributes={"day": "2025-01-02"})
    again = client.create("etl", id=ids("a"), attributes={"day": "2025-01-02"})
    assert first.created and not again.created
    assert first.run == again.run
    run = first.run
    assert (run.id, run.kind, run.state, run.version, run.last_seq) == (
        ids("a"),
        "etl",
        "queued",
        1,
        1,
    )
    assert run.attributes == {"day": "2025-01-02"}
    assert run.children == {"total": 0}
    assert run.created_at.tzinfo is not None and run.lease is None


def test_create_without_id_gets_a_generated_id_and_a_key_replays_it(client: Client) -> None:
    key = "py-test-generated-id-" + datetime.now(timezone.utc).isoformat()
    first = client.create("etl", idempotency_key=key)
    again = client.create("etl", idempotency_key=key)
    assert first.run.id and first.run.id == again.run.id


def test_child_ids_are_parent_colon_key_and_the_parent_counts_them(
    client: Client, ids: Ids
) -> None:
    client.create("job", id=ids("p"))
    child = client.create("step", parent_id=ids("p"), key="acme").run
    assert (child.id, child.parent_id, child.key) == (f"{ids('p')}:acme", ids("p"), "acme")
    assert client.get(ids("p")).children == {"total": 1, "queued": 1}


def test_create_with_start_is_running_with_epoch_1(client: Client, ids: Ids) -> None:
    run = client.create("etl", id=ids("s"), start=LeaseRequest("w1", 60_000)).run
    assert run.state == "running" and run.version == 1
    assert run.lease is not None and (run.lease.owner, run.lease.epoch) == ("w1", 1)
    assert [event.type for event in client.list_events(run.id)] == ["created", "started"]


def test_get_answers_the_run_or_not_found(client: Client, ids: Ids) -> None:
    client.create("etl", id=ids("g"))
    assert client.get(ids("g")).id == ids("g")
    with pytest.raises(NotFoundError) as missing:
        client.get(ids("missing"))
    assert missing.value.status == 404


def test_lifecycle_start_heartbeat_append_finish(client: Client, ids: Ids) -> None:
    client.create("etl", id=ids("l"))
    started = client.start(ids("l"), owner="w1", lease_ttl_ms=5_000)
    assert started.state == "running" and started.lease is not None
    epoch = started.lease.epoch
    beaten = client.heartbeat(ids("l"), lease_epoch=epoch, lease_ttl_ms=60_000)
    assert beaten.lease is not None and beaten.lease.expires_at > started.lease.expires_at
    appended = client.append_event(ids("l"), "progress", {"done": 1}, lease_epoch=epoch)
    assert appended.seq == 3 and appended.position >= 3
    finished = client.finish(ids("l"), lease_epoch=epoch, outcome="succeeded", result={"rows": 7})
    assert (finished.state, finished.result, finished.lease) == ("succeeded", {"rows": 7}, None)
    assert finished.finished_at is not None
    # finish is idempotent: the same finish again answers the run.
    repeat = client.finish(ids("l"), lease_epoch=epoch, outcome="succeeded", result={"rows": 7})
    assert repeat == finished
    events = client.list_events(ids("l"))
    assert [(e.seq, e.type) for e in events] == [
        (1, "created"),
        (2, "started"),
        (3, "progress"),
        (4, "succeeded"),
    ]
    assert events[2].data == {"done": 1} and events[2].run_id == ids("l")
    assert [e.seq for e in client.list_events(ids("l"), after=1, limit=2)] == [2, 3]


def test_finish_failed_carries_the_error(client: Client, ids: Ids) -> None:
    client.create("etl", id=ids("f"))
    epoch = _epoch(client.start(ids("f"), owner="w", lease_ttl_ms=5_000).lease)
    failed = client.finish(ids("f"), lease_epoch=epoch, outcome="failed", error="disk full")
    assert (failed.state, failed.error) == ("failed", "disk full")


def test_cancel_sets_the_reason_and_a_repeat_returns_the_run(client: Client, ids: Ids) -> None:
    client.create("etl", id=ids("c"))
    cancelled = client.cancel(ids("c"), reason="not needed")
    assert (cancelled.state, cancelled.error) == ("cancelled", "not needed")
    assert client.cancel(ids("c"), reason="other") == cancelled


def test_cancel_cascade_cancels_every_open_descendant(client: Client, ids: Ids) -> None:
    client.create("job", id=ids("p"))
    child = client.create("step", parent_id=ids("p"), key="c").run
    grandchild = client.create("step", parent_id=child.id, key="g").run
    plain = client.create("step", parent_id=ids("p"), key="plain").run
    client.cancel(plain.id)
    cancelled = client.cancel(ids("p"), reason="stop", cascade=True)
    assert (cancelled.state, cancelled.error) == ("cancelled", "stop")
    for run in (child, grandchild):
        now = client.get(run.id)
        assert (now.state, now.error) == ("cancelled", f"parent {ids('p')} cancelled: stop")
    # An already-cancelled descendant keeps its own reason.
    assert client.get(plain.id).error is None
    # A repeat returns the run unchanged.
    assert client.cancel(ids("p"), reason="again", cascade=True) == cancelled


def test_cancel_without_cascade_leaves_the_children(client: Client, ids: Ids) -> None:
    client.create("job", id=ids("p"))
    child = client.create("step", parent_id=ids("p"), key="c").run
    client.cancel(ids("p"))
    assert client.get(child.id).state == "queued"


def test_if_match_guards_every_change(client: Client, ids: Ids) -> None:
    run = client.create("etl", id=ids("v")).run
    with pytest.raises(VersionConflictError) as conflict:
        client.start(ids("v"), owner="w", lease_ttl_ms=5_000, if_match=run.version + 1)
    assert conflict.value.status == 412
    assert (conflict.value.current_version, conflict.value.expected_version) == (1, 2)
    started = client.start(ids("v"), owner="w", lease_ttl_ms=5_000, if_match=run.version)
    assert started.version == 2
    with pytest.raises(VersionConflictError):
        client.append_event(ids("v"), "log", "x", lease_epoch=_epoch(started.lease), if_match=1)
    with pytest.raises(VersionConflictError):
        client.cancel(ids("v"), if_match=1)
    assert client.get(ids("v")).version == 2  # nothing changed


def test_concurrency_groups_reject_enqueue_and_cancel_active(client: Client, ids: Ids) -> None:
    group = ids("group")
    client.create("etl", id=ids("r1"), concurrency=Concurrency(group))
    with pytest.raises(ConcurrencyLimitError) as full:
        client.create("etl", id=ids("r2"), concurrency=Concurrency(group))
    assert full.value.active_run_ids == [ids("r1")]
    assert (full.value.concurrency_key, full.value.limit) == (group, 1)
    pending = client.create(
        "etl", id=ids("r3"), concurrency=Concurrency(group, on_full="enqueue")
    ).run
    assert pending.state == "pending" and pending.concurrency_key == group
    # Ending the active run promotes the pending one (FIFO).
    client.cancel(ids("r1"))
    assert client.get(ids("r3")).state == "queued"
    newest = client.create(
        "etl", id=ids("r4"), concurrency=Concurrency(group, limit=1, on_full="cancel_active")
    ).run
    assert newest.state == "queued"
    assert client.get(ids("r3")).state == "cancelled"


def test_list_filters_and_pages(client: Client, ids: Ids) -> None:
    kind = ids("kind")
    for n in range(5):
        client.create(kind, id=ids(f"k{n}"))
    client.cancel(ids("k0"))
    page = client.list_runs(kind=kind, limit=2)
    assert [run.id for run in page.runs] == [ids("k0"), ids("k1")]
    assert page.next_cursor is not None
    second = client.list_runs(kind=kind, limit=2, cursor=page.next_cursor)
    assert [run.id for run in second.runs] == [ids("k2"), ids("k3")]
    assert [run.id for run in client.iter_runs(kind=kind, page_size=2)] == [
        ids(f"k{n}") for n in range(5)
    ]
    assert [run.id for run in client.list_runs(kind=kind, state="cancelled").runs] == [ids("k0")]
    client.create("step", parent_id=ids("k1"), key="x")
    assert [run.key for run in client.list_runs(parent_id=ids("k1")).runs] == ["x"]


def test_a_conflicting_create_names_the_fields(client: Client, ids: Ids) -> None:
    client.create("etl", id=ids("x"), attributes={"a": 1})
    with pytest.raises(RunConflictError) as conflict:
        client.create("etl", id=ids("x"), attributes={"a": 2})
    assert conflict.value.fields == ["attributes"] and conflict.value.status == 409


def test_health(client: Client) -> None:
    assert client.health() is True


def _epoch(lease: object) -> int:
    epoch = getattr(lease, "epoch", None)
    assert isinstance(epoch, int)
    return epoch
