"""A DuckDB database file opened with the few psycopg manners the engine relies on.

* Transactions as psycopg: a connection opened without ``autocommit`` begins one at its first statement and
  keeps it until ``commit()``/``rollback()``; ``transaction()`` commits a block (nested blocks join the outer
  one: DuckDB has no savepoints). ``rollback()`` with nothing begun is a no-op, as in psycopg.
* Every ``duckdb.Error`` becomes a :class:`DuckError` (a WarehouseError: exit code 3, one line).
* The file is locked by DuckDB for one process: a second process gets :class:`FileInUse`, naming the file, the
  process holding it and, for a run, the sync.

Connections of one process share one database instance (DuckDB caches it by path), so the engine's reading
and writing connections see each other's commits, each in its own snapshot.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import WarehouseError
from ..profiles import ConnectionSpec


MIN_VERSION = (1, 3)


class DuckError(WarehouseError):
    """A statement DuckDB refused (or an I/O error on the file)."""


class FileInUse(WarehouseError):
    """Another process holds the DuckDB file's write lock."""

    exit_code = 5  # as SyncLocked: "busy, try again later", not "broken"


def _duckdb():
    try:
        import duckdb
    except ImportError:  # pragma: no cover - dbt-duckdb installs it
        raise WarehouseError("The target is a DuckDB file but the duckdb package is not installed: "
                             "pip install 'rsync-braze[duckdb]' (or dbt-duckdb).") from None
    if tuple(int(p) for p in re.findall(r"\d+", duckdb.__version__)[:2]) < MIN_VERSION:
        # The diff uses `lambda x: ...` (DuckDB 1.3+); older releases would fail mid-run with a binder error.
        raise WarehouseError(f"duckdb {duckdb.__version__} is too old for rsync-braze (1.3 or later): "
                             "pip install -U 'rsync-braze[duckdb]'.")
    return duckdb


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def connect(spec: ConnectionSpec, *, autocommit: bool = False, sync: str | None = None,
            read_only: bool = False) -> "DuckConnection":
    """Open the target's database file (created when missing, as dbt-duckdb does)."""
    duckdb = _duckdb()
    # The profile's `settings` (dbt-duckdb's: memory_limit, threads, ...) apply to the runner's connections too.
    settings = {str(k): str(v) for k, v in (spec.extra.get("settings") or {}).items()}
    folder = Path(spec.dbname).parent
    if not folder.is_dir():
        raise DuckError(f"Cannot open the DuckDB file {spec.dbname}: the folder {folder} does not exist. Create it, "
                        f"or fix `path` in target {spec.target!r} of profile {spec.profile!r} ({spec.profiles_path}).")
    try:
        raw = duckdb.connect(spec.dbname, read_only=read_only, config=settings)
    except duckdb.IOException as exc:
        text = _one_line(exc)
        if "lock" not in text.lower():
            raise DuckError(f"Cannot open the DuckDB file {spec.dbname}: {text}") from None
        holder = re.search(r"held in (.+?) \(PID (\d+)\)", text)
        who = f" ({holder.group(1).rsplit('/', 1)[-1]}, PID {holder.group(2)})" if holder else ""
        what = f"Sync {sync!r} cannot run: the" if sync else "The"
        raise FileInUse(f"{what} DuckDB file {spec.dbname} is in use by another process{who}; DuckDB lets one process "
                        "write a file at a time: wait for that process (a dbt build, another rsync-braze, a DuckDB "
                        "client) to finish, then run again.") from None
    except duckdb.Error as exc:
        raise DuckError(f"Cannot open the DuckDB file {spec.dbname}: {_one_line(exc)}") from None
    return DuckConnection(raw, spec.dbname, autocommit)


class DuckConnection:
    """One DuckDB connection; ``execute`` takes ``?`` placeholders (DuckDB's own)."""

    def __init__(self, raw, path: str, autocommit: bool):
        self.raw, self.path, self.autocommit = raw, path, autocommit
        self.read_only = False  # informative: callers that set it only read
        self.closed = self.broken = False
        self._begun = False

    def _errors(self):
        return _duckdb().Error

    def execute(self, query: str, params: Sequence[object] | None = None):
        """Run one statement (in the open transaction, begun if needed); the result has fetchone/fetchall."""
        if not self.autocommit and not self._begun:
            self._run("begin transaction")
            self._begun = True
        return self._run(query, params)

    def _run(self, query: str, params: Sequence[object] | None = None):
        try:
            return self.raw.execute(query, params) if params is not None else self.raw.execute(query)
        except self._errors() as exc:
            raise DuckError(f"DuckDB refused a statement ({type(exc).__name__}): {_one_line(exc)}") from None

    def fetchmany(self, size: int) -> list[tuple]:
        """The next rows of the last statement's result (DuckDB streams it: the result is not materialized)."""
        try:
            return self.raw.fetchmany(size)
        except self._errors() as exc:
            raise DuckError(f"DuckDB failed reading a result ({type(exc).__name__}): {_one_line(exc)}") from None

    def commit(self) -> None:
        if self._begun:
            self._begun = False
            self._run("commit")

    def rollback(self) -> None:
        if self._begun:
            self._begun = False
            self._run("rollback")

    @contextmanager
    def transaction(self) -> Iterator["DuckConnection"]:
        """Commit the block's statements together (joins the transaction already open, if any)."""
        if self._begun:
            yield self
            return
        self._run("begin transaction")
        self._begun = True
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.raw.close()
            except self._errors():  # closing rolls back what was left open; nothing to report
                pass

    def __enter__(self) -> "DuckConnection":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if self._begun:
                self.rollback() if kind else self.commit()
        finally:
            self.close()


def stream(conn: DuckConnection, query: str, params: Sequence[object] | None = None, *,
           chunk_size: int = 10_000, name: str = "") -> Iterator[tuple]:
    """Yield the rows of ``query``, ``chunk_size`` at a time (``fetchmany`` on DuckDB's streaming result).

    The connection must not run another statement until the rows are read: the engine streams on a connection
    of its own. ``name`` is accepted for the PostgreSQL signature (its server-side cursor's name)."""
    conn.execute(query, params)
    # DuckDB hands JSON columns over as text; psycopg decodes json/jsonb, and the payload checks expect an
    # object attribute's value as a dict: decode them the same way.
    decode = [i for i, column in enumerate(conn.raw.description or ()) if str(column[1]) == "JSON"]
    while True:
        rows = conn.fetchmany(chunk_size)
        if not rows:
            return
        if decode:
            rows = [_decoded(row, decode) for row in rows]
        yield from rows


def _decoded(row: tuple, columns: list[int]) -> tuple:
    values = list(row)
    for i in columns:
        if values[i] is not None:
            values[i] = json.loads(values[i])
    return tuple(values)
