"""HTTP/1.1 for the emulator: an asyncio protocol over httptools' parser, on uvloop when it is installed.

Chosen by measurement (docs/emulator.md): the standard library's threaded server tops out near 900
requests/s of 75-object bodies on this 2-core machine, this protocol serves well above Braze's own
1,000/s. Keep-alive, pipelining (answers in order), chunked bodies, a 4 MB body cap that reads and discards
the rest (so the client gets its 413 instead of a reset), 400 on malformed HTTP. The emulator's logic is in
:mod:`.app`; nothing here knows Braze.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import deque
from collections.abc import Callable

import httptools

from ..http11 import RequestReader, new_loop, response_head, set_nodelay
from .app import MAX_BODY, Emulator, Request, Response, answer

log = logging.getLogger(__name__)
MAX_PENDING = 64  # pipelined requests buffered behind a delayed answer before reading pauses


class HttpProtocol(RequestReader, asyncio.Protocol):
    """One client connection. Requests are answered in order; one at a time is in flight."""

    def __init__(self, emulator: Emulator, connections: set):
        self.emulator = emulator
        self.connections = connections
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.loopback = True
        self.pending: deque[tuple[Request, bool]] = deque()  # parsed while an earlier answer was delayed
        self.task: asyncio.Task | None = None
        self._reset_message()

    # ---------------------------------------------------------------------------------------- transport
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.connections.add(self)
        set_nodelay(transport)
        peer = transport.get_extra_info("peername")
        try:
            self.loopback = ipaddress.ip_address(peer[0]).is_loopback
        except (TypeError, ValueError, IndexError):
            self.loopback = False

    def connection_lost(self, exc) -> None:
        self.connections.discard(self)
        if self.task is not None:
            self.task.cancel()  # e.g. a client that gave up on a hung request
        self.transport = None

    def refuse(self, reason: str) -> None:
        self._write(answer(400, {"message": reason}, close=True), False)

    # ------------------------------------------------------------------------------ parser callbacks
    def max_body(self, path: str) -> int:
        return MAX_BODY

    def on_message_complete(self) -> None:
        req = Request(self.parser.get_method().decode("latin-1"), self._path(), self.headers, b"".join(self.chunks),
                      self.too_large, self.loopback)
        keep_alive = self.parser.should_keep_alive()
        self._reset_message()
        if self.task is not None or self.pending:
            self.pending.append((req, keep_alive))
            if len(self.pending) >= MAX_PENDING and self.transport is not None:
                self.transport.pause_reading()  # a client pipelining without reading: stop buffering
        else:
            self._handle(req, keep_alive)

    # ----------------------------------------------------------------------------------------- answering
    def _handle(self, req: Request, keep_alive: bool) -> None:
        try:
            result = self.emulator.handle(req)
        except Exception:  # an emulator bug must cost one 500, not the connection or the server
            log.exception("the emulator failed on %s %s", req.method, req.path)
            self.emulator.counters["errors"] += 1
            result = answer(500, {"message": "The emulator failed on this request (a bug: please report it)."})
        if isinstance(result, Response):
            self._write(result, keep_alive)
            return
        # A delayed answer (latency, hang): later requests wait in `pending` so answers stay in order. Reading
        # goes on, so a client that gives up and closes is noticed and its hung request cancelled.
        self.task = asyncio.get_running_loop().create_task(result)
        self.task.add_done_callback(lambda task: self._delayed_done(task, keep_alive))

    def _delayed_done(self, task: asyncio.Task, keep_alive: bool) -> None:
        self.task = None
        if task.cancelled() or self.transport is None:
            return
        self._write(task.result(), keep_alive)
        if self.transport is None or self.transport.is_closing():
            return
        if len(self.pending) >= MAX_PENDING:
            self.transport.resume_reading()
        while self.pending and self.task is None and self.transport is not None:
            self._handle(*self.pending.popleft())

    def _write(self, resp: Response, keep_alive: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if resp.drop:
            transport.close()  # no answer at all: the client sees the connection closed
            self.pending.clear()
            return
        close = resp.close or not keep_alive
        transport.write(response_head(resp.status, len(resp.body), close, resp.headers) + resp.body)
        if close:
            transport.close()
            self.pending.clear()


def serve(emulator: Emulator, host: str, port: int, on_ready: Callable[[int], None],
          should_stop: Callable[[], bool], save_every: float = 1.0) -> None:
    """Serve until ``should_stop()`` is true (checked every 0.1 s); saves the state file every ``save_every`` s.

    ``on_ready(port)`` is called once the socket listens. Binding errors (port taken) raise ``OSError``.
    """
    loop = new_loop()
    asyncio.set_event_loop(loop)
    connections: set[HttpProtocol] = set()
    emulator.connections = connections  # shown as open_connections in /_emulator/counters
    try:
        server = loop.run_until_complete(loop.create_server(
            lambda: HttpProtocol(emulator, connections), host, port, reuse_address=True, backlog=1024))
        on_ready(server.sockets[0].getsockname()[1])

        async def watch() -> None:
            ticks, every = 0, max(1, round(save_every / 0.1))
            while not should_stop():
                await asyncio.sleep(0.1)
                ticks += 1
                if ticks % every == 0:
                    emulator.store.save()

        loop.run_until_complete(watch())
        server.close()
        for conn in list(connections):
            if conn.transport is not None:
                conn.transport.close()
        loop.run_until_complete(server.wait_closed())
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    finally:
        emulator.store.save()
        loop.close()
