"""Reliability: real ``rsync-braze run`` processes against the emulator's fault injection and a real
PostgreSQL, checking that nothing is lost and nothing is sent twice unless the run log says it may have been.

Every scenario ends with the same checks: each model row is a profile with the model's values (and no other
profile exists), the snapshot and the ledger hold every row and event, and each event reached Braze exactly
once, except events the ledger flags ``possibly_duplicated`` (an unknown outcome was retried) or, after a
SIGKILL, events the killed run had not recorded yet. See docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time

import psycopg
import pytest

from reverse_etl.embedded import EmbeddedWarehouse, free_port
from reverse_etl.emulator import EmulatorConfig, start_emulator

from _helpers_reliability import Emu, Project, event_problems, flagged, profile_mismatches

pytestmark = pytest.mark.db
KEY = "reliability-key-5d2e81"
USERS, EVENTS = 1500, 600


@pytest.fixture(scope="module")
def emu():
    # No rate limit; a 1 s window so an injected 429's Retry-After is at most a second.
    with start_emulator(EmulatorConfig(api_key=KEY, rate_limit_requests=None, rate_limit_period=1.0)) as handle:
        emu = Emu(handle.url)
        yield emu


@pytest.fixture
def project(embedded_warehouse, schema, tmp_path, emu):
    emu.reset()
    p = Project(tmp_path, embedded_warehouse.url(), embedded_warehouse.status().port, schema, emu.url, KEY)
    yield p
    emu.faults({})
    p.drop_state()


def converged(project: Project, emu: Emu, allowed: set[str] | None = None) -> set[str]:
    """Assert the emulator holds exactly the model (after a successful run); return duplicated event ids."""
    assert profile_mismatches(project, emu) == []
    assert project.count("snapshot__users") == len(project.model_users())
    ledger = project.ledger()
    assert set(ledger) == project.model_events()
    assert all(status == "delivered" for status, _, _ in ledger.values())
    problems, duplicated = event_problems(project, emu, flagged(project) if allowed is None else allowed)
    assert problems == []
    return duplicated


def run_until_done(project: Project, reruns: int = 1) -> list[dict]:
    """``rsync-braze run --json`` until it exits 0, at most ``reruns`` extra times; the per-sync JSON lines."""
    for attempt in range(reruns + 1):
        proc = project.cli("run", "--json")
        if proc.returncode == 0:
            return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        assert proc.returncode == 4, f"only 'rows not delivered' (4) may need a re-run: {proc.returncode} {proc.stderr}"
        assert "Traceback" not in proc.stderr
    pytest.fail(f"not converged after {reruns} re-run(s): {proc.stdout[-2000:]}")


def test_an_events_sync_sends_each_event_once_and_a_rerun_sends_nothing(project, emu):
    """Regression: every events sync run failed (``SET TRANSACTION ISOLATION LEVEL must be called before any
    query``, exit 3) because the ledger count ran before the isolation level was set."""
    project.load_users(10)
    project.load_events(120, users=10)
    project.manifest(syncs=("events",))
    first = project.cli("run", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["counts"]["created"] == 120
    problems, duplicated = event_problems(project, emu)
    assert problems == [] and duplicated == set()
    again = project.cli("run", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["counts"].get("created", 0) == 0
    assert emu.counters()["events_processed"] == 120
