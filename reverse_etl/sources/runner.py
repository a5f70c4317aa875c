"""``rsync-braze ingest``: run the selected file sources, one warehouse connection and lock each."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, RsyncBrazeError
from ..manifest import Manifest
from ..profiles import ConnectionSpec
from ..warehouse import connect
from . import files, store
from .config import FileSourceConfig, SourceConfig


class SourceBusy(RsyncBrazeError):
    """Another ingest of the same source is running."""

    exit_code = 5


def pick(manifest: Manifest, names: tuple[str, ...], kind: str) -> list[SourceConfig]:
    """The named sources (all of ``kind`` when none is named), or a ConfigError naming the unknown ones."""
    sources = manifest.sources
    unknown = [n for n in names if n not in sources]
    if unknown:
        raise ConfigError(f"{manifest.path}: no source named {', '.join(map(repr, unknown))} under `sources:` "
                          f"(defined: {', '.join(sources) or 'none'}).")
    chosen = [sources[n] for n in names] if names else [s for s in sources.values() if s.type == kind]
    wrong = [s.name for s in chosen if s.type != kind]
    if wrong:
        verb = "rsync-braze ingest serve" if kind == "files" else "rsync-braze ingest"
        raise ConfigError(f"source(s) {', '.join(map(repr, wrong))} are not of type {kind}: run them with `{verb}`.")
    return chosen


def ingest(manifest: Manifest, spec: ConnectionSpec, project_dir: Path,
           names: tuple[str, ...] = ()) -> list[files.SourceResult]:
    """Load every selected files source; raise SourceBusy if one is being ingested by another process."""
    chosen: list[FileSourceConfig] = pick(manifest, names, "files")  # type: ignore[assignment]
    results = []
    with connect(spec, application_name="rsync-braze ingest") as conn:
        store.ensure_state(conn, manifest.state_schema)
        for source in chosen:
            if not store.try_lock(conn, source.name):
                raise SourceBusy(f"Source {source.name!r} is being ingested by another process: wait for it to finish.")
            try:
                results.append(files.ingest(conn, source, manifest.state_schema, project_dir))
            finally:
                conn.execute("select pg_advisory_unlock(hashtext('rsync_braze:ingest:' || %s))", (source.name,))
                conn.commit()
    return results
