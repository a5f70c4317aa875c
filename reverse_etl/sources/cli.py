"""``rsync-braze ingest [SOURCE...]`` and ``rsync-braze ingest serve``: click layer only."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from ..cli import manifest_option, resolve_target, warehouse_target_options


class _IngestGroup(click.Group):
    """``ingest SOURCE...`` runs sources; ``ingest serve`` is a subcommand: anything else goes to ``run``."""

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _load(project_dir, manifest_path):
    from ..manifest import load

    project = Path(project_dir or ".").resolve()
    return project, load(manifest_path, project)  # validated completely before any I/O


@click.group("ingest", cls=_IngestGroup)
def ingest():
    """Land sources in raw warehouse tables: files (local or SFTP), Salesforce, Zendesk and webhooks.

    \b
    rsync-braze ingest                   every files, salesforce and zendesk source of the manifest
    rsync-braze ingest contacts_files    only these sources
    rsync-braze ingest serve --port 8080 receive the webhook sources (POST /hooks/<source>)

    Each file is loaded once (a ledger in the state schema); API sources resume from a cursor stored in the
    warehouse; see docs/sources.md.
    """


@ingest.command("run", hidden=True)
@click.argument("sources", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON document with every source's outcome.")
@manifest_option
@warehouse_target_options
def run_command(sources, as_json, manifest_path, project_dir, profiles_dir, profile, target):
    """Run the pull sources (all of them, or those named): new files, Salesforce and Zendesk changes."""
    from .runner import PULL_TYPES, pick
    from .runner import ingest as run_ingest

    project, manifest = _load(project_dir, manifest_path)
    if not pick(manifest, tuple(sources), PULL_TYPES):
        click.echo("No files, salesforce or zendesk source in the manifest: nothing to ingest.", err=True)
        return
    spec = resolve_target(str(project), profiles_dir, profile, target)
    results = run_ingest(manifest, spec, project, tuple(sources))
    if as_json:
        click.echo(json.dumps([asdict(r) for r in results]))
        return
    for r in results:
        if not hasattr(r, "files"):  # an API source
            click.echo(f"{r.source}: {r.records:,} records read in {r.pages} page(s), {r.changed:,} new or changed, "
                       f"{r.deleted:,} deleted; {r.retries} retried request(s); {r.seconds:.1f}s")
            continue
        loaded = [f for f in r.files if f.status == "loaded"]
        click.echo(f"{r.source}: {len(loaded)} file(s) loaded, {sum(f.rows for f in loaded):,} rows, "
                   f"{sum(f.rejected for f in loaded):,} rejected; {r.count('skipped')} already loaded; "
                   f"{r.count('changed')} changed after loading")
        for f in loaded:
            click.echo(f"  loaded {f.path}: {f.rows:,} rows, {f.rejected:,} rejected ({f.seconds:.1f}s)")
        for f in r.files:
            if f.status == "changed":
                click.echo(f"  CHANGED after loading, not reloaded: {f.path} (see docs/sources.md)", err=True)


@ingest.command("serve")
@click.argument("sources", nargs=-1)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (put a TLS-terminating proxy in front for the internet).")
@click.option("--port", type=int, default=8080, show_default=True, help="Port to listen on (0: any free port).")
@manifest_option
@warehouse_target_options
def serve_command(sources, host, port, manifest_path, project_dir, profiles_dir, profile, target):
    """Receive the webhook sources: POST /hooks/<source> with a JSON record or an array of records.

    Each request is authenticated (HMAC-SHA256 signature or bearer token), its records are committed to
    raw_<source> before the 2xx answer, and NOTIFY rsync_braze tells realtime syncs. SIGTERM or Ctrl-C
    finishes the requests already received, then stops.
    """
    from .runner import pick
    from .webhook import serve

    project, manifest = _load(project_dir, manifest_path)
    chosen = pick(manifest, tuple(sources), "webhook")
    if not chosen:
        raise click.UsageError("the manifest has no webhook source (type: webhook) to serve.")
    spec = resolve_target(str(project), profiles_dir, profile, target)

    def ready(bound: int) -> None:
        names = ", ".join(f"/hooks/{s.name}" for s in chosen)
        click.echo(f"listening on http://{host}:{bound} ({names})")
        sys.stdout.flush()  # tests and supervisors wait for this line

    counters = serve(chosen, spec, host, port, ready)
    click.echo(f"stopped: {counters['requests']:,} requests, {counters['records']:,} records received, "
               f"{counters['stored']:,} stored, {counters['rejected']:,} requests refused")
