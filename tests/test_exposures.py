"""``rsync-braze exposures``: the generated file, hand-written exposures kept, and a real ``dbt parse`` / ``dbt ls``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from reverse_etl.cli import cli
from reverse_etl.errors import ConfigError
from reverse_etl.exposures import DEFAULT_PATH, write
from reverse_etl.manifest import load

BIN = Path(sys.executable).parent

MANIFEST = """
destinations:
  braze:
    endpoint: "https://rest.fra-01.braze.eu"
    api_key_env: K
    owner: {name: CRM team, email: crm@example.com}
syncs:
  - name: users
    model: crm_users
    identifier: {column: id, type: external_id}
    mapping: {email: email}
    tags: [daily]
    schedule: "0 6 * * *"
  - name: vip
    model: vip_users
    identifier: {column: id}
    owner: {name: Jane Doe}
  - {name: leads, relation: crm.leads, identifier: {column: id}}
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "dbt_project.yml").write_text(
        "name: shop\nversion: '1.0'\nconfig-version: 2\nprofile: shop\nmodel-paths: [models]\n")
    # dbt parse reads the profile but connects to nothing.
    (tmp_path / "profiles.yml").write_text(
        "shop:\n  target: t\n  outputs:\n    t: {type: postgres, host: 127.0.0.1, port: 1, user: u, password: '', "
        "dbname: d, schema: s, threads: 1}\n")
    models = tmp_path / "models"
    models.mkdir()
    (models / "stg_users.sql").write_text("select 1 as id, 'a@example.com' as email\n")
    (models / "crm_users.sql").write_text("select * from {{ ref('stg_users') }}\n")
    (models / "vip_users.sql").write_text("select * from {{ ref('crm_users') }}\n")
    (models / "unrelated.sql").write_text("select 2 as id\n")
    (tmp_path / "rsync_braze.yml").write_text(textwrap.dedent(MANIFEST))
    return tmp_path


def path_text(project: Path) -> str:
    return (project / DEFAULT_PATH).read_text()


def exposures(path: Path) -> dict[str, dict]:
    return {e["name"]: e for e in yaml.safe_load(path.read_text())["exposures"]}


def test_one_exposure_per_model_sync_with_owner_and_destination(project):
    result = write(load(None, project), project / DEFAULT_PATH)
    assert result.changed and result.skipped == ["leads"]
    found = exposures(project / DEFAULT_PATH)
    assert set(found) == {"rsync_braze__users", "rsync_braze__vip"}
    users = found["rsync_braze__users"]
    assert users["type"] == "application"
    assert users["depends_on"] == ["ref('crm_users')"]
    assert users["owner"] == {"name": "CRM team", "email": "crm@example.com"}, "destination's owner by default"
    assert found["rsync_braze__vip"]["owner"] == {"name": "Jane Doe"}, "a sync's own owner wins"
    meta = users["meta"]["rsync_braze"]
    assert meta["destination"] == "braze" and "braze.eu" not in path_text(project), "no environment-specific endpoint"
    assert meta["object"] == "user_attributes" and meta["identifier"] == {"column": "id", "type": "external_id"}
    assert meta["schedule"] == "0 6 * * *" and meta["attributes"] == ["email"]
    assert users["tags"] == ["rsync_braze", "daily"]


def test_rewrite_keeps_hand_written_exposures_and_drops_removed_syncs(project):
    path = project / DEFAULT_PATH
    write(load(None, project), path)
    data = yaml.safe_load(path.read_text())
    data["exposures"].append({"name": "weekly_dashboard", "type": "dashboard", "owner": {"email": "bi@example.com"},
                              "depends_on": ["ref('unrelated')"], "url": "https://bi.example.com/1"})
    data["exposures"][0]["url"] = "https://wiki.example.com/braze"  # a hand-added key on a generated exposure
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    text = (project / "rsync_braze.yml").read_text()
    (project / "rsync_braze.yml").write_text(text.replace("  - name: vip\n    model: vip_users\n"
                                                          "    identifier: {column: id}\n    owner: {name: Jane Doe}\n", ""))
    result = write(load(None, project), path)
    found = exposures(path)
    assert set(found) == {"rsync_braze__users", "weekly_dashboard"}
    assert result.removed == ["rsync_braze__vip"] and result.kept == ["weekly_dashboard"]
    assert found["weekly_dashboard"]["url"] == "https://bi.example.com/1"
    assert found["rsync_braze__users"]["url"] == "https://wiki.example.com/braze"
    before = path.read_text()
    assert not write(load(None, project), path).changed and path.read_text() == before, "idempotent"


def test_hand_written_exposure_with_our_name_is_not_overwritten(project):
    path = project / DEFAULT_PATH
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump({"version": 2, "exposures": [
        {"name": "rsync_braze__users", "type": "application", "owner": {"name": "me"}}]}))
    with pytest.raises(ConfigError, match="written by hand"):
        write(load(None, project), path)
    assert "me" in path.read_text()


def test_check_flag_exits_1_until_written(project):
    runner = CliRunner()
    args = ["exposures", "--project-dir", str(project)]
    assert runner.invoke(cli, [*args, "--check"]).exit_code == 1
    assert not (project / DEFAULT_PATH).exists(), "--check writes nothing"
    out = runner.invoke(cli, [*args, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout.splitlines()[0])["written"] == ["rsync_braze__users", "rsync_braze__vip"]
    assert runner.invoke(cli, [*args, "--check"]).exit_code == 0


def dbt(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DBT_PROFILES_DIR=str(project), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    env.pop("DBT_TARGET", None)
    return subprocess.run([str(BIN / "dbt"), *args, "--project-dir", str(project)], env=env, cwd=project,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.dbt
def test_file_round_trips_through_dbt_parse_and_ls(project):
    done = subprocess.run([str(BIN / "rsync-braze"), "exposures", "--project-dir", str(project)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    parsed = dbt(project, "parse")
    assert parsed.returncode == 0, parsed.stdout[-3000:]
    assert "deprecat" not in parsed.stdout.lower(), parsed.stdout[-3000:]
    nodes = json.loads((project / "target" / "manifest.json").read_text())["exposures"]
    users = nodes["exposure.shop.rsync_braze__users"]
    assert users["depends_on"]["nodes"] == ["model.shop.crm_users"]
    assert users["owner"]["email"] == "crm@example.com"
    assert users["meta"]["rsync_braze"]["destination"] == "braze"
    listed = dbt(project, "ls", "--select", "+exposure:rsync_braze__users", "--output", "name", "-q")
    assert listed.returncode == 0, listed.stdout
    names = set(listed.stdout.split())
    assert {"stg_users", "crm_users", "rsync_braze__users"} <= names
    assert not names & {"vip_users", "unrelated", "rsync_braze__vip"}
