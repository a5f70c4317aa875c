"""What the sync engine asks of the warehouse it runs on: one object per warehouse type.

The engine, the recorder and the read commands never write warehouse-specific SQL themselves: they ask the
dialect of their target (:func:`for_target`) or of their connection (:func:`of`) to connect, stream a query,
open a consistent read, list a relation's columns, build the diff, and for the state/ledger/merges writes
(``dialect.state``, ``.ledger``, ``.merges``: modules with the same functions on every warehouse).

    PostgreSQL   reverse_etl/{warehouse,state,ledger,merges,diff}.py   (COPY, server-side cursors, advisory locks)
    DuckDB       reverse_etl/duck/                                      (see its __init__ for the differences)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from functools import cached_property
from importlib import import_module
from pathlib import Path

from .diff import DIFF_SETTINGS
from .profiles import ConnectionSpec

log = logging.getLogger("reverse_etl.engine")


class Postgres:
    """PostgreSQL: the modules the engine was written against."""

    name = "postgres"
    package = "reverse_etl"  # where its state, ledger, merges and diff modules are

    def connect(self, spec: ConnectionSpec, *, autocommit: bool = False, sync: str | None = None):
        from .warehouse import connect
        return connect(spec, autocommit=autocommit)

    @cached_property
    def state(self):
        return import_module(f"{self.package}.state")

    @cached_property
    def ledger(self):
        return import_module(f"{self.package}.ledger")

    @cached_property
    def merges(self):
        return import_module(f"{self.package}.merges")

    def diff_query(self, spec, all_values: bool = False, buckets: Sequence[int] | None = None,
                   lean: bool = False) -> str:
        """The diff (``buckets``: of these digest buckets only, ``lean``: with the lean duplicate check;
        PostgreSQL, see digest.py and diff.diff_query)."""
        if buckets is None:
            return import_module(f"{self.package}.diff").diff_query(spec, all_values=all_values)
        return import_module(f"{self.package}.diff").diff_query(spec, all_values=all_values, buckets=buckets,
                                                                lean_duplicates=lean)

    def ensure_digest(self, conn, schema: str, sync_name: str) -> str | None:
        """The quoted digest table of a sync's snapshot, created with its triggers if missing (digest.py), or
        None where the warehouse has none (PostgreSQL before 14, DuckDB): the diff then joins every row."""
        import psycopg

        from . import digest
        from .diff import relation
        if not digest.supported(conn):
            return None
        try:
            with conn.transaction():
                digest.ensure(conn, schema, sync_name)
        except psycopg.errors.InsufficientPrivilege as exc:
            log.warning("sync %s: no digest for its snapshot (%s): its diff joins every row. To give it one, run "
                        "rsync-braze once as the owner of %s.snapshot__%s", sync_name, str(exc).splitlines()[0],
                        schema, sync_name)
            return None
        return relation(schema, digest.digest_name(sync_name))

    def stream(self, conn, query, params: Sequence[object] | None = None, *, chunk_size: int = 10_000,
               name: str = "rsync_braze_stream") -> Iterator[tuple]:
        from .warehouse import stream
        return stream(conn, query, params, chunk_size=chunk_size, name=name)

    def consistent_read(self, conn) -> None:
        """Make the transaction starting now see one state throughout (the count and the stream after it), and
        plan the diff or ledger query that follows with hash joins only (see diff.DIFF_SETTINGS)."""
        conn.execute("set transaction isolation level repeatable read")
        conn.execute(DIFF_SETTINGS)

    def column_types(self, conn, schema: str, name: str) -> dict[str, str]:
        """Column name -> type name the diff hashes by (PostgreSQL's udt_name); empty when no such relation."""
        return dict(conn.execute("select column_name, udt_name from information_schema.columns "
                                 "where table_schema = %s and table_name = %s", (schema, name)).fetchall())

    def data_types(self, conn, schema: str, name: str) -> list[tuple[str, str]]:
        """(column, information_schema data_type in PostgreSQL's spelling) in column order."""
        return conn.execute("select column_name, data_type from information_schema.columns "
                            "where table_schema = %s and table_name = %s order by ordinal_position",
                            (schema, name)).fetchall()

    def known_unique(self, conn, sync, model_relation: str, project_dir: Path) -> str | None:
        from .uniqueness import known_unique
        return known_unique(conn, sync, model_relation, project_dir)


# DuckDB's information_schema data_type -> PostgreSQL's spelling (what validate and init compare against).
DUCK_TYPES = {
    "VARCHAR": "text", "BIGINT": "bigint", "INTEGER": "integer", "SMALLINT": "smallint", "TINYINT": "smallint",
    "UTINYINT": "smallint", "USMALLINT": "integer", "UINTEGER": "bigint", "UBIGINT": "numeric", "HUGEINT": "numeric",
    "UHUGEINT": "numeric", "DOUBLE": "double precision", "FLOAT": "real", "BOOLEAN": "boolean", "DATE": "date",
    "TIMESTAMP": "timestamp without time zone", "TIMESTAMP_S": "timestamp without time zone",
    "TIMESTAMP_MS": "timestamp without time zone", "TIMESTAMP_NS": "timestamp without time zone",
    "TIMESTAMP WITH TIME ZONE": "timestamp with time zone", "UUID": "uuid", "JSON": "json",
}


def duck_type(data_type: str) -> str:
    """A DuckDB column type in PostgreSQL's information_schema spelling (lists are ``ARRAY``, structs ``json``)."""
    if data_type.endswith("]"):
        return "ARRAY"
    if data_type.startswith("DECIMAL"):
        return "numeric"
    if data_type.startswith(("STRUCT", "MAP")):
        return "json"
    return DUCK_TYPES.get(data_type, data_type.lower())


class DuckDB(Postgres):
    """DuckDB (a dbt-duckdb target's file): ``reverse_etl/duck/``."""

    name = "duckdb"
    package = "reverse_etl.duck"

    def connect(self, spec: ConnectionSpec, *, autocommit: bool = False, sync: str | None = None):
        from .duck.connection import connect
        return connect(spec, autocommit=autocommit, sync=sync)

    def stream(self, conn, query, params: Sequence[object] | None = None, *, chunk_size: int = 10_000,
               name: str = "") -> Iterator[tuple]:
        from .duck.connection import stream
        return stream(conn, query, params, chunk_size=chunk_size)

    def consistent_read(self, conn) -> None:
        """Nothing to ask: every DuckDB transaction reads one snapshot (the next statement begins one)."""

    def ensure_digest(self, conn, schema: str, sync_name: str) -> str | None:
        return None  # no triggers in DuckDB: its diff joins every row

    def column_types(self, conn, schema: str, name: str) -> dict[str, str]:
        return dict(conn.execute("select column_name, data_type from information_schema.columns "
                                 "where table_schema = ? and table_name = ?", [schema, name]).fetchall())

    def data_types(self, conn, schema: str, name: str) -> list[tuple[str, str]]:
        rows = conn.execute("select column_name, data_type from information_schema.columns "
                            "where table_schema = ? and table_name = ? order by ordinal_position",
                            [schema, name]).fetchall()
        return [(c, duck_type(t)) for c, t in rows]

    def known_unique(self, conn, sync, model_relation: str, project_dir: Path) -> str | None:
        from .uniqueness import known_unique
        return known_unique(conn, sync, model_relation, project_dir, find_index=self.unique_constraint)

    @staticmethod
    def unique_constraint(conn, model_relation: str, column: str) -> str | None:
        """A primary key or unique constraint on exactly ``column`` of the (quoted) relation, if any."""
        from sqlglot import exp
        table = exp.to_table(model_relation, dialect="postgres")
        row = conn.execute("select constraint_type from duckdb_constraints() where schema_name = ? and table_name = ? "
                           "and constraint_type in ('PRIMARY KEY', 'UNIQUE') and constraint_column_names = [?]",
                           [table.db, table.name, column]).fetchone()
        return f"{column} ({row[0].lower()})" if row else None


POSTGRES, DUCKDB = Postgres(), DuckDB()


def for_target(spec: ConnectionSpec) -> Postgres:
    """The dialect of a resolved dbt target."""
    return DUCKDB if spec.type == "duckdb" else POSTGRES


def of(conn) -> Postgres:
    """The dialect of an open connection (for the read commands, which receive a connection)."""
    from .duck.connection import DuckConnection
    return DUCKDB if isinstance(conn, DuckConnection) else POSTGRES
