"""A dbt-less project for pipeline tests (history, scheduler): profiles.yml on the session warehouse, a users
table in the test's schema, a manifest sending it to the local emulator, its state in a schema of its own."""

from __future__ import annotations

import os
import sys
import textwrap
import uuid
from pathlib import Path

import psycopg
import pytest

from reverse_etl.emulator import EmulatorConfig, start_emulator

BIN = Path(sys.executable).parent
API_KEY = "pipeline-test-key-8d2e"
KEY_ENV = "TEST_PIPELINE_BRAZE_KEY"


class Project:
    def __init__(self, warehouse, tmp: Path, schema: str, emulator_url: str):
        self.dir, self.schema, self.url, self.emulator_url = tmp, schema, warehouse.url(), emulator_url
        self.state = f"state_{uuid.uuid4().hex[:8]}"
        (tmp / "profiles.yml").write_text(
            "rsync_braze:\n  target: t\n  outputs:\n    t:\n      type: postgres\n      host: 127.0.0.1\n"
            f"      port: {warehouse.status().port}\n      user: postgres\n      password: ''\n"
            f"      dbname: rsync_braze\n      schema: {schema}\n      threads: 1\n")
        self.execute("create table {s}.users (external_id text, email text, segment text)")
        self.execute("create table {s}.vips (external_id text, email text, segment text)")

    def execute(self, statement: str, params=None):
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(statement.format(s=f'"{self.schema}"', st=f'"{self.state}"'), params)
            return cur.fetchall() if cur.description else None

    def insert(self, table: str, n: int, start: int = 0, segment: str = "silver") -> None:
        self.execute(f"insert into {{s}}.{table} select 'u' || g, 'user' || g || '@example.org', %s "
                     "from generate_series(%s::int, %s::int) g", (segment, start, start + n - 1))

    def manifest(self, users: str = "", vips: str = "", top: str = "", dest: str = "") -> Path:
        """Two syncs, users and vips; extra keys for each (and the destination) as YAML lines."""
        def extra(text: str, indent: int = 16) -> str:
            return "".join(f"\n{' ' * indent}{line}" for line in text.splitlines() if line.strip())

        path = self.dir / "rsync_braze.yml"
        path.write_text(textwrap.dedent(f"""
            state_schema: {self.state}
            {top}
            destinations:
              braze:
                endpoint: {self.emulator_url}
                api_key_env: {KEY_ENV}{extra(dest)}
                custom_attributes:
                  segment: string
            syncs:
              - name: users
                relation: {self.schema}.users
                identifier: {{column: external_id, type: external_id}}
                mapping: {{email: email, segment: segment}}{extra(users)}
              - name: vips
                relation: {self.schema}.vips
                identifier: {{column: external_id, type: external_id}}
                mapping: {{email: email, segment: segment}}{extra(vips)}
        """))
        return path

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ, DBT_PROFILES_DIR=str(self.dir), **{KEY_ENV: API_KEY}, **extra)
        env.pop("DBT_TARGET", None)
        return env

    def cli(self, *args: str) -> list[str]:
        return [str(BIN / "rsync-braze"), *args, "--project-dir", str(self.dir)]

    def runs(self) -> list[tuple]:
        """(sync, status, created, updated, started_at, finished_at) per run; none before the first run."""
        try:
            return self.execute("select sync_name, status, created, updated, started_at, finished_at "
                                "from {st}.sync_runs order by run_id")
        except psycopg.errors.UndefinedTable:
            return []

    def drop(self) -> None:
        self.execute("drop schema if exists {st} cascade")


@pytest.fixture(scope="module")
def emulator():
    """The local Braze emulator in a thread, for a test module (import this fixture to use it)."""
    with start_emulator(EmulatorConfig(api_key=API_KEY, rate_limit_requests=None)) as handle:
        yield handle


@pytest.fixture
def pipeline_project(embedded_warehouse, schema, tmp_path, emulator):
    """A fresh Project, the emulator emptied and without faults; its state schema dropped afterwards."""
    emulator.reset()
    p = Project(embedded_warehouse, tmp_path, schema, emulator.url)
    yield p
    p.drop()
