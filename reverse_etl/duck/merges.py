"""The merge ledger of a sync's ``merges:`` on DuckDB (see ``reverse_etl/merges.py`` for what it means).

``pending_query`` is the PostgreSQL one (plain SQL DuckDB reads as is); the writes take list parameters.
"""

from __future__ import annotations

from ..diff import q
from ..merges import pending_query  # noqa: F401 (same API as reverse_etl.merges)
from .connection import DuckConnection

MERGES_DDL = """
    create table if not exists {table} (
        retired_id varchar primary key,
        surviving_id varchar not null,
        status varchar not null,
        run_id bigint not null,
        merged_at timestamptz not null default current_timestamp
    )
"""


def table(schema: str, sync_name: str) -> str:
    return f"{q(schema)}.{q(f'merges__{sync_name}')}"


def ensure_ledger(conn: DuckConnection, schema: str, sync_name: str) -> None:
    with conn.transaction():
        conn.execute(MERGES_DDL.format(table=table(schema, sync_name)))


def record(conn: DuckConnection, schema: str, sync_name: str, run_id: int, rows: list[tuple[str, str, str]]) -> None:
    """(retired, surviving, status) rows, inside the caller's transaction; for ``merged`` ones, the retired id
    leaves the snapshot and the surviving one's delivered hashes are cleared (all its fields resent)."""
    latest = {r: (s, status) for r, s, status in rows}
    if not latest:
        return
    conn.execute(f"insert into {table(schema, sync_name)} (retired_id, surviving_id, status, run_id) "
                 "select unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[]), ? on conflict do nothing",
                 [list(latest), [s for s, _ in latest.values()], [st for _, st in latest.values()], run_id])
    merged = [(r, s) for r, (s, status) in latest.items() if status == "merged"]
    if not merged:
        return
    retired, surviving = [r for r, _ in merged], list(dict.fromkeys(s for _, s in merged))
    snapshot, fields = f"{q(schema)}.{q(f'snapshot__{sync_name}')}", f"{q(schema)}.{q(f'fields__{sync_name}')}"
    for t in (snapshot, fields):
        conn.execute(f"delete from {t} where id in (select unnest(?::varchar[]))", [retired])
    conn.execute(f"update {snapshot} set row_hash = 0 where id in (select unnest(?::varchar[]))", [surviving])
    conn.execute(f"update {fields} set field_hashes = '{{}}' where id in (select unnest(?::varchar[]))", [surviving])
