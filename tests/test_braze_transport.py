"""The HTTP transports over real sockets on 127.0.0.1: keep-alive, headers, and which failures may have
reached the server (``sent``)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from reverse_etl.braze.transport import HttpTransport, RequestsTransport, TransportError

REPLY = (b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 21\r\n"
         b"X-RateLimit-Remaining: 7\r\nX-RateLimit-Reset: 1999999999\r\n\r\n{\"message\":\"success\"}")


class Server:
    """A tiny HTTP server; ``mode`` decides what it does with each request it reads."""

    def __init__(self, mode="ok"):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.requests: list[bytes] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = int([line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")][0])
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buf = rest[length:]
                if self.mode == "drop":
                    return  # read the request, then hang up without answering
                if self.mode == "hang":
                    time.sleep(2)
                    return
                conn.sendall(REPLY)

    def close(self):
        self.sock.close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.mark.parametrize("cls", [HttpTransport, RequestsTransport])
def test_post_reuses_one_connection_and_sends_the_key_only_in_the_header(server, cls):
    t = cls(server.url, "the-key", timeout=2, connect_timeout=2)
    for _ in range(5):
        resp = t.post("/users/track", b'{"attributes":[]}')
        assert resp.status == 201 and resp.body == b'{"message":"success"}'
        assert resp.headers["x-ratelimit-remaining"] == "7" and resp.headers["x-ratelimit-reset"] == "1999999999"
    t.close()
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /users/track HTTP/1.1")
    assert b"Authorization: Bearer the-key" in first and b"Content-Type: application/json" in first
    assert first.endswith(b'{"attributes":[]}')


@pytest.mark.parametrize("cls", [HttpTransport, RequestsTransport])
def test_refused_connection_was_not_sent(cls):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    with pytest.raises(TransportError) as info:
        cls(f"http://127.0.0.1:{port}", "k", timeout=1, connect_timeout=1).post("/users/track", b"{}")
    assert info.value.sent is False


@pytest.mark.parametrize("cls", [HttpTransport, RequestsTransport])
def test_dropped_after_sending_may_have_been_applied(cls):
    server = Server("drop")
    try:
        with pytest.raises(TransportError) as info:
            cls(server.url, "k", timeout=2, connect_timeout=1).post("/users/track", b"{}")
        assert info.value.sent is True
        assert len(server.requests) == 1
    finally:
        server.close()


@pytest.mark.parametrize("cls", [HttpTransport, RequestsTransport])
def test_timeout_may_have_been_applied_and_is_quick(cls):
    server = Server("hang")
    try:
        started = time.monotonic()
        with pytest.raises(TransportError) as info:
            cls(server.url, "k", timeout=0.3, connect_timeout=1).post("/users/track", b"{}")
        assert info.value.sent is True and time.monotonic() - started < 1.5
        assert "the-key" not in str(info.value)
    finally:
        server.close()


def test_reconnects_after_a_failure(server):
    t = HttpTransport(server.url, "k", timeout=2, connect_timeout=1)
    assert t.post("/users/track", b"{}").status == 201
    server.mode = "drop"
    with pytest.raises(TransportError):
        t.post("/users/track", b"{}")
    server.mode = "ok"
    assert t.post("/users/track", b"{}").status == 201
    assert server.connections == 2
