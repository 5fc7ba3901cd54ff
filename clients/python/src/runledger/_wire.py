"""The blocking client's own HTTP/1.1 exchange for request/answer calls:
keep-alive connections from the standard library's :mod:`http.client`,
pooled per client and safe to share between threads.

Why not httpx here: a create through ``httpx.Client`` costs about 2.5 times
the client CPU of the same exchange through ``http.client`` (URL parsing,
header models, h11's state machine), and a worker's loop is mostly
exchanges. httpx stays where it earns its keep: the live streams, the
async client, and any :class:`httpx.Client` the caller brings (proxies,
event hooks). The :class:`~runledger.Client` also falls back to httpx when
the environment names a proxy for the server, since this path does not
speak to proxies.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

import httpx


class WireError(Exception):
    """The exchange failed before an answer arrived (connection refused,
    reset or timed out): the caller may retry it."""


class Answer:
    """A server's answer: what :func:`runledger._http.refusal` and
    :func:`runledger._http.decode_body` read."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code = status_code
        #: Header names in lower case.
        self.headers = headers
        self.content = content


def direct_route(base_url: str) -> bool:
    """Whether ``base_url`` can be reached by this path: ``http``/``https``
    and no proxy named for it in the environment."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    proxies = urllib.request.getproxies()
    if parts.scheme not in proxies and "all" not in proxies:
        return True
    return bool(urllib.request.proxy_bypass(parts.hostname))


class Wire:
    """Pooled keep-alive connections to one server."""

    def __init__(self, base_url: str, headers: Mapping[str, str]) -> None:
        parts = urllib.parse.urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self._headers = dict(headers)
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def exchange(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any],
        body: Any,
        headers: Mapping[str, str],
        timeout: httpx.Timeout,
    ) -> Answer:
        """Sends one request and reads its whole answer. A pooled
        connection the server closed while idle is replaced at once, once;
        any other failure is a :class:`WireError`."""
        target = self._prefix + path
        if params:
            target += "?" + urllib.parse.urlencode(params)
        sent_headers = {**self._headers, **headers}
        payload: bytes | None = None
        if body is not None:
            payload = json.dumps(body, separators=(",", ":")).encode()
            sent_headers["content-type"] = "application/json"
        elif method == "POST":
            payload = b""
        for fresh in (False, True):
            connection, reused = self._take(fresh, timeout)
            try:
                connection.request(method, target, body=payload, headers=sent_headers)
                response = connection.getresponse()
                content = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
                connection.close()
                if reused:
                    continue  # closed while idle: once more on a new connection
                raise WireError(f"{method} {target}: {error!r}") from error
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                raise WireError(f"{method} {target}: {error!r}") from error
            if response.will_close:
                connection.close()
            else:
                self._give(connection)
            answer_headers = {name.lower(): value for name, value in response.getheaders()}
            return Answer(response.status, answer_headers, content)
        raise AssertionError("the second attempt always returns or raises")

    def close(self) -> None:
        """Closes the idle connections (one in use closes when returned)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _take(
        self, fresh: bool, timeout: httpx.Timeout
    ) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection (newest first) unless ``fresh``, else a new
        one; and whether it was reused. Its read timeout is ``timeout``'s."""
        read = timeout.read
        if not fresh:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is not None and connection.sock is not None:
                connection.sock.settimeout(read)
                return connection, True
        connection = self._connect(timeout.connect)
        if connection.sock is not None:
            connection.sock.settimeout(read)
        return connection, False

    def _connect(self, connect_timeout: float | None) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection
        if self._https:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=connect_timeout, context=self._tls
            )
        else:
            connection = http.client.HTTPConnection(
                self._host, self._port, timeout=connect_timeout
            )
        try:
            connection.connect()
        except OSError as error:
            connection.close()
            raise WireError(f"connecting to {self._host}:{self._port}: {error!r}") from error
        if connection.sock is not None:
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def _give(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            self._idle.append(connection)
