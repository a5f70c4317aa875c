"""The dbt project end to end: sample sources → staging → unification → braze_users, with a real dbt build.

One module-scoped build (day 1, then day 2) on the session warehouse, in schemas of its own; the checks read
the built tables and the ground truth the generator wrote.
"""

from __future__ import annotations

import json
import re
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from reverse_etl.embedded import EmbeddedWarehouse, free_port

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PEOPLE = 2000

pytestmark = [pytest.mark.db, pytest.mark.dbt]


class Build:
    """Runs the CLI and dbt against the session warehouse, in one schema family."""

    def __init__(self, warehouse, tmp: Path):
        self.tag = uuid.uuid4().hex[:8]
        self.schema = f"dbt_{self.tag}"
        self.raw = f"raw_{self.tag}"
        self.truth = f"truth_{self.tag}"
        self.tmp = tmp
        self.url = warehouse.url()
        port = warehouse.status().port
        (tmp / "profiles.yml").write_text(
            "rsync_braze:\n  target: test\n  outputs:\n    test:\n      type: postgres\n      host: 127.0.0.1\n"
            f"      port: {port}\n      user: postgres\n      password: ''\n      dbname: rsync_braze\n"
            f"      schema: {self.schema}\n      threads: 2\n"
        )
        self.env = dict(os.environ, DBT_PROFILES_DIR=str(tmp), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
        self.env.pop("DBT_TARGET", None)

    def demo_data(self, *args: str) -> None:
        result = subprocess.run(
            [str(BIN / "rsync-braze"), "demo-data", "--people", str(PEOPLE), "--seed", "7", "--schema", self.raw,
             "--truth-schema", self.truth, "--files-dir", str(self.tmp / "files"), "--project-dir", str(REPO), *args],
            env=self.env, capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, result.stderr

    def dbt_build(self) -> list[dict]:
        target = self.tmp / "target"
        result = subprocess.run(
            [str(BIN / "dbt"), "build", "--project-dir", str(REPO), "--target-path", str(target),
             "--log-path", str(self.tmp / "logs"), "--vars", json.dumps({"rsync_braze_raw_schema": self.raw})],
            env=self.env, capture_output=True, text=True, timeout=600, cwd=self.tmp,
        )
        assert result.returncode == 0, result.stdout[-4000:]
        return json.loads((target / "run_results.json").read_text())["results"]

    def query(self, sql: str) -> list[tuple]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql.format(s=self.schema, raw=self.raw, truth=self.truth)).fetchall()

    def drop(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            for schema in (self.raw, self.truth, self.schema, f"{self.schema}_staging",
                           f"{self.schema}_intermediate", f"{self.schema}_marts", f"{self.schema}_snapshots"):
                conn.execute(f'drop schema if exists "{schema}" cascade')


@pytest.fixture(scope="module")
def build(embedded_warehouse, tmp_path_factory):
    b = Build(embedded_warehouse, tmp_path_factory.mktemp("dbt"))
    b.demo_data()
    b.day1_results = b.dbt_build()
    b.day1_ids = {r[0] for r in b.query("select external_id from {s}_marts.braze_users")}
    yield b
    b.drop()


def test_every_model_and_test_succeeds(build):
    statuses = {r["unique_id"]: r["status"] for r in build.day1_results}
    failing = {k: v for k, v in statuses.items() if v not in ("success", "pass")}
    assert not failing
    models = {k.split(".")[-1] for k in statuses if k.startswith("model.")}
    assert {"stg_eshop__customers", "stg_crm__contacts", "stg_pos__transactions", "stg_files__contacts",
            "stg_web__events", "int_customer_records_matched", "braze_users"} <= models
    assert sum(k.startswith("test.") for k in statuses) >= 15


def test_one_row_per_person_and_every_record_kept(build):
    (records,) = build.query("select count(*) from {s}_intermediate.int_customer_records_unioned")[0]
    expected = build.query(
        "select (select count(*) from {raw}.eshop_customers) + (select count(*) from {raw}.crm_contacts)"
        " + (select count(*) from {raw}.file_contacts)")[0][0]
    assert records == expected
    people, total_records = build.query("select count(*), sum(source_record_count) from {s}_marts.braze_users")[0]
    assert total_records == records
    truth_people = build.query("select count(distinct person_id) from {truth}.record_persons "
                               "where source in ('eshop', 'crm', 'file')")[0][0]
    assert truth_people <= people < records, "unification merges records, but never below the true count"


def test_unification_is_precise_against_the_ground_truth(build):
    # Pairs of records put together by the models, and how many of them really are one person.
    rows = build.query("""
        with m as (
            select r.person_id, t.person_id as true_person
            from {s}_intermediate.int_customer_records_matched r
            join {truth}.record_persons t on t.source = r.source and t.record_id = r.record_id
        ),
        clusters as (select person_id, true_person, count(*) as n from m group by 1, 2),
        sizes as (select person_id, sum(n) as n from clusters group by 1)
        select
            (select coalesce(sum(n * (n - 1) / 2), 0) from sizes) as predicted_pairs,
            (select coalesce(sum(n * (n - 1) / 2), 0) from clusters) as true_pairs_found
    """)
    predicted, correct = rows[0]
    assert predicted > 100, "the sample has people in several sources: some records must be merged"
    assert correct / predicted >= 0.99


def test_placeholder_emails_link_nobody(build):
    rows = build.query("""
        select email, count(distinct person_id)
        from {s}_intermediate.int_customer_records_matched
        where email in ('test@test.com') or email like 'noreply@%%'
        group by email
    """)
    assert rows, "the generator writes placeholder emails"
    for email, persons in rows:
        (records,) = build.query(
            f"select count(*) from {{s}}_intermediate.int_customer_records_matched where email = '{email}'")[0]
        assert persons == records, f"{email} must not merge its {records} records"


def test_mart_values_are_in_braze_formats(build):
    bad_phone, bad_email, bad_country = build.query("""
        select
            count(*) filter (where phone !~ '^\\+[1-9][0-9]{{7,14}}$'),
            count(*) filter (where email <> lower(trim(email)) or email !~ '^[^@ ]+@[^@ ]+\\.[a-z]{{2,}}$'),
            count(*) filter (where country !~ '^[A-Z]{{2}}$')
        from {s}_marts.braze_users
    """)[0]
    assert (bad_phone, bad_email, bad_country) == (0, 0, 0)
    with_phone, with_country = build.query(
        "select count(phone), count(country) from {s}_marts.braze_users")[0]
    assert with_phone > PEOPLE * 0.3 and with_country > PEOPLE * 0.3


def test_rebuild_keeps_ids_and_day_two_keeps_most(build):
    build.dbt_build()
    assert {r[0] for r in build.query("select external_id from {s}_marts.braze_users")} == build.day1_ids
    build.demo_data("--day", "2")
    results = build.dbt_build()
    assert all(r["status"] in ("success", "pass") for r in results)
    day2 = {r[0] for r in build.query("select external_id from {s}_marts.braze_users")}
    kept = len(build.day1_ids & day2) / len(build.day1_ids)
    assert kept >= 0.98, f"only {kept:.1%} of person ids survived a day of changes"
    assert day2 - build.day1_ids, "day 2 adds new persons"


def sync_line(output: str, label: str) -> dict[str, int]:
    """The counts of one sync line of the demo summary."""
    import re

    line = next(x for x in output.splitlines() if x.startswith(label))
    return {name: int(num.replace(",", "")) for num, name in re.findall(r"([\d,]+) ([a-z_]+(?: points)?)", line)
            } | {"data_points": int(re.search(r"([\d,]+) data points", line).group(1).replace(",", ""))}


def test_demo_command_runs_the_whole_job(tmp_path):
    """What `make demo` runs, in a copy of the project with its own embedded warehouse."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("dbt_project.yml", "rsync_braze.yml", "models", "macros", "data-tests", "seeds", "snapshots"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / name)
    env = dict(os.environ, RSYNC_BRAZE_WAREHOUSE_PORT=str(free_port()))
    for var in ("DBT_PROFILES_DIR", "DBT_TARGET"):
        env.pop(var, None)
    try:
        result = subprocess.run([str(BIN / "rsync-braze"), "demo", "--people", "300", "--project-dir", str(project)],
                                env=env, capture_output=True, text=True, timeout=600, cwd=project)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "People after unification:" in result.stdout
        assert "crm_contacts" in result.stdout
        assert " error" not in result.stdout.split("dbt build:")[-1]
        first = sync_line(result.stdout, "sync (braze_users)")
        assert first["created"] > 250 and first["requests"] >= 4, "the first sync sends everyone"
        assert "partner_contacts: 1 file(s) loaded" in result.stdout, "the partner file goes through the file source"
        assert re.search(r"stopped: \d+ requests, (\d+) records received, \1 stored", result.stdout), \
            "every pushed sign-up is stored by the webhook receiver"
        state = json.loads((project / ".rsync-braze" / "emulator-state.json").read_text())
        emails = {p.get("email") for p in state["profiles"]}
        assert "new.subscriber.1.0@example.org" in emails and "new.subscriber.2.0@example.org" in emails, \
            "a person known only from a webhook reaches Braze through dbt and the sync"
        after_day = sync_line(result.stdout, "sync after day 2")
        assert 0 < after_day["requests"] < first["requests"], "the second sync sends only the day's changes"
        assert after_day["data_points"] < first["data_points"] / 10
        again = subprocess.run([str(BIN / "rsync-braze"), "demo", "--project-dir", str(project)],
                               env=env, capture_output=True, text=True, timeout=600, cwd=project)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert "already loaded" in again.stdout
        unchanged = sync_line(again.stdout, "sync (braze_users)")
        assert unchanged["created"] == unchanged["updated"] == unchanged["requests"] == 0, \
            "nothing changed since the last demo: the emulator kept its profiles and nothing is sent"
        assert "sync after day 3" in again.stdout
    finally:
        EmbeddedWarehouse(project / ".rsync-braze").stop()
