"""``rsync-braze ingest serve``: receive ``POST /hooks/<source>`` and commit the records before answering.

A request is checked in this order, and nothing is stored unless every check passes:

    404 unknown source, 405 not POST, 413 body over the source's ``max_body_bytes``,
    401 bad or missing HMAC-SHA256 signature / bearer token (compared in constant time),
    415 a Content-Type that is not JSON, 400 body that is not JSON,
    422 not an object or an array of objects, a record without its ``idempotency_field``, a ``\\u0000``
    200 {"received": n, "stored": k, "duplicates": n - k}  once the records are committed (webhook_writer)
    503 the warehouse did not commit them: nothing acknowledged, the sender retries

The idempotency key of a record is its ``idempotency_field`` when configured, else the request's
``idempotency_header`` (``<key>:<index>`` for an array's records), else none (every request is stored).
Logs carry sources, counts and statuses, never bodies or secrets.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import signal
from collections.abc import Callable

import orjson

from ..http11 import new_loop
from ..profiles import ConnectionSpec
from ..warehouse import connect
from . import store
from .config import WebhookSourceConfig
from .formats import has_nul
from .webhook_http import HttpProtocol, Request, Response, reply
from .webhook_writer import Writer

log = logging.getLogger(__name__)
PREFIX = "/hooks/"
MAX_KEY_LENGTH = 512


class Hooks:
    """The request handler: one writer and one secret per webhook source."""

    def __init__(self, sources: list[WebhookSourceConfig], spec: ConnectionSpec):
        self.sources = {s.name: s for s in sources}
        self.secrets = {s.name: s.secret() for s in sources}  # read once, before listening
        self.writers = {s.name: Writer(s, spec) for s in sources}
        self.largest = max((s.max_body_bytes for s in sources), default=1024)
        self.counters = {"requests": 0, "records": 0, "stored": 0, "rejected": 0}

    def body_limit(self, path: str) -> int:
        source = self.sources.get(path[len(PREFIX):]) if path.startswith(PREFIX) else None
        return source.max_body_bytes if source else self.largest

    async def handle(self, req: Request) -> Response:
        self.counters["requests"] += 1
        resp = await self._handle(req)
        if resp.status != 200:
            self.counters["rejected"] += 1
            log.info("%s %s -> %d", req.method, req.path, resp.status)
        return resp

    async def _handle(self, req: Request) -> Response:
        if req.path == "/health":
            return reply(200, {"ok": True, **self.counters})
        name = req.path[len(PREFIX):] if req.path.startswith(PREFIX) else None
        source = self.sources.get(name or "")
        if source is None:
            return reply(404, {"error": "unknown path: POST /hooks/<source> with a source of the manifest"})
        if req.method != "POST":
            return reply(405, {"error": "use POST"})
        if req.too_large:
            return reply(413, {"error": f"body larger than {source.max_body_bytes} bytes: send fewer records "
                                        f"per request"}, close=True)
        if not self._authentic(source, req):
            return reply(401, {"error": "bad or missing signature" if source.auth == "hmac" else
                                        "bad or missing bearer token"})
        ctype = req.headers.get("content-type", "application/json").lower()
        if "json" not in ctype:
            return reply(415, {"error": "send application/json"})
        try:
            body = orjson.loads(req.body)
        except orjson.JSONDecodeError as exc:
            return reply(400, {"error": f"malformed JSON: {str(exc).split(':')[0]}"})
        records = body if isinstance(body, list) else [body]
        problem, keys = self._keys(source, req, records, isinstance(body, list))
        if problem:
            return reply(422, {"error": problem})
        texts = [req.body.decode()] if not isinstance(body, list) else [orjson.dumps(r).decode() for r in records]
        if not records:
            return reply(200, {"received": 0, "stored": 0, "duplicates": 0})
        try:
            stored = await self.writers[source.name].write(keys, texts)
        except Exception:  # noqa: BLE001 - the writer logged it; the sender must retry
            return reply(503, {"error": "not stored: the warehouse did not commit; retry later"})
        self.counters["records"] += len(records)
        self.counters["stored"] += stored
        return reply(200, {"received": len(records), "stored": stored, "duplicates": len(records) - stored})

    def _authentic(self, source: WebhookSourceConfig, req: Request) -> bool:
        secret = self.secrets[source.name]
        if source.auth == "bearer":
            given = req.headers.get("authorization", "")
            return given[:7].lower() == "bearer " and hmac.compare_digest(given[7:].strip().encode(), secret)
        given = req.headers.get(source.signature_header.lower(), "").strip()
        if given.lower().startswith("sha256="):
            given = given[7:]
        expected = hmac.new(secret, req.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given.lower().encode(), expected.encode())

    @staticmethod
    def _keys(source: WebhookSourceConfig, req: Request, records: list,
              is_array: bool) -> tuple[str | None, list[str | None]]:
        """(problem, idempotency key of each record)."""
        keys: list[str | None] = []
        header = req.headers.get(source.idempotency_header.lower())
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                return f"record {index} is a JSON {type(record).__name__}: send an object or an array of objects", []
            if has_nul(record):
                return f"record {index} contains \\u0000, which the warehouse cannot store", []
            if source.idempotency_field:
                value = record.get(source.idempotency_field)
                if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
                    return (f"record {index} has no {source.idempotency_field!r} (a non-empty string or number): "
                            f"it is this source's idempotency key"), []
                keys.append(str(value))
            elif header:
                keys.append(f"{header}:{index}" if is_array else header)
            else:
                keys.append(None)
            if keys[-1] is not None and len(keys[-1]) > MAX_KEY_LENGTH:
                return f"record {index}: idempotency key longer than {MAX_KEY_LENGTH} characters", []
        return None, keys


def serve(sources: list[WebhookSourceConfig], spec: ConnectionSpec, host: str, port: int,
          on_ready: Callable[[int], None], stop: asyncio.Event | None = None) -> dict:
    """Serve until SIGINT/SIGTERM (or ``stop`` is set); in-flight writes are committed and answered first."""
    with connect(spec, application_name="rsync-braze hooks") as conn:
        for s in sources:
            store.ensure_webhook_table(conn, s.schema, s.table)
        conn.commit()
    hooks = Hooks(sources, spec)
    loop = new_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(_serve(hooks, host, port, on_ready, stop))
    finally:
        loop.close()


async def _serve(hooks: Hooks, host: str, port: int, on_ready, stop: asyncio.Event | None) -> dict:
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests)
            pass
    for writer in hooks.writers.values():
        writer.start()
    connections: set[HttpProtocol] = set()
    server = await loop.create_server(lambda: HttpProtocol(hooks.handle, hooks.body_limit, connections),
                                      host, port, reuse_address=True, backlog=1024)
    on_ready(server.sockets[0].getsockname()[1])
    await stop.wait()
    # Drain: no new connections or requests; requests already read are committed and answered, then close.
    server.close()
    for conn in list(connections):
        if conn.transport is not None:
            conn.transport.pause_reading()
    await asyncio.gather(*(c.task for c in list(connections) if c.task is not None), return_exceptions=True)
    for writer in hooks.writers.values():
        await writer.close()
    for conn in list(connections):
        if conn.transport is not None:
            conn.transport.close()
    await server.wait_closed()
    return hooks.counters
