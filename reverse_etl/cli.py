"""The ``rsync-braze`` command line: a thin click layer over the library (no logic lives here).

Exit codes: 0 ok; 1 unexpected; 2 configuration error; 3 warehouse error; 4 delivery error; 130 interrupted.
"""

from __future__ import annotations

import functools
import json
import signal
import sys
import time

import click

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
    click.echo(status.url)
    if foreground:
        _wait_for_signal()
        wh.stop()
        click.echo("Embedded warehouse stopped.", err=True)


def _wait_for_signal() -> None:
    received = []
    signal.signal(signal.SIGTERM, lambda *_: received.append("TERM"))
    try:
        while not received:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass


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


# Commands living in their own packages.
from .demo_data.cli import demo_data as _demo_data_command  # noqa: E402
cli.add_command(_demo_data_command)


def main() -> None:
    """Console-script entry point: user errors become one clear line on stderr and an exit code."""
    try:
        cli.main(standalone_mode=False)
    except RsyncBrazeError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
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
