"""Durable writes of webhook records, with group commit: committed before any request is acknowledged.

Each webhook source has one writer: a queue of requests' records and one warehouse connection. The writer
takes every request waiting (up to ``MAX_BATCH`` records), inserts them in one statement, sends
``NOTIFY rsync_braze, '<source>'`` and commits; only then are those requests answered. Under load, many
concurrent requests share one commit (one WAL flush) instead of paying one each, which is what makes
throughput scale while every acknowledged record is already committed.

Duplicates: ``_idempotency_key`` is unique, so ``on conflict do nothing`` makes a retried request (or a
record sent twice in one batch) a no-op; the request is told how many of its records were new.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from ..profiles import ConnectionSpec
from ..warehouse import ident
from .config import WebhookSourceConfig

log = logging.getLogger(__name__)
MAX_BATCH = 5000  # records per transaction: bounds a transaction's size and the latency of the first waiter


@dataclass
class Pending:
    keys: list[str | None]
    records: list[str]  # JSON text of each record (an object)
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Writer:
    """Group-committing writer of one webhook source."""

    def __init__(self, source: WebhookSourceConfig, spec: ConnectionSpec):
        self.source, self.spec = source, spec
        self.queue: asyncio.Queue[Pending | None] = asyncio.Queue()
        self.conn: psycopg.AsyncConnection | None = None
        self.task: asyncio.Task | None = None
        self.statement = sql.SQL(
            "insert into {} (_idempotency_key, payload) select k, r::jsonb from unnest(%s::text[], %s::text[]) "
            "with ordinality as u(k, r, n) order by n on conflict (_idempotency_key) do nothing "
            "returning _idempotency_key").format(ident(source.schema, source.table))
        self.committed_records = 0
        self.commits = 0

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name=f"writer-{self.source.name}")

    async def write(self, keys: list[str | None], records: list[str]) -> int:
        """Commit ``records``; returns how many were new (the others were duplicates). Raises on failure."""
        item = Pending(keys, records)
        await self.queue.put(item)
        return await item.done

    async def _connect(self) -> psycopg.AsyncConnection:
        s = self.spec
        conn = await psycopg.AsyncConnection.connect(
            host=s.host, port=s.port, user=s.user, password=s.password or None, dbname=s.dbname,
            application_name=f"rsync-braze hooks {self.source.name}", connect_timeout=10, autocommit=True)
        if self.source.durable_commit:
            # An acknowledged record must survive a crash of the warehouse too: wait for the WAL flush at each
            # commit even where the server's default is off (the embedded warehouse runs with it off for speed).
            await conn.execute("set synchronous_commit to on")
        await conn.set_autocommit(False)
        return conn

    async def _run(self) -> None:
        closing = False
        while not closing:
            first = await self.queue.get()
            if first is None:
                return
            batch, size = [first], len(first.records)
            while size < MAX_BATCH and not self.queue.empty():
                item = self.queue.get_nowait()
                if item is None:
                    closing = True  # finish this batch, then stop
                    break
                batch.append(item)
                size += len(item.records)
            try:
                stored = await self._commit(batch)
            except Exception as exc:  # noqa: BLE001 - every waiter must hear about it, then we go on
                log.warning("source %s: %d record(s) not stored: %s", self.source.name, size, type(exc).__name__)
                await self._drop_connection()
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)
                continue
            for item, count in zip(batch, stored, strict=True):
                if not item.done.done():
                    item.done.set_result(count)

    async def _commit(self, batch: list[Pending]) -> list[int]:
        if self.conn is None or self.conn.closed:
            self.conn = await self._connect()
        keys = [k for item in batch for k in item.keys]
        records = [r for item in batch for r in item.records]
        async with self.conn.transaction():
            cur = await self.conn.execute(self.statement, (keys, records))
            inserted = {row[0] for row in await cur.fetchall()}
            if self.source.notify:
                # Delivered at commit only: a listener never hears of records that were rolled back.
                await self.conn.execute("select pg_notify('rsync_braze', %s)", (self.source.name,))
        self.commits += 1
        self.committed_records += len(records)
        out = []
        for item in batch:
            new = 0
            for k in item.keys:
                if k is None or k in inserted:
                    new += 1
                    inserted.discard(k)  # a key sent twice in one batch is new once
            out.append(new)
        return out

    async def _drop_connection(self) -> None:
        if self.conn is not None:
            try:
                await self.conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
        self.conn = None

    async def close(self) -> None:
        """Commit and answer what is queued, then close the connection."""
        await self.queue.put(None)
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)
        await self._drop_connection()
