"""``rsync-braze serve``: run syncs on their manifest ``schedule``, and realtime syncs when told to.

Schedules: ``manual`` (never run by serve), a 5-field cron expression read in the sync's ``timezone`` (else the
manifest's, else UTC), or ``realtime`` (``NOTIFY rsync_braze, '<model or sync>'``, see realtime.py; also run
every ``poll_seconds`` as a safety net).

Policies:

- **One run per sync at a time.** A trigger arriving while the sync runs is remembered and runs once right
  after; another rsync-braze holding the sync's lock (the engine's advisory lock) makes this trigger a skip.
- **Catch-up after downtime: once.** At start, a cron sync whose last run (from ``sync_runs``) is older than
  its latest scheduled time runs once, however many times were missed. Likewise, a run that outlasts its
  interval is followed by at most one run. A sync that never ran waits for its next scheduled time.
- **dbt gating** as ``run``: a sync whose model or a test on it failed in dbt's last run is skipped.
- **Shutdown** on SIGTERM/SIGINT: no new runs start; runs in flight hand no more rows to Braze, finish the
  requests already sent, commit what Braze acknowledged and end ``stopped`` (the next run sends the rest); then
  the process exits 0. A second signal exits at once (state is committed batch by batch: the next run resends
  only what was in flight).
- **Pull sources** (files, Salesforce, Zendesk) with a cron ``schedule`` run like cron syncs, under the key
  ``source:<name>`` (no catch-up: the next load takes what the missed ones would have); their loads NOTIFY
  the realtime syncs they feed.
- **Status file** (JSON, rewritten atomically on every change): state, pid, and per sync its schedule, next
  run time, whether it runs, and its last run (trigger, status, counts, duration, error).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from croniter import CroniterError, croniter

from .engine import Engine, SyncLocked
from .errors import ConfigError, RsyncBrazeError
from .manifest import Manifest, SyncConfig
from .profiles import ConnectionSpec
from .realtime import ALL, Listener, affected_models
from .selection import dbt_blockers
from .warehouse import connect

log = logging.getLogger("reverse_etl.scheduler")


class Clock:
    """Wall-clock time in UTC; ``start`` shifts it (tests and rehearsals: "pretend it is 05:59:58")."""

    def __init__(self, start: datetime | None = None):
        self.start, self.t0 = start, time.monotonic()

    def now(self) -> datetime:
        if self.start is None:
            return datetime.now(timezone.utc)
        return self.start + timedelta(seconds=time.monotonic() - self.t0)


@dataclass
class Slot:
    """One sync's (or, with ``kind="source"``, one pull source's) scheduling state. ``sync`` is the config:
    anything with ``name``, ``schedule`` and ``timezone``."""

    sync: SyncConfig
    kind: str = "sync"
    next_at: datetime | None = None
    running: bool = False
    again: str | None = None  # a trigger that arrived while running: run once more after
    last: dict = field(default_factory=dict)
    last_finished: float = 0.0  # monotonic, for the realtime safety-net poll

    @property
    def key(self) -> str:
        """The slot's name in the status file and in ``submit``: a source is ``source:<name>``."""
        return self.sync.name if self.kind == "sync" else f"source:{self.sync.name}"

    @property
    def cron(self) -> bool:
        return self.sync.schedule not in ("manual", "realtime")

    def next_after(self, now: datetime) -> datetime:
        tz = ZoneInfo(self.sync.timezone)
        return croniter(self.sync.schedule, now.astimezone(tz)).get_next(datetime).astimezone(timezone.utc)

    def previous_before(self, now: datetime) -> datetime:
        tz = ZoneInfo(self.sync.timezone)
        return croniter(self.sync.schedule, now.astimezone(tz)).get_prev(datetime).astimezone(timezone.utc)


def check_schedules(manifest: Manifest, now: datetime | None = None) -> None:
    """Every cron expression parses and ever fires (the manifest checks its shape only): a bad one stops serve
    before it starts, not at 06:00."""
    now = now or datetime.now(timezone.utc)
    for kind, item in [("Sync", s) for s in manifest.syncs.values()] + [("Source", s) for s in manifest.sources.values()]:
        schedule = getattr(item, "schedule", "manual")
        if schedule in ("manual", "realtime"):
            continue
        try:
            ok = croniter.is_valid(schedule) and bool(Slot(item).next_after(now) and Slot(item).previous_before(now))
        except CroniterError:
            ok = False
        if not ok:
            raise ConfigError(f"{kind} {item.name!r}: schedule {schedule!r} is not a valid cron expression, or "
                              "never fires (minute hour day-of-month month day-of-week, e.g. '0 6 * * *').")


class Scheduler:
    """Runs the manifest's scheduled and realtime syncs until :meth:`request_stop`."""

    def __init__(self, manifest: Manifest, target: ConnectionSpec, project_dir: Path, *, status_path: Path,
                 workers: int = 4, clock: Clock | None = None, catch_up: bool = True, debounce: float = 1.0,
                 poll_seconds: float = 300.0, ignore_dbt_results: bool = False):
        check_schedules(manifest)
        self.manifest, self.target, self.project_dir = manifest, target, project_dir
        self.status_path, self.clock, self.catch_up = status_path, clock or Clock(), catch_up
        self.debounce, self.poll_seconds, self.ignore_dbt_results = debounce, poll_seconds, ignore_dbt_results
        slots = [Slot(s) for s in manifest.syncs.values() if s.schedule != "manual"]
        # Pull sources with a cron schedule: their loads NOTIFY the realtime syncs they feed.
        slots += [Slot(s, kind="source") for s in manifest.sources.values() if getattr(s, "schedule", "manual") != "manual"]
        self.slots = {slot.key: slot for slot in slots}
        if not self.slots:
            raise ConfigError(f"Nothing to serve: every selected sync of {manifest.path} has `schedule: manual`; give "
                              "syncs (or pull sources) a cron expression or `realtime`, or use `rsync-braze run`.")
        realtime = any(s.sync.schedule == "realtime" for s in slots if s.kind == "sync")
        if realtime and target is not None and target.type != "postgres":
            raise ConfigError(f"`schedule: realtime` needs PostgreSQL's LISTEN/NOTIFY; {target.describe()} is "
                              f"{target.type}: give those syncs a cron schedule (e.g. \"*/5 * * * *\").")
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rsync-braze-run")
        self.lock = threading.RLock()
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.state, self.listening, self.signals = "starting", None, 0
        self.started_at = self.clock.now()

    # ---------------------------------------------------------------------------------------- lifecycle
    def request_stop(self, signum: int | None = None, _frame=None) -> None:
        """First call: stop starting runs, let those in flight finish. Second signal: exit at once."""
        self.signals += 1
        if self.signals > 1 and signum is not None:
            log.warning("second signal: exiting now; runs in flight resume from their last committed batch")
            os._exit(130)
        log.info("stopping: runs in flight finish their requests in flight and commit")
        self.stop.set()
        self.wake.set()

    def serve(self) -> None:
        """The main loop (call from the main thread to get SIGTERM/SIGINT handling)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
        now = self.clock.now()
        self._plan_start(now)
        listener = None
        if any(s.sync.schedule == "realtime" for s in self.slots.values()):
            listener = Listener(self.target, self.notified, self.stop, self.debounce, self._listening)
            listener.start()
        self.state = "running"
        self.write_status()
        log.info("serving %d sync(s): %s", len(self.slots), ", ".join(
            f"{s.key} ({s.sync.schedule}{' ' + s.sync.timezone if s.cron else ''})" for s in self.slots.values())
            or "none scheduled")
        while not self.stop.is_set():
            self._tick(self.clock.now())
            self.wake.wait(self._sleep_seconds())
            self.wake.clear()
        self.state = "stopping"
        self.write_status()
        self.pool.shutdown(wait=True)
        if listener is not None:
            listener.join(timeout=5)
        self.state = "stopped"
        self.write_status()
        log.info("stopped")

    # ---------------------------------------------------------------------------------------- scheduling
    def _plan_start(self, now: datetime) -> None:
        last_started = self._last_started() if self.catch_up else {}
        for slot in self.slots.values():
            if not slot.cron:
                continue
            slot.next_at = slot.next_after(now)
            missed = slot.previous_before(now)
            started = last_started.get(slot.key)  # syncs only: a source's next run takes what it missed anyway
            if started is not None and started < missed:
                log.info("%s: missed its run of %s while serve was down: running it once now", slot.key,
                         missed.isoformat())
                self.submit(slot.key, "catch-up", missed)

    def _last_started(self) -> dict[str, datetime]:
        from .history import runs

        with connect(self.target) as conn:
            conn.read_only = True
            latest = runs(conn, self.manifest.state_schema, tuple(k for k, s in self.slots.items() if s.kind == "sync"),
                          limit=1)
            return {r["sync_name"]: datetime.fromisoformat(r["started_at"]) for r in latest}

    def _tick(self, now: datetime) -> None:
        for slot in self.slots.values():
            if slot.cron and slot.next_at is not None and slot.next_at <= now:
                due, slot.next_at = slot.next_at, slot.next_after(now)  # from now: missed times collapse into one
                self.submit(slot.key, "cron", due)
            elif (slot.sync.schedule == "realtime" and self.poll_seconds and not slot.running
                  and time.monotonic() - slot.last_finished > self.poll_seconds):
                self.submit(slot.key, "poll")

    def _sleep_seconds(self) -> float:
        upcoming = [s.next_at for s in self.slots.values() if s.next_at is not None]
        if not upcoming:
            return 1.0
        return max(0.05, min(1.0, (min(upcoming) - self.clock.now()).total_seconds()))

    def notified(self, payloads: set[str]) -> None:
        """Realtime trigger: payloads name syncs, models or dbt sources (then the models downstream of them);
        ``*`` means every realtime sync."""
        models = payloads | affected_models(payloads, self.project_dir)
        for slot in self.slots.values():
            sync = slot.sync
            if slot.kind != "sync" or sync.schedule != "realtime":
                continue
            names = {sync.name, sync.model, (sync.relation or "").split(".")[-1], sync.relation}
            if ALL in payloads or names & models:
                self.submit(sync.name, "notify")

    def _listening(self, connected: bool) -> None:
        self.listening = connected
        self.write_status()

    # ---------------------------------------------------------------------------------------------- runs
    def submit(self, name: str, trigger: str, scheduled_for: datetime | None = None) -> None:
        """Start a run of the sync unless it runs already (then it runs once more right after)."""
        with self.lock:
            slot = self.slots[name]
            if self.stop.is_set():
                return
            if slot.running:
                slot.again = slot.again or trigger
                return
            slot.running = True
        self.pool.submit(self._run, slot, trigger, scheduled_for)
        self.write_status()

    def _run(self, slot: Slot, trigger: str, scheduled_for: datetime | None) -> None:
        sync, started = slot.sync, self.clock.now()
        record = {"trigger": trigger, "scheduled_for": scheduled_for.isoformat() if scheduled_for else None,
                  "started_at": started.isoformat()}
        try:
            blockers = [] if self.ignore_dbt_results or slot.kind != "sync" else dbt_blockers(sync, self.project_dir)
            if slot.kind == "source":
                record.update(status="success", counts=self._ingest(sync.name))
            elif blockers:
                record.update(status="skipped", error="dbt's last run failed on its model: " + "; ".join(blockers[:5]))
            else:
                # A fresh engine per run: it re-reads target/manifest.json, which dbt rewrites between runs.
                result = Engine(self.manifest, self.target, self.project_dir, stop=self.stop).run(sync)
                record.update(run_id=result.run_id, status=result.status, counts=result.counts, error=result.error)
        except SyncLocked:
            record.update(status="skipped", error="another rsync-braze is running this sync")
        except RsyncBrazeError as exc:
            record.update(status="failed", error=str(exc))
        except Exception as exc:  # a bug must not kill the scheduler: log it, report it, keep serving
            log.exception("%s: unexpected error", sync.name)
            record.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        finished = self.clock.now()
        record.update(finished_at=finished.isoformat(), seconds=round((finished - started).total_seconds(), 3))
        log.info("%s: %s (%s%s) in %.1fs%s", slot.key, record["status"], trigger,
                 f" {scheduled_for.isoformat()}" if scheduled_for else "", record["seconds"],
                 f": {record['error']}" if record.get("error") else "")
        with self.lock:
            slot.running, slot.last, slot.last_finished = False, record, time.monotonic()
            again, slot.again = slot.again, None
        self.write_status()
        if again:
            self.submit(slot.key, again)

    def _ingest(self, name: str) -> dict[str, int]:
        """One run of a pull source (what `rsync-braze ingest NAME` does), as counts for the status file."""
        from .sources.runner import ingest

        counts: dict[str, int] = {}
        for result in ingest(self.manifest, self.target, self.project_dir, (name,)):
            if hasattr(result, "files"):
                loaded = [f for f in result.files if f.status == "loaded"]
                part = {"files_loaded": len(loaded), "rows": sum(f.rows for f in loaded),
                        "rejected": sum(f.rejected for f in loaded), "files_changed": result.count("changed")}
            else:
                part = {"records": result.records, "changed": result.changed, "deleted": result.deleted}
            for key, value in part.items():
                counts[key] = counts.get(key, 0) + value
        return counts

    # ------------------------------------------------------------------------------------------- status
    def status(self) -> dict:
        with self.lock:
            return {
                "state": self.state, "pid": os.getpid(), "started_at": self.started_at.isoformat(),
                "updated_at": self.clock.now().isoformat(), "listening": self.listening,
                "syncs": {name: {
                    "schedule": s.sync.schedule, "timezone": s.sync.timezone if s.cron else None,
                    "next_run_at": s.next_at.astimezone(ZoneInfo(s.sync.timezone)).isoformat() if s.next_at else None,
                    "running": s.running, "queued": s.again is not None, "last_run": s.last or None,
                } for name, s in self.slots.items()},
            }

    def write_status(self) -> None:
        """Rewrite the status file atomically (orchestrators read it any time)."""
        data = json.dumps(self.status(), indent=2, default=str)
        with self.lock:
            self.status_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.status_path.with_name(f".{self.status_path.name}.{threading.get_ident()}.tmp")
            tmp.write_text(data)
            tmp.replace(self.status_path)
