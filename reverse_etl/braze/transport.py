"""HTTP transports: one keep-alive connection per worker, and the seam unit tests plug a fake Braze into.

A transport's :meth:`post` returns a :class:`Response` for any HTTP status, and raises
:class:`TransportError` when no status came back, saying whether the request may have reached Braze
(``sent``): a failure to connect cannot have been applied; a timeout or a connection dropped after the
body went out may have been.

``HttpTransport`` (``http.client``) is the default: at Braze's ceiling of 1,000 requests/s the client's
per-request overhead matters, and ``requests`` costs several times more CPU per call (see
``benchmarks/client_throughput.py`` and docs/braze-client.md). ``RequestsTransport`` is kept for comparison.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .. import __version__

USER_AGENT = f"rsync-braze/{__version__}"
RATE_HEADERS = ("x-ratelimit-remaining", "x-ratelimit-reset", "x-ratelimit-retry-after", "retry-after")


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP answer: status, the rate-limit headers (lower-case names) and the body."""

    status: int
    headers: dict[str, str]
    body: bytes


class TransportError(Exception):
    """No HTTP status came back. ``sent`` is True when Braze may nevertheless have applied the request."""

    def __init__(self, reason: str, *, sent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent


class HttpTransport:
    """``http.client`` over one persistent connection; reconnects after any failure."""

    def __init__(self, endpoint: str, api_key: str, timeout: float, connect_timeout: float) -> None:
        parts = urlsplit(endpoint)
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._timeout = timeout
        self._connect_timeout = connect_timeout
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=self._connect_timeout)
        try:
            conn.connect()
        except OSError as exc:
            conn.close()
            raise TransportError(f"cannot connect: {_describe(exc)}", sent=False) from None
        conn.sock.settimeout(self._timeout)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def post(self, path: str, body: bytes) -> Response:
        """POST ``body`` (JSON) to ``path``."""
        conn = self._conn or self._connect()
        self._conn = None  # put back only after a clean exchange
        try:
            conn.request("POST", path, body, self._headers)
        except (OSError, http.client.HTTPException) as exc:
            # The body did not go out whole, so Braze (which reads Content-Length bytes) cannot apply it.
            conn.close()
            raise TransportError(f"sending failed: {_describe(exc)}", sent=False) from None
        try:
            resp = conn.getresponse()
            data = resp.read()
        except TimeoutError:
            conn.close()
            raise TransportError(f"no answer within {self._timeout:g}s", sent=True) from None
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise TransportError(f"connection dropped after sending: {_describe(exc)}", sent=True) from None
        headers = {}
        for name in RATE_HEADERS:
            value = resp.getheader(name)
            if value is not None:
                headers[name] = value
        if resp.will_close:
            conn.close()
        else:
            self._conn = conn
        return Response(resp.status, headers, data)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class RequestsTransport:
    """The same contract over a ``requests.Session`` (kept to measure against; slower per request)."""

    def __init__(self, endpoint: str, api_key: str, timeout: float, connect_timeout: float) -> None:
        import requests

        self._requests = requests
        self._endpoint = endpoint
        self._timeout = (connect_timeout, timeout)
        self._session = requests.Session()
        self._session.headers.update({
            "Authorization": f"Bearer {api_key}", "Content-Type": "application/json", "User-Agent": USER_AGENT,
        })

    def post(self, path: str, body: bytes) -> Response:
        r = self._requests
        try:
            resp = self._session.post(self._endpoint + path, data=body, timeout=self._timeout)
        except r.exceptions.ConnectTimeout as exc:
            raise TransportError(f"cannot connect: {type(exc).__name__}", sent=False) from None
        except r.exceptions.ReadTimeout:
            raise TransportError(f"no answer within {self._timeout[1]:g}s", sent=True) from None
        except r.exceptions.ConnectionError as exc:
            sent = "NewConnectionError" not in repr(exc) and "Connection refused" not in repr(exc)
            raise TransportError(f"connection failed: {type(exc).__name__}", sent=sent) from None
        headers = {k: resp.headers[k] for k in RATE_HEADERS if k in resp.headers}
        return Response(resp.status_code, headers, resp.content)

    def close(self) -> None:
        self._session.close()


TransportFactory = Callable[[], "HttpTransport | RequestsTransport"]


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
