"""Files sources against the real warehouse: local folders and a real SFTP server on loopback (asyncssh).

Each file loads once (ledger), malformed rows land in the rejects table with their line, a new column is
added, a changed file is reported and not reloaded, and a SIGKILL mid-load loses and doubles nothing.
"""

from __future__ import annotations

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

from reverse_etl.errors import ConfigError
from reverse_etl.manifest import load
from reverse_etl.profiles import resolve
from reverse_etl.sources import runner
from reverse_etl.sources.locations import SourceError
from reverse_etl.sources.sftp_server import LocalSftpServer

pytestmark = pytest.mark.db
RSYNC_BRAZE = str(Path(sys.executable).parent / "rsync-braze")


class Project:
    """A project folder with a profile on the session's warehouse and a manifest of sources."""

    def __init__(self, url: str, port: int, tmp: Path, schema: str):
        self.url, self.tmp, self.schema = url, tmp, schema
        self.state = f"state_{uuid.uuid4().hex[:8]}"
        self.landing = tmp / "landing"
        self.landing.mkdir()
        (tmp / "profiles.yml").write_text(
            "rsync_braze:\n  target: t\n  outputs:\n    t:\n      type: postgres\n      host: 127.0.0.1\n"
            f"      port: {port}\n      user: postgres\n      password: ''\n      dbname: rsync_braze\n"
            f"      schema: {schema}\n      threads: 1\n")

    def manifest(self, sources: str) -> Path:
        path = self.tmp / "rsync_braze.yml"
        path.write_text(textwrap.dedent("""
            state_schema: {state}
            destinations:
              braze: {{endpoint: "http://127.0.0.1:4010", api_key_env: UNUSED_KEY}}
            syncs:
              - {{name: s, relation: a.b, identifier: {{column: id}}}}
            sources:
        """).format(state=self.state) + textwrap.indent(textwrap.dedent(sources), "  "))
        return path

    def ingest(self, *names: str):
        manifest = load(self.tmp / "rsync_braze.yml")
        return runner.ingest(manifest, resolve(self.tmp, str(self.tmp)), self.tmp, names)

    def query(self, statement: str, params=None) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(statement.format(s=f'"{self.schema}"', st=f'"{self.state}"'), params)
            return cur.fetchall() if cur.description else []


@pytest.fixture
def project(embedded_warehouse, schema, tmp_path):
    p = Project(embedded_warehouse.url(), embedded_warehouse.status().port, tmp_path, schema)
    yield p
    p.query("drop schema if exists {st} cascade")


def csv_source(schema: str, **extra) -> str:
    options = "".join(f"    {k}: {json.dumps(v)}\n" for k, v in extra.items())
    return (f"contacts:\n    type: files\n    format: csv\n    schema: {schema}\n    directory: landing\n"
            f"    glob: \"contacts_{{date}}.csv\"\n    date_format: \"%Y%m%d\"\n{options}")


def test_csv_loads_once_with_rejects_and_new_columns(project):
    project.manifest(csv_source(project.schema))
    (project.landing / "contacts_20260102.csv").write_bytes(
        b"ID,E-mail,Name\n1,a@x.com,Ann\n2,b@x.com\n3,c@x.com,\"Multi\nline\"\n4,d@x.com,Bj\xf6rn\n5,e@x.com,Eve\n")
    (project.landing / "contacts_20260101.csv").write_text("id,e-mail,name\n0,z@x.com,Zed\n")
    (project.landing / "notes.txt").write_text("not selected")
    [result] = project.ingest()
    assert [(f.path, f.status, f.rows, f.rejected) for f in result.files] == [
        ("contacts_20260101.csv", "loaded", 1, 0), ("contacts_20260102.csv", "loaded", 3, 2)]
    rows = project.query("select _file_name, _line_number, _file_date::text, id, e_mail, name "
                         "from {s}.raw_contacts order by id")
    assert rows == [("contacts_20260101.csv", 2, "2026-01-01", "0", "z@x.com", "Zed"),
                    ("contacts_20260102.csv", 2, "2026-01-02", "1", "a@x.com", "Ann"),
                    ("contacts_20260102.csv", 4, "2026-01-02", "3", "c@x.com", "Multi\nline"),
                    ("contacts_20260102.csv", 7, "2026-01-02", "5", "e@x.com", "Eve")]
    rejects = project.query("select path, line, reason, raw from {st}.source_rejects order by line")
    assert rejects[0][:3] == ("contacts_20260102.csv", 3, "has 2 fields, the header has 3")
    assert rejects[1][1] == 6 and rejects[1][2].startswith("not valid utf-8")
    ledger = project.query("select path, size, rows, rejected, length(checksum) from {st}.source_files order by path")
    assert ledger[1] == ("contacts_20260102.csv", (project.landing / "contacts_20260102.csv").stat().st_size, 3, 2, 64)

    # Re-run: nothing loaded twice.
    [again] = project.ingest("contacts")
    assert {f.status for f in again.files} == {"skipped"}
    assert project.query("select count(*) from {s}.raw_contacts") == [(4,)]

    # Schema drift: a new column is added, older rows keep null in it.
    (project.landing / "contacts_20260103.csv").write_text("id,e-mail,name,phone\n9,n@x.com,New,+33612345678\n")
    [third] = project.ingest()
    assert [f.status for f in third.files] == ["skipped", "skipped", "loaded"]
    assert project.query("select id, phone from {s}.raw_contacts where phone is not null or id = '0' order by id") == [
        ("0", None), ("9", "+33612345678")]


def test_each_loaded_file_notifies_realtime_syncs_at_commit(project):
    project.manifest(csv_source(project.schema))
    (project.landing / "contacts_20260101.csv").write_text("id\n1\n")
    (project.landing / "contacts_20260102.csv").write_text("id\n2\n")
    with psycopg.connect(project.url, autocommit=True) as listener:
        listener.execute("listen rsync_braze")
        project.ingest()
        heard = [n.payload for n in listener.notifies(timeout=3, stop_after=2)]
        assert heard == ["contacts", "contacts"]
        project.ingest()  # nothing new: nothing heard
        assert [n.payload for n in listener.notifies(timeout=1)] == []


def test_changed_file_is_reported_not_reloaded_and_touch_is_ignored(project):
    project.manifest(csv_source(project.schema))
    path = project.landing / "contacts_20260101.csv"
    path.write_text("id,email\n1,a@x.com\n")
    project.ingest()
    os.utime(path, (time.time() + 100, time.time() + 100))  # same content, new time: skipped after a checksum
    [touched] = project.ingest()
    assert touched.files[0].status == "skipped"
    path.write_text("id,email\n1,a@x.com\n2,b@x.com\n")
    [changed] = project.ingest()
    assert changed.files[0].status == "changed"
    assert project.query("select count(*) from {s}.raw_contacts") == [(1,)]
    assert project.query("select changed_at is not null, changed_checksum <> checksum from {st}.source_files") == [
        (True, True)]


def test_csv_options_delimiter_encoding_no_header(project):
    project.manifest(csv_source(project.schema, delimiter=";", encoding="latin-1", header=False,
                                columns=["Id", "Full Name"]))
    (project.landing / "contacts_20260101.csv").write_bytes("1;Bj\xf6rn\n2;\"A;B\"\n".encode("latin-1"))
    project.ingest()
    assert project.query("select id, full_name from {s}.raw_contacts order by id") == [("1", "Björn"), ("2", "A;B")]


def test_json_and_jsonl_records_with_malformed_rows(project):
    project.manifest(f"""
        events:
          type: files
          format: jsonl
          schema: {project.schema}
          directory: landing
          glob: "*.jsonl"
        people:
          type: files
          format: json
          schema: {project.schema}
          directory: landing
          regex: 'people-\\d+\\.json'
    """)
    (project.landing / "e.jsonl").write_text(
        '{"id": 1, "type": "view"}\n\n{"id": 2, "nested": {"a": [1, 2]}}\n{"id": 3,\n[1, 2]\n'
        '{"id": 4, "bad": "\\u0000"}\n{"id": 5, "new_field": true}\n')
    (project.landing / "people-1.json").write_text(
        '[\n {"id": "p1"},\n {"id": "p2",\n  "x": 1},\n 7,\n {"id": "p3"}\n]')
    (project.landing / "people-2.json").write_text('{"id": "single"}')
    (project.landing / "people-3.json").write_text('[{"id": "ok"}, {"id": oops}, {"id": "lost"}]')
    results = {r.source: r for r in project.ingest()}
    assert [(f.rows, f.rejected) for f in results["events"].files] == [(3, 3)]
    assert project.query("select _line_number, payload->>'id', payload->'nested'->'a'->>1 "
                         "from {s}.raw_events order by 1") == [
        (1, "1", None), (3, "2", "2"), (7, "5", None)]
    assert [r[:2] for r in project.query("select line, reason from {st}.source_rejects where source = 'events' "
                                        "order by line")] == [
        (4, "malformed JSON: unexpected end of data"), (5, "a JSON list, not an object"),
        (6, "contains \\u0000, which PostgreSQL's jsonb cannot store")]
    assert project.query("select _file_name, _line_number, payload->>'id' from {s}.raw_people order by 1, 2") == [
        ("people-1.json", 2, "p1"), ("people-1.json", 3, "p2"), ("people-1.json", 6, "p3"),
        ("people-2.json", 1, "single"), ("people-3.json", 1, "ok")]
    people_rejects = project.query("select path, line, reason from {st}.source_rejects where source = 'people' "
                                   "order by path")
    assert people_rejects == [("people-1.json", 5, "a JSON int, not an object"),
                              ("people-3.json", 1, "malformed JSON: Expecting value")]


@pytest.fixture
def sftp(tmp_path):
    """A real SFTP server on loopback with password and key authentication."""
    import asyncssh

    root = tmp_path / "sftp-root"
    (root / "exports").mkdir(parents=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    (tmp_path / "id_test").write_bytes(key.export_private_key("pkcs8-pem", passphrase="kp"))
    (tmp_path / "id_test.pub").write_bytes(key.export_public_key())
    with LocalSftpServer(root, username="etl", password="s3cret-pw", authorized_key=tmp_path / "id_test.pub",
                         home=tmp_path / "sshd") as server:
        yield server


def sftp_source(project: Project, server: LocalSftpServer, auth: str, **extra) -> str:
    options = "".join(f"      {k}: {json.dumps(v)}\n" for k, v in extra.items())
    return (f"remote:\n    type: files\n    format: csv\n    schema: {project.schema}\n    glob: \"*.csv\"\n"
            f"    sftp:\n      host: 127.0.0.1\n      port: {server.port}\n      username: etl\n"
            f"      directory: /exports\n      known_hosts: {server.known_hosts}\n{auth}{options}")


def test_sftp_password_and_key_auth_load_once(project, sftp, monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_SFTP_PW", "s3cret-pw")
    monkeypatch.setenv("TEST_SFTP_KP", "kp")
    (sftp.root / "exports" / "a.csv").write_text("id,email\n1,a@x.com\n2,b@x.com\n")
    project.manifest(sftp_source(project, sftp, "      password_env: TEST_SFTP_PW\n"))
    [first] = project.ingest()
    assert [(f.path, f.status, f.rows) for f in first.files] == [("sftp://127.0.0.1/exports/a.csv", "loaded", 2)]
    (sftp.root / "exports" / "b.csv").write_text("id,email\n3,c@x.com\n")
    project.manifest(sftp_source(project, sftp, f"      private_key: {tmp_path / 'id_test'}\n"
                                                "      private_key_passphrase_env: TEST_SFTP_KP\n"))
    [second] = project.ingest()
    assert [(f.status, f.rows) for f in second.files] == [("skipped", 0), ("loaded", 1)]
    assert project.query("select id from {s}.raw_remote order by id") == [("1",), ("2",), ("3",)]


def test_sftp_refuses_unknown_host_key_wrong_password_and_missing_secret(project, sftp, monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_SFTP_PW", "s3cret-pw")
    other = tmp_path / "other_known_hosts"
    other.write_text(f"[127.0.0.1]:{sftp.port} ssh-ed25519 "
                     "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    project.manifest(sftp_source(project, sftp, "      password_env: TEST_SFTP_PW\n").replace(
        str(sftp.known_hosts), str(other)))
    with pytest.raises(SourceError, match="host key .* refusing to connect"):
        project.ingest()
    project.manifest(sftp_source(project, sftp, "      password_env: TEST_SFTP_PW\n").replace(
        str(sftp.known_hosts), str(tmp_path / "missing")))
    with pytest.raises(SourceError, match="ssh-keyscan"):
        project.ingest()
    monkeypatch.setenv("TEST_SFTP_PW", "wrong-password")
    project.manifest(sftp_source(project, sftp, "      password_env: TEST_SFTP_PW\n"))
    with pytest.raises(SourceError, match="refused the login of 'etl'") as info:
        project.ingest()
    assert "wrong-password" not in str(info.value)
    monkeypatch.delenv("TEST_SFTP_PW")
    with pytest.raises(ConfigError, match="TEST_SFTP_PW is not set"):
        project.ingest()


def test_unknown_or_webhook_source_named_on_the_command_line(project):
    project.manifest(csv_source(project.schema) + "hooks: {type: webhook, auth: bearer, secret_env: T}\n")
    with pytest.raises(ConfigError, match="no source named 'nope'"):
        project.ingest("nope")
    with pytest.raises(ConfigError, match="ingest serve"):
        project.ingest("hooks")


@pytest.mark.slow
def test_sigkill_mid_load_loses_and_doubles_nothing(project, sftp, monkeypatch):
    """Kill -9 the ingest process while it COPYs a file from SFTP; the next run completes exactly once."""
    rows_per_file = 200_000
    for n in range(3):
        with open(sftp.root / "exports" / f"big_{n}.csv", "w") as f:
            f.write("id,email,note\n")
            for i in range(rows_per_file):
                f.write(f"{n}-{i},user{i}@example.com,some text for row {i}\n")
    project.manifest(sftp_source(project, sftp, "      password_env: TEST_SFTP_PW\n"))
    env = {**os.environ, "TEST_SFTP_PW": "s3cret-pw"}
    cmd = [RSYNC_BRAZE, "ingest", "--project-dir", str(project.tmp), "--profiles-dir", str(project.tmp)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    killed_during_copy = False
    while time.monotonic() < deadline and proc.poll() is None:
        loaded = project.query("select count(*) from {st}.source_files") if project.query(
            "select 1 from information_schema.tables where table_schema = %s and table_name = 'source_files'",
            (project.state,)) else [(0,)]
        copying = project.query("select 1 from pg_stat_activity where application_name = 'rsync-braze ingest' "
                                "and query ilike 'copy%%' and state = 'active'")
        if copying and loaded[0][0] >= 1:  # in the second (or third) file: one committed, one in flight
            proc.send_signal(signal.SIGKILL)
            killed_during_copy = True
            break
        time.sleep(0.02)
    proc.wait(30)
    assert killed_during_copy, f"ingest ended before it could be killed: {proc.stderr.read().decode()[-500:]}"
    committed = project.query("select path, rows from {st}.source_files order by path")
    counts = dict(project.query("select _file_name, count(*) from {s}.raw_remote group by 1"))
    assert 1 <= len(committed) < 3
    assert counts == {path: rows for path, rows in committed} and all(r == rows_per_file for _, r in committed)

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{3 - len(committed)} file(s) loaded" in done.stdout
    assert project.query("select count(*), count(distinct (_file_name, _line_number)) from {s}.raw_remote") == [
        (3 * rows_per_file, 3 * rows_per_file)]
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert "0 file(s) loaded" in again.stdout and "3 already loaded" in again.stdout


def test_cli_json_output_and_one_ingest_per_source(project):
    project.manifest(csv_source(project.schema))
    (project.landing / "contacts_20260101.csv").write_text("id,email\n1,a@x.com\n2,b\n3\n")
    cmd = [RSYNC_BRAZE, "ingest", "contacts", "--json", "--project-dir", str(project.tmp),
           "--profiles-dir", str(project.tmp)]
    with psycopg.connect(project.url, autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(hashtext('rsync_braze:ingest:' || 'contacts'))")
        busy = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert busy.returncode == 5 and "being ingested by another process" in busy.stderr
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)
    assert result["source"] == "contacts"
    assert [(f["path"], f["status"], f["rows"], f["rejected"]) for f in result["files"]] == [
        ("contacts_20260101.csv", "loaded", 2, 1)]


@pytest.mark.slow
def test_demo_files_ingested_give_the_tables_the_staging_models_read(project, tmp_path):
    """The demo's contacts CSV and web-events JSON lines, landed by `rsync-braze ingest`, equal what the demo's
    own loaders write (same columns, same rows): stg_files__contacts and stg_web__events read either."""
    demo_schema, truth = f"{project.schema}_demo", f"{project.schema}_truth"
    cli = [RSYNC_BRAZE, "demo-data", "--people", "300", "--seed", "7", "--schema", demo_schema, "--truth-schema",
           truth, "--files-dir", str(project.landing), "--project-dir", str(project.tmp),
           "--profiles-dir", str(project.tmp)]
    try:
        for day in ("1", "2"):
            made = subprocess.run([*cli, "--day", day], capture_output=True, text=True, timeout=300)
            assert made.returncode == 0, made.stderr
        project.manifest(f"""
            contacts:
              type: files
              format: csv
              delimiter: ";"
              schema: {project.schema}
              table: file_contacts
              directory: landing
              glob: "contacts_{{date}}.csv"
              date_format: "%Y%m%d"
            web:
              type: files
              format: jsonl
              schema: {project.schema}
              table: web_events
              directory: landing
              glob: "web_events_*.jsonl"
        """)
        results = {r.source: r for r in project.ingest()}
        assert [f.status for f in results["contacts"].files] == ["loaded", "loaded"]
        assert all(f.rejected == 0 for r in results.values() for f in r.files)
        for table, columns in (("file_contacts", "email, phone, first_name, last_name, country, signup_date"),
                               ("web_events", "payload")):
            ours = f"select {columns}, _file_name, _line_number from {{s}}.{table}"
            theirs = f'select {columns}, _file_name, _line_number from "{demo_schema}".{table}'
            assert project.query(f"select count(*) from {{s}}.{table}")[0][0] > 20
            assert project.query(f"({ours} except all {theirs}) union all ({theirs} except all {ours})") == []
    finally:
        project.query(f'drop schema if exists "{demo_schema}" cascade; drop schema if exists "{truth}" cascade')
