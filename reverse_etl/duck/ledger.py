"""The events/purchases ledger on DuckDB (see ``reverse_etl/ledger.py`` for what it means).

The ledger query itself is the PostgreSQL one (plain SQL DuckDB reads as is); only the writes differ: a batch
of event ids goes in as list parameters, zipped by ``unnest``.
"""

from __future__ import annotations

from ..diff import q
from ..ledger import check_config, columns, delivered_count_query, ledger_query, track_row  # noqa: F401 (same API)
from .connection import DuckConnection
from .connection import stream as _stream

LEDGER_DDL = """
    create table if not exists {table} (
        event_id varchar primary key,
        status varchar not null,
        possibly_duplicated boolean not null default false,
        run_id bigint not null,
        delivered_at timestamptz not null default current_timestamp
    )
"""


def ledger_table(schema: str, sync_name: str) -> str:
    return f"{q(schema)}.{q(f'ledger__{sync_name}')}"


def ensure_ledger(conn: DuckConnection, schema: str, sync_name: str) -> None:
    with conn.transaction():
        conn.execute(LEDGER_DDL.format(table=ledger_table(schema, sync_name)))


def stream(conn: DuckConnection, query: str):
    return _stream(conn, query, chunk_size=5000)


def mark_sending(conn: DuckConnection, schema: str, sync_name: str, run_id: int, event_ids: list[str]) -> None:
    """Commit ``event_ids`` as handed over to Braze (before the request leaves), in a transaction of their own."""
    if not event_ids:
        return
    with conn.transaction():
        conn.execute(f"insert into {ledger_table(schema, sync_name)} as l (event_id, status, run_id) "
                     "select unnest(?::varchar[]), 'sending', ? "
                     "on conflict (event_id) do update set run_id = excluded.run_id where l.status = 'sending'",
                     [list(dict.fromkeys(event_ids)), run_id])


def record(conn: DuckConnection, schema: str, sync_name: str, run_id: int, rows: list[tuple[str, str, bool]]) -> None:
    """(event_id, status, possibly_duplicated) rows, inside the caller's transaction: Braze's answer for events
    marked ``sending`` (an event already delivered keeps its record)."""
    latest = {i: (s, d) for i, s, d in rows}  # one row per id: DuckDB updates a row once per statement
    if not latest:
        return
    conn.execute(f"insert into {ledger_table(schema, sync_name)} as l (event_id, status, possibly_duplicated, run_id) "
                 "select unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::boolean[]), ? "
                 "on conflict (event_id) do update set status = excluded.status, "
                 "possibly_duplicated = excluded.possibly_duplicated, run_id = excluded.run_id, "
                 "delivered_at = now() where l.status = 'sending'",
                 [list(latest), [s for s, _ in latest.values()], [d for _, d in latest.values()], run_id])
