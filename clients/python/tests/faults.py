"""A TCP proxy in front of a real server that can swallow answers: the
request reaches the server and is committed, but the client's connection
is cut before the answer arrives — the fault an ``Idempotency-Key`` exists
for. Not a mock: every byte that is forwarded comes from the real server."""

from __future__ import annotations

import socket
import threading

from servers import free_port


class DroppingProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream_port``; while
    ``drop_answers`` > 0, each answer's first bytes close the connection
    instead of being forwarded (and decrement it)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.drop_answers = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        """Stops accepting."""
        self._closed = True
        self._listener.close()

    def _take_drop(self) -> bool:
        with self._lock:
            if self.drop_answers > 0:
                self.drop_answers -= 1
                self.dropped += 1
                return True
            return False

    def _accept(self) -> None:
        while not self._closed:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=_pipe, args=(downstream, upstream), daemon=True).start()
            threading.Thread(target=self._answers, args=(upstream, downstream), daemon=True).start()

    def _answers(self, upstream: socket.socket, downstream: socket.socket) -> None:
        try:
            while chunk := upstream.recv(65536):
                if self._take_drop():
                    break
                downstream.sendall(chunk)
        except OSError:
            pass
        finally:
            _close(upstream, downstream)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        _close(source, sink)


def _close(*sockets: socket.socket) -> None:
    for each in sockets:
        try:
            each.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        each.close()
