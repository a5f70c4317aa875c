"""``rsync-braze history`` and ``rsync-braze rejections``: read the run log and the rejected rows.

Read-only: the connection is put in read-only mode, and a warehouse with no state schema yet simply has no
history. Rows are streamed from a server-side cursor and capped by ``--limit``, so a long history never sits in
memory whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import psycopg
from psycopg import sql

from .state import COUNTERS
from .warehouse import stream

RUN_COLUMNS = ("run_id", "sync_name", "status", "mode", "dry_run", "started_at", "finished_at", *COUNTERS, "error")
REJECTION_COLUMNS = ("run_id", "sync_name", "identifier", "field", "reason", "rejected_at")


def has_state(conn: psycopg.Connection, schema: str) -> bool:
    """Whether the state schema exists with its run log (a warehouse never synced has none)."""
    return conn.execute("select to_regclass(%s) is not null",
                        (sql.Identifier(schema, "sync_runs").as_string(conn),)).fetchone()[0]


def _as_dict(names: tuple[str, ...], row: tuple) -> dict:
    item = dict(zip(names, row))
    for key, value in item.items():
        if isinstance(value, datetime):
            item[key] = value.isoformat()
    return item


def runs(conn: psycopg.Connection, schema: str, syncs: tuple[str, ...] = (), limit: int = 20,
         status: str | None = None) -> Iterator[dict]:
    """The latest ``limit`` runs of each sync (all syncs with a run log when none are named), newest first."""
    if not isinstance(conn, psycopg.Connection):  # DuckDB: the same reads in its SQL
        from .duck import history
        yield from history.runs(conn, schema, syncs, limit, status)
        return
    if not has_state(conn, schema):
        return
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in RUN_COLUMNS)
    # Per sync, so a busy sync does not hide a quiet one.
    query = sql.SQL(
        "select {cols}, extract(epoch from finished_at - started_at)::float8 as seconds from ("
        " select r.*, row_number() over (partition by sync_name order by run_id desc) as nth"
        " from {table} r where (%(all)s or sync_name = any(%(syncs)s)) and (%(status)s::text is null or status = %(status)s)"
        ") ranked where nth <= %(limit)s order by run_id desc"
    ).format(cols=cols, table=sql.Identifier(schema, "sync_runs"))
    params = {"all": not syncs, "syncs": list(syncs), "status": status, "limit": limit}
    for row in stream(conn, query, params):
        yield _as_dict((*RUN_COLUMNS, "seconds"), row)


def rejections(conn: psycopg.Connection, schema: str, syncs: tuple[str, ...] = (), run_id: int | None = None,
               limit: int = 100) -> Iterator[dict]:
    """Rejected rows, newest run first: identifier, field and reason (no row payload is stored)."""
    if not isinstance(conn, psycopg.Connection):
        from .duck import history
        yield from history.rejections(conn, schema, syncs, run_id, limit)
        return
    if not has_state(conn, schema):
        return
    query = sql.SQL(
        "select {cols} from {table} where (%(all)s or sync_name = any(%(syncs)s)) "
        "and (%(run)s::bigint is null or run_id = %(run)s) order by run_id desc, rejected_at desc limit %(limit)s"
    ).format(cols=sql.SQL(", ").join(sql.Identifier(c) for c in REJECTION_COLUMNS),
             table=sql.Identifier(schema, "sync_rejections"))
    for row in stream(conn, query, {"all": not syncs, "syncs": list(syncs), "run": run_id, "limit": limit}):
        yield _as_dict(REJECTION_COLUMNS, row)


def rejection_reasons(conn: psycopg.Connection, schema: str, syncs: tuple[str, ...] = (),
                      run_id: int | None = None) -> list[dict]:
    """Rejected rows counted per sync and reason (of the latest run of each sync unless ``run_id``)."""
    if not isinstance(conn, psycopg.Connection):
        from .duck import history
        return history.rejection_reasons(conn, schema, syncs, run_id)
    if not has_state(conn, schema):
        return []
    query = sql.SQL(
        "select sync_name, reason, count(*) as rows, max(run_id) as run_id from {table} j "
        "where (%(all)s or sync_name = any(%(syncs)s)) and run_id = coalesce(%(run)s::bigint, "
        " (select max(run_id) from {table} k where k.sync_name = j.sync_name)) "
        "group by sync_name, reason order by sync_name, rows desc, reason"
    ).format(table=sql.Identifier(schema, "sync_rejections"))
    cur = conn.execute(query, {"all": not syncs, "syncs": list(syncs), "run": run_id})
    return [dict(zip(("sync_name", "reason", "rows", "run_id"), r)) for r in cur.fetchall()]


def format_run(run: dict) -> str:
    """One line per run, for people."""
    took = f" {run['seconds']:.1f}s" if run.get("seconds") is not None else ""
    counts = ", ".join(f"{run[k]:,} {k}" for k in ("created", "updated", "removed", "unchanged", "invalid",
                                                     "rejected", "failed") if run[k]) or "nothing to do"
    line = (f"{run['sync_name']} run {run['run_id']} {run['status']}{' (plan)' if run['dry_run'] else ''} "
            f"at {run['started_at'][:19].replace('T', ' ')}{took}: {counts}; {run['requests']:,} requests, "
            f"{run['data_points']:,} data points")
    return line + (f"; error: {run['error']}" if run.get("error") else "")
