"""Real ``runledger serve`` processes for the tests: the binary on PATH (the
one the wheel installed), a free port on 127.0.0.1, a fresh database per
server — a SQLite file under a temp dir, or a new PostgreSQL database in
the local server (``RUNLEDGER_TEST_PG``, default
``postgres://postgres@127.0.0.1:5432/test``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

#: The PostgreSQL server the tests create their databases in.
PG_ADMIN_URL = os.environ.get("RUNLEDGER_TEST_PG", "postgres://postgres@127.0.0.1:5432/test")
#: Seconds a server may take to answer /healthz after its start.
START_TIMEOUT_S = 30.0


def runledger_binary() -> str:
    """The ``runledger`` on PATH; the tests fail (never skip) without it."""
    found = shutil.which("runledger")
    if found is None:
        raise RuntimeError(
            "no `runledger` on PATH: install the wheel (bash clients/python/ci.sh) "
            "or put a built binary's folder on PATH"
        )
    return found


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Databases:
    """Hands out fresh, empty databases of one backend and drops the
    PostgreSQL ones at the end."""

    def __init__(self, backend: str, directory: Path) -> None:
        self.backend = backend
        self.directory = directory
        self._created: list[str] = []

    def fresh(self) -> str:
        """The URL of a new, empty database."""
        name = f"rlpy_{uuid.uuid4().hex[:12]}"
        if self.backend == "sqlite":
            return f"sqlite://{self.directory / (name + '.db')}"
        _psql(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        parts = urlsplit(PG_ADMIN_URL)
        return urlunsplit(parts._replace(path=f"/{name}"))

    def drop_all(self) -> None:
        """Drops every PostgreSQL database handed out."""
        for name in self._created:
            _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.clear()


def _psql(statement: str) -> None:
    psql = shutil.which("psql")
    if psql is None:
        raise RuntimeError("psql is not installed (apt-get install postgresql-client)")
    subprocess.run(
        [psql, PG_ADMIN_URL, "-v", "ON_ERROR_STOP=1", "-qAtc", statement],
        check=True,
        capture_output=True,
    )


def add_tenant(db_url: str, name: str) -> str:
    """Creates tenant ``name`` with ``runledger tenant add`` and returns its token."""
    done = subprocess.run(
        [runledger_binary(), "tenant", "add", name, "--db", db_url, "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return str(json.loads(done.stdout)["token"])


class Server:
    """One ``runledger serve`` process on a fixed port, restartable on it."""

    def __init__(self, db_url: str, log_dir: Path, *extra_args: str) -> None:
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_args = list(extra_args)
        self.log_path = log_dir / f"server-{self.port}.log"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Server:
        """Starts the process and waits until /healthz answers."""
        assert self.process is None, "already running"
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [
                runledger_binary(),
                "serve",
                "--db",
                self.db_url,
                "--listen",
                f"127.0.0.1:{self.port}",
                *self.extra_args,
            ],
            stdout=log,
            stderr=log,
            text=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"runledger serve exited: {self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"runledger serve did not answer: {self.log_path.read_text()}")

    def stop(self, *, kill: bool = False) -> None:
        """SIGTERM (graceful) or SIGKILL, and waits for the exit."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self, *, kill: bool = False) -> None:
        """Stops and starts again on the same port and database."""
        self.stop(kill=kill)
        self.start()
