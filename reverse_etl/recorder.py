"""The run's write-behind to the warehouse: what Braze answered, committed a batch at a time.

Acknowledgements (snapshot rows), rejections, events, deletions and merges are buffered and committed together
with the run's counters in one transaction, every ``FLUSH_ROWS`` rows or ``FLUSH_SECONDS`` seconds (and at the
end), so a crash loses at most the last buffer: those rows are simply sent again by the next run. Events are
also written ahead (``sending``), see ``ledger.py``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import psycopg

from . import dialect

if TYPE_CHECKING:
    from .engine import SyncResult

log = logging.getLogger("reverse_etl.engine")

FLUSH_ROWS = 2000
FLUSH_SECONDS = 2.0


class Recorder:
    """Buffers acknowledgements and rejections; commits them with the run counters, a batch at a time."""

    def __init__(self, conn: psycopg.Connection, schema: str, sync_name: str, run_id: int, result: SyncResult,
                 db: dialect.Postgres = dialect.POSTGRES, attrs: Sequence[str] = ()):
        self.db = db  # whose state/ledger/merges writes to use
        self.attrs = list(attrs)  # the sync's mapped attributes, in order: what the diff's field hashes are of
        self.conn, self.schema, self.sync_name, self.run_id, self.result = conn, schema, sync_name, run_id, result
        self.acks: list[tuple[str, int, dict, str]] = []
        self.deleted: list[str] = []
        self.events: list[tuple[str, str, bool]] = []
        self.merges: list[tuple[str, str, str]] = []
        self.rejections: list[tuple[str | None, str | None, str]] = []
        self.counts: dict[str, int] = {}
        self.last_flush = time.monotonic()

    def count(self, key: str, n: int = 1) -> None:
        if n:
            self.counts[key] = self.counts.get(key, 0) + n
            self.result.add(key, n)

    def event(self, event_id: str, status: str, possibly_duplicated: bool) -> None:
        """An event or purchase Braze acknowledged (or rejected for good): it is never sent again."""
        self.events.append((event_id, status, possibly_duplicated))
        if status == "delivered":
            self.count("created")
            self.count("data_points")
        if possibly_duplicated:
            self.count("possibly_duplicated")
        self._maybe_flush()

    def merge(self, retired: str, surviving: str, status: str) -> None:
        """A merge Braze accepted (``merged``) or refused for good (``rejected``)."""
        self.merges.append((retired, surviving, status))
        if status == "merged":
            self.count("merged")
        self._maybe_flush()

    def sending(self, event_ids: list[str]) -> None:
        """Events about to be handed to the client: written ahead, so a crash leaves them findable."""
        self.db.ledger.mark_sending(self.conn, self.schema, self.sync_name, self.run_id, event_ids)

    def delete(self, id_: str) -> None:
        """A profile Braze deleted: forget it, so it is new again if it comes back."""
        self.deleted.append(id_)
        self.count("removed")
        self._maybe_flush()

    def acknowledge(self, id_: str, row_hash: int, hashes: dict, status: str, kind: str | None, data_points: int) -> None:
        self.acks.append((id_, row_hash, hashes, status))
        if kind:
            self.count(kind)
        self.count("data_points", data_points)
        self._maybe_flush()

    def reject(self, id_: str | None, field_name: str | None, reason: str, invalid: bool = False) -> None:
        self.rejections.append((id_, field_name, reason))
        self.count("invalid" if invalid else "rejected")
        if len(self.result.rejections) < 1000:
            self.result.rejections.append((id_, field_name, reason))
        self._maybe_flush()

    def _maybe_flush(self) -> None:
        if len(self.acks) + len(self.rejections) + len(self.events) >= FLUSH_ROWS or time.monotonic() - self.last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if not (self.acks or self.rejections or self.counts or self.deleted or self.events or self.merges):
            return
        with self.conn.transaction():
            self.db.merges.record(self.conn, self.schema, self.sync_name, self.run_id, self.merges)
            self.db.ledger.record(self.conn, self.schema, self.sync_name, self.run_id, self.events)
            self.db.state.upsert_snapshot(self.conn, self.schema, self.sync_name, self.run_id, self.acks, self.attrs)
            self.db.state.delete_from_snapshot(self.conn, self.schema, self.sync_name, self.deleted)
            self.db.state.record_rejections(self.conn, self.schema, self.run_id, self.sync_name, self.rejections)
            self.db.state.add_counts(self.conn, self.schema, self.run_id, self.counts)
        log.info("sync %s run %s: committed %d acknowledged, %d rejected", self.sync_name, self.run_id,
                 len(self.acks), len(self.rejections))
        self.acks, self.rejections, self.counts, self.deleted, self.events, self.merges = [], [], {}, [], [], []
        self.last_flush = time.monotonic()
