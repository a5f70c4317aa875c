"""``rsync-braze init`` scaffolds a manifest from the warehouse's columns that ``validate`` accepts; ``validate``
fails when a synced model or a mapped column disappears (the CI guard)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner

from reverse_etl.cli import cli
from reverse_etl.errors import RsyncBrazeError
from reverse_etl.manifest import load

pytestmark = pytest.mark.db
BIN = Path(sys.executable).parent


@pytest.fixture
def project(embedded_warehouse, db, schema, tmp_path):
    port = embedded_warehouse.status().port
    (tmp_path / "profiles.yml").write_text(
        "rsync_braze:\n  target: t\n  outputs:\n    t:\n      type: postgres\n      host: 127.0.0.1\n"
        f"      port: {port}\n      user: postgres\n      password: ''\n      dbname: rsync_braze\n"
        f"      schema: {schema}\n      threads: 1\n")
    db.execute(f'''create table "{schema}".crm_users (
        external_id text, email text, phone_number text, "First Name" text, last_name text, country text,
        birth_date date, gender integer, ltv numeric(10, 2), orders integer, is_vip boolean,
        last_order_at timestamptz, favourite_shops text[], preferences jsonb, photo bytea)''')
    db.execute(f'create table "{schema}".leads (lead_email text, score double precision)')
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "manifest.json").write_text(json.dumps({"nodes": {"model.shop.crm_users": {
        "resource_type": "model", "name": "crm_users", "database": "rsync_braze", "schema": schema, "alias": None}}}))
    return tmp_path


def invoke(project: Path, *args: str):
    """The command through click, with errors turned into exit codes and messages as main() does."""
    result = CliRunner().invoke(cli, [*args, "--project-dir", str(project), "--profiles-dir", str(project)])
    if isinstance(result.exception, RsyncBrazeError):
        return SimpleNamespace(exit_code=result.exception.exit_code, output=result.output + str(result.exception),
                               stdout=result.stdout)
    return result


def test_init_maps_standard_fields_types_the_rest_and_passes_validate(project):
    out = invoke(project, "init", "--model", "crm_users")
    assert out.exit_code == 0, out.output
    manifest = load(None, project)
    sync = manifest.syncs["crm_users"]
    assert (sync.model, sync.identifier_column, sync.identifier_type) == ("crm_users", "external_id", "external_id")
    mapping = {m.column: m.attribute for m in sync.mapping}
    assert mapping == {"email": "email", "phone_number": "phone", "First Name": "first_name", "last_name": "last_name",
                       "country": "country", "birth_date": "dob", "ltv": "ltv", "orders": "orders",
                       "is_vip": "is_vip", "last_order_at": "last_order_at", "favourite_shops": "favourite_shops",
                       "preferences": "preferences"}
    types = {a.name: a.type for a in manifest.destinations["braze"].custom_attributes.values()}
    assert types == {"ltv": "float", "orders": "integer", "is_vip": "boolean", "last_order_at": "time",
                     "favourite_shops": "array", "preferences": "object"}
    text = (project / "rsync_braze.yml").read_text()
    assert "# photo: not mapped, bytea has no Braze attribute type" in text
    assert "# gender: not mapped" in text, "an integer gender does not fit the standard field"
    checked = invoke(project, "validate")
    assert checked.exit_code == 0, checked.output
    assert "crm_users: ok" in checked.output


def test_init_refuses_to_overwrite_then_appends_or_forces(project, schema):
    assert invoke(project, "init", "--model", "crm_users").exit_code == 0
    before = (project / "rsync_braze.yml").read_text()
    again = invoke(project, "init", "--model", "crm_users")
    assert again.exit_code == 2 and "--append" in again.output and "--force" in again.output
    assert (project / "rsync_braze.yml").read_text() == before
    no_id = invoke(project, "init", "--relation", f"{schema}.leads", "--append")
    assert no_id.exit_code == 2 and "pass --identifier" in no_id.output
    added = invoke(project, "init", "--relation", f"{schema}.leads", "--identifier", "lead_email", "--append")
    assert added.exit_code == 0, added.output
    manifest = load(None, project)
    assert list(manifest.syncs) == ["crm_users", "leads"]
    leads = manifest.syncs["leads"]
    assert (leads.identifier_column, leads.identifier_type) == ("lead_email", "email"), "an email column is an email id"
    assert manifest.destinations["braze"].custom_attributes["score"].type == "float"
    assert (project / "rsync_braze.yml.bak").read_text() == before
    checked = invoke(project, "validate")
    assert checked.exit_code == 0, checked.output
    forced = invoke(project, "init", "--relation", f"{schema}.leads", "--identifier", "lead_email", "--force")
    assert forced.exit_code == 0 and list(load(None, project).syncs) == ["leads"]


def test_init_errors_name_the_fix(project):
    missing = invoke(project, "init", "--model", "nope")
    assert missing.exit_code == 2 and "'nope' is not in" in missing.output
    bad_id = invoke(project, "init", "--model", "crm_users", "--identifier", "uid")
    assert bad_id.exit_code == 2 and "'uid' is not a column" in bad_id.output
    assert not (project / "rsync_braze.yml").exists()


def test_validate_fails_when_a_mapped_column_or_the_model_disappears(project, db, schema):
    assert invoke(project, "init", "--model", "crm_users").exit_code == 0
    assert invoke(project, "validate").exit_code == 0
    db.execute(f'alter table "{schema}".crm_users drop column ltv')
    gone = invoke(project, "validate", "--json")
    assert gone.exit_code == 2
    problems = json.loads(gone.stdout)[0]["problems"]
    assert len(problems) == 1 and "mapped column 'ltv' is not in" in problems[0]
    db.execute(f'alter table "{schema}".crm_users alter column orders type text')
    typed = invoke(project, "validate")
    assert typed.exit_code == 2 and "column 'orders' is text but 'orders' is declared integer" in typed.output
    db.execute(f'drop table "{schema}".crm_users')
    dropped = invoke(project, "validate")
    assert dropped.exit_code == 2 and "does not exist: run `dbt build`" in dropped.output
    (project / "target" / "manifest.json").write_text(json.dumps({"nodes": {}}))
    unknown = invoke(project, "validate")
    assert unknown.exit_code == 2 and "Model 'crm_users' is not in" in unknown.output


def test_init_as_a_pipeline_calls_it(project):
    """The console script, as a subprocess: result on stderr, nothing on stdout, exit 0."""
    done = subprocess.run([str(BIN / "rsync-braze"), "init", "--model", "crm_users", "--sync", "users",
                           "--project-dir", str(project), "--profiles-dir", str(project)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and "sync 'users' reads" in done.stderr
    assert yaml.safe_load((project / "rsync_braze.yml").read_text())["syncs"][0]["name"] == "users"
