"""Run one day of the generator against a warehouse: tables, one COPY stream per table, files, truth.

Day 1 drops and recreates every table, then walks the persons once: each person's records are appended
to per-table buffers that are drained into concurrent ``COPY`` streams (one connection per table, so
PostgreSQL parses them in parallel while Python generates). Day K (K >= 2) walks only the changed persons
and the new ones; its updates are copied into temporary tables, then applied with ``update ... from``.
All connections commit together at the end; on any error they all roll back.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path

import psycopg

from .. import warehouse
from ..errors import ConfigError, WarehouseError
from ..profiles import ConnectionSpec
from .context import Context
from .days import change_person, changed_ids, day_window, new_person
from .ids import DAY, Clock, IdSpace
from .loaders import load_contacts_csv, load_web_events
from .stores import stores
from .tables import CSV_HEADER, RAW, TRUTH, columns

DEFAULT_AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
MAX_PEOPLE = 20_000_000
_STREAMED = ("eshop_customers", "eshop_orders", "eshop_order_lines", "crm_contacts", "pos_transactions",
             "pos_transaction_lines")
# Day K updates: (table, key, columns the update may set); NULL in a row leaves the column unchanged.
_UPDATES = {
    "eshop_customers_updates": ("eshop_customers", ("customer_id",), ("email", "first_name", "updated_at")),
    "crm_contacts_updates": ("crm_contacts", ("contact_id",), ("email_opt_in", "email_opt_in_at", "sms_opt_in",
                                                              "sms_opt_in_at", "updated_at")),
}
_DRAIN_EVERY = 256  # persons between two drains of the buffers: bounds memory to a few MB


@dataclass
class DemoOptions:
    """What to generate; ``None`` for people, seed or as_of on day K means "as on day 1"."""

    files_dir: Path
    people: int | None = None
    seed: int | None = None
    day: int = 1
    change_rate: float = 0.01
    schema: str = "raw"
    truth_schema: str = "raw_truth"
    as_of: datetime | None = None
    orders_per_customer: float = 3.0


@dataclass
class DemoSummary:
    """What a run wrote: rows per table, rows updated, files, seconds."""

    day: int
    people: int
    seed: int
    rows: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0


def generate(spec: ConnectionSpec, options: DemoOptions, progress=None) -> DemoSummary:
    """Generate day ``options.day`` into the warehouse; ``progress(done, total)`` is called now and then."""
    _validate(options)
    started = time.monotonic()
    try:
        with ExitStack() as connections:
            admin = connections.enter_context(warehouse.connect(spec, application_name="rsync-braze demo-data"))
            people, seed, as_of, population = _prepare(admin, options)
            summary = DemoSummary(options.day, people, seed)
            _run(spec, options, admin, connections, summary, as_of, population, progress)
            summary.seconds = round(time.monotonic() - started, 2)
            return summary
    except psycopg.Error as exc:
        message = exc.diag.message_primary if getattr(exc, "diag", None) and exc.diag.message_primary else str(exc)
        raise WarehouseError(f"The warehouse refused the demo data ({type(exc).__name__}): {message}") from None


def _validate(o: DemoOptions) -> None:
    if o.people is not None and not 1 <= o.people <= MAX_PEOPLE:
        raise ConfigError(f"--people must be between 1 and {MAX_PEOPLE:,} (got {o.people}).")
    if o.day < 1:
        raise ConfigError(f"--day must be 1 or more (got {o.day}).")
    if not 0 <= o.change_rate <= 1:
        raise ConfigError(f"--change-rate is a share between 0 and 1 (got {o.change_rate}).")
    if not 0 <= o.orders_per_customer <= 1000:
        raise ConfigError(f"--orders-per-customer must be between 0 and 1000 (got {o.orders_per_customer}).")
    for option, name in (("--schema", o.schema), ("--truth-schema", o.truth_schema)):
        if not name or len(name.encode()) > 63:
            raise ConfigError(f"{option} must be a schema name of 1 to 63 bytes (got {name!r}).")
    if o.schema == o.truth_schema:
        raise ConfigError("--schema and --truth-schema must differ: the ground truth stays apart from the data.")


def _prepare(admin, o: DemoOptions) -> tuple[int, int, datetime, int]:
    """Day 1: recreate the tables. Day K: check that day K-1 was the last one applied, with the same options."""
    if o.day == 1:
        for schema, tables in ((o.schema, RAW), (o.truth_schema, TRUTH)):
            warehouse.ensure_schema(admin, schema)
            for table, spec in tables.items():
                warehouse.create_table(admin, schema, table, spec, replace=True)
        admin.commit()
        people = o.people if o.people is not None else 10_000
        return people, (o.seed if o.seed is not None else 42), o.as_of or DEFAULT_AS_OF, people
    if not warehouse.relation_exists(admin, o.truth_schema, "demo_runs"):
        raise ConfigError(f"No demo data in schema {o.truth_schema!r}: run `rsync-braze demo-data` (day 1) first.")
    runs = sorted(warehouse.select_all(admin, o.truth_schema, "demo_runs", columns("demo_runs")))
    if not runs:
        raise ConfigError("Day 1 of the demo data did not complete: run `rsync-braze demo-data` (day 1) again.")
    last_day, people, seed, _, as_of, population = runs[-1]
    if o.day != last_day + 1:
        raise ConfigError(f"Day {o.day} cannot be applied: the last day applied is {last_day}. Run --day "
                          f"{last_day + 1} next, or start again with day 1.")
    for option, given, stored in (("--people", o.people, people), ("--seed", o.seed, seed),
                                  ("--as-of", o.as_of, as_of)):
        if given is not None and given != stored:
            raise ConfigError(f"{option} {given} differs from day 1 ({stored}); pass the same value or omit it.")
    return people, seed, as_of, population


def _run(spec, o: DemoOptions, admin, connections: ExitStack, summary: DemoSummary, as_of: datetime,
         population: int, progress) -> None:
    clock, ids = Clock(as_of), IdSpace(summary.seed, summary.people)
    delivered = clock.as_of + (o.day - 1) * DAY
    stamp = clock.compact_date(delivered)
    csv_path, jsonl_path = o.files_dir / f"contacts_{stamp}.csv", o.files_dir / f"web_events_{stamp}.jsonl"
    store_rows = stores(summary.seed, summary.people)
    ctx = Context(summary.seed, o.day, ids, clock, o.orders_per_customer,
                  tuple((s[0], s[5], s[6]) for s in store_rows), csv_path.name, jsonl_path.name)
    if o.day == 1:
        with warehouse.copy_text(admin, o.schema, "pos_stores", columns("pos_stores")) as write:
            write("".join("\t".join(s[:5]) + "\n" for s in store_rows))
        summary.rows["pos_stores"] = len(store_rows)
    targets = {name: (o.schema, name) for name in _STREAMED}
    targets.update(record_persons=(o.truth_schema, "record_persons"), persons=(o.truth_schema, "persons"))
    o.files_dir.mkdir(parents=True, exist_ok=True)
    update_conns = {}
    with ExitStack() as copies:
        writers = {}
        for name, (schema, table) in targets.items():
            conn = connections.enter_context(warehouse.connect(spec, application_name=f"rsync-braze demo-data {name}"))
            writers[name] = copies.enter_context(warehouse.copy_text(conn, schema, table, columns(table)))
        if o.day > 1:
            for name, (table, keys, cols) in _UPDATES.items():
                conn = update_conns[name] = connections.enter_context(warehouse.connect(spec))
                warehouse.create_temp_like(conn, o.schema, table, keys + cols, name)
                writers[name] = copies.enter_context(warehouse.copy_text(conn, "pg_temp", name, keys + cols))
        csv_file = copies.enter_context(open(csv_path, "w", encoding="utf-8", newline=""))
        csv_file.write(CSV_HEADER + "\n")
        writers["file_contacts_csv"] = csv_file.write
        writers["web_events_jsonl"] = copies.enter_context(open(jsonl_path, "w", encoding="utf-8")).write
        counts = dict.fromkeys(writers, 0)
        _walk(ctx, o, summary, population, writers, counts, progress)
    for name, n in counts.items():
        if name in targets:
            summary.rows[name] = summary.rows.get(name, 0) + n
    for name, conn in update_conns.items():
        table, keys, cols = _UPDATES[name]
        summary.updated[table] = warehouse.update_from_temp(conn, o.schema, table, name, keys, cols)
    loaded_at = clock.ts(delivered + 300)
    summary.rows["file_contacts"] = load_contacts_csv(admin, o.schema, csv_path, loaded_at)
    summary.rows["web_events"] = load_web_events(admin, o.schema, jsonl_path, loaded_at)
    summary.files = [str(csv_path), str(jsonl_path)]
    next_id = population + (_new_people(summary.people, o.change_rate) if o.day > 1 else 0)
    warehouse.copy_rows(admin, o.truth_schema, "demo_runs", columns("demo_runs"),
                        [(o.day, summary.people, summary.seed, o.change_rate, as_of, next_id)])


def _new_people(people: int, rate: float) -> int:
    """How many new persons a later day adds: a tenth of the changed share (none when nothing changes)."""
    return 0 if rate <= 0 else max(1, round(people * rate / 10))


def _walk(ctx: Context, o: DemoOptions, summary: DemoSummary, population: int, writers, counts, progress) -> None:
    """Generate the day's persons, draining the buffers into the streams every few hundred persons."""
    start, end = day_window(ctx)
    out = ctx.out
    if o.day == 1:
        people = ((new_person, pid) for pid in range(population))
        total = population
    else:
        added = range(population, population + _new_people(summary.people, o.change_rate))
        for pid in added:
            ctx.ids.check(pid)
        people = chain(((change_person, pid) for pid in changed_ids(ctx.seed, o.day, population, o.change_rate)),
                       ((new_person, pid) for pid in added))
        total = None
    for done, (make, pid) in enumerate(people, 1):
        make(ctx, pid, start, end)
        if done % _DRAIN_EVERY == 0:
            _drain(out, writers, counts)
            if progress and done % 100_000 == 0:
                progress(done, total)
    _drain(out, writers, counts)


def _drain(out, writers, counts) -> None:
    for name, write in writers.items():
        lines = getattr(out, name)
        if lines:
            write("".join(lines))
            counts[name] += len(lines)
            lines.clear()
