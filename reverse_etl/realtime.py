"""Real-time triggers for ``rsync-braze serve``: PostgreSQL ``LISTEN rsync_braze`` on a dedicated connection.

A dbt post-hook (``{{ rsync_braze.notify_sync() }}``, macros/pipeline/notify_sync.sql), the webhook ingestion
path or anyone with ``psql`` sends ``NOTIFY rsync_braze, '<model or sync name>'`` (an empty payload or ``*``
means every realtime sync). Notifications are delivered when the sender's transaction commits, so the data is
visible when we hear of it. Bursts are debounced: the first notification opens a short window (1 s by
default) and everything heard in it becomes one trigger. When the connection drops, the listener reconnects
with backoff and, having possibly missed notifications meanwhile, triggers every realtime sync once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from .errors import RsyncBrazeError
from .profiles import ConnectionSpec
from .selection import downstream_models
from .warehouse import connect

log = logging.getLogger("reverse_etl.realtime")

CHANNEL = "rsync_braze"
ALL = "*"
POLL_SECONDS = 0.5  # how long one wait for notifications lasts: bounds the reaction to a stop request


class Listener(threading.Thread):
    """Calls ``on_notify(payloads)`` once per debounced burst of notifications, until ``stop`` is set."""

    def __init__(self, spec: ConnectionSpec, on_notify: Callable[[set[str]], None], stop: threading.Event,
                 debounce: float = 1.0, on_state: Callable[[bool], None] | None = None):
        super().__init__(name="rsync-braze-listener", daemon=True)
        self.spec, self.on_notify, self.stop, self.debounce = spec, on_notify, stop, debounce
        self.on_state = on_state or (lambda connected: None)

    def run(self) -> None:
        backoff, connected_before = 1.0, False
        while not self.stop.is_set():
            try:
                with connect(self.spec, autocommit=True, application_name="rsync-braze serve (listen)") as conn:
                    conn.execute(f"listen {CHANNEL}")  # a constant channel name: nothing to quote
                    log.info("listening for NOTIFY %s", CHANNEL)
                    self.on_state(True)
                    if connected_before:  # notifications sent while we were away are lost: catch up once
                        self.on_notify({ALL})
                    connected_before, backoff = True, 1.0
                    self._listen(conn)
            except (psycopg.Error, RsyncBrazeError) as exc:
                self.on_state(False)
                log.warning("LISTEN connection lost (%s); reconnecting in %.0fs", type(exc).__name__, backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
        self.on_state(False)

    def _listen(self, conn: psycopg.Connection) -> None:
        pending: set[str] = set()
        deadline: float | None = None
        while not self.stop.is_set():
            wait = POLL_SECONDS if deadline is None else max(0.0, min(POLL_SECONDS, deadline - time.monotonic()))
            for note in conn.notifies(timeout=wait):
                pending.add(note.payload.strip() or ALL)
                if deadline is None:
                    deadline = time.monotonic() + self.debounce
            if deadline is not None and time.monotonic() >= deadline:
                log.info("NOTIFY %s heard for %s", CHANNEL, ", ".join(sorted(pending)))
                self.on_notify(pending)
                pending, deadline = set(), None


def notify(conn: psycopg.Connection, payload: str) -> None:
    """Tell ``serve`` that data for ``payload`` (a model, relation or sync name) changed.

    Sent inside the caller's transaction, so it is delivered only if that transaction commits (for the webhook
    ingestion path: in the same transaction as the rows it loads).
    """
    conn.execute("select pg_notify(%s, %s)", (CHANNEL, payload))


def affected_models(payloads: set[str], project_dir: Path) -> set[str]:
    """The dbt models fed by what the payloads name, from dbt's graph (``target/manifest.json``).

    A payload may name a model, or a dbt source: its ``source_name``, its table name, its relation's identifier,
    or the ingestion's table for it (``raw_<payload>``: ``rsync-braze ingest`` notifies with the source's name).
    The result holds every model downstream of those nodes, the named models included. Without a dbt
    manifest, or for a payload dbt does not know, nothing is added (the payload still matches syncs by name).
    """
    try:
        data = json.loads((project_dir / "target" / "manifest.json").read_text())
    except (OSError, ValueError):
        return set()
    nodes = {**data.get("nodes", {}), **data.get("sources", {})}
    children = data.get("child_map", {})
    starts = []
    for uid, node in nodes.items():
        kind = node.get("resource_type")
        if kind == "model" and node.get("name") in payloads:
            starts.append(uid)
        elif kind == "source" and _source_named(node, payloads):
            starts.append(uid)
    return downstream_models(starts, nodes, children)


def _source_named(node: dict, payloads: set[str]) -> bool:
    identifier = node.get("identifier")
    return bool(payloads & {node.get("source_name"), node.get("name"), identifier}) or any(
        f"raw_{p}" == identifier for p in payloads)
