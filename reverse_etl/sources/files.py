"""Load a files source: each selected file exactly once, streamed with COPY, in one transaction per file.

For each file matching the source's pattern (oldest name date first, then name):

- already in the ledger with the same size and modification time: skipped without reading it;
- in the ledger but size or time differ: read and hashed; same SHA-256 -> skipped (the new time is kept),
  different -> reported as *changed after loading* and recorded in the ledger, never reloaded silently
  (load the new content under a new file name, or delete the ledger row to reload on purpose);
- new: rows COPYed into the raw table, malformed rows into ``source_rejects``, and the ledger row with the
  size, SHA-256 and counts written in the same transaction, with ``NOTIFY rsync_braze, '<source>'`` for
  ``rsync-braze serve``'s realtime syncs. A crash mid-file rolls all of it back.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from ..realtime import notify
from . import store
from .config import FileSourceConfig
from .formats import HashingReader, csv_rows, json_records, jsonl_records
from .locations import FileEntry, location

log = logging.getLogger(__name__)


@dataclass
class FileOutcome:
    path: str
    status: str  # loaded | skipped | changed
    rows: int = 0
    rejected: int = 0
    size: int = 0
    seconds: float = 0.0


@dataclass
class SourceResult:
    source: str
    files: list[FileOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)


def selected(entries: list[FileEntry], source: FileSourceConfig,
             now: float | None = None) -> list[tuple[dt.date | None, FileEntry]]:
    """Entries whose name matches, with their name date, oldest first; ``since`` drops older ones and
    ``min_age_seconds`` files modified too recently (taken by a later run, once the upload is over)."""
    out = []
    now = time.time() if now is None else now
    for entry in entries:
        match = source.name_pattern.fullmatch(entry.name)
        if not match:
            continue
        if source.min_age_seconds and entry.mtime is not None and now - entry.mtime < source.min_age_seconds:
            log.info("source %s: %s modified %.0fs ago; left for a later run", source.name, entry.name,
                     now - entry.mtime)
            continue
        day = None
        if source.date_format:
            try:
                day = dt.datetime.strptime(match.group("date"), source.date_format).date()
            except (ValueError, IndexError):
                log.warning("source %s: %s has no valid date in its name; skipped", source.name, entry.name)
                continue
            if source.since and day < source.since:
                continue
        out.append((day, entry))
    out.sort(key=lambda item: (item[0] or dt.date.min, item[1].name))
    return out


def checksum(folder, entry: FileEntry) -> str:
    """SHA-256 of a file's content, streamed."""
    with folder.open(entry) as raw:
        reader = HashingReader(raw)
        while reader.read(1 << 20):
            pass
        return reader.sha256.hexdigest()


def ingest(conn: psycopg.Connection, source: FileSourceConfig, state_schema: str, project_dir: Path) -> SourceResult:
    """Load the source's new files; the caller holds the source's lock."""
    result = SourceResult(source.name)
    known = store.ledger(conn, state_schema, source.name)
    with location(source, project_dir) as folder:
        for day, entry in selected(folder.list(), source):
            previous = known.get(entry.path)
            if previous is not None:
                result.files.append(_already_loaded(conn, folder, source, state_schema, entry, previous))
                continue
            result.files.append(load_file(conn, folder, source, state_schema, entry, day))
    return result


def _already_loaded(conn, folder, source, state_schema, entry, previous) -> FileOutcome:
    size, mtime, known_sum = previous
    if size == entry.size and mtime == entry.mtime:
        return FileOutcome(entry.path, "skipped", size=entry.size)
    current = checksum(folder, entry)
    if current == known_sum:
        store.touch_file(conn, state_schema, source.name, entry.path, entry.mtime)
        return FileOutcome(entry.path, "skipped", size=entry.size)
    store.mark_changed(conn, state_schema, source.name, entry.path, current)
    log.warning("source %s: %s changed after it was loaded (%d -> %d bytes); not reloaded",
                source.name, entry.path, size, entry.size)
    return FileOutcome(entry.path, "changed", size=entry.size)


class _Rejects:
    """Rejected rows spooled to a temporary file (memory stays flat even when every row is bad)."""

    def __init__(self, source: str, path: str):
        self.source, self.path = source, path
        self.spool = tempfile.TemporaryFile("w+", encoding="utf-8")
        self.count = 0

    def __call__(self, line: int, reason: str, raw: str) -> None:
        self.count += 1
        # NUL cannot be stored in PostgreSQL text; the raw text is for a human, so a visible escape is enough.
        text = raw[: store.RAW_TEXT_LIMIT].replace("\x00", "\\0")
        self.spool.write(f"{line}\t{_escape(reason)}\t{_escape(text)}\n")

    def rows(self) -> Iterator[tuple]:
        self.spool.seek(0)
        for row in self.spool:
            line, reason, raw = row.rstrip("\n").split("\t")
            yield self.source, self.path, int(line), _unescape(reason), _unescape(raw)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append({"t": "\t", "n": "\n", "r": "\r"}.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def load_file(conn: psycopg.Connection, folder, source: FileSourceConfig, state_schema: str, entry: FileEntry,
              day: dt.date | None) -> FileOutcome:
    """One file in one transaction: raw rows, rejects and ledger row commit together or not at all."""
    started = time.monotonic()
    rejects = _Rejects(source.name, entry.path)
    with folder.open(entry) as raw, conn.transaction():
        hashing = HashingReader(raw)
        stream = io.BufferedReader(hashing, 1 << 20)
        if source.format == "csv":
            names, rows = csv_rows(stream, delimiter=source.delimiter, quote=source.quote, encoding=source.encoding,
                                   header=source.header, columns=source.columns, reject=rejects)
            store.ensure_file_table(conn, source.schema, source.table, [(n, "text") for n in names])
            values = ((entry.path, line, day, *fields) for line, fields in rows)
            columns = ["_file_name", "_line_number", "_file_date", *names]
        else:
            parse = json_records if source.format == "json" else jsonl_records
            store.ensure_file_table(conn, source.schema, source.table, [("payload", "jsonb")])
            values = ((entry.path, line, day, text) for line, text in parse(stream, encoding=source.encoding,
                                                                             reject=rejects))
            columns = ["_file_name", "_line_number", "_file_date", "payload"]
        count = store.copy_rows(conn, source.schema, source.table, columns, values)
        while stream.read(1 << 20):  # hash the whole file even if the parser stopped early (malformed JSON)
            pass
        if rejects.count:
            store.copy_rejects(conn, state_schema, rejects.rows())
        store.record_file(conn, state_schema, source.name, entry.path, hashing.size, entry.mtime,
                          hashing.sha256.hexdigest(), count, rejects.count)
        notify(conn, source.name)  # realtime syncs fed by this source (delivered only if the file commits)
    rejects.spool.close()
    seconds = time.monotonic() - started
    log.info("source %s: %s loaded, %d rows, %d rejected, %.1fs", source.name, entry.path, count, rejects.count,
             seconds)
    return FileOutcome(entry.path, "loaded", count, rejects.count, hashing.size, seconds)
