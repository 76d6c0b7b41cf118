"""The lifecycle shared by the loopback fakes of outside services (Polygon, Alpaca): a threaded HTTP server
on 127.0.0.1 at a free port beside the fake's WebSocket side, started and stopped together.

Written here rather than taken from a library: the fakes must run the real clients (``massive``,
``alpaca-py``) against real sockets inside one test process, with fault switches flipped from the test's
thread; the standard library's ``ThreadingHTTPServer`` does that with nothing to install.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol, Self


class _Side(Protocol):
    def start(self) -> object: ...
    def stop(self) -> None: ...


class LoopbackService:
    """Base of a fake: subclasses give :meth:`_handler` (the REST side) and :meth:`_socket_side`."""

    _thread_name = "fake-http"
    _http: ThreadingHTTPServer | None = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def _socket_side(self) -> _Side:
        raise NotImplementedError

    def start(self) -> Self:
        """Start the HTTP and WebSocket servers on 127.0.0.1 (free ports)."""
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, args=(0.02,), name=self._thread_name, daemon=True).start()
        self._socket_side().start()
        return self

    def stop(self) -> None:
        """Stop both servers and their threads."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        self._socket_side().stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the REST side."""
        assert self._http is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._http.server_address[1]}"
