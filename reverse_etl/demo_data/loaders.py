"""Load the files the generator wrote, the way a file-drop ingestion would: line by line, with COPY, each
row tagged with its file name, line number and load time."""

from __future__ import annotations

import csv
from pathlib import Path

from .. import warehouse
from ..errors import ConfigError
from .tables import CSV_HEADER, columns

_CHUNK = 5_000


def load_contacts_csv(conn, schema: str, path: Path, loaded_at: str) -> int:
    """COPY a ``contacts_*.csv`` file into ``file_contacts``; empty fields stay empty strings, as in the file."""
    expected = CSV_HEADER.split(";")
    count = 0
    with open(path, encoding="utf-8", newline="") as handle, \
            warehouse.copy_text(conn, schema, "file_contacts", columns("file_contacts")) as write:
        reader = csv.reader(handle, delimiter=";")
        header = next(reader, None)
        if header != expected:
            raise ConfigError(f"{path} does not start with the header {CSV_HEADER!r}.")
        tail = f"\t{warehouse.copy_escape(path.name)}\t"
        batch = []
        for row in reader:
            if len(row) != len(expected):
                raise ConfigError(f"{path}, line {reader.line_num}: {len(row)} fields instead of {len(expected)}.")
            batch.append("\t".join(warehouse.copy_escape(v) for v in row) + f"{tail}{reader.line_num}\t{loaded_at}\n")
            if len(batch) >= _CHUNK:
                write("".join(batch))
                count += len(batch)
                batch.clear()
        write("".join(batch))
        count += len(batch)
    return count


def load_web_events(conn, schema: str, path: Path, loaded_at: str) -> int:
    """COPY a ``web_events_*.jsonl`` file into ``web_events`` (PostgreSQL checks each line is JSON)."""
    count = 0
    with open(path, encoding="utf-8") as handle, \
            warehouse.copy_text(conn, schema, "web_events", columns("web_events")) as write:
        tail = f"\t{warehouse.copy_escape(path.name)}\t"
        batch = []
        for number, line in enumerate(handle, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            batch.append(f"{warehouse.copy_escape(line)}{tail}{number}\t{loaded_at}\n")
            if len(batch) >= _CHUNK:
                write("".join(batch))
                count += len(batch)
                batch.clear()
        write("".join(batch))
        count += len(batch)
    return count
