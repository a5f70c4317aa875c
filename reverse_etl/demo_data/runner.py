"""Run one day of the generator against a warehouse: tables, streamed parts, files, truth, run record.

Day 1 drops and recreates every table, then generates the persons in one part (in this process) or in
``--jobs`` parts (one worker process each, see ``parts.py``). Day K (K >= 2) generates only the changed and
the new persons, in this process; its updates are copied into temporary tables, then applied with
``update ... from``. In this process, all connections commit together at the end and any error rolls them
all back. Worker processes commit their own part: if one fails, day 1 is left without its run record, so
day 2 refuses to run on it until day 1 is generated again.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg import sql

from .. import warehouse
from ..errors import ConfigError, WarehouseError
from ..profiles import ConnectionSpec
from .ids import DAY, Clock
from .loaders import load_contacts_csv, load_web_events
from .parts import Plan, merge_files, run_part
from .stores import stores
from .tables import RAW, TRUTH, columns

DEFAULT_AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)
MAX_PEOPLE = 20_000_000


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
    jobs: int | None = None  # worker processes for day 1; None: automatic
    load_files: bool = True  # False: the contacts CSV is left for `rsync-braze ingest` to load


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
    with _warehouse_errors(), warehouse.connect(spec, application_name="rsync-braze demo-data") as admin:
        people, seed, as_of, population = _prepare(admin, options)
        summary = DemoSummary(options.day, people, seed)
        _run(spec, options, admin, summary, as_of, population, progress)
    summary.seconds = round(time.monotonic() - started, 2)
    return summary


@contextmanager
def _warehouse_errors():
    """A refused statement becomes a ``WarehouseError`` with PostgreSQL's message (never row data)."""
    try:
        yield
    except psycopg.Error as exc:
        diag = getattr(exc, "diag", None)
        message = diag.message_primary if diag is not None and diag.message_primary else str(exc)
        raise WarehouseError(f"The warehouse refused the demo data ({type(exc).__name__}): {message}") from None


def _validate(o: DemoOptions) -> None:
    if o.people is not None and not 1 <= o.people <= MAX_PEOPLE:
        raise ConfigError(f"--people must be between 1 and {MAX_PEOPLE:,} (got {o.people}).")
    if o.day < 1:
        raise ConfigError(f"--day must be 1 or more (got {o.day}).")
    if not 0 <= o.change_rate <= 1:
        raise ConfigError(f"--change-rate is a share between 0 and 1 (got {o.change_rate}).")
    if not 0 <= o.orders_per_customer <= 100:
        raise ConfigError(f"--orders-per-customer must be between 0 and 100 (got {o.orders_per_customer}).")
    for option, name in (("--schema", o.schema), ("--truth-schema", o.truth_schema)):
        if not name or len(name.encode()) > 63:
            raise ConfigError(f"{option} must be a schema name of 1 to 63 bytes (got {name!r}).")
    if o.jobs is not None and not 1 <= o.jobs <= 32:
        raise ConfigError(f"--jobs must be between 1 and 32 (got {o.jobs}).")
    if o.schema == o.truth_schema:
        raise ConfigError("--schema and --truth-schema must differ: the ground truth stays apart from the data.")


def _prepare(admin, o: DemoOptions) -> tuple[int, int, datetime, int]:
    """Day 1: recreate the tables. Day K: check that day K-1 was the last one applied, with the same options."""
    if o.day == 1:
        for schema, tables in ((o.schema, RAW), (o.truth_schema, TRUTH)):
            warehouse.ensure_schema(admin, schema)
            for table, spec in tables.items():
                if table == "file_contacts" and not o.load_files:
                    # Left to the file source, which creates it with its own columns (and _loaded_at default).
                    admin.execute(sql.SQL("drop table if exists {}").format(warehouse.ident(schema, table)))
                    continue
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


def _run(spec, o: DemoOptions, admin, summary: DemoSummary, as_of: datetime, population: int, progress) -> None:
    clock = Clock(as_of)
    delivered = clock.as_of + (o.day - 1) * DAY
    stamp = clock.compact_date(delivered)
    csv_path, jsonl_path = o.files_dir / f"contacts_{stamp}.csv", o.files_dir / f"web_events_{stamp}.jsonl"
    plan = Plan(spec, o.day, summary.people, summary.seed, as_of, o.change_rate, o.orders_per_customer, o.schema,
                o.truth_schema, o.files_dir / f".parts_{stamp}", csv_path.name, jsonl_path.name, population,
                _new_people(summary.people, o.change_rate) if o.day > 1 else 0)
    shutil.rmtree(plan.parts_dir, ignore_errors=True)
    plan.parts_dir.mkdir(parents=True)
    if o.day == 1:
        store_rows = stores(summary.seed, summary.people)
        with warehouse.copy_text(admin, o.schema, "pos_stores", columns("pos_stores")) as write:
            write("".join("\t".join(s[:5]) + "\n" for s in store_rows))
        summary.rows["pos_stores"] = len(store_rows)
    jobs = _jobs(o, summary.people)
    results = []
    if jobs == 1:
        with ExitStack() as connections:  # committed together, after the files and the truth are in
            results.append(run_part(plan, 0, 0, population, connections, progress))
            _finish(o, plan, admin, summary, jobs, csv_path, jsonl_path, clock.ts(delivered + 300), results)
    else:
        bounds = [population * j // jobs for j in range(jobs + 1)]
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_worker, plan, j, bounds[j], bounds[j + 1]) for j in range(jobs)]
            results = [f.result() for f in futures]
        _finish(o, plan, admin, summary, jobs, csv_path, jsonl_path, clock.ts(delivered + 300), results)


def _worker(plan: Plan, part: int, lo: int, hi: int):
    """Entry point of a worker process: one range of persons, its own connections, its own commit."""
    with _warehouse_errors():
        return run_part(plan, part, lo, hi)


def _jobs(o: DemoOptions, people: int) -> int:
    """Worker processes for day 1: as asked, else one per core (up to 4) from 100,000 people on."""
    if o.day > 1:
        return 1  # a later day is small, and its updates must commit with its inserts
    if o.jobs is not None:
        return o.jobs
    return 1 if people < 100_000 else max(1, min(4, os.cpu_count() or 1))


def _finish(o: DemoOptions, plan: Plan, admin, summary: DemoSummary, parts: int, csv_path: Path,
            jsonl_path: Path, loaded_at: str, results) -> None:
    """Merge and load the files, add up the counts, record the day."""
    for rows, updated in results:
        for name, n in rows.items():
            summary.rows[name] = summary.rows.get(name, 0) + n
        summary.updated.update(updated)
    merge_files(plan, parts, admin, csv_path, jsonl_path)
    if o.load_files:
        summary.rows["file_contacts"] = load_contacts_csv(admin, o.schema, csv_path, loaded_at)
    else:  # the rows the file holds (its header aside), for the truth and the summary
        with open(csv_path, encoding="utf-8", newline="") as handle:
            summary.rows["file_contacts"] = max(sum(1 for _ in csv.reader(handle, delimiter=";")) - 1, 0)
    summary.rows["web_events"] = load_web_events(admin, o.schema, jsonl_path, loaded_at)
    summary.rows["record_persons"] = summary.rows.get("record_persons", 0) + summary.rows["file_contacts"]
    summary.files = [str(csv_path), str(jsonl_path)]
    warehouse.copy_rows(admin, o.truth_schema, "demo_runs", columns("demo_runs"),
                        [(o.day, summary.people, summary.seed, o.change_rate, plan.as_of,
                          plan.population + plan.new_people)])


def _new_people(people: int, rate: float) -> int:
    """How many new persons a later day adds: a tenth of the changed share (none when nothing changes)."""
    return 0 if rate <= 0 else max(1, round(people * rate / 10))
