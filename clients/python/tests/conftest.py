"""Fixtures: every test runs on both backends (SQLite and PostgreSQL)
against the real ``runledger`` binary on PATH. One server per backend is
shared by the tests that only need a clean id space (each test makes its
own ids with ``ids``); tests that change the server (tokens, restarts,
flags) start their own with ``start_server``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runledger import Client

from servers import Databases, Server

Ids = Callable[[str], str]
StartServer = Callable[..., Server]


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def databases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Databases]:
    """Fresh databases of the session's backend."""
    handed = Databases(str(request.param), tmp_path_factory.mktemp(str(request.param)))
    yield handed
    handed.drop_all()


@pytest.fixture(scope="session")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where server logs go."""
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def server(databases: Databases, logs: Path) -> Iterator[Server]:
    """The shared server of this backend."""
    started = Server(databases.fresh(), logs).start()
    yield started
    started.stop()


@pytest.fixture
def start_server(databases: Databases, logs: Path) -> Iterator[StartServer]:
    """Starts servers of this backend (each on a fresh database unless
    ``db_url`` is given); stops them after the test."""
    started: list[Server] = []

    def start(*extra_args: str, db_url: str | None = None) -> Server:
        new = Server(db_url or databases.fresh(), logs, *extra_args).start()
        started.append(new)
        return new

    yield start
    for each in started:
        each.stop()


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    """A client of the shared server."""
    with Client(server.url) as made:
        yield made


@pytest.fixture
def ids() -> Ids:
    """Run ids unique to this test: ``ids("a")`` is the same id within a test."""
    prefix = uuid.uuid4().hex[:10]
    return lambda name: f"t{prefix}-{name}"
