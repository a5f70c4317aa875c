"""Shared pieces of the reliability, bad-input and security suites: a throwaway sync project (profiles.yml,
a users table and an events table in the test's own schema, a two-sync manifest), the ``rsync-braze`` CLI
as a real subprocess, the emulator's introspection over HTTP, and the checks that the emulator's state
equals the model.

Everything here uses public behaviour only (CLI, manifest, ``/_emulator/...``, the state tables' documented
columns), so the suites do not break when the engine's internals move.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import requests
import yaml

RSYNC = str(Path(sys.executable).parent / "rsync-braze")
KEY_ENV = "RELIABILITY_BRAZE_KEY"


class Emu:
    """The emulator's introspection and fault API (``/_emulator/...``)."""

    def __init__(self, url: str):
        self.url = url

    def reset(self) -> None:
        requests.post(f"{self.url}/_emulator/reset", timeout=10).raise_for_status()
        self.faults({})

    def faults(self, settings: dict) -> None:
        requests.post(f"{self.url}/_emulator/faults", json=settings, timeout=10).raise_for_status()

    def counters(self) -> dict:
        return requests.get(f"{self.url}/_emulator/counters", timeout=30).json()

    def profiles(self) -> dict[str, dict]:
        data = requests.get(f"{self.url}/_emulator/profiles", timeout=60).json()["profiles"]
        return {p["external_id"]: p for p in data if p.get("external_id")}

    def event_counts(self) -> collections.Counter:
        """How many times each event (by the ``eid`` property the events sync sends) reached Braze."""
        counts: collections.Counter = collections.Counter()
        for profile in self.profiles().values():
            for event in profile.get("events", ()):
                counts[(event.get("properties") or {}).get("eid")] += 1
        return counts


class Project:
    """A sync project in ``tmp``: profiles.yml for ``warehouse_url``'s server, tables in ``schema``, and
    a manifest with a ``users`` (attributes) and an ``events`` sync to ``endpoint``."""

    def __init__(self, tmp: Path, warehouse_url: str, port: int, schema: str, endpoint: str, key: str):
        self.tmp, self.url, self.port, self.schema, self.endpoint, self.key = tmp, warehouse_url, port, schema, endpoint, key
        self.state = f"state_{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True, exist_ok=True)
        (tmp / "profiles.yml").write_text(
            "rsync_braze:\n  target: t\n  outputs:\n    t:\n      type: postgres\n      host: 127.0.0.1\n"
            f"      port: {port}\n      user: postgres\n      password: ''\n      dbname: rsync_braze\n"
            f"      schema: {schema}\n      threads: 1\n")
        self.execute("create table if not exists {s}.users (external_id text, email text, first_name text, "
                     "ltv numeric(10,2), segment text)")
        self.execute("create table if not exists {s}.events (event_id text, external_id text, name text, "
                     "occurred_at timestamptz, eid text)")

    # ------------------------------------------------------------------------------------------ warehouse
    def execute(self, sql: str, params=None):
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
            cur = conn.execute(sql.format(s=f'"{self.schema}"', st=f'"{self.state}"'), params)
            return cur.fetchall() if cur.description else None

    def state_exists(self, table: str) -> bool:
        return self.execute("select to_regclass(%s)", (f'"{self.state}"."{table}"',))[0][0] is not None

    def count(self, table: str) -> int:
        return self.execute(f'select count(*) from {{st}}."{table}"')[0][0] if self.state_exists(table) else 0

    def drop_state(self) -> None:
        self.execute("drop schema if exists {st} cascade")

    def load_users(self, n: int, start: int = 0) -> None:
        self.execute("insert into {s}.users select 'u' || g, 'user' || g || '@example.org', 'Name' || g, g * 1.5, "
                     "case when g %% 2 = 0 then 'gold' else 'silver' end from generate_series(%s::int, %s::int) g",
                     (start, start + n - 1))

    def load_events(self, n: int, users: int, start: int = 0) -> None:
        """``n`` events spread over the first ``users`` users; ``eid`` repeats the id as a property."""
        self.execute("insert into {s}.events select 'e' || g, 'u' || (g %% %s), 'visit', "
                     "timestamptz '2026-03-01 12:00Z' + g * interval '1 second', 'e' || g "
                     "from generate_series(%s::int, %s::int) g", (users, start, start + n - 1))

    def model_users(self) -> dict[str, tuple]:
        rows = self.execute("select external_id, email, first_name, ltv, segment from {s}.users")
        return {r[0]: r[1:] for r in rows}

    def model_events(self) -> set[str]:
        return {r[0] for r in self.execute("select event_id from {s}.events")}

    def ledger(self) -> dict[str, tuple[str, bool, int]]:
        """event_id -> (status, possibly_duplicated, run_id) from the events sync's ledger."""
        if not self.state_exists("ledger__events"):
            return {}
        return {r[0]: r[1:] for r in self.execute(
            'select event_id, status, possibly_duplicated, run_id from {st}."ledger__events"')}

    def runs(self) -> list[dict]:
        if not self.state_exists("sync_runs"):
            return []
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(f'select * from "{self.state}".sync_runs order by run_id')
            names = [d.name for d in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

    # ------------------------------------------------------------------------------------------- manifest
    def manifest(self, *, endpoint: str | None = None, timeout: float = 5, workers: int = 4,
                 rate: tuple[int, float] = (3000, 3), syncs: tuple[str, ...] = ("users", "events"),
                 destination: dict | None = None) -> Path:
        """Write rsync_braze.yml; ``destination`` adds or overrides destination keys."""
        all_syncs = {
            "users": {"name": "users", "relation": f"{self.schema}.users",
                      "identifier": {"column": "external_id", "type": "external_id"},
                      "mapping": {"email": "email", "first_name": "first_name", "ltv": "ltv", "segment": "segment"}},
            "events": {"name": "events", "relation": f"{self.schema}.events", "object": "events",
                       "identifier": {"column": "external_id", "type": "external_id"},
                       "event": {"id": "event_id", "name": "name", "time": "occurred_at", "properties": ["eid"]}},
        }
        dest = {"endpoint": endpoint or self.endpoint, "api_key_env": KEY_ENV, "timeout": timeout,
                "workers": workers, "rate_limit": {"requests": rate[0], "period": rate[1]},
                "custom_attributes": {"ltv": {"type": "float", "required": True}, "segment": "string"}}
        dest.update(destination or {})
        path = self.tmp / "rsync_braze.yml"
        path.write_text(yaml.safe_dump({"state_schema": self.state, "destinations": {"braze": dest},
                                        "syncs": [all_syncs[s] for s in syncs]}, sort_keys=False))
        return path

    # ------------------------------------------------------------------------------------------------ CLI
    def command(self, *args: str) -> list[str]:
        return [RSYNC, *args, "--project-dir", str(self.tmp), "--profiles-dir", str(self.tmp)]

    def env(self, **extra: str) -> dict:
        return dict(os.environ, **{KEY_ENV: self.key}, **extra)

    def cli(self, *args: str, timeout: float = 300, **env) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), env=self.env(**env), capture_output=True, text=True,
                              timeout=timeout)

    def popen(self, *args: str, **env) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), env=self.env(**env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


# ------------------------------------------------------------------------------------------------- checks
def _attr(profile: dict, name: str):
    custom = profile.get("custom_attributes", {})
    return custom[name] if name in custom else profile.get(name)


def profile_mismatches(project: Project, emu: Emu, limit: int = 5) -> list[str]:
    """Differences between the model's users and the emulator's profiles (empty when they agree)."""
    model = project.model_users()
    got = emu.profiles()
    problems = []
    for ext_id, (email, first_name, ltv, segment) in model.items():
        profile = got.get(ext_id)
        if profile is None:
            problems.append(f"{ext_id}: no profile")
            continue
        want = {"email": email, "first_name": first_name, "ltv": float(ltv) if isinstance(ltv, Decimal) else ltv,
                "segment": segment}
        have = {k: _attr(profile, k) for k in want}
        if have != want:
            problems.append(f"{ext_id}: emulator {have} != model {want}")
    problems += [f"{e}: profile not in the model" for e in set(got) - set(model)]
    return problems[:limit] + ([f"... {len(problems) - limit} more"] if len(problems) > limit else [])


def event_problems(project: Project, emu: Emu, allowed: set[str] = frozenset()) -> tuple[list[str], set[str]]:
    """(problems, duplicated event ids): every model event delivered, none twice unless in ``allowed``."""
    counts = emu.event_counts()
    model = project.model_events()
    missing = sorted(model - set(counts))
    unknown = sorted(set(counts) - model)
    duplicated = {e for e, n in counts.items() if n > 1}
    problems = ([f"{len(missing)} event(s) never delivered, e.g. {missing[:3]}"] if missing else []) + \
               ([f"events not in the model: {unknown[:3]}"] if unknown else [])
    unexplained = sorted(duplicated - set(allowed))
    if unexplained:
        problems.append(f"{len(unexplained)} event(s) delivered more than once without a flag, e.g. "
                        f"{[(e, counts[e]) for e in unexplained[:3]]}")
    return problems, duplicated


def flagged(project: Project) -> set[str]:
    """Event ids the ledger flags possibly_duplicated."""
    return {e for e, (_, dup, _) in project.ledger().items() if dup}
