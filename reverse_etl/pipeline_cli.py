"""Click commands fitting rsync-braze into a dbt pipeline: exposures, init, history, rejections, serve.

Thin layer: each command parses options and calls its module (exposures.py, scaffold.py, history.py,
scheduler.py). Results go to stdout (``--json`` for machines), messages and logs to stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .cli import _engine, manifest_option, resolve_target, warehouse_target_options
from .errors import ConfigError

PROJECT_DIR_OPTION = click.option("--project-dir", type=click.Path(file_okay=False), default=None,
                                  envvar="DBT_PROJECT_DIR", help="dbt project folder (default: the current folder).")


@click.command("exposures")
@click.option("--path", "out_path", default=None,
              help="Exposures file, relative to the project (default: models/exposures/rsync_braze__exposures.yml).")
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the file is not up to date (for CI).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary on stdout.")
@manifest_option
@PROJECT_DIR_OPTION
def exposures_command(out_path, check, as_json, manifest_path, project_dir):
    """Write or update a dbt exposures file: one exposure per sync, depending on its model.

    \b
    Then dbt shows what feeds Braze:
      rsync-braze exposures && dbt parse
      dbt ls --select +exposure:rsync_braze__braze_users
    Exposures you wrote by hand in the same file are kept.
    """
    from .exposures import DEFAULT_PATH, write
    from .manifest import load

    project = Path(project_dir or ".").resolve()
    manifest = load(manifest_path, project)
    path = Path(out_path or DEFAULT_PATH)
    result = write(manifest, path if path.is_absolute() else project / path, check=check)
    if as_json:
        click.echo(json.dumps({"path": str(result.path), "changed": result.changed, "written": result.written,
                               "removed": result.removed, "kept": result.kept, "skipped": result.skipped}))
    for name in result.skipped:
        click.echo(f"{name}: no exposure (it reads an explicit relation, not a dbt model).", err=True)
    verb = ("would change" if result.changed else "is up to date") if check else ("written" if result.changed else "unchanged")
    click.echo(f"{result.path}: {verb}; {len(result.written)} generated exposure(s), {len(result.kept)} of yours kept"
               + (f", {len(result.removed)} removed ({', '.join(result.removed)})" if result.removed else ""), err=True)
    sys.exit(1 if check and result.changed else 0)


@click.command("init")
@click.option("--model", default=None, help="dbt model to sync (resolved through target/manifest.json).")
@click.option("--relation", default=None, help="Or an explicit relation: schema.table.")
@click.option("--identifier", default=None, help="Identifier column (default: external_id, user_id, customer_id, id...).")
@click.option("--type", "identifier_type", default=None,
              help="Identifier type: external_id (default), email, phone, braze_id.")
@click.option("--sync", "sync_name", default=None, help="Sync name (default: the model's name).")
@click.option("--force", is_flag=True, help="Replace an existing manifest.")
@click.option("--append", is_flag=True, help="Add the sync to an existing manifest (its comments are not kept; "
                                              "a .bak copy is).")
@click.option("--destination", default=None, help="With --append: the destination of the new sync.")
@click.option("--endpoint", default=None, help="Braze REST endpoint for a new manifest (default: "
                                                "RSYNC_BRAZE_ENDPOINT, else the local emulator).")
@click.option("--api-key-env", default="BRAZE_API_KEY", show_default=True,
              help="Environment variable the new manifest reads the API key from.")
@manifest_option
@warehouse_target_options
def init_command(model, relation, identifier, identifier_type, sync_name, force, append, destination, endpoint,
                 api_key_env, manifest_path, project_dir, profiles_dir, profile, target):
    """Scaffold rsync_braze.yml for a model, from its columns in the warehouse.

    \b
    Columns named like Braze standard fields (email, phone, first_name, country, dob, ...) are mapped to
    them; the others become custom attributes typed from their SQL types.
    \b
    Examples:
      dbt build && rsync-braze init --model braze_users
      rsync-braze init --model crm_contacts --identifier contact_email --type email --append
      rsync-braze validate && rsync-braze plan
    """
    from . import scaffold
    from .warehouse import connect

    project = Path(project_dir or ".").resolve()
    path = Path(manifest_path or "rsync_braze.yml")
    path = path if path.is_absolute() else project / path
    if path.exists() and not (force or append):  # before touching the warehouse
        raise ConfigError(f"{path} already exists: pass --append to add a sync to it, or --force to replace it.")
    spec = resolve_target(str(project), profiles_dir, profile, target)
    with connect(spec) as conn:
        found = scaffold.propose(conn, project, model, relation, identifier, identifier_type, sync_name)
    done = scaffold.write(found, path, force=force, append=append, destination=destination,
                          endpoint=endpoint or scaffold.DEFAULT_ENDPOINT, api_key_env=api_key_env)
    standard = [f"{c}->{a}" for c, a in found.mapping.items() if a not in found.custom_attributes]
    click.echo(f"{path}: {done}; sync {found.sync_name!r} reads {found.relation}, identifier "
               f"{found.identifier} ({found.identifier_type}); standard fields: {', '.join(standard) or 'none'}; "
               f"custom attributes: {', '.join(f'{a} ({t})' for a, t in found.custom_attributes.items()) or 'none'}"
               + (f"; not mapped: {', '.join(found.unmapped)}" if found.unmapped else "")
               + ". Next: rsync-braze validate && rsync-braze plan", err=True)


def _read_only(project_dir, profiles_dir, profile, target, manifest_path, syncs):
    """The manifest's state schema and a read-only connection; unknown sync names are an error."""
    from .manifest import load
    from .warehouse import connect

    project = Path(project_dir or ".").resolve()
    manifest = load(manifest_path, project)
    unknown = [s for s in syncs if s not in manifest.syncs]
    if unknown:
        raise ConfigError(f"Unknown sync(s) {', '.join(unknown)} in {manifest.path} "
                          f"(syncs there: {', '.join(manifest.syncs) or 'none'}).")
    conn = connect(resolve_target(str(project), profiles_dir, profile, target))
    conn.read_only = True  # history never writes, whatever the SQL
    return manifest.state_schema, conn


@click.command("history")
@click.argument("syncs", nargs=-1)
@click.option("--limit", type=click.IntRange(1, 100000), default=20, show_default=True,
              help="Runs shown per sync.")
@click.option("--status", default=None, help="Only runs with this status (success, partial, failed, interrupted...).")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of runs on stdout.")
@manifest_option
@warehouse_target_options
def history_command(syncs, limit, status, as_json, manifest_path, project_dir, profiles_dir, profile, target):
    """Last runs of each sync from the run log, newest first: status, duration, counts, error.

    \b
    Examples:
      rsync-braze history
      rsync-braze history braze_users --limit 5 --json
      rsync-braze history --status failed
    """
    from .history import format_run, runs

    schema, conn = _read_only(project_dir, profiles_dir, profile, target, manifest_path, syncs)
    with conn:
        found = list(runs(conn, schema, tuple(syncs), limit, status))
    if as_json:
        click.echo(json.dumps(found))
    elif not found:
        click.echo(f"No runs{' of ' + ', '.join(syncs) if syncs else ''} in schema {schema!r} yet.", err=True)
    for run in [] if as_json else found:
        click.echo(format_run(run))


@click.command("rejections")
@click.argument("syncs", nargs=-1)
@click.option("--run", "run_id", type=int, default=None, help="Only this run's rejected rows.")
@click.option("--limit", type=click.IntRange(1, 1000000), default=100, show_default=True, help="Rows listed.")
@click.option("--by-reason", is_flag=True, help="Count rows per reason (latest run of each sync, or --run).")
@click.option("--json", "as_json", is_flag=True, help="A JSON array on stdout.")
@manifest_option
@warehouse_target_options
def rejections_command(syncs, run_id, limit, by_reason, as_json, manifest_path, project_dir, profiles_dir, profile,
                       target):
    """Rows Braze or the checks refused, with the identifier, field and reason (newest runs first).

    \b
    Examples:
      rsync-braze rejections braze_users --by-reason
      rsync-braze rejections --run 42 --json
    """
    from .history import rejection_reasons, rejections

    schema, conn = _read_only(project_dir, profiles_dir, profile, target, manifest_path, syncs)
    with conn:
        found = (rejection_reasons(conn, schema, tuple(syncs), run_id) if by_reason
                 else list(rejections(conn, schema, tuple(syncs), run_id, limit)))
    if as_json:
        click.echo(json.dumps(found))
        return
    if not found:
        click.echo("No rejected rows.", err=True)
    for r in found:
        if by_reason:
            click.echo(f"{r['sync_name']} run {r['run_id']}: {r['rows']:,} x {r['reason']}")
        else:
            where = f"{r['identifier']}.{r['field']}" if r["field"] else str(r["identifier"])
            click.echo(f"{r['sync_name']} run {r['run_id']}: {where}: {r['reason']}")


def _iso_time(value: str | None):
    from datetime import datetime, timezone

    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--clock-start {value!r} is not an ISO date-time (e.g. 2026-11-30T05:59:58+01:00).") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@click.command("serve")
@click.option("--select", "-s", "selectors", multiple=True, help="Serve only these syncs (same selectors as run).")
@click.option("--status-file", default=None,
              help="JSON status for orchestrators (default: .rsync-braze/serve-status.json in the project).")
@click.option("--workers", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Syncs running at the same time (never two runs of one sync).")
@click.option("--no-catch-up", is_flag=True, help="At start, do not run cron syncs that missed a run while down.")
@click.option("--debounce", type=click.FloatRange(0, 60), default=1.0, show_default=True,
              help="Seconds to gather NOTIFYs into one trigger.")
@click.option("--poll", "poll_seconds", type=click.FloatRange(0), default=300, show_default=True,
              help="Realtime syncs also run when idle this long (0: only on NOTIFY).")
@click.option("--ignore-dbt-results", is_flag=True, help="Sync even when dbt's last run failed on the model.")
@click.option("--clock-start", default=None, hidden=True,
              help="Pretend the clock starts at this ISO time (tests, rehearsing a schedule).")
@manifest_option
@warehouse_target_options
def serve_command(selectors, status_file, workers, no_catch_up, debounce, poll_seconds, ignore_dbt_results,
                  clock_start, manifest_path, project_dir, profiles_dir, profile, target):
    """Run syncs on their `schedule` (cron, in their time zone) and realtime syncs on NOTIFY, until SIGTERM.

    \b
    schedule: "0 6 * * *"  + timezone: Europe/Paris   runs at 06:00 Paris time
    schedule: realtime     runs within seconds of NOTIFY rsync_braze, '<model>' (dbt post-hook:
                           {{ rsync_braze.notify_sync() }}), and every --poll seconds
    A sync never runs twice at once; a missed cron run is caught up once at start; SIGTERM lets runs in
    flight finish and commit, then exits 0. Logs go to stderr; state to --status-file.
    \b
    Example:
      rsync-braze serve --status-file /var/run/rsync-braze.json
    """
    import logging
    from dataclasses import replace

    from .scheduler import Clock, Scheduler
    from .selection import select

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    engine = _engine(project_dir, profiles_dir, profile, target, manifest_path)
    chosen = select(engine.manifest, tuple(selectors), engine.project_dir)
    manifest = replace(engine.manifest, syncs={s.name: s for s in chosen})
    status = Path(status_file) if status_file else engine.project_dir / ".rsync-braze" / "serve-status.json"
    Scheduler(manifest, engine.target, engine.project_dir, status_path=status, workers=workers,
              clock=Clock(_iso_time(clock_start)), catch_up=not no_catch_up, debounce=debounce,
              poll_seconds=poll_seconds, ignore_dbt_results=ignore_dbt_results).serve()


def register(cli: click.Group) -> None:
    """Add this module's commands to the main group."""
    for command in (exposures_command, init_command, history_command, rejections_command, serve_command):
        cli.add_command(command)
