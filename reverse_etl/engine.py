"""The sync engine: diff a model against what Braze acknowledged, send the difference, record the outcome.

One run of one sync:

1. take the sync's lock (a PostgreSQL advisory lock, DuckDB: see duck/state.py): a second concurrent run exits
   with a clear message;
2. run the diff (``diff.py``) once into a temporary table and count its actions;
3. record invalid rows as rejections; stream new and changed rows (server-side cursor) into the Braze client,
   sending only the fields that changed (and that the mapping's ``sync_on`` allows);
4. as outcomes come back, commit in one transaction per batch: the snapshot rows of what Braze acknowledged,
   rejections, and the run's counters. Rows that failed are not in the snapshot, so the next run sends them.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from . import dialect, digest
from .recorder import Recorder
from .braze import BrazeClient, Destination, Identifier, RateLimit, TrackRow
from .braze.endpoints import DeleteRow, delete_users
from .braze.payload import AttributeSpec, PayloadBuilder, Rejection
from .dbt_artifacts import DbtManifest, parse_relation
from .diff import DiffSpec, active_snapshot_count_query, differing_buckets_query, relation
from .errors import ConfigError, RsyncBrazeError
from .manifest import Manifest, SyncConfig
from .merges import MergeRow, merge_users
from .profiles import ConnectionSpec

log = logging.getLogger("reverse_etl.engine")

NOT_BILLED = frozenset({"email_subscribe", "push_subscribe", "subscription_groups"})


class SyncLocked(RsyncBrazeError):
    """Another run of the same sync holds its lock."""

    exit_code = 5


@dataclass
class SyncResult:
    """What one run (or plan) of one sync did; ``counts`` keys follow ``state.COUNTERS``."""

    sync: str
    run_id: int | None = None
    status: str = "success"
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    fields_changed: dict[str, int] = field(default_factory=dict)
    rejections: list[tuple[str | None, str | None, str]] = field(default_factory=list)
    estimated_requests: int = 0
    unique_because: str | None = None  # why the duplicate-identifier check was skipped (None: it ran)
    seconds: float = 0.0
    error: str | None = None

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n


class Engine:
    """Runs and plans the syncs of a manifest against one warehouse target."""

    def __init__(self, manifest: Manifest, target: ConnectionSpec, project_dir: Path,
                 client_factory: Callable[[Destination, dict], BrazeClient] | None = None,
                 stop: threading.Event | None = None):
        """``stop``: once set (SIGTERM), a run hands no more rows to the client, lets the requests in flight
        finish, commits what Braze acknowledged and ends with status ``stopped``; the next run sends the rest."""
        self.manifest = manifest
        self.stop = stop
        self.target = target
        self.db = dialect.for_target(target)  # what to ask of the warehouse (PostgreSQL, DuckDB)
        self.project_dir = project_dir
        self.dbt = DbtManifest(project_dir)
        self.client_factory = client_factory or (lambda dest, schema: BrazeClient(dest, schema=schema))
        self._shapes: dict[str, tuple] = {}  # _shape's cache, by sync name

    # ------------------------------------------------------------------------------------------ helpers
    def _stopping(self, result: SyncResult) -> bool:
        """True once a stop was asked for (checked before each row is handed over)."""
        if self.stop is not None and self.stop.is_set():
            if result.status != "stopped":
                log.info("sync %s: stop requested: no more rows handed over; finishing the requests in flight",
                         result.sync)
            result.status = "stopped"
            return True
        return False

    def _relation(self, sync: SyncConfig):
        return self.dbt.relation(sync.model) if sync.model else parse_relation(sync.relation)

    def _check_columns(self, conn: psycopg.Connection, sync: SyncConfig) -> tuple[str, dict[str, str]]:
        """The model's quoted relation and its columns' types (PostgreSQL type names); a clear error when the
        relation or a column the sync reads is missing."""
        rel = self._relation(sync)
        have = self.db.column_types(conn, rel.schema, rel.name)
        if not have:
            raise ConfigError(f"Sync {sync.name!r}: relation {rel} does not exist in the warehouse "
                              f"({self.target.describe()}): run `dbt build` first, or fix `model`/`relation`.")
        if sync.object in ("events", "purchases"):
            self.db.ledger.check_config(sync)
            wanted = self.db.ledger.columns(sync)
        else:
            wanted = [sync.identifier_column] + [m.column for m in sync.mapping]
        missing = [c for c in wanted if c not in have]
        if missing:
            raise ConfigError(f"Sync {sync.name!r}: column(s) {', '.join(missing)} not in {rel} "
                              f"(it has {', '.join(sorted(have))}): fix the mapping or the model.")
        return relation(rel.schema, rel.name), have

    def _spec(self, sync: SyncConfig, model_relation: str, unique: bool = False,
              types: dict[str, str] | None = None, digest_relation: str | None = None) -> DiffSpec:
        dest = self.manifest.destinations[sync.destination]
        fields = tuple((m.column, m.attribute) for m in sync.mapping)
        required = tuple((m.column, m.attribute) for m in sync.mapping
                         if m.attribute in dest.custom_attributes and dest.custom_attributes[m.attribute].required)
        return DiffSpec(model_relation, relation(self.manifest.state_schema, f"snapshot__{sync.name}"),
                        sync.identifier_column, fields, required,
                        fields_relation=relation(self.manifest.state_schema, f"fields__{sync.name}"),
                        check_duplicates=not unique,
                        types=tuple((types or {}).get(m.column, "") for m in sync.mapping) if types else (),
                        digest_relation=digest_relation or "")

    def _schema(self, sync: SyncConfig) -> dict[str, AttributeSpec]:
        dest = self.manifest.destinations[sync.destination]
        mapped = {m.attribute for m in sync.mapping}
        return {a.name: AttributeSpec(a.type) for a in dest.custom_attributes.values() if a.name in mapped}

    def _destination(self, sync: SyncConfig) -> Destination:
        d = self.manifest.destinations[sync.destination]
        return Destination(endpoint=d.endpoint, api_key=d.api_key(), rate_limit=RateLimit(d.rate_limit_requests,
                           d.rate_limit_period), objects_per_request=d.objects_per_request,
                           legacy_per_array=d.legacy_per_array, timeout=d.timeout, workers=d.workers,
                           allow_hosts=d.allow_hosts)

    def _identifier(self, sync: SyncConfig, value: str) -> Identifier:
        return Identifier(sync.identifier_type, value, sync.identifier_label)

    def _prepare(self, conn: psycopg.Connection, sync: SyncConfig, full_refresh: bool,
                 result: SyncResult | None = None) -> DiffSpec:
        """Ensure the state tables exist (and reset them on --full-refresh); check the model's columns; note in
        ``result`` when the identifier is known unique (the diff then skips its duplicate check)."""
        if sync.object == "subscriptions":
            raise ConfigError(f"Sync {sync.name!r}: object 'subscriptions' is not supported by this release yet; "
                              "user_attributes, events and purchases are.")
        self.db.state.ensure_schema(conn, self.manifest.state_schema)
        self.db.state.ensure_snapshot(conn, self.manifest.state_schema, sync.name)
        if full_refresh:
            self.db.state.reset_snapshot(conn, self.manifest.state_schema, sync.name)
        model_relation, types = self._check_columns(conn, sync)
        because = self.db.known_unique(conn, sync, model_relation, self.project_dir)
        if result is not None and sync.object == "user_attributes":
            result.unique_because = because
        if because:
            log.info("sync %s: identifier %s known unique (%s): no duplicate check", sync.name,
                     sync.identifier_column, because)
        digest_relation = (self.db.ensure_digest(conn, self.manifest.state_schema, sync.name)
                           if sync.object == "user_attributes" else None)
        conn.commit()
        return self._spec(sync, model_relation, unique=because is not None, types=types,
                          digest_relation=digest_relation)

    def _diff(self, conn: psycopg.Connection, spec: DiffSpec, full: bool, counts: dict[str, int]) -> Iterator[tuple]:
        """Stream the rows needing work; fill ``counts`` per action as they pass.

        ``unchanged`` is derived at the end from the snapshot's count, read in the same repeatable-read
        transaction as the diff, so both see the same state.

        With a digest (digest.py), a first pass finds the buckets where model and snapshot disagree: none, and
        nothing needs work; only those, and the diff reads only their rows; more than half, and it reads all.
        """
        self.db.consistent_read(conn)
        buckets, balance = None, 0
        if spec.digest_relation and not full:
            active = int(conn.execute(digest.active_count_query(spec.digest_relation)).fetchone()[0])
            differing = conn.execute(differing_buckets_query(spec)).fetchall()
            log.info("%s: %d of %d digest buckets differ from the model", spec.snapshot_relation, len(differing),
                     digest.BUCKETS)
            if not differing:
                counts["unchanged"] = active
                return
            if len(differing) <= digest.BUCKETS // 2:
                buckets = [b for b, _, _ in differing]
                balance = sum(model - held for _, model, held in differing)
        else:
            active = int(conn.execute(active_snapshot_count_query(spec)).fetchone()[0])
        rows = self._diff_rows(conn, spec, full, buckets, balance)
        matched_invalid: set[str] = set()
        for row in rows:
            action = row[1]
            counts[action] = counts.get(action, 0) + 1
            if action == "invalid" and row[7] and row[0] is not None:
                matched_invalid.add(row[0])
            yield row
        if not full:
            counts["unchanged"] = active - counts.get("changed", 0) - counts.get("removed", 0) - len(matched_invalid)

    def _diff_rows(self, conn: psycopg.Connection, spec: DiffSpec, full: bool, buckets: list[int] | None,
                   balance: int) -> Iterator[tuple]:
        """The diff's rows. Of some buckets with the duplicate check to run: first the lean check (diff.py),
        then, if its balance shows duplicates among rows matching the snapshot, the full check instead (before
        any row is handed over)."""
        lean = buckets is not None and spec.check_duplicates
        rows = self.db.stream(conn, self.db.diff_query(spec, all_values=full, buckets=buckets, lean=lean),
                              chunk_size=5000, name="rb_diff")
        if not lean:
            return rows
        first = next(rows, None)
        if (first[8] if first is not None else 0) == balance:
            return rows if first is None else itertools.chain((first,), rows)
        rows.close()
        log.info("%s: the model repeats identifiers that Braze holds: full duplicate check", spec.snapshot_relation)
        return self.db.stream(conn, self.db.diff_query(spec, all_values=full, buckets=buckets), chunk_size=5000,
                              name="rb_diff")

    def _shape(self, sync: SyncConfig) -> tuple[list[tuple[int, str]], list[tuple[int, str]], dict[str, int], bool]:
        """Per sync, worked out once (it is read for every row): the (position, attribute) pairs sent for a new
        row (``sync_on`` create) and for a row sent whole again (full mode, or rejected last time: create or
        update), the position of each attribute sent on update, whether rows may create a profile."""
        shape = self._shapes.get(sync.name)
        if shape is None:
            mapping = list(enumerate(sync.mapping))
            shape = self._shapes[sync.name] = (
                [(i, m.attribute) for i, m in mapping if "create" in m.sync_on],
                [(i, m.attribute) for i, m in mapping if "create" in m.sync_on or "update" in m.sync_on],
                {m.attribute: i for i, m in mapping if "update" in m.sync_on},
                any("create" in m.sync_on for _, m in mapping))
        return shape

    def _track_row(self, sync: SyncConfig, row: tuple, full: bool) -> tuple[TrackRow | None, list[str]]:
        """The TrackRow to send for a diff row (None when nothing is to be sent) and the attributes in it."""
        id_, action, _, _, _, changed_list, old_status, _, _, *values = row
        on_create, on_resend, updatable, create = self._shape(sync)
        if action == "new":
            attrs = {a: values[i] for i, a in on_create if values[i] is not None}
        elif full or old_status == "rejected":
            attrs = {a: values[i] for i, a in on_resend}
        else:  # changed: only its changed fields that are sent on update
            attrs = {a: values[updatable[a]] for a in changed_list or () if a in updatable}
        if not attrs:
            return None, []
        return TrackRow(key=id_, identifier=self._identifier(sync, id_), attributes=attrs, create=create), list(attrs)

    # ---------------------------------------------------------------------------------------------- plan
    def plan(self, sync: SyncConfig, full_refresh: bool = False) -> SyncResult:
        """What a run would do, without sending anything: counts, fields changed, rejections, estimates."""
        started = time.monotonic()
        result = SyncResult(sync.name, dry_run=True)
        builder = PayloadBuilder(self._schema(sync))
        full = full_refresh or sync.mode == "full"
        counts: dict[str, int] = {}
        sent = quiet = 0
        refused: dict[str, int] = {}
        with self.db.connect(self.target, sync=sync.name) as conn:
            spec = self._prepare(conn, sync, full_refresh=False, result=result)
            if sync.object in ("events", "purchases"):
                return self._plan_events(conn, sync, spec, builder, result, started)
            # Merges a run would make first; their retired ids then leave the snapshot, not "removed".
            found = self._pending_merges(conn, sync, spec) if sync.merges else []
            merging = sum(ready for _, _, ready in found)
            with paused_gc():
                for row in self._diff(conn, spec, full, counts):
                    action = row[1]
                    if action == "invalid":
                        result.add("invalid")
                        if len(result.rejections) < 1000:
                            result.rejections.append((row[0], None, row[2]))
                        continue
                    if action == "removed":
                        sent += sync.on_remove != "ignore"
                        continue
                    track, attrs = self._track_row(sync, row, full)
                    if track is None:
                        # A changed row whose sendable fields are all as delivered (only create-only fields
                        # changed, or the row hash's scheme changed): a run sends nothing for it.
                        quiet += action == "changed" and not full
                        continue
                    built = builder.build(track)
                    if isinstance(built, Rejection):  # a run would count it rejected, not created or updated
                        refused[action] = refused.get(action, 0) + 1
                        result.add("rejected")
                        if len(result.rejections) < 1000:
                            result.rejections.append((row[0], None, built.reason))
                        continue
                    sent += 1
                    for attr in attrs:
                        result.fields_changed[attr] = result.fields_changed.get(attr, 0) + 1
                    result.add("data_points", sum(a not in NOT_BILLED for a in attrs))
            conn.rollback()
        # After the diff's own counting (its `unchanged` is derived from `changed`): what a run would report.
        for action, n in refused.items():
            counts[action] -= n
        counts["changed"] = counts.get("changed", 0) - quiet
        counts["unchanged"] = counts.get("unchanged", 0) + quiet
        if full_refresh:  # the snapshot would be forgotten: every row is new
            counts = {"new": counts.get("new", 0) + counts.get("changed", 0) + counts.get("unchanged", 0),
                      "invalid": counts.get("invalid", 0), "removed": 0}
        result.counts.update({"created": counts.get("new", 0), "updated": counts.get("changed", 0),
                              "unchanged": counts.get("unchanged", 0),
                              "removed": max(0, counts.get("removed", 0) - len(found)), "merged": merging})
        result.estimated_requests = (-(-sent // self.manifest.destinations[sync.destination].objects_per_request)
                                     + -(-merging // 50))
        result.seconds = time.monotonic() - started
        return result

    def _plan_events(self, conn, sync: SyncConfig, spec: DiffSpec, builder: PayloadBuilder, result: SyncResult,
                     started: float) -> SyncResult:
        query, delivered = self._ledger_query(conn, sync, spec)
        app_id = self.manifest.destinations[sync.destination].app_id
        sent = 0
        for row in self.db.ledger.stream(conn, query):
            reason = row[0]
            if reason is None:
                built = builder.build(self.db.ledger.track_row(sync, row[2:], app_id))
                reason = built.reason if isinstance(built, Rejection) else None
                if reason:
                    result.add("rejected")
            else:
                result.add("invalid")
            if reason:
                if len(result.rejections) < 1000:
                    result.rejections.append((row[2], None, reason))
                continue
            sent += 1
            result.add("possibly_duplicated", bool(row[1]))
        conn.rollback()
        result.counts.update({"created": sent, "unchanged": delivered, "data_points": sent})
        result.estimated_requests = -(-sent // self.manifest.destinations[sync.destination].objects_per_request)
        result.seconds = time.monotonic() - started
        return result

    # ----------------------------------------------------------------------------------------------- run
    def run(self, sync: SyncConfig, full_refresh: bool = False) -> SyncResult:
        """Deliver what changed; state is committed batch by batch for what Braze acknowledged."""
        started = time.monotonic()
        schema = self.manifest.state_schema
        result = SyncResult(sync.name)
        destination = self._destination(sync)  # the API key is checked before any warehouse work
        with self.db.connect(self.target, autocommit=True, sync=sync.name) as state_conn, \
                self.db.connect(self.target, sync=sync.name) as read_conn:
            self.db.state.ensure_schema(state_conn, schema)
            if not self.db.state.try_lock(state_conn, sync.name):
                raise SyncLocked(f"Sync {sync.name!r} is already running (another rsync-braze holds its lock): "
                                 "wait for it to finish; `rsync-braze status` shows its progress.")
            try:
                self._run_locked(sync, full_refresh, result, state_conn, read_conn, destination)
            finally:
                # Released explicitly: a closed connection releases it too, but only once its server process
                # has noticed, which a next run started right away could beat.
                self.db.state.unlock(state_conn, sync.name)
        result.seconds = time.monotonic() - started
        return result

    def _run_locked(self, sync: SyncConfig, full_refresh: bool, result: SyncResult, state_conn: psycopg.Connection,
                    read_conn: psycopg.Connection, destination: Destination) -> None:
        schema = self.manifest.state_schema
        spec = self._prepare(read_conn, sync, full_refresh, result=result)
        result.run_id = run_id = self.db.state.start_run(state_conn, schema, sync.name, sync.mode, False)
        client = self.client_factory(destination, self._schema(sync))
        recorder = Recorder(state_conn, schema, sync.name, run_id, result, db=self.db,
                            attrs=[m.attribute for m in sync.mapping])
        counts: dict[str, int] = {}
        try:
            if sync.object in ("events", "purchases"):
                self._deliver_events(sync, read_conn, spec, client, recorder, counts)
            else:
                held = self._merge(sync, read_conn, spec, client, recorder) if sync.merges else set()
                removed = self._deliver(sync, self._diff(read_conn, spec, full_refresh or sync.mode == "full", counts),
                                        client, recorder, full=full_refresh or sync.mode == "full", held=held)
                read_conn.rollback()
                if result.status != "stopped":
                    self._delete(sync, removed, client, recorder)
            recorder.count("unchanged", counts.get("unchanged", 0))
            recorder.count("requests", client.stats.requests)
            recorder.flush()
            failed = result.counts.get("failed", 0)
            rejected = result.counts.get("rejected", 0) + result.counts.get("invalid", 0)
            total = sum(counts.values()) or 1
            if result.status == "stopped":
                result.error = "stopped before the end (SIGTERM): what Braze acknowledged is committed; the next run sends the rest"
            elif failed:
                result.status = "partial"
                result.error = f"{failed} row(s) not delivered; the next run sends them again"
            elif rejected / total > sync.max_rejected_share:
                result.status = "rejected_over_threshold"
                result.error = (f"{rejected} row(s) rejected ({rejected / total:.1%}), over max_rejected_share "
                                f"{sync.max_rejected_share:.1%}; see sync_rejections")
            self.db.state.finish_run(state_conn, schema, run_id, result.status, result.error)
        except BaseException as exc:
            recorder.flush()
            result.status = "failed"
            result.error = destination.redact(str(exc))[:2000] if isinstance(exc, Exception) else "interrupted"
            self.db.state.finish_run(state_conn, schema, run_id, result.status, result.error)
            raise

    def _pending_merges(self, conn: psycopg.Connection, sync: SyncConfig, spec: DiffSpec) -> list[tuple[str, str, bool]]:
        """Retired ids not merged yet (few: the persons merged since the last run), as (retired, surviving,
        ready: Braze holds the surviving id)."""
        schema = self.manifest.state_schema
        self.db.merges.ensure_ledger(conn, schema, sync.name)
        m = sync.merges
        rel = self.dbt.relation(m["model"]) if m.get("model") else parse_relation(m["relation"])
        query = self.db.merges.pending_query(m, relation(rel.schema, rel.name), spec.snapshot_relation,
                                     relation(schema, f"merges__{sync.name}"))
        try:
            rows = conn.execute(query).fetchall()
        except psycopg.errors.UndefinedTable:
            raise ConfigError(f"Sync {sync.name!r}: merges relation {rel} does not exist: run `dbt build` first, or "
                              "fix `merges.model`/`merges.relation`.") from None
        except psycopg.errors.UndefinedColumn as exc:
            raise ConfigError(f"Sync {sync.name!r}: {str(exc).splitlines()[0]} in merges relation {rel}: fix "
                              "`merges.retired`/`merges.surviving`.") from None
        finally:
            conn.rollback()
        return rows

    def _merge(self, sync: SyncConfig, conn: psycopg.Connection, spec: DiffSpec, client: BrazeClient,
               recorder: Recorder) -> set[str]:
        """Merge retired profiles into surviving ones (before the attribute diff, which then no longer sees
        the retired ids and resends the survivors' fields); return the retired ids held for a later run."""
        found = self._pending_merges(conn, sync, spec)
        pending = {r: s for r, s, ready in found if ready}
        for outcome in merge_users(client, (MergeRow(r, r, s) for r, s in pending.items())):
            retired, surviving = outcome.key, pending[outcome.key]
            if outcome.status == "delivered":
                recorder.merge(retired, surviving, "merged")
            elif outcome.status == "rejected":
                recorder.reject(retired, None, f"merge into {surviving}: {outcome.reason or 'rejected'}")
                recorder.merge(retired, surviving, "rejected")
            else:
                recorder.count("failed")
        recorder.flush()  # committed before the diff's snapshot is read
        return {r for r, _, ready in found if not ready}

    def _deliver(self, sync: SyncConfig, diff: Iterator[tuple], client: BrazeClient, recorder: Recorder,
                 full: bool, held: set[str] = frozenset()) -> list[str]:
        """Send the diff's rows; return the removed ids still to delete (on_remove: delete). ``held``: retired
        ids waiting for their merge, left as they are."""
        pending: dict[str, tuple[int, dict, str, list[str]]] = {}
        to_delete: list[str] = []
        unset = dict.fromkeys(m.attribute for m in sync.mapping)

        def rows() -> Iterator[TrackRow]:
            for row in diff:
                if self._stopping(recorder.result):
                    return
                id_, action, reason, row_hash, new_hashes = row[:5]
                if action == "invalid":
                    recorder.reject(id_, None, reason, invalid=True)
                    continue
                if action == "removed":
                    if id_ in held:
                        continue
                    if sync.on_remove == "ignore":
                        recorder.acknowledge(id_, 0, {}, "removed", "removed", 0)
                    elif sync.on_remove == "delete":
                        to_delete.append(id_)
                    else:
                        pending[id_] = (0, {}, "removed", list(unset))
                        yield TrackRow(key=id_, identifier=self._identifier(sync, id_), attributes=unset, create=False)
                    continue
                track, attrs = self._track_row(sync, row, full)
                hashes = new_hashes or "{}"  # JSON text, stored as is
                if track is None:  # only create-only fields changed: nothing to send, remember the new values
                    recorder.acknowledge(id_, row_hash, hashes, "delivered", "unchanged", 0)
                    continue
                pending[id_] = (row_hash, hashes, "created" if action == "new" else "updated", attrs)
                yield track

        for outcome in client.track(rows()):
            row_hash, hashes, kind, attrs = pending.pop(outcome.key)
            if outcome.status == "delivered":
                recorder.acknowledge(outcome.key, row_hash, hashes, "removed" if kind == "removed" else "delivered",
                                     kind, sum(a not in NOT_BILLED for a in attrs))
                for attr in attrs:
                    recorder.result.fields_changed[attr] = recorder.result.fields_changed.get(attr, 0) + 1
                if outcome.possibly_duplicated:
                    recorder.count("possibly_duplicated")
            elif outcome.status == "rejected":
                recorder.reject(outcome.key, None, outcome.reason or "rejected")
                if kind != "removed":  # resending the same values cannot help: keep it out until the row changes
                    recorder.acknowledge(outcome.key, row_hash, hashes, "rejected", None, 0)
            else:
                recorder.count("failed")
        return to_delete

    def _ledger_query(self, conn: psycopg.Connection, sync: SyncConfig, spec: DiffSpec) -> tuple[str, int]:
        self.db.ledger.ensure_ledger(conn, self.manifest.state_schema, sync.name)
        table = relation(self.manifest.state_schema, f"ledger__{sync.name}")
        conn.commit()
        # The count and the stream that follows see one state; the level must be set before the first query.
        self.db.consistent_read(conn)
        delivered = int(conn.execute(self.db.ledger.delivered_count_query(table)).fetchone()[0])
        return self.db.ledger.ledger_query(sync, spec.model_relation, table), delivered

    def _deliver_events(self, sync: SyncConfig, conn: psycopg.Connection, spec: DiffSpec, client: BrazeClient,
                        recorder: Recorder, counts: dict[str, int]) -> None:
        """Send each event or purchase not yet in the ledger, once."""
        query, delivered = self._ledger_query(conn, sync, spec)
        recorder.count("unchanged", delivered)
        app_id = self.manifest.destinations[sync.destination].app_id

        handover = self.manifest.destinations[sync.destination].objects_per_request
        resent: set[str] = set()  # handed over by a run that died before Braze's answer (a few batches at most)

        def rows() -> Iterator[TrackRow]:
            chunk: list[TrackRow] = []
            for row in self.db.ledger.stream(conn, query):
                if self._stopping(recorder.result):
                    return  # the rows of `chunk` were never marked sending: the next run sends them, unflagged
                counts["new"] = counts.get("new", 0) + 1
                if row[0] is not None:
                    recorder.reject(row[2], None, row[0], invalid=True)
                    continue
                if row[1]:
                    resent.add(row[2])
                chunk.append(self.db.ledger.track_row(sync, row[2:], app_id))
                if len(chunk) >= handover:
                    recorder.sending([t.key for t in chunk])  # committed before the client may send them
                    yield from chunk
                    chunk = []
            recorder.sending([t.key for t in chunk])
            yield from chunk

        for outcome in client.track(rows()):
            again = outcome.key in resent
            resent.discard(outcome.key)
            if outcome.status == "delivered":
                recorder.event(outcome.key, "delivered", outcome.possibly_duplicated or again)
            elif outcome.status == "rejected":
                recorder.reject(outcome.key, None, outcome.reason or "rejected")
                recorder.event(outcome.key, "rejected", outcome.possibly_duplicated or again)
            else:  # still `sending` in the ledger: the next run sends it again, flagged
                recorder.count("failed")
            if len(recorder.events) >= handover:  # Braze's answers committed a batch at a time: fewer in doubt
                recorder.flush()
        conn.rollback()

    def _delete(self, sync: SyncConfig, ids: list[str], client: BrazeClient, recorder: Recorder) -> None:
        for outcome in delete_users(client, (DeleteRow(i, self._identifier(sync, i)) for i in ids)):
            if outcome.status == "delivered":
                recorder.delete(outcome.key)
            elif outcome.status == "rejected":
                recorder.reject(outcome.key, None, outcome.reason or "rejected")
            else:
                recorder.count("failed")


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused in the block (plan's loop over the diff's rows).

    The loop makes a few short-lived objects per row, none in a cycle (reference counting frees them), yet
    they trigger the collector, whose full pass over the interpreter's ~150,000 objects (psycopg, sqlglot,
    click...) cost 0.065 s: every other plan of 10,000 changed rows took 0.15 s of Python instead of 0.07."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def stop_on_sigterm() -> threading.Event:
    """An event set by the first SIGTERM (what orchestrators send to stop a task): give it to :class:`Engine`
    so the run in progress ends cleanly. A second SIGTERM interrupts at once, like Ctrl-C (state is committed
    batch by batch either way). Outside the main thread, signals cannot be caught: the event is never set."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        return stop

    def handler(signum, _frame) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.warning("SIGTERM: finishing the requests in flight, then stopping (send it again to stop at once)")
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    return stop


def select_syncs(manifest: Manifest, names: tuple[str, ...]) -> list[SyncConfig]:
    """The syncs named (all when none), in manifest order; an unknown name is a ConfigError."""
    unknown = [n for n in names if n not in manifest.syncs]
    if unknown:
        raise ConfigError(f"Unknown sync(s) {', '.join(unknown)} in {manifest.path} "
                          f"(syncs there: {', '.join(manifest.syncs) or 'none'}).")
    return [s for n, s in manifest.syncs.items() if not names or n in names]

