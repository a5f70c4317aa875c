"""``status``/``history``/``rejections`` on DuckDB: the reads of ``reverse_etl/history.py``, same rows out."""

from __future__ import annotations

from collections.abc import Iterator

from ..diff import q
from ..history import REJECTION_COLUMNS, RUN_COLUMNS, _as_dict
from .connection import DuckConnection, stream


def has_state(conn: DuckConnection, schema: str) -> bool:
    """Whether the state schema exists with its run log (a file never synced has none)."""
    return conn.execute("select count(*) from information_schema.tables where table_schema = ? "
                        "and table_name = 'sync_runs'", [schema]).fetchone()[0] > 0


def runs(conn: DuckConnection, schema: str, syncs: tuple[str, ...] = (), limit: int = 20,
         status: str | None = None) -> Iterator[dict]:
    """The latest ``limit`` runs of each sync (all syncs when none are named), newest first."""
    if not has_state(conn, schema):
        return
    cols = ", ".join(q(c) for c in RUN_COLUMNS)
    query = (f"select {cols}, date_diff('microsecond', started_at, finished_at) / 1e6 as seconds from ("
             f" select r.*, row_number() over (partition by sync_name order by run_id desc) as nth"
             f" from {q(schema)}.sync_runs r where (? or list_contains(?::varchar[], sync_name))"
             f" and (?::varchar is null or status = ?)"
             f") ranked where nth <= ? order by run_id desc")
    for row in stream(conn, query, [not syncs, list(syncs), status, status, limit]):
        yield _as_dict((*RUN_COLUMNS, "seconds"), row)


def rejections(conn: DuckConnection, schema: str, syncs: tuple[str, ...] = (), run_id: int | None = None,
               limit: int = 100) -> Iterator[dict]:
    """Rejected rows, newest run first: identifier, field and reason."""
    if not has_state(conn, schema):
        return
    query = (f"select {', '.join(q(c) for c in REJECTION_COLUMNS)} from {q(schema)}.sync_rejections "
             "where (? or list_contains(?::varchar[], sync_name)) and (?::bigint is null or run_id = ?) "
             "order by run_id desc, rejected_at desc limit ?")
    for row in stream(conn, query, [not syncs, list(syncs), run_id, run_id, limit]):
        yield _as_dict(REJECTION_COLUMNS, row)


def rejection_reasons(conn: DuckConnection, schema: str, syncs: tuple[str, ...] = (),
                      run_id: int | None = None) -> list[dict]:
    """Rejected rows counted per sync and reason (of the latest run of each sync unless ``run_id``)."""
    if not has_state(conn, schema):
        return []
    table = f"{q(schema)}.sync_rejections"
    rows = conn.execute(
        f"select sync_name, reason, count(*) as rows, max(run_id) as run_id from {table} j "
        "where (? or list_contains(?::varchar[], sync_name)) and run_id = coalesce(?::bigint, "
        f" (select max(run_id) from {table} k where k.sync_name = j.sync_name)) "
        "group by sync_name, reason order by sync_name, rows desc, reason",
        [not syncs, list(syncs), run_id]).fetchall()
    return [dict(zip(("sync_name", "reason", "rows", "run_id"), r)) for r in rows]
