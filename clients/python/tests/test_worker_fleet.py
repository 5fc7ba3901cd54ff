"""Workers as real OS processes against the real server (issue 14, item 5):

- four worker processes drain 500 runs: each run handled once, by one
  process, succeeded with one ``succeeded`` event, and ``runledger doctor``
  finds nothing wrong;
- a worker SIGKILLed mid-run: its lease expires, the reaper times the run
  out, the other workers keep claiming, and the dead worker's late finish
  (heartbeat, append) is refused with ``stale_lease``;
- lease loss reaches the handler within one heartbeat interval (a third of
  the lease): after a cancel; after the worker process was frozen (SIGSTOP)
  past its lease, whether the reaper timed the run out meanwhile or the
  worker's own heartbeat finds the lease expired (SPEC §2.5: decided by the
  clock); and, from the worker's own clock, while the server does not answer;
- eight claiming processes on two servers of one database claim 300 runs,
  each exactly once.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from runledger import Client, Event, RunContext, StaleLeaseError, Worker

from conftest import Ids, StartServer
from processes import ScriptProcess
from servers import Server, runledger_binary

DEADLINE_S = 60.0
#: What a loaded CI machine may add to a bound on a reaction time.
SLACK_S = 0.4


def eventually(condition: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    """Polls ``condition`` until true, failing after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def doctor(db_url: str) -> dict[str, object]:
    """``runledger doctor --db URL --json``; fails unless it exits 0."""
    done = subprocess.run(
        [runledger_binary(), "doctor", "--db", db_url, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    report: dict[str, object] = json.loads(done.stdout)
    assert done.returncode == 0, (done.returncode, report, done.stderr)
    return report


def states(client: Client, kind: str) -> Counter[str]:
    """How many runs of ``kind`` are in each state."""
    return Counter(run.state for run in client.iter_runs(kind=kind, page_size=1_000))


def _lines(path: Path) -> int:
    """How many lines the file has (0 before it exists)."""
    return path.read_text().count("\n") if path.exists() else 0


def create_all(client: Client, kind: str, run_ids: list[str]) -> None:
    """Creates the runs, eight requests at a time."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda run_id: client.create(kind, id=run_id), run_ids))


@pytest.fixture
def processes() -> Iterator[Callable[..., ScriptProcess]]:
    """Starts script processes; kills any still alive after the test."""
    started: list[ScriptProcess] = []

    def start(script: str, *args: str, stdin: bool = False) -> ScriptProcess:
        process = ScriptProcess(script, *args, stdin=stdin)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()


Processes = Callable[..., ScriptProcess]


def stop_gracefully(*workers: ScriptProcess) -> None:
    """SIGTERM, then each must exit 0 after printing ``stopped``."""
    for worker in workers:
        worker.signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait() == 0
        assert worker.texts()[-1] == "stopped"


def test_four_worker_processes_finish_500_runs_each_exactly_once(
    start_server: StartServer, processes: Processes, ids: Ids, tmp_path: Path
) -> None:
    server = start_server()
    log = tmp_path / "handled.log"
    kind = ids("kind")
    workers = [
        processes("fleet_worker.py", server.url, kind, str(log), "4", "10000") for _ in range(4)
    ]
    for worker in workers:
        worker.expect("ready")
    run_ids = [ids(f"r{n:03}") for n in range(500)]
    with Client(server.url) as client:
        create_all(client, kind, run_ids)
        # Watch the handlers' log, not the server: polling 500 runs would
        # only compete with the workers for it.
        eventually(lambda: _lines(log) >= 500, "500 handlers to start")
        eventually(lambda: states(client, kind)["succeeded"] == 500, "500 runs to succeed")
        stop_gracefully(*workers)
        runs = {run.id: run for run in client.iter_runs(kind=kind, page_size=1_000)}
        # The database holds these runs only: the tenant's stream, read up to
        # the sum of their last seqs, is every event of every run.
        events: dict[str, list[Event]] = defaultdict(list)
        total = sum(run.last_seq for run in runs.values())
        with client.follow_tenant() as stream:
            for count, event in enumerate(stream, start=1):
                events[event.run_id].append(event)
                if count == total:
                    break

    handled = [line.split() for line in log.read_text().splitlines()]
    assert Counter(run_id for run_id, _ in handled) == Counter(run_ids)  # once each
    by_pid = Counter(pid for _, pid in handled)
    assert set(by_pid) == {str(worker.pid) for worker in workers}, by_pid  # all took part
    handler_of = dict(handled)
    for run_id in run_ids:
        run = runs[run_id]
        assert (run.state, run.result) == ("succeeded", {"pid": int(handler_of[run_id])})
        assert run.last_seq == 4, run_id
        assert [event.type for event in events[run_id]] == [
            "created",
            "started",
            "handled",
            "succeeded",
        ], run_id
        assert events[run_id][2].data == {"pid": int(handler_of[run_id])}
    assert doctor(server.db_url) == {"ok": True, "problems": []}


def test_a_worker_killed_mid_run_is_timed_out_and_its_late_finish_refused(
    start_server: StartServer, processes: Processes, ids: Ids, tmp_path: Path
) -> None:
    server = start_server("--reap-interval-ms", "200")
    log = tmp_path / "handled.log"
    kind = ids("kind")
    with Client(server.url) as client:
        # The doomed worker (one run at a time) takes the long run first.
        client.create(kind, id=ids("victim"), attributes={"sleep_s": 600})
        doomed = processes("fleet_worker.py", server.url, kind, str(log), "1", "1000")
        doomed.expect(f"claimed {ids('victim')}")
        survivors = [
            processes("fleet_worker.py", server.url, kind, str(log), "4", "1000") for _ in range(2)
        ]
        for survivor in survivors:
            survivor.expect("ready")
        before = [ids(f"before{n}") for n in range(20)]
        create_all(client, kind, before)
        eventually(lambda: states(client, kind)["succeeded"] >= 5, "the survivors to work")
        victim = client.get(ids("victim"))
        assert victim.state == "running" and victim.lease is not None
        epoch, owner = victim.lease.epoch, victim.lease.owner

        doomed.kill()  # SIGKILL, mid-run: no finish, no goodbye
        killed_at = time.monotonic()
        eventually(lambda: client.get(ids("victim")).state == "timed_out", "the reaper")
        # The lease (1 s) was extended at most a third of it before the kill.
        assert time.monotonic() - killed_at <= 1.0 + 0.2 + 2 * SLACK_S
        reaped = client.get(ids("victim"))
        assert (reaped.error or "").startswith(f"lease of {owner} (epoch {epoch}) expired at ")

        after = [ids(f"after{n}") for n in range(20)]
        create_all(client, kind, after)
        eventually(lambda: states(client, kind)["succeeded"] == 40, "the rest to succeed")

        # The dead worker "wakes up": everything it sends is refused.
        with pytest.raises(StaleLeaseError) as late:
            client.finish(ids("victim"), lease_epoch=epoch, outcome="succeeded", result="late")
        assert late.value.status == 409 and late.value.code == "stale_lease"
        with pytest.raises(StaleLeaseError):
            client.heartbeat(ids("victim"), lease_epoch=epoch)
        with pytest.raises(StaleLeaseError):
            client.append_event(ids("victim"), "late", None, lease_epoch=epoch)
        final = client.get(ids("victim"))
        assert (final.state, final.result, final.version) == ("timed_out", None, reaped.version)
        assert [event.type for event in client.list_events(ids("victim"))] == [
            "created",
            "started",
            "handled",
            "timed_out",
        ]
        stop_gracefully(*survivors)
        assert states(client, kind) == {"succeeded": 40, "timed_out": 1}

    handled = Counter(line.split()[0] for line in log.read_text().splitlines())
    assert handled == Counter([ids("victim"), *before, *after])
    assert doomed.texts() == ["ready", f"claimed {ids('victim')}"]
    assert doctor(server.db_url)["ok"] is True


def test_a_cancel_reaches_the_handler_within_a_heartbeat_interval(
    client: Client, ids: Ids
) -> None:
    lease_ttl_ms = 1_500
    started = threading.Event()
    noticed_at: list[float] = []

    def handle(ctx: RunContext) -> None:
        started.set()
        if ctx.lease_lost.wait(DEADLINE_S):
            noticed_at.append(time.monotonic())

    client.create(ids("kind"), id=ids("r"))
    worker = Worker(client, handle, kinds=ids("kind"), lease_ttl_ms=lease_ttl_ms, wait_ms=200)
    worker.start()
    try:
        assert started.wait(DEADLINE_S)
        time.sleep(0.7)  # somewhere in the second heartbeat interval
        cancelled_at = time.monotonic()
        client.cancel(ids("r"), reason="operator")
        eventually(lambda: bool(noticed_at), "the handler to notice")
    finally:
        worker.stop()
        worker.join()
    assert noticed_at[0] - cancelled_at <= lease_ttl_ms / 3 / 1000 + SLACK_S
    assert client.get(ids("r")).state == "cancelled"


@pytest.mark.parametrize("reaper", ["reaped", "clock"])
def test_a_worker_frozen_past_its_lease_learns_it_within_a_heartbeat_interval(
    reaper: str, start_server: StartServer, processes: Processes, ids: Ids, tmp_path: Path
) -> None:
    """``reaped``: the reaper times the run out while the worker is frozen.
    ``clock``: the reaper is too slow to (an hour); the worker's first
    heartbeat after the thaw is past ``expires_at``, which answers
    ``stale_lease`` and times the run out in the same transaction."""
    lease_ttl_ms = 1_500
    server = start_server("--reap-interval-ms", "200" if reaper == "reaped" else "3600000")
    kind = ids("kind")
    with Client(server.url) as client:
        client.create(kind, id=ids("r"), attributes={"wait_lost_s": DEADLINE_S})
        worker = processes(
            "fleet_worker.py", server.url, kind, str(tmp_path / "log"), "1", str(lease_ttl_ms)
        )
        worker.expect(f"claimed {ids('r')}")
        worker.signal(signal.SIGSTOP)
        if reaper == "reaped":
            eventually(lambda: client.get(ids("r")).state == "timed_out", "the reaper")
        else:
            time.sleep(lease_ttl_ms / 1000 + 0.5)
            frozen = client.get(ids("r"))
            assert frozen.state == "running"  # expired, but nobody has looked yet
        thawed_at = time.monotonic()
        worker.signal(signal.SIGCONT)
        noticed_at = worker.expect(f"lost {ids('r')}")
        assert noticed_at - thawed_at <= lease_ttl_ms / 3 / 1000 + SLACK_S
        worker.expect(f"append refused {ids('r')}")
        stop_gracefully(worker)
        run = client.get(ids("r"))
        assert (run.state, run.result) == ("timed_out", None)  # no finish was sent
        assert [event.type for event in client.list_events(ids("r"))][-1] == "timed_out"


def test_a_worker_that_cannot_reach_the_server_gives_up_the_lease_when_it_ends(
    start_server: StartServer, ids: Ids
) -> None:
    """The server is frozen (SIGSTOP): heartbeats get no answer. The
    handler must hear that the lease is gone once it has run out on the
    worker's own clock, not after the HTTP timeouts and retries."""
    lease_ttl_ms = 1_500
    server = start_server("--reap-interval-ms", "200")
    started = threading.Event()
    noticed_at: list[float] = []

    def handle(ctx: RunContext) -> None:
        started.set()
        if ctx.lease_lost.wait(DEADLINE_S):
            noticed_at.append(time.monotonic())

    with Client(server.url) as client:
        client.create(ids("kind"), id=ids("r"))
        worker = Worker(client, handle, kinds=ids("kind"), lease_ttl_ms=lease_ttl_ms, wait_ms=200)
        worker.start()
        try:
            assert started.wait(DEADLINE_S)
            assert server.process is not None
            server.process.send_signal(signal.SIGSTOP)
            frozen_at = time.monotonic()
            try:
                eventually(lambda: bool(noticed_at), "the handler to notice", deadline_s=10.0)
            finally:
                server.process.send_signal(signal.SIGCONT)
        finally:
            worker.stop()
            worker.join()
        # The lease was extended at most a heartbeat interval before the freeze.
        assert noticed_at[0] - frozen_at <= lease_ttl_ms / 1000 + SLACK_S
        eventually(lambda: client.get(ids("r")).state == "timed_out", "the reaper")


def test_eight_processes_on_two_servers_claim_each_run_exactly_once(
    start_server: StartServer, processes: Processes, ids: Ids
) -> None:
    first = start_server()
    second = start_server(db_url=first.db_url)
    kind = ids("kind")
    run_ids = [ids(f"r{n:03}") for n in range(300)]
    with Client(first.url) as client:
        create_all(client, kind, run_ids)
    servers: list[Server] = [first, second]
    racers = [
        processes("claim_process.py", servers[n % 2].url, kind, f"racer-{n}", stdin=True)
        for n in range(8)
    ]
    for racer in racers:
        racer.expect("ready")
    for racer in racers:
        racer.send_line("go")
    for racer in racers:
        assert racer.wait() == 0 and racer.texts()[-1] == "done"
    claimed_by = {
        text.removeprefix("claimed "): f"racer-{n}"
        for n, racer in enumerate(racers)
        for text in racer.texts()
        if text.startswith("claimed ")
    }
    claims = Counter(
        text.removeprefix("claimed ")
        for racer in racers
        for text in racer.texts()
        if text.startswith("claimed ")
    )
    assert claims == Counter(run_ids)  # every run, each exactly once
    assert sum(1 for racer in racers if any(t.startswith("claimed ") for t in racer.texts())) > 1
    with Client(second.url) as client:
        runs = list(client.iter_runs(kind=kind, page_size=1_000))
    assert len(runs) == 300
    for run in runs:
        assert run.state == "running" and run.lease is not None
        assert (run.lease.owner, run.lease.epoch) == (claimed_by[run.id], 1)
