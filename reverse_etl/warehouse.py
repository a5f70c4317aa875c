"""The one module that talks SQL to the warehouse.

Identifiers that come from configuration are always quoted (``psycopg.sql.Identifier``); values are always
bound parameters. Rows are streamed: ``copy_rows`` pushes an iterator into ``COPY ... FROM STDIN`` and
``stream`` reads through a server-side cursor, so Python memory stays flat whatever the table size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg import sql

from .errors import WarehouseError
from .profiles import ConnectionSpec


def connect(spec: ConnectionSpec, *, autocommit: bool = False, application_name: str = "rsync-braze") -> psycopg.Connection:
    """Open a connection to the target, with a clear error (never the password) when it fails.

    A DuckDB target opens its file instead (``reverse_etl/duck/connection.py``), for the sync runner's commands
    only: the others (named by their ``application_name``) say they need PostgreSQL."""
    if spec.type == "duckdb":
        if application_name != "rsync-braze":
            raise WarehouseError(
                f"`{application_name}` needs a PostgreSQL target; {spec.describe()} is DuckDB (on DuckDB, rsync-braze "
                "runs syncs: run, plan, validate, status, history, rejections, init). Pass --target a PostgreSQL "
                "target for it.")
        from .duck.connection import connect as connect_duckdb
        return connect_duckdb(spec, autocommit=autocommit)
    try:
        return psycopg.connect(
            host=spec.host,
            port=spec.port,
            user=spec.user,
            password=spec.password or None,
            dbname=spec.dbname,
            autocommit=autocommit,
            connect_timeout=int(spec.extra.get("connect_timeout", 10)),
            application_name=application_name,
        )
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())
        if spec.password:
            reason = reason.replace(spec.password, "***")
        hint = (
            "Start the embedded warehouse with `rsync-braze warehouse start`."
            if spec.host in ("127.0.0.1", "localhost") and "embedded" in spec.target
            else "Check that the server runs and that the target's host, port and credentials are right."
        )
        raise WarehouseError(f"Cannot reach the warehouse {spec.describe()}: {reason}. {hint}") from None


def ident(*parts: str) -> sql.Composable:
    """A quoted, possibly schema-qualified identifier."""
    return sql.Identifier(*parts)


def ensure_schema(conn: psycopg.Connection, schema: str) -> None:
    conn.execute(sql.SQL("create schema if not exists {}").format(ident(schema)))


def copy_rows(conn: psycopg.Connection, schema: str, table: str, columns: Sequence[str],
              rows: Iterable[Sequence[object]]) -> int:
    """Stream ``rows`` into ``schema.table`` with COPY; returns the number of rows written."""
    statement = sql.SQL("copy {} ({}) from stdin").format(
        ident(schema, table), sql.SQL(", ").join(ident(c) for c in columns)
    )
    count = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def stream(conn: psycopg.Connection, query: sql.Composable | str, params: Sequence[object] | None = None,
           *, chunk_size: int = 10_000, name: str = "rsync_braze_stream") -> Iterator[tuple]:
    """Yield the rows of ``query`` through a server-side cursor, ``chunk_size`` at a time."""
    with conn.cursor(name=name) as cur:
        cur.itersize = chunk_size
        cur.execute(query, params)
        yield from cur


def fetch_one(conn: psycopg.Connection, template: str, schema: str, table: str,
              params: Sequence[object] | None = None) -> tuple | None:
    """Run ``template`` whose one ``{}`` is the quoted relation ``schema.table``; return its first row."""
    return conn.execute(sql.SQL(template).format(ident(schema, table)), params).fetchone()


def count_rows(conn: psycopg.Connection, schema: str, table: str) -> int:
    row = conn.execute(sql.SQL("select count(*) from {}").format(ident(schema, table))).fetchone()
    return int(row[0])


def relation_exists(conn: psycopg.Connection, schema: str, name: str) -> bool:
    row = conn.execute(
        "select 1 from information_schema.tables where table_schema = %s and table_name = %s", (schema, name)
    ).fetchone()
    return row is not None


def create_table(conn: psycopg.Connection, schema: str, table: str, columns: Sequence[tuple[str, str]],
                 *, replace: bool = False) -> None:
    """Create ``schema.table`` from (name, SQL type) pairs; types come from code, never from configuration.

    ``replace`` drops the table first, with the views built on it (dbt's staging views: the next
    ``dbt build`` creates them again).
    """
    if replace:
        conn.execute(sql.SQL("drop table if exists {} cascade").format(ident(schema, table)))
    conn.execute(sql.SQL("create table {} ({})").format(
        ident(schema, table),
        sql.SQL(", ").join(sql.SQL("{} {}").format(ident(name), sql.SQL(kind)) for name, kind in columns),
    ))


@contextmanager
def copy_text(conn: psycopg.Connection, schema: str, table: str, columns: Sequence[str]) -> Iterator[Callable[[str], None]]:
    """COPY from preformatted PostgreSQL text-format lines; yields ``write(text)``.

    The caller writes whole lines: tab-separated, ``\\N`` for NULL, ``\\n``-terminated, with backslash, tab
    and newline escaped (``copy_escape``). Skipping per-value adaptation is what makes bulk loads fast.
    """
    statement = sql.SQL("copy {} ({}) from stdin").format(
        ident(schema, table), sql.SQL(", ").join(ident(c) for c in columns)
    )
    with conn.cursor() as cur, cur.copy(statement) as copy:
        yield copy.write


def copy_escape(value: str) -> str:
    """Escape a value for COPY text format (only needed for text we did not produce ourselves)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def create_temp_like(conn: psycopg.Connection, schema: str, table: str, columns: Sequence[str], name: str) -> None:
    """A session temporary table ``name`` with ``columns`` of ``schema.table`` (same types), dropped at commit."""
    conn.execute(sql.SQL("create temp table {} on commit drop as select {} from {} with no data").format(
        ident(name), sql.SQL(", ").join(ident(c) for c in columns), ident(schema, table)
    ))


def update_from_temp(conn: psycopg.Connection, schema: str, table: str, temp: str, keys: Sequence[str],
                     columns: Sequence[str]) -> int:
    """``update schema.table from temp`` on ``keys``; a NULL in ``temp`` leaves that column unchanged."""
    statement = sql.SQL("update {target} as t set {sets} from {temp} as u where {match}").format(
        target=ident(schema, table),
        temp=ident(temp),
        sets=sql.SQL(", ").join(
            sql.SQL("{c} = coalesce(u.{c}, t.{c})").format(c=ident(c)) for c in columns
        ),
        match=sql.SQL(" and ").join(sql.SQL("t.{k} = u.{k}").format(k=ident(k)) for k in keys),
    )
    return conn.execute(statement).rowcount


def select_all(conn: psycopg.Connection, schema: str, table: str, columns: Sequence[str]) -> list[tuple]:
    """Every row of a small table (metadata only: big tables go through ``stream``)."""
    statement = sql.SQL("select {} from {}").format(
        sql.SQL(", ").join(ident(c) for c in columns), ident(schema, table)
    )
    return conn.execute(statement).fetchall()
