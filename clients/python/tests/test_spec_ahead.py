"""Parts of SPEC §3–§4 the client sends that this server may not know yet:
``order``, ``created_after``/``created_before``, ``on_full="replace_pending"``.
Each test runs for real; while the server refuses the field as unknown
(422), it is skipped loudly so it starts counting the day the server catches
up. (``cancel(cascade=True)`` is known now: ``test_runs.py``.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import pytest

from runledger import Client, Concurrency, InvalidRequestError

from conftest import Ids

T = TypeVar("T")


def supported(call: Callable[[], T], feature: str) -> T:
    """``call()``, or a loud skip when the server refuses ``feature`` as unknown."""
    try:
        return call()
    except InvalidRequestError as refused:
        if "unknown field" in refused.detail or "unknown variant" in refused.detail:
            pytest.skip(
                f"SKIPPED: THE SERVER DOES NOT KNOW {feature} YET (SPEC §4): {refused.detail}"
            )
        raise


def test_list_newest_first_and_by_creation_time(client: Client, ids: Ids) -> None:
    kind = ids("kind")
    runs = [client.create(kind, id=ids(f"r{n}")).run for n in range(3)]
    newest_first = supported(lambda: client.list_runs(kind=kind, order="desc"), "order=desc")
    assert [run.id for run in newest_first.runs] == [run.id for run in reversed(runs)]
    window = supported(
        lambda: client.list_runs(
            kind=kind,
            created_after=runs[0].created_at - timedelta(milliseconds=1),
            created_before=runs[-1].created_at + timedelta(milliseconds=1),
        ),
        "created_after/created_before",
    )
    assert [run.id for run in window.runs] == [run.id for run in runs]


def test_replace_pending_keeps_one_pending_run(client: Client, ids: Ids) -> None:
    group = Concurrency(ids("g"), on_full="replace_pending")
    supported(
        lambda: client.create("a", id=ids("active"), concurrency=group), "on_full=replace_pending"
    )
    client.create("a", id=ids("p1"), concurrency=group)
    client.create("a", id=ids("p2"), concurrency=group)
    assert client.get(ids("p1")).state == "cancelled"
    assert client.get(ids("p2")).state == "pending"
