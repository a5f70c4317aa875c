"""Warehouse tables of the sources: raw tables, the ledger of loaded files, rejected rows.

    <state_schema>.source_files     one row per file loaded: source, path, size, mtime, sha256, rows, rejected,
                                    loaded_at; changed_at / changed_checksum when the file changed afterwards
    <state_schema>.source_rejects   rows not loaded: source, path, line, reason, the raw text (first 1,000 chars)
    <state_schema>.source_cursors   API sources: where the next run resumes (a Salesforce SystemModstamp, a
                                    Zendesk after_cursor), written in the transaction of the page it follows
    <schema>.raw_<source>           the rows: ``_file_name``, ``_line_number``, ``_file_date``, ``_loaded_at``,
                                    then one text column per CSV column (new ones are added), or ``payload jsonb``
                                    for JSON
    <schema>.raw_<source> (webhook) ``_id``, ``_received_at``, ``_idempotency_key`` (unique), ``payload jsonb``
    <schema>.raw_<source> (API)     ``_id`` (primary key), ``_modified_at``, ``_deleted``, ``_loaded_at``,
                                    ``payload jsonb``: one row per record, upserted

The ledger row of a file is written in the same transaction as its rows and rejects, so a file is either
entirely loaded and recorded, or not at all (a crash mid-file leaves nothing; the next run loads it).
Identifiers from configuration are quoted; values are bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg
from psycopg import sql

from ..realtime import notify
from ..warehouse import copy_rows, ident

FILE_META = (("_file_name", "text not null"), ("_line_number", "bigint not null"), ("_file_date", "date"),
             ("_loaded_at", "timestamptz not null default clock_timestamp()"))
REJECT_COLUMNS = ("source", "path", "line", "reason", "raw")
RAW_TEXT_LIMIT = 1000


def ensure_state(conn: psycopg.Connection, state_schema: str) -> None:
    """Create the ledger and rejects tables (idempotent; serialized against concurrent first runs)."""
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('rsync_braze:sources:ddl'))")
        conn.execute(sql.SQL("create schema if not exists {}").format(ident(state_schema)))
        conn.execute(sql.SQL("""
            create table if not exists {} (
                source text not null,
                path text not null,
                size bigint not null,
                mtime double precision,
                checksum text not null,
                rows bigint not null,
                rejected bigint not null,
                loaded_at timestamptz not null default clock_timestamp(),
                changed_at timestamptz,
                changed_checksum text,
                primary key (source, path)
            )""").format(ident(state_schema, "source_files")))
        conn.execute(sql.SQL("""
            create table if not exists {} (
                source text not null,
                path text not null,
                line bigint,
                reason text not null,
                raw text,
                rejected_at timestamptz not null default clock_timestamp()
            )""").format(ident(state_schema, "source_rejects")))
        conn.execute(sql.SQL("create index if not exists source_rejects_by_file on {} (source, path)").format(
            ident(state_schema, "source_rejects")))
        conn.execute(sql.SQL("""
            create table if not exists {} (
                source text primary key,
                cursor text not null,
                pages bigint not null default 0,
                records bigint not null default 0,
                updated_at timestamptz not null default clock_timestamp()
            )""").format(ident(state_schema, "source_cursors")))


def try_lock(conn: psycopg.Connection, source: str) -> bool:
    """Session lock: one ingest per source at a time (released when the connection closes)."""
    row = conn.execute("select pg_try_advisory_lock(hashtext('rsync_braze:ingest:' || %s))", (source,)).fetchone()
    conn.commit()
    return bool(row[0])


def ledger(conn: psycopg.Connection, state_schema: str, source: str) -> dict[str, tuple[int, float | None, str]]:
    """path -> (size, mtime, checksum) of the files already loaded (one small row per file)."""
    rows = conn.execute(sql.SQL("select path, size, mtime, checksum from {} where source = %s").format(
        ident(state_schema, "source_files")), (source,)).fetchall()
    conn.commit()
    return {path: (size, mtime, checksum) for path, size, mtime, checksum in rows}


def record_file(conn: psycopg.Connection, state_schema: str, source: str, path: str, size: int,
                mtime: float | None, checksum: str, rows: int, rejected: int) -> None:
    """The ledger row, inside the file's transaction; a concurrent load of the same file fails on the key."""
    conn.execute(sql.SQL("insert into {} (source, path, size, mtime, checksum, rows, rejected) "
                         "values (%s, %s, %s, %s, %s, %s, %s)").format(ident(state_schema, "source_files")),
                 (source, path, size, mtime, checksum, rows, rejected))


def touch_file(conn: psycopg.Connection, state_schema: str, source: str, path: str, mtime: float | None) -> None:
    """Same content, new modification time (a copy or ``touch``): remember the time to skip the checksum next run."""
    conn.execute(sql.SQL("update {} set mtime = %s where source = %s and path = %s").format(
        ident(state_schema, "source_files")), (mtime, source, path))
    conn.commit()


def mark_changed(conn: psycopg.Connection, state_schema: str, source: str, path: str, checksum: str) -> None:
    """A loaded file whose content changed: recorded for the report, never reloaded silently."""
    conn.execute(sql.SQL("update {} set changed_at = coalesce(changed_at, clock_timestamp()), "
                         "changed_checksum = %s where source = %s and path = %s").format(
        ident(state_schema, "source_files")), (checksum, source, path))
    conn.commit()


def ensure_file_table(conn: psycopg.Connection, schema: str, table: str,
                      data_columns: Sequence[tuple[str, str]]) -> None:
    """Create the raw table, or add the columns it lacks (schema drift: a new CSV column becomes a new column)."""
    conn.execute(sql.SQL("create schema if not exists {}").format(ident(schema)))
    columns = [*FILE_META, *data_columns]
    conn.execute(sql.SQL("create table if not exists {} ({})").format(
        ident(schema, table),
        sql.SQL(", ").join(sql.SQL("{} {}").format(ident(n), sql.SQL(t)) for n, t in columns)))
    have = {r[0] for r in conn.execute(
        "select column_name from information_schema.columns where table_schema = %s and table_name = %s",
        (schema, table))}
    for name, kind in data_columns:
        if name not in have:
            conn.execute(sql.SQL("alter table {} add column {} {}").format(ident(schema, table), ident(name),
                                                                            sql.SQL(kind)))


def copy_rejects(conn: psycopg.Connection, state_schema: str, rejects: Iterable[Sequence[object]]) -> int:
    """COPY the rejected rows (source, path, line, reason, raw) of one file."""
    return copy_rows(conn, state_schema, "source_rejects", REJECT_COLUMNS, rejects)


def ensure_webhook_table(conn: psycopg.Connection, schema: str, table: str) -> None:
    """The webhook raw table; the unique idempotency key makes a retried request a no-op."""
    conn.execute(sql.SQL("create schema if not exists {}").format(ident(schema)))
    conn.execute(sql.SQL("""
        create table if not exists {} (
            _id bigserial primary key,
            _received_at timestamptz not null default clock_timestamp(),
            _idempotency_key text unique,
            payload jsonb not null
        )""").format(ident(schema, table)))


def ensure_api_table(conn: psycopg.Connection, schema: str, table: str) -> None:
    """The raw table of an API source: one row per record id, the latest version seen."""
    conn.execute(sql.SQL("create schema if not exists {}").format(ident(schema)))
    conn.execute(sql.SQL("""
        create table if not exists {} (
            _id text primary key,
            _modified_at timestamptz not null,
            _deleted boolean not null default false,
            _loaded_at timestamptz not null default clock_timestamp(),
            payload jsonb not null
        )""").format(ident(schema, table)))
    conn.commit()


def read_cursor(conn: psycopg.Connection, state_schema: str, source: str) -> str | None:
    """Where the source's next run starts (None before its first committed page)."""
    row = conn.execute(sql.SQL("select cursor from {} where source = %s").format(
        ident(state_schema, "source_cursors")), (source,)).fetchone()
    conn.commit()
    return row[0] if row else None


def commit_page(conn: psycopg.Connection, state_schema: str, schema: str, table: str, source: str,
                records: Sequence[tuple[str, object, bool, str]], cursor: str) -> int:
    """Upsert one page's records (id, modified_at, deleted, payload JSON) and move the cursor past them, in one
    transaction: a crash leaves both or neither. Returns how many rows were new or changed (a re-read of the
    same version, or an older one, changes nothing).

    The page is COPYed into a temporary table, then upserted by one INSERT ... SELECT (about 5 times faster than
    binding arrays: 2,000 records in 35 ms instead of 170 ms, measured on the embedded warehouse)."""
    with conn.transaction():
        conn.execute("create temp table if not exists _rsync_braze_api_page (_id text, _modified_at timestamptz, "
                     "_deleted boolean, payload jsonb) on commit delete rows")
        copy_rows(conn, "pg_temp", "_rsync_braze_api_page", ("_id", "_modified_at", "_deleted", "payload"), records)
        # One row per id (ON CONFLICT cannot touch a row twice in a statement): the latest version of the page.
        cur = conn.execute(sql.SQL("""
            insert into {t} as t (_id, _modified_at, _deleted, payload)
            select distinct on (_id) _id, _modified_at, _deleted, payload from pg_temp._rsync_braze_api_page
            order by _id, _modified_at desc
            on conflict (_id) do update set _modified_at = excluded._modified_at, _deleted = excluded._deleted,
                payload = excluded.payload, _loaded_at = clock_timestamp()
            where excluded._modified_at >= t._modified_at
              and (excluded._modified_at, excluded._deleted, excluded.payload)
                  is distinct from (t._modified_at, t._deleted, t.payload)""").format(t=ident(schema, table)))
        changed = cur.rowcount
        conn.execute(sql.SQL("""
            insert into {} as c (source, cursor, pages, records) values (%s, %s, 1, %s)
            on conflict (source) do update set cursor = excluded.cursor, pages = c.pages + 1,
                records = c.records + excluded.records, updated_at = clock_timestamp()""").format(
            ident(state_schema, "source_cursors")), (source, cursor, len(records)))
        notify(conn, source)  # realtime syncs fed by this source hear of the page at commit only
    return changed
