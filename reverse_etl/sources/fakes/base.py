"""What both fakes share: a threaded HTTP server on loopback, JSON answers, and fault injection.

Faults apply to API requests (the ones a subclass marks ``faultable``), in this order:

- ``inject(n, status=429, retry_after=1)``: the next ``n`` requests get ``status`` with ``Retry-After``;
- ``break_after(n)``: after ``n`` more answered requests, every request gets 500 until ``repair()``;
- ``rate_limit(requests, per_seconds)``: a sliding window; over it, 429 with the seconds until a slot frees.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class Answer(Exception):
    """Raised by a route to answer at once: status, JSON body, extra headers."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class FakeServer:
    """Start on ``__enter__`` (port 0: any free port), stop on ``__exit__``. Subclasses implement ``route``."""

    def __init__(self, port: int = 0):
        self.port = port
        self.lock = threading.RLock()
        self.statuses: Counter[int] = Counter()
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self._injected: deque[tuple[int, str]] = deque()
        self._break_after: int | None = None
        self._window: tuple[int, float] | None = None
        self._served: deque[float] = deque()
        self.httpd: ThreadingHTTPServer | None = None
        self.delay = 0.0  # seconds added to every answer (tests: time to kill a client mid-paging)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inject(self, count: int, status: int = 429, retry_after: float | str = 1) -> None:
        """Answer the next ``count`` API requests with ``status`` and ``Retry-After: retry_after``."""
        with self.lock:
            self._injected.extend([(status, str(retry_after))] * count)

    def break_after(self, answered: int) -> None:
        """After ``answered`` more successful API requests, fail every request with 500 until ``repair``."""
        with self.lock:
            self._break_after = answered

    def repair(self) -> None:
        with self.lock:
            self._break_after = None
            self._injected.clear()

    def rate_limit(self, requests: int | None, per_seconds: float = 60.0) -> None:
        """At most ``requests`` API requests per sliding ``per_seconds`` (None: no limit)."""
        with self.lock:
            self._window = (requests, per_seconds) if requests else None
            self._served.clear()

    def fault(self) -> Answer | None:
        """The fault due for the current API request, if any (called by subclasses once authenticated)."""
        with self.lock:
            if self._injected:
                status, wait = self._injected.popleft()
                return Answer(status, self.error_body(status), {"Retry-After": wait})
            if self._break_after is not None:
                if self._break_after <= 0:
                    return Answer(500, self.error_body(500))
                self._break_after -= 1
            if self._window:
                limit, period = self._window
                now = time.monotonic()
                while self._served and now - self._served[0] >= period:
                    self._served.popleft()
                if len(self._served) >= limit:
                    wait = max(1, math.ceil(period - (now - self._served[0])))
                    return Answer(429, self.error_body(429), {"Retry-After": str(wait)})
                self._served.append(now)
        return None

    def error_body(self, status: int) -> Any:
        return {"error": f"HTTP {status}"}

    def route(self, method: str, path: str, query: dict[str, list[str]], headers, body: bytes) -> Any:
        raise NotImplementedError

    def __enter__(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer.lock:
                    outer.requests.append((method, parts.path))
                if outer.delay:
                    time.sleep(outer.delay)
                try:
                    answer = Answer(200, outer.route(method, parts.path, parse_qs(parts.query), self.headers, body))
                except Answer as given:
                    answer = given
                data = json.dumps(answer.body).encode()
                with outer.lock:
                    outer.statuses[answer.status] += 1
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 - http.server's naming
                self._handle("GET")

            def do_POST(self):  # noqa: N802
                self._handle("POST")

            def log_message(self, *args):  # quiet: the tests read counters, not access logs
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, name=type(self).__name__, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
