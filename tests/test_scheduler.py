"""``rsync-braze serve`` as a real process: a cron sync on time (in its time zone, with a shifted test clock),
catch-up once after downtime, realtime syncs within 5 s of a NOTIFY (from psql-like SQL and from a dbt
post-hook), one run per sync at a time, and a clean SIGTERM with state committed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
import requests
from _pipeline import BIN, Project, emulator, pipeline_project  # noqa: F401 - fixtures

from reverse_etl.errors import ConfigError
from reverse_etl import realtime
from reverse_etl.manifest import load
from reverse_etl.scheduler import Scheduler, Slot, check_schedules

REPO = Path(__file__).resolve().parents[1]
PARIS = ZoneInfo("Europe/Paris")


# ------------------------------------------------------------------------------------------------ pure
def sync_with(tmp_path, schedule: str, tz: str | None = None):
    (tmp_path / "m.yml").write_text(
        "destinations: {braze: {endpoint: 'https://rest.fra-01.braze.eu', api_key_env: K}}\n"
        + (f"timezone: {tz}\n" if tz else "")
        + f"syncs: [{{name: s, relation: a.b, identifier: {{column: id}}, schedule: '{schedule}'}}]\n")
    return load(tmp_path / "m.yml")


def test_cron_times_are_read_in_the_sync_time_zone(tmp_path):
    manifest = sync_with(tmp_path, "0 6 * * *", "Europe/Paris")
    slot = Slot(manifest.syncs["s"])
    assert slot.sync.timezone == "Europe/Paris", "the manifest's timezone is the syncs' default"
    winter = datetime(2026, 11, 30, 4, 59, 58, tzinfo=timezone.utc)
    assert slot.next_after(winter) == datetime(2026, 11, 30, 5, 0, tzinfo=timezone.utc)  # 06:00 CET
    summer = datetime(2026, 7, 1, 3, 0, tzinfo=timezone.utc)
    assert slot.next_after(summer) == datetime(2026, 7, 1, 4, 0, tzinfo=timezone.utc)  # 06:00 CEST
    assert slot.previous_before(winter) == datetime(2026, 11, 29, 5, 0, tzinfo=timezone.utc)


def test_bad_time_zone_or_cron_is_refused_before_serving(tmp_path):
    with pytest.raises(ConfigError, match="not an IANA time zone"):
        sync_with(tmp_path, "0 6 * * *", "Europe/Pariss")
    with pytest.raises(ConfigError, match="not a valid cron expression"):
        check_schedules(sync_with(tmp_path, "0 25 * * *"))
    with pytest.raises(ConfigError, match="never fires"):
        check_schedules(sync_with(tmp_path, "0 0 30 2 *"))  # February 30th
    with pytest.raises(ConfigError, match="Nothing to serve"):
        Scheduler(sync_with(tmp_path, "manual"), None, tmp_path, status_path=tmp_path / "s.json")


def test_notify_payload_runs_syncs_named_or_fed_by_a_model_or_a_webhook_source(tmp_path):
    """Payloads name a sync, a model, or a dbt source (as `rsync-braze ingest` sends: the source's name);
    the syncs downstream of them in dbt's graph run, realtime ones only."""
    (tmp_path / "m.yml").write_text(
        "destinations: {braze: {endpoint: 'https://rest.fra-01.braze.eu', api_key_env: K}}\n"
        "syncs:\n"
        "  - {name: users, model: braze_users, identifier: {column: id}, schedule: realtime}\n"
        "  - {name: events, model: braze_events, identifier: {column: id}, schedule: realtime}\n"
        "  - {name: nightly, model: braze_users, identifier: {column: id}, schedule: '0 3 * * *'}\n"
        "  - {name: leads, relation: crm.leads, identifier: {column: id}, schedule: realtime}\n")
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "manifest.json").write_text(json.dumps({
        "nodes": {"model.p.stg_hooks": {"resource_type": "model", "name": "stg_hooks"},
                  "model.p.braze_users": {"resource_type": "model", "name": "braze_users"},
                  "model.p.braze_events": {"resource_type": "model", "name": "braze_events"}},
        "sources": {"source.p.hooks.customer_events": {"resource_type": "source", "source_name": "hooks",
                                                       "name": "customer_events", "identifier": "raw_shop_hooks"}},
        "child_map": {"source.p.hooks.customer_events": ["model.p.stg_hooks"],
                      "model.p.stg_hooks": ["model.p.braze_users"], "model.p.braze_users": [],
                      "model.p.braze_events": []}}))
    scheduler = Scheduler(load(tmp_path / "m.yml"), None, tmp_path, status_path=tmp_path / "s.json")
    submitted: list[str] = []
    scheduler.submit = lambda name, trigger, scheduled_for=None: submitted.append(name)

    def runs_for(*payloads: str) -> list[str]:
        submitted.clear()
        scheduler.notified(set(payloads))
        return submitted[:]

    assert runs_for("shop_hooks") == ["users"], "the ingest source's name reaches braze_users through staging"
    assert runs_for("hooks") == ["users"] and runs_for("stg_hooks") == ["users"]
    assert runs_for("braze_events") == ["events"] and runs_for("events") == ["events"]
    assert runs_for("leads") == ["leads"] and runs_for("crm.leads") == ["leads"]
    assert runs_for("*") == ["users", "events", "leads"], "never the cron sync"
    assert runs_for("unknown") == []
    scheduler.pool.shutdown()


# ------------------------------------------------------------------------------------------- processes


@pytest.fixture
def project(pipeline_project):
    return pipeline_project


class Serve:
    """``rsync-braze serve`` in a process of its own, its status file, and its stderr."""

    def __init__(self, project: Project, *args: str, tag: str = ""):
        self.status_path = project.dir / f"status{tag}.json"
        self.log = open(project.dir / f"serve{tag}.log", "w+")  # noqa: SIM115 - read back by the test
        self.proc = subprocess.Popen(project.cli("serve", "--status-file", str(self.status_path), *args),
                                     env=project.env(), stdout=subprocess.DEVNULL, stderr=self.log)

    def status(self) -> dict:
        try:
            return json.loads(self.status_path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def wait_for(self, predicate, timeout: float = 90, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"serve exited {self.proc.returncode}: {self.stderr()[-3000:]}"
            status = self.status()
            if status and predicate(status):
                return status
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; status {self.status()}; log {self.stderr()[-3000:]}")

    def stderr(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.log.close()


@pytest.fixture
def serve():
    started: list[Serve] = []

    def start(project: Project, *args: str, tag: str = "") -> Serve:
        started.append(Serve(project, *args, tag=tag))
        return started[-1]

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(10)


def last_run(name):
    return lambda status: (status["syncs"][name]["last_run"] or {}).get("finished_at")


@pytest.mark.db
@pytest.mark.slow
def test_cron_sync_runs_on_time_in_its_zone_and_a_missed_run_is_caught_up_once(project, serve):
    project.insert("users", 20)
    project.insert("vips", 4)
    # vips ran once, long ago (as far as the shifted clock is concerned): three 05:00 runs missed since.
    project.manifest(users="schedule: '0 6 * * *'", vips="schedule: '0 5 * * *'", top="timezone: Europe/Paris")
    assert subprocess.run(project.cli("run", "vips"), env=project.env(), capture_output=True).returncode == 0
    day = datetime.now(PARIS).date() + timedelta(days=3)
    start = datetime(day.year, day.month, day.day, 5, 59, 56, tzinfo=PARIS)
    server = serve(project, "--clock-start", start.isoformat(), "--poll", "0")
    status = server.wait_for(last_run("users"), what="the 06:00 run of users")
    users = status["syncs"]["users"]["last_run"]
    scheduled = datetime.fromisoformat(users["scheduled_for"])
    assert scheduled == datetime(day.year, day.month, day.day, 6, 0, tzinfo=PARIS)
    late = (datetime.fromisoformat(users["started_at"]) - scheduled).total_seconds()
    assert 0 <= late < 1.5, f"started {late:.2f}s after its time"
    print(f"cron run started {late:.3f}s after its scheduled time")
    assert users["status"] == "success" and users["counts"]["created"] == 20
    vips = status["syncs"]["vips"]["last_run"]
    assert vips["trigger"] == "catch-up" and vips["status"] == "success"
    assert datetime.fromisoformat(status["syncs"]["users"]["next_run_at"]) == scheduled + timedelta(days=1)
    time.sleep(2)
    assert server.stop() == 0, server.stderr()[-3000:]
    runs = [(r[0], r[1]) for r in project.runs()]
    assert runs.count(("vips", "success")) == 2, "one manual run, one catch-up for three missed times"
    assert runs.count(("users", "success")) == 1
    assert server.status()["state"] == "stopped"


@pytest.mark.db
@pytest.mark.slow
def test_a_pull_source_with_a_cron_schedule_is_ingested_by_serve_on_time(project, serve):
    landing = project.dir / "landing"
    landing.mkdir()
    (landing / "contacts_1.csv").write_text("email,segment\n" + "".join(f"p{i}@example.org,gold\n" for i in range(7)))
    project.manifest(users="schedule: '0 6 * * *'", top=(
        "sources: {partner: {type: files, format: csv, directory: landing, glob: 'contacts_*.csv', "
        f"schema: {project.schema}, schedule: '*/5 * * * *', timezone: Europe/Paris}}}}"))
    day = datetime.now(PARIS).date() + timedelta(days=3)
    start = datetime(day.year, day.month, day.day, 5, 59, 57, tzinfo=PARIS)
    server = serve(project, "--clock-start", start.isoformat(), "--poll", "0")
    status = server.wait_for(last_run("source:partner"), what="the 06:00 load of the partner source")
    run = status["syncs"]["source:partner"]["last_run"]
    scheduled = datetime.fromisoformat(run["scheduled_for"])
    assert scheduled == datetime(day.year, day.month, day.day, 6, 0, tzinfo=PARIS)
    assert (run["trigger"], run["status"]) == ("cron", "success"), run
    assert run["counts"] == {"files_loaded": 1, "rows": 7, "rejected": 0, "files_changed": 0}
    assert project.execute("select count(*) from {s}.raw_partner")[0][0] == 7
    assert datetime.fromisoformat(status["syncs"]["source:partner"]["next_run_at"]) == scheduled + timedelta(minutes=5)
    assert server.stop() == 0, server.stderr()[-3000:]


def notify(project: Project, payload: str) -> datetime:
    """NOTIFY as psql or a loader would send it (realtime.notify); returns the warehouse's time of sending."""
    with psycopg.connect(project.url, autocommit=True) as conn:
        sent = conn.execute("select clock_timestamp()").fetchone()[0]
        realtime.notify(conn, payload)
        return sent


@pytest.mark.db
@pytest.mark.slow
def test_realtime_sync_runs_within_5s_of_notify_once_per_burst(project, serve):
    project.insert("vips", 3)
    project.manifest(vips="schedule: realtime")
    server = serve(project)
    server.wait_for(lambda s: s.get("listening") and last_run("vips")(s), what="listening and the start-up run")
    assert project.runs()[0][:3] == ("vips", "success", 3), "a realtime sync runs once at start"
    project.insert("vips", 5, start=100)
    sent = notify(project, "vips")
    for _ in range(4):  # a burst: one run
        notify(project, "vips")
    notify(project, "some_other_model")
    server.wait_for(lambda s: len(project.runs()) >= 2 and project.runs()[1][5] is not None, 30, "the notified run")
    time.sleep(3)  # a second run would show up by now
    runs = project.runs()
    assert len(runs) == 2, runs
    name, status, created, _, started_at, _ = runs[1]
    assert (name, status, created) == ("vips", "success", 5)
    delay = (started_at - sent).total_seconds()
    assert 0 < delay < 5, f"run started {delay:.2f}s after NOTIFY"
    assert server.stop() == 0
    print(f"NOTIFY -> run start: {delay:.2f}s")


def _profiles(emulator) -> set[str]:
    answer = requests.get(f"{emulator.url}/_emulator/profiles", timeout=10).json()["profiles"]
    return {p["external_id"] for p in answer}


@pytest.mark.db
@pytest.mark.slow
def test_sigterm_stops_the_run_after_its_requests_in_flight_and_commits_them(project, serve, emulator):
    project.insert("users", 40)
    project.manifest(users="schedule: realtime", dest="objects_per_request: 5\nworkers: 1")
    requests.post(f"{emulator.url}/_emulator/faults", json={"latency_ms": 600}, timeout=5)  # 8 requests: ~5 s
    server = serve(project)
    # A request reached Braze and waits for its answer (on a loaded machine the run's row can exist well before).
    server.wait_for(lambda s: s["syncs"]["users"]["running"] and project.runs() and requests.get(
        f"{emulator.url}/_emulator/counters", timeout=10).json()["requests"] >= 1, what="a request in flight")
    sent_at = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(60) == 0, server.stderr()[-3000:]
    took = time.monotonic() - sent_at
    runs = project.runs()
    assert [(r[0], r[1]) for r in runs] == [("users", "stopped")], runs
    created = runs[0][2]
    assert 0 < created < 40, "the run stopped before its end, after the requests already sent"
    snapshot = project.execute("select id from {st}.snapshot__users where status = 'delivered'")
    assert {r[0] for r in snapshot} == _profiles(emulator), "what Braze applied is exactly what was committed"
    assert len(snapshot) == created
    status = server.status()
    assert status["state"] == "stopped" and status["syncs"]["users"]["last_run"]["status"] == "stopped"
    requests.post(f"{emulator.url}/_emulator/faults", json={}, timeout=5)
    rest = subprocess.run(project.cli("run", "users", "--json"), env=project.env(), capture_output=True, text=True,
                          timeout=120)
    assert rest.returncode == 0, rest.stderr[-2000:]
    assert json.loads(rest.stdout)["counts"]["created"] == 40 - created, "the next run sends the rest"
    assert len(_profiles(emulator)) == 40
    print(f"SIGTERM -> exit: {took:.1f}s, {created} of 40 rows delivered and committed")


@pytest.mark.db
@pytest.mark.slow
def test_sigterm_to_run_ends_it_with_130_after_committing_what_braze_acknowledged(project, emulator):
    project.insert("users", 40)
    project.manifest(dest="objects_per_request: 5\nworkers: 1")
    requests.post(f"{emulator.url}/_emulator/faults", json={"latency_ms": 600}, timeout=5)
    proc = subprocess.Popen(project.cli("run", "users", "vips", "--json"), env=project.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not _profiles(emulator) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    requests.post(f"{emulator.url}/_emulator/faults", json={}, timeout=5)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "vips: not started (SIGTERM)" in err
    result = json.loads(out.splitlines()[0])
    assert result["status"] == "stopped" and 0 < result["counts"]["created"] < 40
    snapshot = project.execute("select id from {st}.snapshot__users where status = 'delivered'")
    assert {r[0] for r in snapshot} == _profiles(emulator)


class Shop:
    """A dbt project of its own installing this package (reduced to its pipeline macros) on the test's schema."""

    def __init__(self, project: Project, tmp_path: Path, models: dict[str, str], extra: str = ""):
        self.dir = tmp_path / "shop"
        (self.dir / "models").mkdir(parents=True)
        (self.dir / "dbt_project.yml").write_text("name: shop\nversion: '1.0'\nconfig-version: 2\n"
                                                  f"profile: rsync_braze\nmodel-paths: [models]\n{extra}")
        package = tmp_path / "rsync_braze_package"
        shutil.copytree(REPO / "macros" / "pipeline", package / "macros" / "pipeline")
        (package / "dbt_project.yml").write_text("name: rsync_braze\nversion: '0.1.0'\nconfig-version: 2\n"
                                                 "macro-paths: [macros]\n")
        (self.dir / "packages.yml").write_text(f"packages:\n  - local: {package}\n")
        for name, text in models.items():
            (self.dir / "models" / name).write_text(text)
        shutil.copy(project.dir / "profiles.yml", self.dir / "profiles.yml")
        self.env = dict(project.env(), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
        self.url = project.url
        self.dbt("deps")

    def dbt(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([str(BIN / "dbt"), *args, "--project-dir", str(self.dir)], env=self.env, cwd=self.dir,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0 or not ok, done.stdout[-3000:]
        return done

    def notifications_during(self, *args: str, ok: bool = True) -> list[tuple[str, datetime]]:
        """Run dbt while listening on rsync_braze: the payloads heard, with when they arrived."""
        heard: list[tuple[str, datetime]] = []
        ready, done = threading.Event(), threading.Event()

        def listen():
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute("listen rsync_braze")
                ready.set()
                while not done.is_set():
                    for note in conn.notifies(timeout=0.2):
                        heard.append((note.payload, datetime.now(timezone.utc)))

        thread = threading.Thread(target=listen, daemon=True)
        thread.start()
        assert ready.wait(10)
        self.dbt(*args, ok=ok)
        time.sleep(0.5)
        done.set()
        thread.join(10)
        return heard


@pytest.mark.db
@pytest.mark.dbt
@pytest.mark.slow
def test_dbt_post_hook_notify_triggers_the_realtime_sync_within_5s(project, serve, tmp_path):
    shop = Shop(project, tmp_path, {"vip_users.sql": (
        "{{ config(materialized='table', post_hook=\"{{ rsync_braze.notify_sync() }}\") }}\n"
        "select 'v' || g as external_id, 'v' || g || '@example.org' as email, 'gold' as segment\n"
        "from generate_series(1, {{ var('n', 3) }}) g\n")})
    (shop.dir / "rsync_braze.yml").write_text(
        f"state_schema: {project.state}\ndestinations:\n  braze:\n    endpoint: {project.emulator_url}\n"
        "    api_key_env: TEST_PIPELINE_BRAZE_KEY\n    custom_attributes: {segment: string}\n"
        "syncs:\n  - name: vips\n    model: vip_users\n    identifier: {column: external_id}\n"
        "    schedule: realtime\n    mapping: {email: email, segment: segment}\n")
    shop.dbt("run", "--select", "vip_users")
    shop_project = Project.__new__(Project)
    shop_project.__dict__.update(project.__dict__, dir=shop.dir)
    server = serve(shop_project)
    server.wait_for(lambda s: s.get("listening") and last_run("vips")(s), what="listening and the start-up run")
    heard = shop.notifications_during("run", "--select", "vip_users", "--vars", "{n: 8}")
    assert [payload for payload, _ in heard] == ["vip_users"], "the post-hook NOTIFYs the model's name"
    server.wait_for(lambda s: len(project.runs()) >= 2 and project.runs()[1][5] is not None, 30, "the notified run")
    name, status, created, _, started_at, _ = project.runs()[1]
    assert (name, status, created) == ("vips", "success", 5)
    delay = (started_at - heard[0][1]).total_seconds()
    assert delay < 5, f"run started {delay:.2f}s after the post-hook's NOTIFY"
    assert server.stop() == 0
    print(f"dbt post-hook NOTIFY -> run start: {delay:.2f}s")


@pytest.mark.db
@pytest.mark.dbt
@pytest.mark.slow
def test_on_run_end_hook_notifies_only_models_whose_tests_passed(project, tmp_path):
    shop = Shop(project, tmp_path, {
        "good_users.sql": "select g as id from generate_series(1, 3) g\n",
        "bad_users.sql": "select 1 as id union all select 1\n",
        "_models.yml": "version: 2\nmodels:\n  - name: good_users\n    columns: [{name: id, data_tests: [unique]}]\n"
                       "  - name: bad_users\n    columns: [{name: id, data_tests: [unique]}]\n",
    }, extra='on-run-end: "{{ rsync_braze.notify_passed_models(results) }}"\n')
    heard = shop.notifications_during("build", ok=False)
    assert sorted(payload for payload, _ in heard) == ["good_users"], "bad_users failed its unique test"
    heard = shop.notifications_during("build", "--select", "good_users")
    assert [payload for payload, _ in heard] == ["good_users"]


@pytest.mark.db
@pytest.mark.slow
def test_one_run_per_sync_a_locked_sync_is_skipped_and_a_trigger_during_a_run_runs_once_after(project, serve,
                                                                                               emulator):
    project.insert("users", 30)
    project.manifest(users="schedule: realtime", dest="objects_per_request: 5\nworkers: 1")
    requests.post(f"{emulator.url}/_emulator/faults", json={"latency_ms": 400}, timeout=5)  # ~2.5 s per run
    with psycopg.connect(project.url, autocommit=True) as holder:  # another rsync-braze running the sync
        holder.execute("select pg_advisory_lock(hashtext('rsync_braze:sync:users'))")
        server = serve(project, "--debounce", "0.2")
        skipped = server.wait_for(last_run("users"), what="the start-up attempt")["syncs"]["users"]["last_run"]
    assert skipped["status"] == "skipped" and "another rsync-braze" in skipped["error"]
    assert project.runs() == [], "a skipped run leaves no trace in sync_runs"
    notify(project, "users")
    server.wait_for(lambda s: requests.get(f"{emulator.url}/_emulator/counters", timeout=5).json()["requests"] > 0,
                    what="the notified run sending")  # its diff is read: rows inserted now are for the next run
    project.insert("users", 5, start=100)
    for _ in range(3):  # three separate triggers while the sync runs: one run after it
        notify(project, "users")
        time.sleep(0.5)
    server.wait_for(lambda s: len(project.runs()) >= 2 and all(r[5] for r in project.runs())
                    and not s["syncs"]["users"]["running"] and not s["syncs"]["users"]["queued"], 60, "the queued run")
    time.sleep(1.5)
    assert server.stop() == 0
    runs = project.runs()
    assert [(r[0], r[1], r[2]) for r in runs] == [("users", "success", 30), ("users", "success", 5)], runs
    assert runs[0][5] <= runs[1][4], "the second run started after the first finished"
