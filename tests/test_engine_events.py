"""Events and purchases syncs against real PostgreSQL and the local Braze emulator over real HTTP.

Each event carries its id in a property (``ref``), so the emulator's profiles say how many times each one
reached Braze.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import requests

from reverse_etl.emulator import EmulatorConfig, start_emulator
from reverse_etl.engine import Engine, select_syncs
from reverse_etl.manifest import load
from reverse_etl.profiles import resolve

pytestmark = pytest.mark.db
API_KEY = "events-test-key-9b3e"


@pytest.fixture(scope="module")
def emulator():
    with start_emulator(EmulatorConfig(api_key=API_KEY, rate_limit_requests=None, keep_events=100_000)) as handle:
        yield handle


class Project:
    """An events table, a purchases table, a manifest and an engine in one test's own schemas."""

    def __init__(self, url: str, port: int, tmp: Path, emulator_url: str, schema: str):
        self.url, self.tmp, self.schema, self.emulator_url = url, tmp, schema, emulator_url
        self.state = f"state_{uuid.uuid4().hex[:8]}"
        (tmp / "profiles.yml").write_text(
            "rsync_braze:\n  target: t\n  outputs:\n    t:\n      type: postgres\n      host: 127.0.0.1\n"
            f"      port: {port}\n      user: postgres\n      password: ''\n      dbname: rsync_braze\n"
            f"      schema: {schema}\n      threads: 1\n")
        self.execute("create table {s}.events (event_id text, external_id text, event_name text, "
                     "occurred_at timestamptz, ref text)")
        self.execute("create table {s}.orders (order_id text, external_id text, sku text, currency text, "
                     "price numeric(10,2), ordered_at timestamptz, ref text)")
        (tmp / "rsync_braze.yml").write_text(textwrap.dedent(f"""
            state_schema: {self.state}
            destinations:
              braze:
                endpoint: {emulator_url}
                api_key_env: TEST_EVENTS_BRAZE_KEY
                workers: 2
            syncs:
              - name: events
                relation: {schema}.events
                object: events
                identifier: {{column: external_id, type: external_id}}
                event: {{id: event_id, name: event_name, time: occurred_at, properties: [ref]}}
              - name: orders
                relation: {schema}.orders
                object: purchases
                identifier: {{column: external_id, type: external_id}}
                event: {{id: order_id, product_id: sku, currency: currency, price: price, time: ordered_at,
                         properties: [ref]}}
        """))

    def execute(self, sql: str, params=None):
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(sql.format(s=f'"{self.schema}"', st=f'"{self.state}"'), params)
            return cur.fetchall() if cur.description else None

    def add_events(self, start: int, n: int) -> None:
        self.execute("insert into {s}.events select 'e' || g, 'u' || (g %% 40), 'viewed', "
                     "timestamptz '2026-01-01' + g * interval '1 minute', 'e' || g "
                     "from generate_series(%s::int, %s::int) g", (start, start + n - 1))

    def run(self, name: str):
        engine = Engine(load(self.tmp / "rsync_braze.yml"), resolve(self.tmp, str(self.tmp)), self.tmp)
        return engine.run(select_syncs(engine.manifest, (name,))[0])

    def cli(self, name: str, **kw) -> subprocess.Popen:
        env = dict(os.environ, TEST_EVENTS_BRAZE_KEY=API_KEY)
        return subprocess.Popen([str(Path(sys.executable).parent / "rsync-braze"), "run", name, "--project-dir",
                                 str(self.tmp), "--profiles-dir", str(self.tmp)], env=env, **kw)


@pytest.fixture
def project(embedded_warehouse, schema, tmp_path, emulator, monkeypatch):
    monkeypatch.setenv("TEST_EVENTS_BRAZE_KEY", API_KEY)
    emulator.reset()
    p = Project(embedded_warehouse.url(), embedded_warehouse.status().port, tmp_path, emulator.url, schema)
    yield p
    p.execute("drop schema if exists {st} cascade")


def received(emulator, kind: str = "events") -> Counter:
    """How many times each ``ref`` property reached the emulator."""
    data = requests.get(f"{emulator.url}/_emulator/profiles", timeout=30).json()["profiles"]
    return Counter(e["properties"]["ref"] for p in data for e in p.get(kind, []))


def track_requests(emulator) -> int:
    return requests.get(f"{emulator.url}/_emulator/counters", timeout=10).json()["requests_by_endpoint"].get(
        "/users/track", 0)


def test_each_event_is_sent_once_and_only_new_ones_next(project, emulator):
    project.add_events(1, 300)
    first = project.run("events")
    assert first.status == "success" and first.counts["created"] == 300
    assert received(emulator) == Counter({f"e{i}": 1 for i in range(1, 301)})
    before = track_requests(emulator)
    second = project.run("events")
    assert second.counts.get("created", 0) == 0 and second.counts["unchanged"] == 300
    assert track_requests(emulator) == before, "nothing new: no request"
    project.add_events(301, 50)
    third = project.run("events")
    assert third.counts["created"] == 50
    assert received(emulator) == Counter({f"e{i}": 1 for i in range(1, 351)})
    assert project.execute("select count(*), count(*) filter (where status = 'delivered') from {st}.ledger__events") \
        == [(350, 350)]


def test_each_purchase_is_sent_once(project, emulator):
    project.execute("insert into {s}.orders select 'o' || g, 'u' || (g % 7), 'sku' || (g % 3), 'EUR', g * 1.5, "
                    "timestamptz '2026-01-01' + g * interval '1 hour', 'o' || g from generate_series(1, 120) g")
    assert project.run("orders").counts["created"] == 120
    assert project.run("orders").counts.get("created", 0) == 0
    project.execute("insert into {s}.orders values ('o121', 'u1', 'sku1', 'EUR', 9.99, now(), 'o121')")
    assert project.run("orders").counts["created"] == 1
    assert received(emulator, "purchases") == Counter({f"o{i}": 1 for i in range(1, 122)})


def test_a_killed_run_then_a_rerun_delivers_every_event_and_reports_the_ones_it_may_have_doubled(project, emulator):
    project.add_events(1, 3000)
    requests.post(f"{emulator.url}/_emulator/faults", json={"latency_ms": 60}, timeout=5)
    proc = project.cli("events", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and sum(received(emulator).values()) < 500:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before the kill"
    in_doubt = {r[0] for r in project.execute("select event_id from {st}.ledger__events where status = 'sending'")}
    delivered = project.execute("select count(*) from {st}.ledger__events where status = 'delivered'")[0][0]
    assert delivered < 3000 and in_doubt, "killed halfway, with batches handed over and not answered"
    requests.post(f"{emulator.url}/_emulator/faults", json={}, timeout=5)

    rerun = project.run("events")
    counts = received(emulator)
    assert set(counts) == {f"e{i}" for i in range(1, 3001)}, "every event delivered"
    doubled = {ref for ref, n in counts.items() if n > 1}
    assert doubled <= in_doubt, "only events the ledger had as handed over may arrive twice"
    assert max(counts.values()) <= 2
    assert rerun.counts["possibly_duplicated"] == len(in_doubt), "the run log reports every one of them"
    runs = project.execute("select status, possibly_duplicated from {st}.sync_runs order by run_id")
    assert runs == [("interrupted", 0), ("success", len(in_doubt))]
    flagged = {r[0] for r in project.execute("select event_id from {st}.ledger__events where possibly_duplicated")}
    assert flagged == in_doubt
    # At most: the requests in flight (2 workers x 2 pending), answered ones not yet committed (one batch), the
    # batch being handed over and the batcher's partial one.
    assert len(in_doubt) <= (2 * 2 + 3) * 75
