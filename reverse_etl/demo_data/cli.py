"""``rsync-braze demo-data``: the click command over :func:`reverse_etl.demo_data.generate`."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import click

from ..cli import resolve_target, warehouse_target_options
from ..embedded import project_home
from ..errors import ConfigError


def _as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--as-of {value!r} is not an ISO date or time (e.g. 2026-11-01 or "
                          "2026-11-01T00:00:00+00:00).") from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


@click.command("demo-data")
@click.option("--people", type=int, default=None, help="Number of persons (default 10000; later days: as day 1).")
@click.option("--seed", type=int, default=None, help="Random seed: same seed, same data (default 42).")
@click.option("--day", type=int, default=1, show_default=True,
              help="1 recreates everything; K >= 2 applies day K's changes on top of day K-1.")
@click.option("--change-rate", type=float, default=0.01, show_default=True,
              help="Share of persons changed on a later day.")
@click.option("--orders-per-customer", type=float, default=3.0, show_default=True,
              help="Average e-shop orders per customer account (1M people with 14 gives about 10M orders).")
@click.option("--schema", default="raw", show_default=True, help="Schema of the raw source tables.")
@click.option("--truth-schema", default="raw_truth", show_default=True,
              help="Schema of the ground truth (which person each record is); only tests read it.")
@click.option("--files-dir", type=click.Path(file_okay=False), default=None,
              help="Where the CSV and JSON-lines files are written (default <project>/.rsync-braze/files).")
@click.option("--files-only", is_flag=True,
              help="Write the contacts CSV file but leave loading it to `rsync-braze ingest` (a `files` source on "
                   "the files folder, as the demo does); the file_contacts table is not touched.")
@click.option("--as-of", default=None,
              help="Date the data is as of, ISO-8601 in UTC (default 2026-11-01, so output is deterministic).")
@click.option("--jobs", type=int, default=None,
              help="Worker processes for day 1 (default: 1 below 100,000 people, else one per core up to 4).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@warehouse_target_options
def demo_data(people, seed, day, change_rate, orders_per_customer, schema, truth_schema, files_dir, files_only,
              as_of, jobs, as_json, project_dir, profiles_dir, profile, target):
    """Generate messy sample sources (e-shop, CRM, point of sale, files) with their ground truth.

    \b
    Examples:
      rsync-braze demo-data --people 10000 --seed 42
      rsync-braze demo-data --day 2 --change-rate 0.01     # then --day 3, 4...
      rsync-braze demo-data --people 1000000 --orders-per-customer 14 --json
      rsync-braze demo-data --schema my_raw --truth-schema my_truth --target dev
    """
    from . import DemoOptions, generate

    options = DemoOptions(
        files_dir=Path(files_dir) if files_dir else project_home(project_dir) / "files",
        people=people, seed=seed, day=day, change_rate=change_rate, schema=schema, truth_schema=truth_schema,
        as_of=_as_of(as_of), orders_per_customer=orders_per_customer, jobs=jobs, load_files=not files_only,
    )
    if people is not None and people < 1:
        raise ConfigError(f"--people must be at least 1 (got {people}).")
    spec = resolve_target(project_dir, profiles_dir, profile, target)

    def progress(done, total):
        click.echo(f"  {done:,} / {total:,} persons" if total else f"  {done:,} persons", err=True)

    summary = generate(spec, options, progress=progress)
    click.echo(f"Demo data day {summary.day}: {summary.people:,} people (seed {summary.seed}) in "
               f"{summary.seconds:.1f}s, schema {schema!r} (truth in {truth_schema!r})", err=True)
    for table, rows in summary.rows.items():
        click.echo(f"  {table:<24}{rows:>12,} rows", err=True)
    for table, rows in summary.updated.items():
        click.echo(f"  {table:<24}{rows:>12,} updated", err=True)
    if as_json:
        click.echo(json.dumps(asdict(summary)))
