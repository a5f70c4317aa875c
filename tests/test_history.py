"""``rsync-braze history`` / ``rejections`` over real runs (PostgreSQL, the emulator over HTTP)."""

from __future__ import annotations

import json
import subprocess
from types import SimpleNamespace

import psycopg
import pytest
from _pipeline import Project, emulator, pipeline_project  # noqa: F401 - fixtures
from click.testing import CliRunner

from reverse_etl.cli import cli
from reverse_etl.errors import RsyncBrazeError
from reverse_etl.history import runs

pytestmark = pytest.mark.db


@pytest.fixture
def project(pipeline_project):
    pipeline_project.manifest(vips="max_rejected_share: 0.5")
    return pipeline_project


def rsync(project: Project, *args: str):
    """In process (dbt's profile renderer is imported once), with the environment a pipeline would give."""
    result = CliRunner().invoke(cli, [*args, "--project-dir", str(project.dir)], env=project.env())
    if isinstance(result.exception, RsyncBrazeError):
        return SimpleNamespace(returncode=result.exception.exit_code, stdout=result.stdout,
                               stderr=result.stderr + str(result.exception))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return SimpleNamespace(returncode=result.exit_code, stdout=result.stdout, stderr=result.stderr)


def test_no_history_yet_is_not_an_error(project):
    done = subprocess.run(project.cli("history"), env=project.env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == "" and "No runs" in done.stderr
    assert json.loads(rsync(project, "history", "--json").stdout) == []
    assert json.loads(rsync(project, "rejections", "--json").stdout) == []
    unknown = rsync(project, "history", "nope")
    assert unknown.returncode == 2 and "Unknown sync(s) nope" in unknown.stderr


def test_history_lists_runs_newest_first_with_counts_duration_status_and_error(project):
    project.insert("users", 30)
    project.insert("vips", 5)
    project.execute("insert into {s}.users values ('bad', 'not-an-email', 'x'), (null, 'n@example.org', 'x')")
    assert rsync(project, "run", "users").returncode == 6, "rejections over max_rejected_share 0"
    project.execute("delete from {s}.users where external_id is null")  # an invalid row is reported every run
    project.execute("update {s}.users set segment = 'gold' where external_id in ('u1', 'u2')")
    assert rsync(project, "run", "users").returncode == 0
    assert rsync(project, "run", "vips").returncode == 0

    listed = json.loads(rsync(project, "history", "--json").stdout)
    assert [(r["sync_name"], r["status"]) for r in listed] == [
        ("vips", "success"), ("users", "success"), ("users", "rejected_over_threshold")]
    first = listed[2]
    assert (first["created"], first["invalid"], first["rejected"]) == (30, 1, 1)
    assert "over max_rejected_share" in first["error"]
    assert listed[1]["updated"] == 2 and listed[1]["error"] is None
    assert all(r["seconds"] is not None and 0 <= r["seconds"] < 60 for r in listed)
    assert all(r["requests"] >= 1 for r in listed)

    per_sync = json.loads(rsync(project, "history", "--limit", "1", "--json").stdout)
    assert [(r["sync_name"], r["run_id"]) for r in per_sync] == [("vips", listed[0]["run_id"]),
                                                                 ("users", listed[1]["run_id"])]
    named = json.loads(rsync(project, "history", "users", "--limit", "2", "--json").stdout)
    assert [r["run_id"] for r in named] == [listed[1]["run_id"], listed[2]["run_id"]]
    failed = json.loads(rsync(project, "history", "--status", "rejected_over_threshold", "--json").stdout)
    assert [r["run_id"] for r in failed] == [first["run_id"]]

    text = rsync(project, "history", "users")
    lines = text.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"users run {listed[1]['run_id']} success at ")
    assert "2 updated" in lines[0] and "30 created, 1 invalid, 1 rejected" in lines[1]
    assert "error: 2 row(s) rejected" in lines[1]


def test_rejections_list_reasons_per_row_and_count_them_per_reason(project):
    project.insert("users", 3)
    project.execute("insert into {s}.users values ('bad1', 'not-an-email', 'x'), ('bad2', 'nope', 'x'), "
                    "('dup', 'a@example.org', 'x'), ('dup', 'b@example.org', 'x')")
    rsync(project, "run", "users")
    rows = json.loads(rsync(project, "rejections", "users", "--json").stdout)
    by_id = {}
    for r in rows:
        by_id.setdefault(r["identifier"], []).append(r["reason"])
    assert set(by_id) == {"bad1", "bad2", "dup"}
    assert "email" in by_id["bad1"][0] and "not unique" in by_id["dup"][0]
    reasons = json.loads(rsync(project, "rejections", "--by-reason", "--json").stdout)
    counts = {r["reason"]: r["rows"] for r in reasons}
    assert counts[by_id["dup"][0]] == 2 and sum(counts.values()) == 4, counts
    text = rsync(project, "rejections", "users", "--limit", "1").stdout.splitlines()
    assert len(text) == 1 and text[0].startswith("users run ")


def test_history_connection_is_read_only(project, warehouse_url):
    project.insert("users", 2)
    rsync(project, "run", "users")
    with psycopg.connect(warehouse_url) as conn:
        conn.read_only = True
        assert [r["sync_name"] for r in runs(conn, project.state)] == ["users"]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute(f'delete from "{project.state}".sync_runs')


def test_status_shows_each_syncs_last_run_from_the_same_run_log_and_never_run_syncs(project):
    project.insert("users", 12)
    project.execute("insert into {s}.users values ('bad', 'not-an-email', 'x')")
    rsync(project, "run", "users")
    project.execute("update {s}.users set segment = 'gold' where external_id = 'u1'")
    assert rsync(project, "run", "users").returncode == 0
    listed = json.loads(rsync(project, "history", "users", "--json").stdout)
    status = json.loads(rsync(project, "status", "--rejections", "5", "--json").stdout)
    assert [s["sync"] for s in status] == ["users", "vips"]
    users, vips = status
    assert users["runs"] == listed[:1], "status is history's latest run of each sync"
    assert [r["identifier"] for r in users["rejections"]] == ["bad"], "rejected once, kept out until it changes"
    assert vips["runs"] == [] and vips["rejections"] == []
    text = rsync(project, "status").stdout.splitlines()
    assert text[0].startswith(f"users run {listed[0]['run_id']} success at ") and "1 updated" in text[0]
    assert text[-1] == "vips: never run"
