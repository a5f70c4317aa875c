"""Parsing files row by row, streaming: CSV, JSON (an array or one object) and JSON lines.

Every parser reads a binary stream and yields ``(line, values)``; a malformed row is handed to ``reject(line,
reason, raw)`` and parsing goes on with the next row, so one bad row never fails the file. Line numbers are
physical lines of the file (1-based), the first line of the row when a quoted CSV field spans lines.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from typing import BinaryIO

import orjson

Reject = Callable[[int, str, str], None]
READ_SIZE = 1 << 20
MAX_JSON_ELEMENT = 64 << 20  # an array element larger than this is malformed (it would not fit a jsonb anyway)
COLUMN_RE = re.compile(r"[^a-z0-9_]+")


class HashingReader(io.RawIOBase):
    """Wraps a binary stream; counts and SHA-256-hashes every byte read (the ledger's size and checksum)."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.sha256.update(data)
        self.size += n
        return n


def column_names(header: list[str]) -> list[str]:
    """Header cells as SQL-friendly, unique, lower-case column names (``E-mail`` -> ``e_mail``)."""
    out: list[str] = []
    for index, cell in enumerate(header, start=1):
        name = COLUMN_RE.sub("_", cell.strip().lower()).strip("_")[:60] or f"column_{index}"
        if name[0].isdigit() or name.startswith("_"):
            name = f"c_{name}"  # leading underscores are reserved for the loader's own columns
        base, n = name, 2
        while name in out:
            name, n = f"{base}_{n}", n + 1
        out.append(name)
    return out


def _decoded_lines(stream: BinaryIO, encoding: str, reject: Reject) -> Iterator[str]:
    """Lines decoded one by one: a line that is not valid ``encoding`` is rejected, the others go on."""
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            reject(number, f"not valid {encoding} (byte {exc.start + 1} of the line)", raw.decode(encoding, "replace"))
            yield "\n"  # an empty line keeps the CSV reader's line count right; it yields no row
            continue
        if number == 1 and text.startswith("\ufeff"):
            text = text[1:]
        yield text


def csv_rows(stream: BinaryIO, *, delimiter: str, quote: str, encoding: str, header: bool,
             columns: tuple[str, ...], reject: Reject) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The CSV's column names and an iterator of ``(line, fields)`` rows with exactly that many fields."""
    reader = csv.reader(_decoded_lines(stream, encoding, reject), delimiter=delimiter, quotechar=quote)
    names = list(columns)
    if header:
        first = _next_record(reader, reject)
        names = column_names(first[1]) if first else []
    else:
        names = column_names(names)

    def rows() -> Iterator[tuple[int, list[str]]]:
        while True:
            record = _next_record(reader, reject)
            if record is None:
                return
            line, fields = record
            if len(fields) != len(names):
                reject(line, f"has {len(fields)} fields, the header has {len(names)}", delimiter.join(fields))
            elif any("\x00" in f for f in fields):
                reject(line, "contains a NUL character", delimiter.join(fields).replace("\x00", "\\0"))
            else:
                yield line, fields

    return names, rows()


def _next_record(reader, reject: Reject) -> tuple[int, list[str]] | None:
    """The next non-empty CSV record with its first line; a record the csv module refuses is rejected."""
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            reject(start, f"malformed CSV: {exc}", "")
            continue
        if fields and fields != [""]:
            return start, fields


def _checked_json(text: str) -> str | None:
    """``None`` when ``text`` is an object PostgreSQL's jsonb accepts, else the reason it is not."""
    try:
        value = orjson.loads(text)  # stricter than json: refuses lone surrogates, which jsonb refuses too
    except orjson.JSONDecodeError as exc:
        return f"malformed JSON: {str(exc).split(':')[0]}"
    if not isinstance(value, dict):
        return f"a JSON {type(value).__name__}, not an object"
    if "\\u0000" in text and has_nul(value):
        return r"contains \u0000, which PostgreSQL's jsonb cannot store"
    return None


def has_nul(value) -> bool:
    """Whether a parsed JSON value holds a NUL character anywhere (jsonb cannot store it)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def jsonl_records(stream: BinaryIO, *, encoding: str, reject: Reject) -> Iterator[tuple[int, str]]:
    """``(line, json text)`` of each object of a JSON-lines file; blank lines are skipped."""
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode(encoding).strip()
        except UnicodeDecodeError:
            reject(number, f"not valid {encoding}", raw.decode(encoding, "replace")[:1000])
            continue
        if number == 1:
            text = text.lstrip("\ufeff")
        if not text:
            continue
        problem = _checked_json(text)
        if problem:
            reject(number, problem, text)
        else:
            yield number, text


def json_records(stream: BinaryIO, *, encoding: str, reject: Reject) -> Iterator[tuple[int, str]]:
    """``(line, json text)`` of each element of a top-level JSON array (or of a single top-level object).

    Elements are decoded one at a time from a sliding buffer, so a large file is never held whole. A syntax
    error leaves no way to find where the next element starts: the rest of the file is rejected as one row.
    """
    decoder = json.JSONDecoder()
    reader = io.TextIOWrapper(stream, encoding=encoding, errors="strict")
    buf, pos, line, eof = "", 0, 1, False

    def fill() -> bool:
        nonlocal buf, pos, eof
        chunk = reader.read(READ_SIZE)
        eof = not chunk
        buf, pos = buf[pos:] + chunk, 0
        return bool(chunk)

    def skip_ws() -> None:
        nonlocal pos, line
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n\ufeff":
                line += buf[pos] == "\n"
                pos += 1
            if pos < len(buf) or not fill():
                return

    try:
        skip_ws()
        in_array = pos < len(buf) and buf[pos] == "["
        if in_array:
            pos += 1
        while True:
            skip_ws()
            if pos >= len(buf):
                if in_array:
                    reject(line, "malformed JSON: the array is not closed", "")
                return
            if in_array and buf[pos] == "]":
                return
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                    break
                except json.JSONDecodeError as exc:
                    if eof or len(buf) - pos > MAX_JSON_ELEMENT or not fill():
                        reject(line + buf.count("\n", pos, exc.pos), f"malformed JSON: {exc.msg}", buf[pos:pos + 1000])
                        return
            text = buf[pos:end]
            start = line
            line += text.count("\n")
            pos = end
            problem = (_checked_json(text) if isinstance(value, dict)
                       else f"a JSON {type(value).__name__}, not an object")
            if problem:
                reject(start, problem, text)
            else:
                yield start, text
            if not in_array:
                skip_ws()
                if pos < len(buf):
                    reject(line, "malformed JSON: text after the top-level object", buf[pos:pos + 1000])
                return
            skip_ws()
            if pos < len(buf) and buf[pos] == ",":
                pos += 1
            elif not (pos < len(buf) and buf[pos] == "]"):
                reject(line, "malformed JSON: expected ',' or ']' between elements", buf[pos:pos + 1000])
                return
    except UnicodeDecodeError as exc:
        reject(line, f"not valid {encoding} (from here on the file cannot be read)", f"{exc}")
    finally:
        reader.detach()
