"""The ``rsync-braze`` command line: a thin click layer over the library (no logic lives here).

Exit codes: 0 ok; 1 unexpected; 2 configuration error; 3 warehouse error; 4 delivery error; 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import logging
import signal
import sys
import time

import click
import psycopg

from . import __version__
from .errors import RsyncBrazeError

PROJECT_DIR_HELP = "dbt project folder (default: the current folder)."


def warehouse_target_options(func):
    """--project-dir/--profiles-dir/--profile/--target, read like dbt reads them."""

    @click.option("--project-dir", type=click.Path(file_okay=False), default=None, envvar="DBT_PROJECT_DIR",
                  help=PROJECT_DIR_HELP)
    @click.option("--profiles-dir", type=click.Path(file_okay=False), default=None,
                  help="Folder holding profiles.yml (default as dbt: DBT_PROFILES_DIR, project folder, ~/.dbt; "
                       "then the embedded warehouse's).")
    @click.option("--profile", default=None, help="Profile name (default: the project's dbt_project.yml).")
    @click.option("--target", "-t", default=None, help="Target of the profile (default: DBT_TARGET, then the profile's).")
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*args, **kwargs)

    return wrapper


def resolve_target(project_dir, profiles_dir, profile, target):
    from .profiles import resolve

    return resolve(project_dir, profiles_dir, profile, target)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="rsync-braze")
def cli():
    """Warehouse-native customer data activation for Braze.

    \b
    In a pipeline:   dbt build && rsync-braze run
    First steps:     rsync-braze warehouse start
                     rsync-braze demo-data --people 10000
                     rsync-braze demo
    """


# ---------------------------------------------------------------------------------------------- warehouse
@cli.group()
def warehouse():
    """Manage the embedded PostgreSQL warehouse (data in .rsync-braze/ of the project).

    \b
    Examples:
      rsync-braze warehouse start              # port 54329, or RSYNC_BRAZE_WAREHOUSE_PORT
      rsync-braze warehouse start --port 6000
      psql "$(rsync-braze warehouse url)"
      rsync-braze warehouse stop
    """


def _embedded(project_dir):
    from .embedded import EmbeddedWarehouse, project_home

    return EmbeddedWarehouse(project_home(project_dir))


@warehouse.command("start")
@click.option("--project-dir", type=click.Path(file_okay=False), default=None, help=PROJECT_DIR_HELP)
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="TCP port on 127.0.0.1 (default: RSYNC_BRAZE_WAREHOUSE_PORT, the last one used, 54329).")
@click.option("--foreground", is_flag=True, help="Stay attached; Ctrl-C or SIGTERM stops the server.")
def warehouse_start(project_dir, port, foreground):
    """Start the embedded warehouse (initialising it on first use)."""
    wh = _embedded(project_dir)
    started = time.monotonic()
    status = wh.start(port)
    profile = wh.write_profile()
    click.echo(f"Embedded warehouse running on 127.0.0.1:{status.port} (pid {status.pid}) "
               f"in {time.monotonic() - started:.1f}s", err=True)
    click.echo(f"dbt profile for it: {profile}", err=True)
    # Handlers first: a supervisor may signal as soon as it has read the URL.
    received = _catch_stop_signals() if foreground else []
    click.echo(status.url)
    if foreground:
        while not received:
            time.sleep(0.2)
        wh.stop()
        click.echo("Embedded warehouse stopped.", err=True)


def _catch_stop_signals() -> list[str]:
    """SIGTERM and SIGINT only set a flag (no KeyboardInterrupt in the middle of a stop): the list fills."""
    received: list[str] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: received.append(signal.Signals(signum).name))
    return received


@warehouse.command("stop")
@click.option("--project-dir", type=click.Path(file_okay=False), default=None, help=PROJECT_DIR_HELP)
def warehouse_stop(project_dir):
    """Stop the embedded warehouse; no process is left behind."""
    if _embedded(project_dir).stop():
        click.echo("Embedded warehouse stopped.", err=True)
    else:
        click.echo("Embedded warehouse was not running.", err=True)


@warehouse.command("status")
@click.option("--project-dir", type=click.Path(file_okay=False), default=None, help=PROJECT_DIR_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def warehouse_status(project_dir, as_json):
    """Say whether the embedded warehouse runs, where, and on which port. Exit 1 when it does not run."""
    status = _embedded(project_dir).status()
    if as_json:
        click.echo(json.dumps({"running": status.running, "pid": status.pid, "port": status.port,
                               "pgdata": str(status.pgdata), "url": status.url}))
    elif status.running:
        click.echo(f"running: pid {status.pid}, {status.url}, data in {status.pgdata}")
    else:
        click.echo(f"stopped (data in {status.pgdata})")
    sys.exit(0 if status.running else 1)


@warehouse.command("url")
@click.option("--project-dir", type=click.Path(file_okay=False), default=None, help=PROJECT_DIR_HELP)
def warehouse_url(project_dir):
    """Print the connection URL of the running embedded warehouse (for psql, scripts)."""
    click.echo(_embedded(project_dir).url())


@cli.command("demo")
@click.option("--project-dir", type=click.Path(file_okay=False), default=".", help=PROJECT_DIR_HELP)
@click.option("--people", type=click.IntRange(min=1), default=5000, show_default=True,
              help="People in the generated sample sources.")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the sample sources.")
@click.option("--reset", is_flag=True, help="Generate the sample sources again even if they are loaded.")
def demo(project_dir, people, seed, reset):
    """Run the whole job on the embedded warehouse: sources, dbt build, summary.

    \b
    Example:
      rsync-braze demo --people 20000
    """
    from pathlib import Path

    from .demo import format_report, run_demo

    report = run_demo(Path(project_dir).resolve(), people, seed, reset)
    click.echo(format_report(report))


# ------------------------------------------------------------------------------------------- syncs
def _engine(project_dir, profiles_dir, profile, target, manifest_path):
    from pathlib import Path

    from .engine import Engine
    from .manifest import load

    project = Path(project_dir or ".").resolve()
    manifest = load(manifest_path, project)  # validated completely before any I/O
    spec = resolve_target(str(project), profiles_dir, profile, target)
    return Engine(manifest, spec, project)


def manifest_option(func):
    return click.option("--manifest", "manifest_path", default=None, envvar="RSYNC_BRAZE_MANIFEST",
                        help="Sync manifest (default: rsync_braze.yml in the project folder).")(func)


def _print_result(result, as_json: bool) -> None:
    from dataclasses import asdict

    if as_json:
        click.echo(json.dumps(asdict(result), default=str))
        return
    c = result.counts
    head = "plan" if result.dry_run else f"run {result.run_id}"
    click.echo(f"{result.sync} ({head}, {result.seconds:.1f}s): {c.get('created', 0):,} created, "
               f"{c.get('updated', 0):,} updated, {c.get('removed', 0):,} removed, {c.get('unchanged', 0):,} unchanged, "
               f"{c.get('invalid', 0):,} invalid, {c.get('rejected', 0):,} rejected, {c.get('failed', 0):,} failed; "
               f"{c.get('data_points', 0):,} data points"
               + (f", {c.get('requests', 0):,} requests" if not result.dry_run else
                  f", ~{result.estimated_requests:,} requests"))
    if result.fields_changed:
        click.echo("  fields: " + ", ".join(f"{k} {v:,}" for k, v in sorted(result.fields_changed.items())))
    for ident, fld, reason in result.rejections[:10]:
        click.echo(f"  rejected {ident}{'.' + fld if fld else ''}: {reason}")
    if len(result.rejections) > 10:
        click.echo(f"  ... {len(result.rejections) - 10:,} more in {'sync_rejections' if not result.dry_run else 'the plan'}")
    if result.error:
        click.echo(f"  {result.status}: {result.error}")


def select_options(func):
    func = click.option("--select", "-s", "selectors", multiple=True,
                        help="Syncs to act on: NAME, tag:TAG, model:MODEL, +MODEL (downstream of MODEL).")(func)
    return click.argument("syncs", nargs=-1)(func)


def _selected(engine, syncs, selectors):
    from .selection import select

    return select(engine.manifest, tuple(syncs) + tuple(selectors), engine.project_dir)


@cli.command("run")
@select_options
@click.option("--full-refresh", is_flag=True, help="Forget what was delivered and send every row again.")
@click.option("--dry-run", is_flag=True, help="Say what would be sent (same as plan); send nothing.")
@click.option("--ignore-dbt-results", is_flag=True,
              help="Sync even when dbt's last run says the model or a test on it failed (emergencies only).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per sync on stdout.")
@manifest_option
@warehouse_target_options
def run_command(syncs, selectors, full_refresh, dry_run, ignore_dbt_results, as_json, manifest_path, project_dir,
                profiles_dir, profile, target):
    """Send each sync's changes to Braze (all syncs, or those selected).

    \b
    Exit codes: 0 ok; 2 configuration; 3 warehouse; 4 rows not delivered (sent again next run);
    5 sync already running; 6 rejected rows over the sync's max_rejected_share;
    7 a sync skipped because dbt's last run failed on its model or a test of it; 130 stopped by SIGTERM
    (the requests in flight finish and are committed first) or interrupted.
    \b
    Examples:
      dbt build && rsync-braze run
      rsync-braze run --select tag:daily
      rsync-braze run braze_users --full-refresh
    """
    from .selection import dbt_blockers

    from .engine import stop_on_sigterm

    engine = _engine(project_dir, profiles_dir, profile, target, manifest_path)
    engine.stop = stop_on_sigterm()
    worst = 0
    for sync in _selected(engine, syncs, selectors):
        if engine.stop.is_set():
            click.echo(f"{sync.name}: not started (SIGTERM)", err=True)
            worst = max(worst, 130)
            continue
        blockers = [] if ignore_dbt_results else dbt_blockers(sync, engine.project_dir)
        if blockers:
            click.echo(f"{sync.name}: skipped, dbt's last run failed on its model: {'; '.join(blockers[:5])}. "
                       "Fix the model, or pass --ignore-dbt-results.", err=True)
            if as_json:
                click.echo(json.dumps({"sync": sync.name, "status": "skipped", "reasons": blockers}))
            worst = max(worst, 7)
            continue
        result = engine.plan(sync, full_refresh) if dry_run else engine.run(sync, full_refresh)
        _print_result(result, as_json)
        codes = {"partial": 4, "failed": 4, "rejected_over_threshold": 6, "stopped": 130}
        worst = max(worst, codes.get(result.status, 0))
    sys.exit(worst)


@cli.command("plan")
@select_options
@click.option("--full-refresh", is_flag=True, help="Plan a full resend.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per sync on stdout.")
@manifest_option
@warehouse_target_options
def plan_command(syncs, selectors, full_refresh, as_json, manifest_path, project_dir, profiles_dir, profile, target):
    """Say what a run would do: rows per action, fields changed, rejected rows, data points and requests.

    \b
    Example:
      rsync-braze plan users --json
    """
    engine = _engine(project_dir, profiles_dir, profile, target, manifest_path)
    for sync in _selected(engine, syncs, selectors):
        _print_result(engine.plan(sync, full_refresh), as_json)


@cli.command("validate")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@manifest_option
@warehouse_target_options
def validate_command(as_json, manifest_path, project_dir, profiles_dir, profile, target):
    """Check the manifest, and each sync's model, columns and column types in the warehouse.

    Exit 2 when anything is wrong (a CI guard for pull requests).
    """
    from .validate import check_sync
    from .warehouse import connect

    engine = _engine(project_dir, profiles_dir, profile, target, manifest_path)
    with connect(engine.target) as conn:
        checks = [check_sync(conn, engine.manifest, engine.dbt, s) for s in engine.manifest.syncs.values()]
    if as_json:
        click.echo(json.dumps([c.__dict__ for c in checks]))
    else:
        for c in checks:
            click.echo(f"{c.sync}: {'ok' if not c.problems else 'FAILED'} ({c.relation or 'no relation'})")
            for p in c.problems:
                click.echo(f"  - {p}")
    sys.exit(2 if any(c.problems for c in checks) else 0)


@cli.command("status")
@click.argument("syncs", nargs=-1)
@click.option("--limit", type=click.IntRange(1, 1000), default=1, show_default=True, help="Runs per sync.")
@click.option("--rejections", type=click.IntRange(0, 10000), default=0, help="Also list this many rejected rows.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@manifest_option
@warehouse_target_options
def status_command(syncs, limit, rejections, as_json, manifest_path, project_dir, profiles_dir, profile, target):
    """Last runs per sync from the run log (counts, duration, status, last error); `--limit 20` for history.

    \b
    Examples:
      rsync-braze status
      rsync-braze status braze_users --limit 10 --rejections 20
    """
    from . import history
    from .warehouse import connect

    engine = _engine(project_dir, profiles_dir, profile, target, manifest_path)
    names = tuple(syncs or engine.manifest.syncs)
    schema = engine.manifest.state_schema
    with connect(engine.target) as conn:
        runs = list(history.runs(conn, schema, names, limit))
        out = [{"sync": name, "runs": [r for r in runs if r["sync_name"] == name],
                "rejections": list(history.rejections(conn, schema, (name,), limit=rejections)) if rejections else []}
               for name in names]
    if as_json:
        click.echo(json.dumps(out))
        return
    for item in out:
        if not item["runs"]:
            click.echo(f"{item['sync']}: never run")
        for run in item["runs"]:
            click.echo(history.format_run(run))
        for r in item["rejections"]:
            click.echo(f"  rejected in run {r['run_id']}: {r['identifier']}{'.' + r['field'] if r['field'] else ''}: "
                       f"{r['reason']}")


# Commands living in their own packages.
from .demo_data.cli import demo_data as _demo_data_command  # noqa: E402
from .emulator.cli import emulator as _emulator_command  # noqa: E402
from .pipeline_cli import register as register_pipeline_commands  # noqa: E402
from .sources.cli import ingest as _ingest_command  # noqa: E402

cli.add_command(_demo_data_command)
cli.add_command(_emulator_command)
cli.add_command(_ingest_command)
register_pipeline_commands(cli)  # exposures, init, history, rejections, serve


def main() -> None:
    """Console-script entry point: user errors become one clear line on stderr and an exit code."""
    # Closing a connection the warehouse dropped, psycopg warns "error ignored in rollback"; the command reports
    # the lost connection itself, in one line.
    logging.getLogger("psycopg").setLevel(logging.ERROR)
    try:
        cli.main(standalone_mode=False)
    except RsyncBrazeError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except psycopg.Error as exc:
        # A statement the warehouse refused mid-command: one line, the warehouse's own words, exit 3.
        message = " ".join(str(exc).split())
        click.echo(f"Error: the warehouse refused a statement ({type(exc).__name__}): {message}", err=True)
        sys.exit(3)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
