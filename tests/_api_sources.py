"""Shared by the Salesforce and Zendesk source tests: a project on the session's warehouse whose manifest
has one API source, with helpers to run `rsync-braze ingest` in-process or as a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from test_sources_files import Project

from reverse_etl.errors import ConfigError
from reverse_etl.manifest import load

RSYNC_BRAZE = str(Path(sys.executable).parent / "rsync-braze")


class ApiProject(Project):
    """A :class:`Project` whose source is named ``name`` and whose raw table is ``{s}.raw_<name>``."""

    def raw(self, name: str) -> dict[str, tuple]:
        """_id -> (_deleted, payload, _modified_at) of the raw table."""
        return {r[0]: r[1:] for r in self.query(
            f'select _id, _deleted, payload, _modified_at from {{s}}."raw_{name}"')}

    def cursor(self, name: str) -> str | None:
        rows = self.query("select cursor from {st}.source_cursors where source = %s", (name,))
        return rows[0][0] if rows else None

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([RSYNC_BRAZE, "ingest", *args, "--project-dir", str(self.tmp),
                               "--profiles-dir", str(self.tmp)], env={**os.environ, **(env or {})},
                              capture_output=True, text=True, timeout=timeout)

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        return subprocess.Popen([RSYNC_BRAZE, "ingest", *args, "--project-dir", str(self.tmp), "--profiles-dir",
                                 str(self.tmp)], env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


@pytest.fixture
def api_project(embedded_warehouse, schema, tmp_path):
    p = ApiProject(embedded_warehouse.url(), embedded_warehouse.status().port, tmp_path, schema)
    yield p
    p.query("drop schema if exists {st} cascade")


def kill_after_pages(project: ApiProject, proc: subprocess.Popen, pages: int, timeout: float = 60) -> None:
    """SIGKILL ``proc`` once the source has committed ``pages`` pages (so it dies mid-paging), then reap it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        exists = project.query("select 1 from information_schema.tables where table_schema = %s and "
                               "table_name = 'source_cursors'", (project.state,))
        done = project.query("select pages from {st}.source_cursors") if exists else []
        if done and done[0][0] >= pages:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL, f"not killed mid-paging: {proc.stderr.read()[-500:]}"


def config_problems(tmp_path: Path, name: str, body: dict) -> str:
    """The ConfigError message of a manifest whose only source is ``name: body``."""
    path = tmp_path / "rsync_braze.yml"
    path.write_text(yaml.safe_dump({"destinations": {"braze": {"endpoint": "http://127.0.0.1:4010",
                                                               "api_key_env": "K"}},
                                    "syncs": [{"name": "s", "relation": "a.b", "identifier": {"column": "id"}}],
                                    "sources": {name: body}}))
    with pytest.raises(ConfigError) as info:
        load(path)
    return str(info.value)


def dbt_build(project: ApiProject, select: str, variables: dict) -> list[tuple]:
    """`dbt build --select <select>` of this repository on the project's warehouse (raw tables in the project's
    schema); returns nothing but fails with dbt's output. The staging schema is dropped with the test's."""
    import json

    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, DBT_PROFILES_DIR=str(project.tmp), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    env.pop("DBT_TARGET", None)
    try:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "dbt"), "build", "--select", select, "--project-dir", str(repo),
             "--target-path", str(project.tmp / "target"), "--log-path", str(project.tmp / "logs"),
             "--vars", json.dumps({"rsync_braze_raw_schema": project.schema, **variables})],
            env=env, capture_output=True, text=True, timeout=600, cwd=project.tmp)
        assert result.returncode == 0, result.stdout[-3000:]
        return project.query(f'select * from "{project.schema}_staging"."{select}" order by 1')
    finally:
        project.query(f'drop schema if exists "{project.schema}_staging" cascade')
