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


def register(cli: click.Group) -> None:
    """Add this module's commands to the main group."""
    for command in (exposures_command,):
        cli.add_command(command)
