"""End-to-end runs/s through claim → finish, from Python worker processes:
the same loop through the runledger client, written with raw
``http.client`` (the library the blocking client's calls use: the
difference is the client's overhead, BENCHMARKS.md P13) and with raw httpx.
The raw loops send an ``Idempotency-Key`` with each claim as the client does
(a claim retried without one could take a second run), so the three loops
ask the server for the same work.

    python clients/python/bench/claim_loop.py --bin target/release/runledger \\
        [--db postgres://postgres@127.0.0.1/bench_claims] [--runs 20000] [--procs 8]

Starts ``runledger serve`` on a fresh store for each mode, queues ``--runs``
runs (batch creates of 1,000), then ``--procs`` processes each loop: claim
(lease 60 s) → finish ``succeeded``, until a claim answers none. Prints one
JSON line per mode: runs finished, seconds, runs/s; and the ratio.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import httpx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from runledger import Client, CreateRun  # noqa: E402

BATCH = 1_000
LEASE_MS = 60_000


def serve(binary: str, db: str) -> tuple[subprocess.Popen[str], str]:
    """``runledger serve`` on ``db``, and its base URL."""
    process = subprocess.Popen(
        [binary, "serve", "--db", db, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    if not first.startswith("listening on "):
        raise RuntimeError(f"runledger serve said {first!r}")
    return process, first.removeprefix("listening on ")


def fresh_db(template: str | None, scratch: str, mode: str) -> str:
    """A fresh store for one mode: a new SQLite file, or a recreated database."""
    if template is None:
        return "sqlite://" + os.path.join(scratch, f"{mode}.db")
    name = f"{template.rsplit('/', 1)[1]}_{mode.replace('-', '_').replace('.', '_')}"
    admin = template.rsplit("/", 1)[0] + "/postgres"
    for sql in (f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}"):
        subprocess.run(["psql", admin, "-q", "-c", sql], check=True, capture_output=True)
    return template.rsplit("/", 1)[0] + "/" + name


def queue(base: str, runs: int) -> None:
    with Client(base) as client:
        for start in range(0, runs, BATCH):
            items = [CreateRun("job") for _ in range(start, min(runs, start + BATCH))]
            client.create_batch(items)


def with_client(base: str, me: int, out: Any) -> None:
    done = 0
    with Client(base) as client:
        out.put(("start", time.time()))
        while (run := client.claim(owner=f"w{me}", lease_ttl_ms=LEASE_MS)) is not None:
            assert run.lease is not None
            client.finish(run.id, lease_epoch=run.lease.epoch, outcome="succeeded")
            done += 1
    out.put(("end", time.time(), done))


def with_httpx(base: str, me: int, out: Any) -> None:
    done = 0
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=base, headers=headers) as http:
        out.put(("start", time.time()))
        while True:
            claimed = http.post(
                "/v1/runs/claim",
                json={"owner": f"w{me}", "lease_ttl_ms": LEASE_MS},
                headers={"idempotency-key": str(uuid.uuid4())},
            )
            if claimed.status_code == 204:
                break
            claimed.raise_for_status()
            run = claimed.json()
            finished = http.post(
                f"/v1/runs/{run['id']}/finish",
                json={"lease_epoch": run["lease"]["epoch"], "outcome": "succeeded"},
            )
            finished.raise_for_status()
            done += 1
    out.put(("end", time.time(), done))


def with_http_client(base: str, me: int, out: Any) -> None:
    """The same loop on the standard library's ``http.client``, which the
    blocking client's request/answer calls use (one keep-alive connection)."""
    done = 0
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port))
    headers = {"content-type": "application/json"}

    def post(path: str, body: dict[str, Any], key: str | None = None) -> tuple[int, Any]:
        sent = headers if key is None else {**headers, "idempotency-key": key}
        connection.request("POST", path, body=json.dumps(body), headers=sent)
        answer = connection.getresponse()
        content = answer.read()
        return answer.status, json.loads(content) if content else None

    out.put(("start", time.time()))
    while True:
        status, run = post(
            "/v1/runs/claim", {"owner": f"w{me}", "lease_ttl_ms": LEASE_MS}, str(uuid.uuid4())
        )
        if status == 204:
            break
        assert status == 200, run
        status, finished = post(
            f"/v1/runs/{run['id']}/finish",
            {"lease_epoch": run["lease"]["epoch"], "outcome": "succeeded"},
        )
        assert status == 200, finished
        done += 1
    connection.close()
    out.put(("end", time.time(), done))


MODES = {"client": with_client, "http.client": with_http_client, "httpx": with_httpx}


def measure(mode: str, args: argparse.Namespace, scratch: str) -> dict[str, Any]:
    process, base = serve(args.bin, fresh_db(args.db, scratch, mode))
    try:
        queue(base, args.runs)
        out: Any = multiprocessing.Queue()
        workers = [
            multiprocessing.Process(target=MODES[mode], args=(base, me, out))
            for me in range(args.procs)
        ]
        for worker in workers:
            worker.start()
        messages = [out.get() for _ in range(2 * args.procs)]
        for worker in workers:
            worker.join()
        starts = [m[1] for m in messages if m[0] == "start"]
        ends = [m[1] for m in messages if m[0] == "end"]
        done = sum(m[2] for m in messages if m[0] == "end")
        seconds = max(ends) - min(starts)
        assert done == args.runs, f"{mode}: {done} of {args.runs} runs finished"
        return {"mode": mode, "runs": done, "seconds": round(seconds, 2),
                "runs_per_s": round(done / seconds)}
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="the runledger binary (a release build)")
    parser.add_argument("--db", help="a PostgreSQL URL to derive fresh databases from; SQLite when absent")
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--procs", type=int, default=8)
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="claim-loop-")
    try:
        results: dict[str, list[int]] = {mode: [] for mode in MODES}
        for _ in range(args.reps):
            for mode in MODES:
                result = measure(mode, args, scratch)
                results[mode].append(result["runs_per_s"])
                print(json.dumps(result), flush=True)
        best = {mode: sorted(rates)[len(rates) // 2] for mode, rates in results.items()}
        # The client's overhead over the raw library its calls use.
        print(json.dumps({"median_runs_per_s": best,
                          "client_overhead": round(1 - best["client"] / best["http.client"], 3),
                          "vs_raw_httpx": round(best["client"] / best["httpx"], 3)}))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
