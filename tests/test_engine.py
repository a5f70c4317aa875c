"""The sync engine against real PostgreSQL and the local Braze emulator over real HTTP."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psycopg
import pytest
import requests

from reverse_etl.braze import BrazeClient
from reverse_etl.emulator import EmulatorConfig, start_emulator
from reverse_etl.engine import Engine, SyncLocked, select_syncs
from reverse_etl.manifest import load
from reverse_etl.profiles import resolve

pytestmark = pytest.mark.db
API_KEY = "engine-test-key-4f1c9a"


@pytest.fixture(scope="module")
def emulator():
    with start_emulator(EmulatorConfig(api_key=API_KEY, rate_limit_requests=None)) as handle:
        yield handle


@pytest.fixture
def braze(emulator):
    emulator.reset()
    return emulator


class Setup:
    """A table, a manifest and an engine in one test's own schemas."""

    def __init__(self, url: str, port: int, tmp: Path, emulator_url: str, schema: str):
        self.url, self.tmp, self.schema = url, tmp, schema
        self.state = f"state_{uuid.uuid4().hex[:8]}"
        (tmp / "profiles.yml").write_text(
            "rsync_braze:\n  target: t\n  outputs:\n    t:\n      type: postgres\n      host: 127.0.0.1\n"
            f"      port: {port}\n      user: postgres\n      password: ''\n      dbname: rsync_braze\n"
            f"      schema: {schema}\n      threads: 1\n")
        self.emulator_url = emulator_url
        self.execute("create table {s}.users (external_id text, email text, first_name text, ltv numeric(10,2), "
                     "segment text, consent text)")

    def execute(self, sql: str, params=None):
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(sql.format(s=f'"{self.schema}"', st=f'"{self.state}"'), params)
            return cur.fetchall() if cur.description else None

    def manifest(self, extra: str = "", on_remove: str = "ignore") -> Path:
        path = self.tmp / "rsync_braze.yml"
        path.write_text(textwrap.dedent(f"""
            state_schema: {self.state}
            destinations:
              braze:
                endpoint: {self.emulator_url}
                api_key_env: TEST_ENGINE_BRAZE_KEY
                custom_attributes:
                  ltv: {{type: float, required: true}}
                  segment: string
            syncs:
              - name: users
                relation: {self.schema}.users
                identifier: {{column: external_id, type: external_id}}
                on_remove: {on_remove}
                mapping:
                  email: email
                  first_name: first_name
                  ltv: ltv
                  segment: segment
                  consent: {{attribute: email_subscribe, sync_on: [create]}}
            {extra}
        """))
        return path

    def engine(self, **manifest_kwargs) -> Engine:
        manifest = load(self.manifest(**manifest_kwargs))
        return Engine(manifest, resolve(self.tmp, str(self.tmp)), self.tmp)

    def run(self, **kw):
        engine = self.engine(**{k: kw.pop(k) for k in list(kw) if k in ("on_remove", "extra")})
        return engine.run(select_syncs(engine.manifest, ())[0], **kw)


@pytest.fixture
def setup(embedded_warehouse, schema, tmp_path, braze, monkeypatch):
    monkeypatch.setenv("TEST_ENGINE_BRAZE_KEY", API_KEY)
    s = Setup(embedded_warehouse.url(), embedded_warehouse.status().port, tmp_path, braze.url, schema)
    yield s
    s.execute("drop schema if exists {st} cascade")


def profiles(emulator) -> dict[str, dict]:
    data = requests.get(f"{emulator.url}/_emulator/profiles", timeout=10).json()["profiles"]
    return {p["external_id"]: p for p in data if p.get("external_id")}


def counters(emulator) -> dict:
    return requests.get(f"{emulator.url}/_emulator/counters", timeout=10).json()


def attr(profile: dict, name: str):
    if name in profile.get("custom_attributes", {}):
        return profile["custom_attributes"][name]
    return profile.get(name)


def insert_users(setup, n: int, start: int = 0):
    setup.execute("insert into {s}.users select 'u' || g, 'user' || g || '@example.org', 'Name' || g, g * 1.5, "
                  "case when g %% 2 = 0 then 'gold' else 'silver' end, 'opted_in' "
                  "from generate_series(%s::int, %s::int) g", (start, start + n - 1))


def test_first_run_creates_every_row_then_a_second_run_sends_nothing(setup, braze):
    insert_users(setup, 200)
    first = setup.run()
    assert first.status == "success"
    assert first.counts["created"] == 200
    got = profiles(braze)
    assert len(got) == 200
    assert attr(got["u7"], "email") == "user7@example.org"
    assert attr(got["u7"], "ltv") == 10.5
    assert attr(got["u7"], "email_subscribe") == "opted_in"
    requests_before = counters(braze)["requests"]
    second = setup.run()
    assert second.counts.get("created", 0) == second.counts.get("updated", 0) == 0
    assert second.counts["unchanged"] == 200
    assert counters(braze)["requests"] == requests_before, "nothing changed: no request to Braze"
    runs = setup.execute("select status, created, unchanged from {st}.sync_runs order by run_id")
    assert runs == [("success", 200, 0), ("success", 0, 200)]


def test_only_changed_fields_are_sent_and_create_only_fields_stay(setup, braze):
    insert_users(setup, 50)
    setup.run()
    points_before = counters(braze)["data_points"]
    setup.execute("update {s}.users set segment = 'platinum' where external_id in ('u1', 'u2', 'u3')")
    setup.execute("update {s}.users set consent = 'unsubscribed' where external_id = 'u4'")
    result = setup.run()
    assert result.counts["updated"] == 3
    assert result.counts["data_points"] == 3
    assert counters(braze)["data_points"] - points_before == 3, "one data point per changed attribute"
    got = profiles(braze)
    assert attr(got["u2"], "segment") == "platinum"
    assert attr(got["u4"], "email_subscribe") == "opted_in", "create-only field untouched after creation"


def test_invalid_rows_are_rejected_with_reasons_and_not_sent(setup, braze):
    insert_users(setup, 5)
    setup.execute("insert into {s}.users values (null, 'a@b.org', 'x', 1, 's', null), "
                  "('dup', 'd1@b.org', 'x', 1, 's', null), ('dup', 'd2@b.org', 'x', 1, 's', null), "
                  "('noltv', 'n@b.org', 'x', null, 's', null), ('long', 'l@b.org', repeat('x', 300), 1, 's', null), "
                  "('bademail', 'not-an-email', 'x', 1, 's', null)")
    result = setup.run()
    assert result.counts["created"] == 5
    assert result.counts["invalid"] == 4  # null id, two duplicates, missing required ltv
    assert result.counts["rejected"] == 2  # over 255 characters, bad email
    got = profiles(braze)
    assert set(got) == {f"u{i}" for i in range(5)}
    reasons = dict(setup.execute("select coalesce(identifier, '<null>'), reason from {st}.sync_rejections"))
    assert "null" in reasons["<null>"]
    assert "not unique" in reasons["dup"]
    assert "ltv" in reasons["noltv"]
    assert "255" in reasons["long"]
    assert "email" in reasons["bademail"]
    again = setup.run()
    assert again.counts.get("rejected", 0) == 0, "a rejected row is not resent until it changes"
    setup.execute("update {s}.users set email = 'fixed@b.org' where external_id = 'bademail'")
    fixed = setup.run()
    assert "bademail" in profiles(braze)
    assert fixed.counts.get("updated", 0) + fixed.counts.get("created", 0) == 1


def test_removed_rows_follow_on_remove_unset(setup, braze):
    insert_users(setup, 10)
    setup.run(on_remove="unset")
    setup.execute("delete from {s}.users where external_id in ('u1', 'u2')")
    result = setup.run(on_remove="unset")
    assert result.counts["removed"] == 2
    got = profiles(braze)
    assert attr(got["u1"], "segment") is None and attr(got["u1"], "ltv") is None
    assert attr(got["u3"], "segment") == "silver"
    assert setup.run(on_remove="unset").counts.get("removed", 0) == 0, "reported once"


def test_removed_rows_are_deleted_when_confirmed(setup, braze):
    insert_users(setup, 4)
    setup.run(on_remove="delete", extra="    confirm_delete: true")
    setup.execute("delete from {s}.users where external_id = 'u0'")
    setup.run(on_remove="delete", extra="    confirm_delete: true")
    assert "u0" not in profiles(braze) and "u1" in profiles(braze)


def test_failed_delivery_loses_nothing(setup, braze):
    insert_users(setup, 120)
    requests.post(f"{braze.url}/_emulator/faults", json={"error_rate": 1.0, "error_statuses": [503]}, timeout=5)
    engine = setup.engine()
    sync = select_syncs(engine.manifest, ())[0]
    # Few attempts, short backoff: the test needs the give-up path, not patience.
    engine.client_factory = lambda dest, schema: BrazeClient(
        dataclasses.replace(dest, max_attempts=2, backoff_base=0.01, backoff_cap=0.02), schema=schema)
    failed = engine.run(sync)
    assert failed.status == "partial" and failed.counts["failed"] == 120
    assert setup.execute("select count(*) from {st}.snapshot__users")[0][0] == 0
    requests.post(f"{braze.url}/_emulator/faults", json={}, timeout=5)
    recovered = setup.run()
    assert recovered.counts["created"] == 120
    assert len(profiles(braze)) == 120


def test_a_second_concurrent_run_exits_clearly(setup, braze):
    insert_users(setup, 3)
    setup.run()
    with psycopg.connect(setup.url, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(hashtext('rsync_braze:sync:users'))")
        with pytest.raises(SyncLocked, match="already running"):
            setup.run()


def test_api_key_never_reaches_the_warehouse_or_output(setup, braze):
    insert_users(setup, 3)
    setup.manifest()
    requests.post(f"{braze.url}/_emulator/faults", json={"error_rate": 1.0, "error_statuses": [500]}, timeout=5)
    env = dict(os.environ, TEST_ENGINE_BRAZE_KEY=API_KEY)
    proc = subprocess.run([str(Path(sys.executable).parent / "rsync-braze"), "run", "--json", "--project-dir",
                           str(setup.tmp), "--profiles-dir", str(setup.tmp)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 4
    dump = setup.execute("select row_to_json(r)::text from {st}.sync_runs r") + \
        setup.execute("select row_to_json(r)::text from {st}.sync_rejections r")
    for text in (proc.stdout, proc.stderr, json.dumps(dump)):
        assert API_KEY not in text


def test_run_killed_midway_then_rerun_converges(setup, braze):
    insert_users(setup, 3000)
    setup.manifest()
    requests.post(f"{braze.url}/_emulator/faults", json={"latency_ms": 40}, timeout=5)
    env = dict(os.environ, TEST_ENGINE_BRAZE_KEY=API_KEY)
    cmd = [str(Path(sys.executable).parent / "rsync-braze"), "run", "--project-dir", str(setup.tmp),
           "--profiles-dir", str(setup.tmp)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done = setup.execute("select count(*) from {st}.snapshot__users") if setup.execute(
            "select to_regclass(%s)", (f"{setup.state}.snapshot__users",))[0][0] else [(0,)]
        if done[0][0] >= 300:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed = setup.execute("select count(*) from {st}.snapshot__users")[0][0]
    assert 0 < committed < 3000, "killed halfway"
    requests.post(f"{braze.url}/_emulator/faults", json={}, timeout=5)
    result = setup.run()
    assert result.counts["created"] + committed >= 3000
    got = profiles(braze)
    assert len(got) == 3000
    assert all(attr(got[f"u{i}"], "first_name") == f"Name{i}" for i in range(0, 3000, 97))
    statuses = [r[0] for r in setup.execute("select status from {st}.sync_runs order by run_id")]
    assert statuses == ["interrupted", "success"]


def counter_by_endpoint(emulator, path: str) -> int:
    return counters(emulator)["requests_by_endpoint"].get(path, 0)


def test_merged_persons_are_merged_in_braze_not_deleted(setup, braze):
    """p2 merges into p1 (its profile and history go to p1, the model's values win); p3 merges into p9, which
    Braze does not hold yet: held out of on_remove until the next run merges it."""
    setup.execute("insert into {s}.users values ('p1', 'p1@x.org', 'One', 1, null, 'opted_in'), "
                  "('p2', 'p2@x.org', 'Two', 2, 'gold', 'opted_in'), ('p3', 'p3@x.org', 'Three', 3, 's', 'opted_in')")
    setup.execute("create table {s}.retired (retired_person_id text, person_id text)")
    # The manifest template is dedented as a whole: continuation lines carry its 12-space indentation.
    extra = (f"    confirm_delete: true\n{' ' * 16}merges: {{relation: {setup.schema}.retired, "
             "retired: retired_person_id, surviving: person_id}")
    assert setup.run(on_remove="delete", extra=extra).counts["created"] == 3
    # Identity resolution merges p2 into p1 and p3 into a new person p9.
    setup.execute("delete from {s}.users where external_id in ('p2', 'p3')")
    setup.execute("insert into {s}.users values ('p9', 'p3@x.org', 'Three', 3, 's', 'opted_in')")
    setup.execute("insert into {s}.retired values ('p2', 'p1'), ('p3', 'p9')")
    engine = setup.engine(on_remove="delete", extra=extra)
    plan = engine.plan(select_syncs(engine.manifest, ())[0])
    assert plan.counts["merged"] == 1 and plan.counts["removed"] == 0

    second = setup.run(on_remove="delete", extra=extra)
    assert second.counts["merged"] == 1 and second.counts.get("removed", 0) == 0
    got = profiles(braze)
    assert "p2" not in got and {"p1", "p3", "p9"} <= set(got), "p2 merged; p3 held until p9 exists"
    assert attr(got["p1"], "segment") is None, "the model's value (null) wins over what the merge brought"
    assert attr(got["p1"], "ltv") == 1.0
    assert counter_by_endpoint(braze, "/users/merge") == 1 and counter_by_endpoint(braze, "/users/delete") == 0
    snapshot = {r[0] for r in setup.execute("select id from {st}.snapshot__users")}
    assert "p2" not in snapshot and "p3" in snapshot

    third = setup.run(on_remove="delete", extra=extra)
    assert third.counts["merged"] == 1, "p9 is in Braze now: p3 merges into it"
    assert "p3" not in profiles(braze) and counter_by_endpoint(braze, "/users/delete") == 0
    assert setup.execute("select retired_id, surviving_id, status from {st}.merges__users order by 1") == [
        ("p2", "p1", "merged"), ("p3", "p9", "merged")]
    assert setup.run(on_remove="delete", extra=extra).counts.get("merged", 0) == 0, "each merge happens once"
    runs = setup.execute("select merged from {st}.sync_runs order by run_id")
    assert runs == [(0,), (1,), (1,), (0,)]


def test_paused_gc_restores_the_collector_even_on_error():
    import gc

    from reverse_etl.engine import paused_gc

    assert gc.isenabled()
    with pytest.raises(RuntimeError), paused_gc():
        assert not gc.isenabled()
        raise RuntimeError("a failing plan")
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled(), "left as the caller had it"
    finally:
        gc.enable()
