"""Sync state on DuckDB: the tables of ``reverse_etl/state.py`` (same names, columns and meaning).

Differences from PostgreSQL, and why:

* no ``COPY FROM STDIN``: a batch of rows goes in as one list parameter per column, zipped back into rows
  by ``unnest`` in a single ``insert ... select`` (one statement per batch, not one per row);
* ``run_id`` comes from a sequence; no foreign key from rejections to runs (DuckDB has no ``on delete cascade``);
* the sync lock is held in the process (DuckDB already keeps other processes out of the file, see connection.py);
* the field hashes are ``json`` (DuckDB has no ``jsonb``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence

from ..diff import q
from ..state import COUNTERS
from .connection import DuckConnection

VERSION = 2  # the PostgreSQL migrations this schema matches (state.MIGRATIONS)

SCHEMA_DDL = """
    create sequence if not exists {schema}."sync_runs_run_id";
    create table if not exists {schema}.sync_runs (
        run_id bigint primary key default nextval({sequence}),
        sync_name varchar not null,
        status varchar not null,
        mode varchar not null,
        dry_run boolean not null default false,
        started_at timestamptz not null default current_timestamp,
        finished_at timestamptz,
        created integer not null default 0,
        updated integer not null default 0,
        removed integer not null default 0,
        unchanged integer not null default 0,
        invalid integer not null default 0,
        rejected integer not null default 0,
        failed integer not null default 0,
        possibly_duplicated integer not null default 0,
        requests integer not null default 0,
        data_points bigint not null default 0,
        error varchar,
        merged integer not null default 0
    );
    create table if not exists {schema}.sync_rejections (
        run_id bigint not null,
        sync_name varchar not null,
        identifier varchar,
        field varchar,
        reason varchar not null,
        rejected_at timestamptz not null default current_timestamp
    );
"""

SNAPSHOT_DDL = """
    create table if not exists {table} (
        id varchar primary key,
        row_hash bigint not null,
        status varchar not null,
        run_id bigint not null,
        delivered_at timestamptz not null default current_timestamp
    );
    create table if not exists {fields} (
        id varchar primary key,
        field_hashes json not null
    )
"""

# Threads of one process (serve's workers) share the file: the locks below are the whole story.
_schema_lock = threading.Lock()
_held: set[tuple[str, str]] = set()
_held_lock = threading.Lock()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ensure_schema(conn: DuckConnection, schema: str) -> None:
    """Create the state schema (idempotent; serialized in the process, DuckDB's catalog has no advisory lock)."""
    with _schema_lock, conn.transaction():
        conn.execute(f"create schema if not exists {q(schema)}")
        conn.execute(f"create table if not exists {q(schema)}.schema_migrations "
                     "(version integer primary key, applied_at timestamptz not null default current_timestamp)")
        applied = {r[0] for r in conn.execute(f"select version from {q(schema)}.schema_migrations").fetchall()}
        if VERSION not in applied:
            conn.execute(SCHEMA_DDL.format(schema=q(schema), sequence=_literal(f'{q(schema)}."sync_runs_run_id"')))
            conn.execute(f"insert into {q(schema)}.schema_migrations (version) select unnest(?) "
                         "on conflict do nothing", [[v for v in range(1, VERSION + 1) if v not in applied]])


def snapshot_table(schema: str, sync_name: str) -> str:
    return f"{q(schema)}.{q(f'snapshot__{sync_name}')}"


def fields_table(schema: str, sync_name: str) -> str:
    return f"{q(schema)}.{q(f'fields__{sync_name}')}"


def ensure_snapshot(conn: DuckConnection, schema: str, sync_name: str) -> None:
    with conn.transaction():
        conn.execute(SNAPSHOT_DDL.format(table=snapshot_table(schema, sync_name), fields=fields_table(schema, sync_name)))


def reset_snapshot(conn: DuckConnection, schema: str, sync_name: str) -> None:
    """--full-refresh: forget what was delivered, so every row is sent again."""
    with conn.transaction():
        for table in (snapshot_table(schema, sync_name), fields_table(schema, sync_name)):
            conn.execute(f"delete from {table}")


def try_lock(conn: DuckConnection, sync_name: str) -> bool:
    """One run per sync and file in this process (other processes cannot open the file meanwhile)."""
    with _held_lock:
        key = (conn.path, sync_name)
        if key in _held:
            return False
        _held.add(key)
        return True


def unlock(conn: DuckConnection, sync_name: str) -> None:
    with _held_lock:
        _held.discard((conn.path, sync_name))


def start_run(conn: DuckConnection, schema: str, sync_name: str, mode: str, dry_run: bool) -> int:
    with conn.transaction():
        # A run still marked running belongs to a process that died: say so.
        conn.execute(f"update {q(schema)}.sync_runs set status = 'interrupted', finished_at = now() "
                     "where sync_name = ? and status = 'running'", [sync_name])
        row = conn.execute(f"insert into {q(schema)}.sync_runs (sync_name, status, mode, dry_run) "
                           "values (?, 'running', ?, ?) returning run_id", [sync_name, mode, dry_run]).fetchone()
    return int(row[0])


def add_counts(conn: DuckConnection, schema: str, run_id: int, counts: dict[str, int]) -> None:
    """Add to the run's counters (inside the caller's transaction)."""
    items = [(k, v) for k, v in counts.items() if v and k in COUNTERS]
    if items:
        sets = ", ".join(f"{q(k)} = {q(k)} + ?" for k, _ in items)
        conn.execute(f"update {q(schema)}.sync_runs set {sets} where run_id = ?", [v for _, v in items] + [run_id])


def finish_run(conn: DuckConnection, schema: str, run_id: int, status: str, error: str | None = None) -> None:
    with conn.transaction():
        conn.execute(f"update {q(schema)}.sync_runs set status = ?, error = ?, finished_at = now() "
                     "where run_id = ?", [status, error, run_id])


def record_rejections(conn: DuckConnection, schema: str, run_id: int, sync_name: str,
                      rows: Sequence[tuple[str | None, str | None, str]]) -> None:
    """(identifier, field, reason) rows, inside the caller's transaction."""
    if rows:
        ids, fields, reasons = (list(c) for c in zip(*rows))
        conn.execute(f"insert into {q(schema)}.sync_rejections (run_id, sync_name, identifier, field, reason) "
                     "select ?, ?, unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[])",
                     [run_id, sync_name, ids, fields, reasons])


def upsert_snapshot(conn: DuckConnection, schema: str, sync_name: str, run_id: int,
                    rows: Iterable[tuple[str, int, dict | str, str]], attrs: Sequence[str] = ()) -> int:
    """Record (id, row_hash, field_hashes, status) rows as acknowledged, inside the caller's transaction
    (field_hashes: the diff's JSON text, which names its attributes: ``attrs`` is not needed here)."""
    # The last acknowledgement of an id wins: DuckDB refuses to update one row twice in one statement.
    latest = {id_: (row_hash, hashes, status) for id_, row_hash, hashes, status in rows}
    if not latest:
        return 0
    ids = list(latest)
    hashes = [h if isinstance(h, str) else json.dumps(h) for _, h, _ in latest.values()]
    conn.execute(f"insert into {snapshot_table(schema, sync_name)} (id, row_hash, status, run_id) "
                 "select unnest(?::varchar[]), unnest(?::bigint[]), unnest(?::varchar[]), ? "
                 "on conflict (id) do update set row_hash = excluded.row_hash, status = excluded.status, "
                 "run_id = excluded.run_id, delivered_at = now()",
                 [ids, [r[0] for r in latest.values()], [r[2] for r in latest.values()], run_id])
    conn.execute(f"insert into {fields_table(schema, sync_name)} (id, field_hashes) "
                 "select unnest(?::varchar[]), unnest(?::varchar[])::json "
                 "on conflict (id) do update set field_hashes = excluded.field_hashes", [ids, hashes])
    return len(ids)


def delete_from_snapshot(conn: DuckConnection, schema: str, sync_name: str, ids: Sequence[str]) -> None:
    if ids:
        for table in (snapshot_table(schema, sync_name), fields_table(schema, sync_name)):
            conn.execute(f"delete from {table} where id in (select unnest(?::varchar[]))", [list(ids)])
