"""Sync state in the warehouse, in a schema of its own (``rsync_braze`` by default), versioned.

    schema_migrations      applied versions (the schema migrates itself on first use by a newer release)
    sync_runs              one row per run: counts, timings, status, error (never a payload or a key)
    sync_rejections        rows not delivered, with the field and reason, per run
    snapshot__<sync>       per row Braze acknowledged: id, row hash, status, when (narrow: the diff joins it)
    fields__<sync>         per row: the per-attribute hashes (read only for changed rows, to name the fields)
    digest__<sync>         per bucket of identifiers: count and xor of the snapshot's row keys (digest.py)
    ledger__<sync>         per event or purchase delivered: its id, when (events are sent once)
    merges__<sync>         per retired id Braze merged into its surviving id (``merges:``), when

State changes only for what Braze acknowledged, in the same transaction as the run counters, committed batch
by batch: a crash loses at most the batches in flight, which the next run sends again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import psycopg
from psycopg import sql


MIGRATIONS: list[tuple[int, str]] = [
    (1, """
        create table if not exists {schema}.sync_runs (
            run_id bigserial primary key,
            sync_name text not null,
            status text not null,
            mode text not null,
            dry_run boolean not null default false,
            started_at timestamptz not null default clock_timestamp(),
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
            error text
        );
        create index if not exists sync_runs_by_sync on {schema}.sync_runs (sync_name, run_id desc);
        create table if not exists {schema}.sync_rejections (
            run_id bigint not null references {schema}.sync_runs (run_id) on delete cascade,
            sync_name text not null,
            identifier text,
            field text,
            reason text not null,
            rejected_at timestamptz not null default clock_timestamp()
        );
        create index if not exists sync_rejections_by_sync on {schema}.sync_rejections (sync_name, run_id);
    """),
    (2, """
        alter table {schema}.sync_runs add column if not exists merged integer not null default 0;
    """),
]

# The snapshot is kept narrow (no per-field hashes in it): the diff scans and hashes all of it on every run,
# and with the field hashes inline it was 4-5x wider than the rows it describes. The field hashes live in a
# side table read only for the ~1% of rows that changed.
SNAPSHOT_DDL = """
    create table if not exists {table} (
        id text primary key,
        row_hash bigint not null,
        status text not null,
        run_id bigint not null,
        delivered_at timestamptz not null default clock_timestamp()
    );
    create table if not exists {fields} (
        id text primary key,
        attrs text[] not null,
        hashes bigint[] not null
    )
"""

# The per-attribute hashes as a JSON object {attribute: hash} (releases before the digest) -> attrs, hashes.
FROM_JSON = ("(select coalesce(array_agg(key order by key), array[]::text[]), "
             "coalesce(array_agg(cast(value as bigint) order by key), array[]::bigint[]) from jsonb_each_text({json}))")


def ensure_schema(conn: psycopg.Connection, schema: str) -> None:
    """Create or migrate the state schema (idempotent, safe against concurrent first runs)."""
    ident = sql.Identifier(schema)
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('rsync_braze:migrations'))")
        conn.execute(sql.SQL("create schema if not exists {}").format(ident))
        conn.execute(sql.SQL("create table if not exists {}.schema_migrations "
                             "(version integer primary key, applied_at timestamptz not null default now())").format(ident))
        applied = {r[0] for r in conn.execute(sql.SQL("select version from {}.schema_migrations").format(ident))}
        for version, ddl in MIGRATIONS:
            if version in applied:
                continue
            conn.execute(sql.SQL(ddl).format(schema=ident))
            conn.execute(sql.SQL("insert into {}.schema_migrations (version) values (%s)").format(ident), (version,))


def snapshot_table(schema: str, sync_name: str) -> sql.Composable:
    return sql.Identifier(schema, f"snapshot__{sync_name}")


def fields_table(schema: str, sync_name: str) -> sql.Composable:
    return sql.Identifier(schema, f"fields__{sync_name}")


def _has_column(conn: psycopg.Connection, schema: str, table: str, column: str) -> bool:
    return conn.execute("select 1 from information_schema.columns where table_schema = %s and table_name = %s "
                        "and column_name = %s", (schema, table, column)).fetchone() is not None


def ensure_snapshot(conn: psycopg.Connection, schema: str, sync_name: str) -> None:
    """Create the sync's snapshot tables, or migrate an older release's: field hashes inline in the snapshot
    (first cut) or as JSON (before the digest) become the attrs/hashes arrays of the fields table."""
    table, fields = snapshot_table(schema, sync_name), fields_table(schema, sync_name)
    with conn.transaction():
        inline = _has_column(conn, schema, f"snapshot__{sync_name}", "field_hashes")
        if _has_column(conn, schema, f"fields__{sync_name}", "field_hashes"):
            conn.execute(sql.SQL("alter table {} add column attrs text[], add column hashes bigint[]").format(fields))
            conn.execute(sql.SQL("update {0} set (attrs, hashes) = " + FROM_JSON.format(json="field_hashes"))
                         .format(fields))
            conn.execute(sql.SQL("alter table {} drop column field_hashes, alter column attrs set not null, "
                                 "alter column hashes set not null").format(fields))
        conn.execute(sql.SQL(SNAPSHOT_DDL).format(table=table, fields=fields))
        if inline:
            conn.execute(sql.SQL("insert into {} (id, attrs, hashes) select id, j.* from {}, lateral "
                                 + FROM_JSON.format(json="field_hashes") + " as j on conflict (id) do nothing")
                         .format(fields, table))
            conn.execute(sql.SQL("alter table {} drop column field_hashes").format(table))
            # CLUSTER rewrites the table, so the dropped column's bytes stop costing every diff a scan.
            pkey = conn.execute("select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid "
                                "where i.indrelid = to_regclass(%s) and i.indisprimary",
                                (table.as_string(conn),)).fetchone()[0]
            conn.execute(sql.SQL("cluster {} using {}").format(table, sql.Identifier(pkey)))


def reset_snapshot(conn: psycopg.Connection, schema: str, sync_name: str) -> None:
    """--full-refresh: forget what was delivered, so every row is sent again (the digest follows, by trigger)."""
    with conn.transaction():
        conn.execute(sql.SQL("truncate {}, {}").format(snapshot_table(schema, sync_name), fields_table(schema, sync_name)))


def try_lock(conn: psycopg.Connection, sync_name: str) -> bool:
    """Session advisory lock: one run per sync at a time, released when the connection closes."""
    return bool(conn.execute("select pg_try_advisory_lock(hashtext(%s))", (f"rsync_braze:sync:{sync_name}",)).fetchone()[0])


def unlock(conn: psycopg.Connection, sync_name: str) -> None:
    """Release the sync's lock (a broken connection has released it already)."""
    if conn.closed or conn.broken:
        return
    try:
        conn.execute("select pg_advisory_unlock(hashtext(%s))", (f"rsync_braze:sync:{sync_name}",))
    except psycopg.Error:  # never hide the error that ended the run; closing the connection releases it
        pass


def start_run(conn: psycopg.Connection, schema: str, sync_name: str, mode: str, dry_run: bool) -> int:
    with conn.transaction():
        # A run still marked running belongs to a process that died: say so.
        conn.execute(sql.SQL("update {}.sync_runs set status = 'interrupted', finished_at = clock_timestamp() "
                             "where sync_name = %s and status = 'running'").format(sql.Identifier(schema)), (sync_name,))
        row = conn.execute(sql.SQL("insert into {}.sync_runs (sync_name, status, mode, dry_run) "
                                   "values (%s, 'running', %s, %s) returning run_id").format(sql.Identifier(schema)),
                           (sync_name, mode, dry_run)).fetchone()
    return int(row[0])


COUNTERS = ("created", "updated", "removed", "unchanged", "invalid", "rejected", "failed", "possibly_duplicated",
            "requests", "data_points", "merged")


def add_counts(conn: psycopg.Connection, schema: str, run_id: int, counts: dict[str, int]) -> None:
    """Add to the run's counters (inside the caller's transaction)."""
    items = [(k, v) for k, v in counts.items() if v and k in COUNTERS]
    if not items:
        return
    sets = sql.SQL(", ").join(sql.SQL("{0} = {0} + %s").format(sql.Identifier(k)) for k, _ in items)
    conn.execute(sql.SQL("update {}.sync_runs set {} where run_id = %s").format(sql.Identifier(schema), sets),
                 [v for _, v in items] + [run_id])


def finish_run(conn: psycopg.Connection, schema: str, run_id: int, status: str, error: str | None = None) -> None:
    with conn.transaction():
        conn.execute(sql.SQL("update {}.sync_runs set status = %s, error = %s, finished_at = clock_timestamp() "
                             "where run_id = %s").format(sql.Identifier(schema)), (status, error, run_id))


def record_rejections(conn: psycopg.Connection, schema: str, run_id: int, sync_name: str,
                      rows: Sequence[tuple[str | None, str | None, str]]) -> None:
    """(identifier, field, reason) rows, inside the caller's transaction."""
    if not rows:
        return
    with conn.cursor() as cur:
        cur.executemany(sql.SQL("insert into {}.sync_rejections (run_id, sync_name, identifier, field, reason) "
                                "values (%s, %s, %s, %s, %s)").format(sql.Identifier(schema)),
                        [(run_id, sync_name, i, f, r) for i, f, r in rows])


def upsert_snapshot(conn: psycopg.Connection, schema: str, sync_name: str, run_id: int,
                    rows: Iterable[tuple[str, int, dict | str, str]], attrs: Sequence[str] = ()) -> int:
    """Record (id, row_hash, field_hashes, status) rows as acknowledged, inside the caller's transaction.
    field_hashes: the text the diff returned (the bigint[] of the hashes of ``attrs``, the sync's mapped
    attributes in order), or an empty dict (nothing delivered: a removed row)."""
    rows = list(rows)
    if not rows:
        return 0
    with conn.cursor() as cur:
        cur.execute("create temp table if not exists _rb_acks (id text, row_hash bigint, field_hashes text, status text) "
                    "on commit delete rows")
        with cur.copy("copy _rb_acks (id, row_hash, field_hashes, status) from stdin") as copy:
            for id_, row_hash, hashes, status in rows:
                if isinstance(hashes, dict):
                    if hashes:
                        raise ValueError("field hashes are stored as the diff returned them, not as a dict")
                    hashes = "{}"
                copy.write_row((id_, row_hash, hashes, status))
        cur.execute(sql.SQL(
            "insert into {} (id, row_hash, status, run_id) "
            "select distinct on (id) id, row_hash, status, %s from _rb_acks "
            "on conflict (id) do update set row_hash = excluded.row_hash, "
            "status = excluded.status, run_id = excluded.run_id, delivered_at = clock_timestamp()"
        ).format(snapshot_table(schema, sync_name)), (run_id,))
        cur.execute(sql.SQL(
            "insert into {} (id, attrs, hashes) select distinct on (id) id, "
            "case when field_hashes = '{{}}' then array[]::text[] else %s::text[] end, cast(field_hashes as bigint[]) "
            "from _rb_acks on conflict (id) do update set attrs = excluded.attrs, hashes = excluded.hashes"
        ).format(fields_table(schema, sync_name)), (list(attrs),))
    return len(rows)


def delete_from_snapshot(conn: psycopg.Connection, schema: str, sync_name: str, ids: Sequence[str]) -> None:
    if ids:
        for table in (snapshot_table(schema, sync_name), fields_table(schema, sync_name)):
            conn.execute(sql.SQL("delete from {} where id = any(%s)").format(table), (list(ids),))


