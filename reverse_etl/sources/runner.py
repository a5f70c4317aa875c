"""``rsync-braze ingest``: run the selected pull sources (files, Salesforce, Zendesk), one lock each."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, RsyncBrazeError
from ..manifest import Manifest
from ..profiles import ConnectionSpec
from ..warehouse import connect
from . import files, salesforce, store, zendesk
from .config import SourceConfig
from .http import ApiResult

PULL_TYPES = ("files", "salesforce", "zendesk")  # run by `rsync-braze ingest`; webhooks are served instead


class SourceBusy(RsyncBrazeError):
    """Another ingest of the same source is running."""

    exit_code = 5


def pick(manifest: Manifest, names: tuple[str, ...], kind: str | tuple[str, ...]) -> list[SourceConfig]:
    """The named sources (all of ``kind`` when none is named), or a ConfigError naming the unknown ones."""
    kinds = (kind,) if isinstance(kind, str) else kind
    sources = manifest.sources
    unknown = [n for n in names if n not in sources]
    if unknown:
        raise ConfigError(f"{manifest.path}: no source named {', '.join(map(repr, unknown))} under `sources:` "
                          f"(defined: {', '.join(sources) or 'none'}).")
    chosen = [sources[n] for n in names] if names else [s for s in sources.values() if s.type in kinds]
    wrong = [s.name for s in chosen if s.type not in kinds]
    if wrong:
        verb = "rsync-braze ingest serve" if "files" in kinds else "rsync-braze ingest"
        raise ConfigError(f"source(s) {', '.join(map(repr, wrong))} are not of type {' or '.join(kinds)}: run "
                          f"them with `{verb}`.")
    return chosen


def ingest(manifest: Manifest, spec: ConnectionSpec, project_dir: Path,
           names: tuple[str, ...] = ()) -> list[files.SourceResult | ApiResult]:
    """Run every selected pull source; raise SourceBusy if one is being ingested by another process."""
    chosen = pick(manifest, names, PULL_TYPES)
    results = []
    with connect(spec, application_name="rsync-braze ingest") as conn:
        store.ensure_state(conn, manifest.state_schema)
        for source in chosen:
            if not store.try_lock(conn, source.name):
                raise SourceBusy(f"Source {source.name!r} is being ingested by another process: wait for it to finish.")
            try:
                if source.type == "files":
                    results.append(files.ingest(conn, source, manifest.state_schema, project_dir))
                else:
                    api = salesforce if source.type == "salesforce" else zendesk
                    results.append(api.ingest(conn, source, manifest.state_schema))
            finally:
                conn.execute("select pg_advisory_unlock(hashtext('rsync_braze:ingest:' || %s))", (source.name,))
                conn.commit()
    return results
