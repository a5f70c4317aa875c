"""The sync runner on DuckDB: a real dbt-duckdb build, then real runs against the Braze emulator over HTTP.

The target is a dbt profile of ``type: duckdb``; the state tables live in the same file. No PostgreSQL here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest
import requests

from reverse_etl.emulator import EmulatorConfig, start_emulator
from reverse_etl.engine import Engine, SyncLocked, select_syncs
from reverse_etl.errors import ConfigError
from reverse_etl.manifest import load
from reverse_etl.profiles import resolve

API_KEY = "duckdb-runner-key-77a1"
BIN = Path(sys.executable).parent
STATE = "rsync_state"


@pytest.fixture(scope="module")
def emulator():
    with start_emulator(EmulatorConfig(api_key=API_KEY, rate_limit_requests=None, keep_events=100_000)) as handle:
        yield handle


@pytest.fixture
def braze(emulator):
    emulator.reset()
    return emulator


class DuckProject:
    """A dbt project on a DuckDB file: raw tables written here, a model built by dbt, a sync manifest."""

    def __init__(self, tmp: Path, emulator_url: str):
        self.tmp, self.file, self.emulator_url = tmp, tmp / "warehouse.duckdb", emulator_url
        (tmp / "dbt_project.yml").write_text(textwrap.dedent("""
            name: duck_shop
            version: "1.0"
            config-version: 2
            profile: rsync_braze
            model-paths: [models]
            models:
              duck_shop:
                +materialized: table
        """))
        (tmp / "profiles.yml").write_text(textwrap.dedent("""
            rsync_braze:
              target: dev
              outputs:
                dev:
                  type: duckdb
                  path: "{{ env_var('TEST_DUCK_FILE', 'warehouse.duckdb') }}"
                  schema: marts
                  threads: 1
        """))
        (tmp / "models").mkdir()
        (tmp / "models" / "sources.yml").write_text(
            "version: 2\nsources:\n  - name: raw\n    schema: raw\n    tables: [{name: users}, {name: events}]\n")
        (tmp / "models" / "braze_users.sql").write_text(
            "select external_id, email, first_name, cast(ltv as double) as ltv, segment\n"
            "from {{ source('raw', 'users') }}\n")
        (tmp / "models" / "braze_events.sql").write_text("select * from {{ source('raw', 'events') }}\n")
        self.sql("create schema if not exists raw")
        self.sql("create table raw.users (external_id varchar, email varchar, first_name varchar, ltv decimal(10,2), "
                 "segment varchar)")
        self.sql("create table raw.events (event_id varchar, external_id varchar, event_name varchar, "
                 "occurred_at timestamptz, ref varchar)")
        self.manifest()

    def manifest(self, on_remove: str = "ignore", merges: str = "") -> None:
        (self.tmp / "rsync_braze.yml").write_text(textwrap.dedent(f"""
            state_schema: {STATE}
            destinations:
              braze:
                endpoint: {self.emulator_url}
                api_key_env: TEST_DUCK_BRAZE_KEY
                custom_attributes:
                  ltv: {{type: float, required: true}}
                  segment: string
            syncs:
              - name: users
                model: braze_users
                identifier: {{column: external_id, type: external_id}}
                on_remove: {on_remove}
                confirm_delete: {str(on_remove == "delete").lower()}
                {merges}
                mapping:
                  email: email
                  first_name: first_name
                  ltv: ltv
                  segment: segment
              - name: events
                model: braze_events
                object: events
                identifier: {{column: external_id, type: external_id}}
                event: {{id: event_id, name: event_name, time: occurred_at, properties: [ref]}}
        """))

    def sql(self, statement: str, params=None):
        """One statement on the file, from a connection closed at once (dbt and the runner need the file)."""
        with duckdb.connect(str(self.file)) as conn:
            result = conn.execute(statement, params)
            return result.fetchall() if result.description else None

    def dbt_build(self) -> None:
        proc = subprocess.run([str(BIN / "dbt"), "build", "--project-dir", str(self.tmp), "--profiles-dir",
                               str(self.tmp)], cwd=self.tmp, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-3000:]

    def add_users(self, n: int, start: int = 0) -> None:
        self.sql("insert into raw.users select 'u' || g, 'user' || g || '@example.org', 'Name' || g, g * 1.5, "
                 "case when g % 2 = 0 then 'gold' else 'silver' end from range(?, ?) t(g)", [start, start + n])

    def add_events(self, start: int, n: int) -> None:
        self.sql("insert into raw.events select 'e' || g, 'u' || (g % 40), 'viewed', "
                 "timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute', 'e' || g from range(?, ?) t(g)",
                 [start, start + n])

    def engine(self) -> Engine:
        return Engine(load(self.tmp / "rsync_braze.yml"), resolve(self.tmp, str(self.tmp)), self.tmp)

    def run(self, name: str = "users"):
        engine = self.engine()
        return engine.run(select_syncs(engine.manifest, (name,))[0])

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = dict(os.environ, TEST_DUCK_BRAZE_KEY=API_KEY)
        proc = subprocess.run([str(BIN / "rsync-braze"), *args, "--project-dir", str(self.tmp), "--profiles-dir",
                               str(self.tmp)], env=env, capture_output=True, text=True, timeout=300)
        assert not check or proc.returncode == 0, proc.stderr[-3000:]
        return proc


@pytest.fixture
def project(tmp_path, braze, monkeypatch):
    monkeypatch.setenv("TEST_DUCK_BRAZE_KEY", API_KEY)
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    monkeypatch.delenv("DBT_TARGET", raising=False)
    return DuckProject(tmp_path, braze.url)


def profiles(emulator) -> dict[str, dict]:
    data = requests.get(f"{emulator.url}/_emulator/profiles", timeout=10).json()["profiles"]
    return {p["external_id"]: p for p in data if p.get("external_id")}


def counters(emulator) -> dict:
    return requests.get(f"{emulator.url}/_emulator/counters", timeout=10).json()


def attr(profile: dict, name: str):
    return profile.get("custom_attributes", {}).get(name, profile.get(name))


def as_profiles(rows) -> dict[str, dict]:
    return {r[0]: {"email": r[1], "first_name": r[2], "ltv": r[3], "segment": r[4]} for r in rows}


def emulated(got: dict[str, dict]) -> dict[str, dict]:
    return {k: {a: attr(p, a) for a in ("email", "first_name", "ltv", "segment")} for k, p in got.items()}


def test_duckdb_target_resolves_to_its_file(project, monkeypatch, tmp_path):
    spec = resolve(project.tmp, str(project.tmp))
    assert (spec.type, spec.dbname, spec.schema) == ("duckdb", str(project.file), "marts")
    assert str(project.file) in spec.describe()
    monkeypatch.setenv("TEST_DUCK_FILE", str(tmp_path / "elsewhere.duckdb"))
    assert resolve(project.tmp, str(project.tmp)).dbname == str(tmp_path / "elsewhere.duckdb"), "env_var rendered"
    monkeypatch.setenv("TEST_DUCK_FILE", ":memory:")
    with pytest.raises(ConfigError, match="needs a DuckDB database file"):
        resolve(project.tmp, str(project.tmp))


def test_a_file_in_a_missing_folder_names_the_folder_and_the_target(project, monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_DUCK_FILE", str(tmp_path / "no-such-folder" / "w.duckdb"))
    result = project.cli("run", "users", check=False)
    assert result.returncode == 3, result.stderr
    assert f"the folder {tmp_path / 'no-such-folder'} does not exist" in result.stderr
    assert "`path` in target" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "no-such-folder").exists()


@pytest.mark.dbt
def test_dbt_build_then_runs_send_the_model_then_only_what_changed(project, braze):
    project.add_users(40)
    project.dbt_build()
    model = as_profiles(project.sql("select * from marts.braze_users"))
    assert len(model) == 40
    project.cli("validate")
    first = project.run()
    assert first.status == "success" and first.counts["created"] == 40
    assert emulated(profiles(braze)) == model, "Braze holds exactly the model"

    before = counters(braze)["requests"]
    second = project.run()
    assert second.counts.get("created", 0) == second.counts.get("updated", 0) == 0
    assert second.counts["unchanged"] == 40
    assert counters(braze)["requests"] == before, "nothing changed: no request"

    project.sql("update raw.users set segment = 'platinum' where external_id = 'u7'")
    project.dbt_build()
    plan = json.loads(project.cli("plan", "users", "--json").stdout)
    assert plan["counts"]["updated"] == 1 and plan["fields_changed"] == {"segment": 1}
    points = counters(braze)["data_points"]
    third = project.run()
    assert third.counts["updated"] == 1 and third.fields_changed == {"segment": 1}
    assert counters(braze)["data_points"] - points == 1, "only the changed field is sent"
    assert attr(profiles(braze)["u7"], "segment") == "platinum"

    project.manifest(on_remove="unset")
    project.sql("delete from raw.users where external_id in ('u1', 'u2')")
    project.dbt_build()
    removed = project.run()
    assert removed.counts["removed"] == 2
    got = profiles(braze)
    assert attr(got["u1"], "segment") is None and attr(got["u1"], "ltv") is None
    assert attr(got["u3"], "segment") == "silver"
    assert project.run().counts.get("removed", 0) == 0, "reported once"

    status = json.loads(project.cli("status", "users", "--limit", "10", "--json").stdout)
    runs = status[0]["runs"]
    assert [r["created"] for r in runs][::-1] == [40, 0, 0, 0, 0]
    assert [r["status"] for r in runs] == ["success"] * 5
    history = json.loads(project.cli("history", "users", "--json").stdout)
    assert [r["run_id"] for r in history] == [r["run_id"] for r in runs]


def test_invalid_rows_are_rejected_with_reasons_in_sync_rejections(project, braze):
    project.add_users(5)
    project.sql("create schema marts")
    project.sql("insert into raw.users values (null, 'a@b.org', 'x', 1, 's'), ('dup', 'd1@b.org', 'x', 1, 's'), "
                "('dup', 'd2@b.org', 'x', 1, 's'), ('noltv', 'n@b.org', 'x', null, 's'), "
                "('long', 'l@b.org', repeat('x', 300), 1, 's'), ('bademail', 'not-an-email', 'x', 1, 's')")
    project.sql("create table marts.braze_users as select external_id, email, first_name, cast(ltv as double) as ltv, "
                "segment from raw.users")
    text = (project.tmp / "rsync_braze.yml").read_text().replace("model: braze_users", "relation: marts.braze_users")
    (project.tmp / "rsync_braze.yml").write_text(text)
    result = project.run()
    assert result.counts["created"] == 5
    assert result.counts["invalid"] == 4  # null id, two duplicates, missing required ltv
    assert result.counts["rejected"] == 2  # over 255 characters, bad email
    assert set(profiles(braze)) == {f"u{i}" for i in range(5)}
    reasons = dict(project.sql(f"select coalesce(identifier, '<null>'), reason from {STATE}.sync_rejections"))
    assert "null" in reasons["<null>"]
    assert "not unique" in reasons["dup"]
    assert "ltv" in reasons["noltv"]
    assert "255" in reasons["long"]
    assert "email" in reasons["bademail"]
    by_reason = json.loads(project.cli("rejections", "users", "--by-reason", "--json").stdout)
    assert sum(r["rows"] for r in by_reason) == 6
    again = project.run()
    assert again.counts.get("rejected", 0) == 0, "a rejected row is not resent until it changes"
    project.sql("update marts.braze_users set email = 'fixed@b.org' where external_id = 'bademail'")
    fixed = project.run()
    assert fixed.counts.get("updated", 0) + fixed.counts.get("created", 0) == 1
    assert attr(profiles(braze)["bademail"], "email") == "fixed@b.org"


def relation_manifest(project, on_remove: str, merges: str = "") -> None:
    project.manifest(on_remove=on_remove, merges=merges)
    path = project.tmp / "rsync_braze.yml"
    path.write_text(path.read_text().replace("model: braze_users", "relation: marts.braze_users"))


@pytest.mark.parametrize("on_remove", ["ignore", "delete"])
def test_removed_rows_follow_on_remove(project, braze, on_remove):
    project.sql("create schema marts")
    project.sql("create table marts.braze_users as select 'u' || g as external_id, 'user' || g || '@x.org' as email, "
                "'N' as first_name, 1.5 as ltv, 'gold' as segment from range(4) t(g)")
    relation_manifest(project, on_remove)
    project.run()
    project.sql("delete from marts.braze_users where external_id = 'u0'")
    before = counters(braze)["requests"]
    result = project.run()
    assert ("u0" in profiles(braze)) == (on_remove == "ignore")
    assert "u1" in profiles(braze)
    if on_remove == "ignore":
        assert counters(braze)["requests"] == before, "ignore: nothing sent"
    else:
        assert result.counts["removed"] == 1
    project.sql("insert into marts.braze_users values ('u0', 'back@x.org', 'N', 1.5, 'gold')")
    back = project.run()
    assert back.counts.get("created", 0) + back.counts.get("updated", 0) == 1, "a removed row that returns is sent"
    assert attr(profiles(braze)["u0"], "email") == "back@x.org"


def received(emulator) -> Counter:
    data = requests.get(f"{emulator.url}/_emulator/profiles", timeout=30).json()["profiles"]
    return Counter(e["properties"]["ref"] for p in data for e in p.get("events", []))


@pytest.mark.dbt
def test_events_are_delivered_exactly_once_across_runs(project, braze):
    project.add_users(1)
    project.add_events(1, 300)
    project.dbt_build()
    plan = json.loads(project.cli("plan", "events", "--json").stdout)
    assert plan["counts"]["created"] == 300
    first = project.run("events")
    assert first.status == "success" and first.counts["created"] == 300
    second = project.run("events")
    assert second.counts.get("created", 0) == 0 and second.counts["unchanged"] == 300
    project.add_events(301, 50)
    project.dbt_build()
    third = project.run("events")
    assert third.counts["created"] == 50
    got = received(braze)
    assert len(got) == 350 and set(got.values()) == {1}, "each event exactly once"
    assert project.sql(f"select count(*), count(*) filter (where status = 'delivered') from {STATE}.ledger__events") \
        == [(350, 350)]


def test_a_second_process_on_the_file_gets_a_clear_error(project, braze):
    project.sql("create schema marts")
    project.sql("create table marts.braze_users as select 'u1' as external_id, 'a@x.org' as email, 'N' as first_name, "
                "1.5 as ltv, 'gold' as segment")
    relation_manifest(project, "ignore")
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(60)", str(project.file)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = project.cli("run", "users", check=False)
        assert proc.returncode == 5, proc.stderr
        message = proc.stderr.strip().splitlines()[-1]
        assert "Sync 'users'" in message and str(project.file) in message and f"PID {holder.pid}" in message
        assert "Traceback" not in proc.stderr
    finally:
        holder.kill()
        holder.wait()
    assert project.cli("run", "users").returncode == 0, "the file free again, the run goes through"
    assert "u1" in profiles(braze)


def test_two_runs_of_a_sync_in_one_process_do_not_overlap(project, braze):
    project.sql("create schema marts")
    project.sql("create table marts.braze_users as select 'u1' as external_id, 'a@x.org' as email, 'N' as first_name, "
                "1.5 as ltv, 'gold' as segment")
    relation_manifest(project, "ignore")
    engine = project.engine()
    sync = select_syncs(engine.manifest, ("users",))[0]
    db, conn = engine.db, engine.db.connect(engine.target)
    try:
        db.state.ensure_schema(conn, STATE)
        assert db.state.try_lock(conn, "users")
        with pytest.raises(SyncLocked, match="already running"):
            engine.run(sync)
        db.state.unlock(conn, "users")
    finally:
        conn.close()
    assert engine.run(sync).counts["created"] == 1


def test_merged_persons_are_merged_in_braze_not_deleted(project, braze):
    project.sql("create schema marts")
    project.sql("create table marts.braze_users (external_id varchar, email varchar, first_name varchar, ltv double, "
                "segment varchar)")
    project.sql("insert into marts.braze_users values ('p1', 'p1@x.org', 'One', 1, null), "
                "('p2', 'p2@x.org', 'Two', 2, 'gold')")
    project.sql("create table marts.retired (retired_person_id varchar, person_id varchar)")
    relation_manifest(project, "delete", "merges: {relation: marts.retired, retired: retired_person_id, "
                                         "surviving: person_id}")
    assert project.run().counts["created"] == 2
    project.sql("delete from marts.braze_users where external_id = 'p2'")
    project.sql("insert into marts.retired values ('p2', 'p1')")
    second = project.run()
    assert second.counts["merged"] == 1 and second.counts.get("removed", 0) == 0
    got = profiles(braze)
    assert "p2" not in got and "p1" in got
    assert attr(got["p1"], "segment") is None, "the model's value (null) wins over what the merge brought"
    assert counters(braze)["requests_by_endpoint"].get("/users/delete", 0) == 0
    assert project.sql(f"select retired_id, status from {STATE}.merges__users") == [("p2", "merged")]
    assert project.run().counts.get("merged", 0) == 0, "merged once"


@pytest.mark.dbt
def test_init_scaffolds_a_manifest_from_duckdb_columns(project, braze):
    project.add_users(3)
    project.dbt_build()
    (project.tmp / "rsync_braze.yml").unlink()
    project.cli("init", "--model", "braze_users")
    text = (project.tmp / "rsync_braze.yml").read_text()
    assert "identifier: {column: external_id, type: external_id}" in text
    assert "email: email" in text and "first_name: first_name" in text
    assert "ltv: float" in text and "segment: string" in text, text
    assert project.cli("validate").returncode == 0


def test_commands_that_need_postgresql_say_so(project):
    from reverse_etl import warehouse
    from reverse_etl.errors import WarehouseError

    spec = resolve(project.tmp, str(project.tmp))
    with pytest.raises(WarehouseError, match="`rsync-braze ingest` needs a PostgreSQL target.*is DuckDB"):
        warehouse.connect(spec, application_name="rsync-braze ingest")
    sync = "  - name: rt\n    relation: marts.braze_users\n    identifier: {column: external_id, type: external_id}\n" \
           "    schedule: realtime\n    mapping: {email: email, ltv: ltv}\n"
    path = project.tmp / "rsync_braze.yml"
    path.write_text(path.read_text() + sync)
    proc = project.cli("serve", "--select", "rt", check=False)
    assert proc.returncode == 2 and "realtime` needs PostgreSQL's LISTEN/NOTIFY" in proc.stderr, proc.stderr


def test_failed_delivery_loses_nothing(project, braze):
    import dataclasses

    from reverse_etl.braze import BrazeClient

    project.sql("create schema marts")
    project.sql("create table marts.braze_users as select 'u' || g as external_id, 'user' || g || '@x.org' as email, "
                "'N' as first_name, 1.5 as ltv, 'gold' as segment from range(120) t(g)")
    relation_manifest(project, "ignore")
    requests.post(f"{braze.url}/_emulator/faults", json={"error_rate": 1.0, "error_statuses": [503]}, timeout=5)
    engine = project.engine()
    engine.client_factory = lambda dest, schema: BrazeClient(
        dataclasses.replace(dest, max_attempts=2, backoff_base=0.01, backoff_cap=0.02), schema=schema)
    failed = engine.run(select_syncs(engine.manifest, ("users",))[0])
    assert failed.status == "partial" and failed.counts["failed"] == 120
    assert project.sql(f"select count(*) from {STATE}.snapshot__users") == [(0,)], "state only for acknowledged rows"
    requests.post(f"{braze.url}/_emulator/faults", json={}, timeout=5)
    assert project.run().counts["created"] == 120
    assert len(profiles(braze)) == 120
    runs = project.sql(f"select status, failed, created from {STATE}.sync_runs order by run_id")
    assert runs == [("partial", 120, 0), ("success", 0, 120)]
    refreshed = json.loads(project.cli("run", "users", "--full-refresh", "--json").stdout)
    assert refreshed["counts"]["created"] == 120, "--full-refresh forgets the snapshot: every row sent again"


def test_json_and_list_columns_become_object_and_array_attributes(project, braze):
    project.sql("create schema marts")
    project.sql("create table marts.prefs as select 'u1' as external_id, '{\"tier\": \"gold\", \"n\": 2}'::json as prefs, "
                "['a', 'b'] as tags, {'city': 'Lyon'} as address")
    (project.tmp / "rsync_braze.yml").write_text(textwrap.dedent(f"""
        state_schema: {STATE}
        destinations:
          braze:
            endpoint: {project.emulator_url}
            api_key_env: TEST_DUCK_BRAZE_KEY
            custom_attributes: {{prefs: object, tags: array, address: object}}
        syncs:
          - name: prefs
            relation: marts.prefs
            identifier: {{column: external_id, type: external_id}}
            mapping: {{prefs: prefs, tags: tags, address: address}}
    """))
    assert project.cli("validate").returncode == 0
    result = project.run("prefs")
    assert result.counts["created"] == 1 and not result.rejections, result.rejections
    got = profiles(braze)["u1"]
    assert attr(got, "prefs") == {"tier": "gold", "n": 2}
    assert attr(got, "tags") == ["a", "b"] and attr(got, "address") == {"city": "Lyon"}
    assert project.run("prefs").counts["unchanged"] == 1


@pytest.mark.dbt
@pytest.mark.slow
def test_serve_runs_two_cron_syncs_at_once_on_one_duckdb_file(project, braze):
    """serve's workers run both syncs in threads of one process on the same file: no conflict, both succeed."""
    from datetime import datetime, timedelta, timezone

    project.add_users(50)
    project.add_events(1, 200)
    project.dbt_build()
    path = project.tmp / "rsync_braze.yml"
    text = path.read_text()
    for name in ("users", "events"):
        text = text.replace(f"  - name: {name}\n", f"  - name: {name}\n    schedule: '* * * * *'\n")
    path.write_text(text)
    now = datetime.now(timezone.utc)
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=1) - timedelta(seconds=3)
    status_path = project.tmp / "status.json"
    env = dict(os.environ, TEST_DUCK_BRAZE_KEY=API_KEY)
    with open(project.tmp / "serve.log", "w+") as log:
        proc = subprocess.Popen([str(BIN / "rsync-braze"), "serve", "--status-file", str(status_path), "--poll", "0",
                                 "--clock-start", start.isoformat(), "--project-dir", str(project.tmp),
                                 "--profiles-dir", str(project.tmp)], env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline, status = time.monotonic() + 90, {}
            while time.monotonic() < deadline:
                assert proc.poll() is None, Path(log.name).read_text()[-3000:]
                try:
                    status = json.loads(status_path.read_text())
                except (FileNotFoundError, ValueError):
                    status = {}
                runs = [(status.get("syncs", {}).get(n) or {}).get("last_run") or {} for n in ("users", "events")]
                if all(r.get("finished_at") for r in runs):
                    break
                time.sleep(0.2)
            else:
                raise AssertionError(f"both cron runs did not finish: {status}; {Path(log.name).read_text()[-3000:]}")
            assert [r["status"] for r in runs] == ["success", "success"], (runs, Path(log.name).read_text()[-3000:])
            assert runs[0]["counts"]["created"] == 50 and runs[1]["counts"]["created"] == 200
            assert runs[0]["scheduled_for"] == runs[1]["scheduled_for"], "submitted together to the workers"
            print("users run", runs[0]["started_at"], runs[0]["finished_at"], "events run", runs[1]["started_at"],
                  runs[1]["finished_at"])
        finally:
            proc.send_signal(15)
            assert proc.wait(60) == 0, Path(log.name).read_text()[-3000:]
    assert len(profiles(braze)) >= 50 and len(received(braze)) == 200


def test_the_example_profiles_duckdb_target_resolves(tmp_path, monkeypatch):
    """profiles.example.yml's `duckdb` target, as a user copies it: the path comes from its env var."""
    shutil.copy(Path(__file__).resolve().parents[1] / "profiles.example.yml", tmp_path / "profiles.yml")
    shutil.copy(Path(__file__).resolve().parents[1] / "dbt_project.yml", tmp_path / "dbt_project.yml")
    monkeypatch.setenv("RSYNC_BRAZE_DUCKDB_PATH", str(tmp_path / "shop.duckdb"))
    spec = resolve(tmp_path, str(tmp_path), target="duckdb")
    assert (spec.type, spec.dbname, spec.schema) == ("duckdb", str(tmp_path / "shop.duckdb"), "analytics")
