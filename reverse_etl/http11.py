"""HTTP/1.1 request reading shared by the Braze emulator and the webhook receiver (asyncio over httptools).

Both servers are asyncio protocols fed by httptools' parser, on uvloop when it is installed (measured in
docs/emulator.md: the standard library's threaded server tops out near 900 requests/s of 75-object bodies on
2 cores). What they share is here: the parser callbacks that collect one request (lower-case headers, a body
cap that reads and discards the rest so the client gets its 413 instead of a reset), the response head, the
event loop. What a request means stays in each server.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable

import httptools

REASONS = {200: "OK", 201: "Created", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 413: "Content Too Large", 415: "Unsupported Media Type",
           422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (about twice the request rate), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def set_nodelay(transport: asyncio.Transport) -> None:
    """Answers leave at once (no Nagle delay behind a keep-alive client's next request)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def response_head(status: int, length: int, close: bool, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """The status line and headers of a JSON answer of ``length`` bytes."""
    head = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}", "Content-Type: application/json",
            f"Content-Length: {length}"]
    head.extend(f"{k}: {v}" for k, v in headers)
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")


class RequestReader:
    """httptools parser callbacks collecting one request at a time into ``url``, ``headers`` (lower-case
    names), ``chunks`` and ``too_large``, fed by ``data_received`` through ``self.parser``. A subclass says how
    big a body may be for a path (``max_body``) and how it answers a request it cannot parse (``refuse``)."""

    parser: httptools.HttpRequestParser

    def max_body(self, path: str) -> int:
        raise NotImplementedError

    def refuse(self, reason: str) -> None:
        """Answer 400 with ``reason`` (a sentence) and close the connection."""
        raise NotImplementedError

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.refuse("Protocol upgrades are not supported.")
        except httptools.HttpParserError:
            self.refuse("Malformed HTTP request.")

    def _reset_message(self) -> None:
        self.url = b""
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = 0
        self.too_large = False

    def _path(self) -> str:
        return self.url.split(b"?", 1)[0].decode("latin-1")

    def on_message_begin(self) -> None:
        self._reset_message()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.limit = self.max_body(self._path())
        length = self.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.limit:
            self.too_large = True  # read and discard the body, then answer 413

    def on_body(self, body: bytes) -> None:
        if self.too_large:
            return
        self.size += len(body)
        if self.size > self.limit:
            self.too_large, self.chunks = True, []
        else:
            self.chunks.append(body)
