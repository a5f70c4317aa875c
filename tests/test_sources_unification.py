"""Salesforce contacts and Zendesk users feed the unification: sample e-shop data, a contact and a requester
landed by `rsync-braze ingest` from the fakes over real HTTP, then a real `dbt build` on the session's
PostgreSQL; the three records of one e-mail end as one person (issue: a Salesforce contact and a Zendesk
requester with the same email become the same person as the e-shop customer)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _api_sources import ApiProject, api_project  # noqa: F401 - fixture

from reverse_etl.sources.fakes import FakeSalesforce, FakeZendesk

pytestmark = [pytest.mark.db, pytest.mark.dbt]
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ENV = {"TEST_UNI_SF_ID": "cid-uni-1", "TEST_UNI_SF_SECRET": "sf-uni-secret-5b", "TEST_UNI_ZD_TOKEN": "zd-uni-9c"}


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]


def test_a_salesforce_contact_and_a_zendesk_user_with_an_eshop_email_are_one_person(api_project, monkeypatch):
    p: ApiProject = api_project
    env = dict(os.environ, **ENV, DBT_PROFILES_DIR=str(p.tmp), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    env.pop("DBT_TARGET", None)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    truth = f"{p.schema}_truth"
    built = [f"{p.schema}_{suffix}" for suffix in ("staging", "intermediate", "marts", "snapshots")]
    try:
        _run([str(BIN / "rsync-braze"), "demo-data", "--people", "200", "--schema", p.schema, "--truth-schema",
              truth, "--files-dir", str(p.tmp / "files"), "--project-dir", str(REPO), "--profiles-dir", str(p.tmp)],
             p.tmp, env)
        # An e-shop account whose e-mail is well formed and its own (the sample data holds shared and junk ones).
        (customer_id, email), = p.query(
            "select min(customer_id), lower(trim(email)) from {s}.eshop_customers "
            "where lower(trim(email)) ~ '^[a-z0-9._+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{{2,}}$' "
            "group by lower(trim(email)) having count(*) = 1 order by 1 limit 1")
        with FakeSalesforce(client_id=ENV["TEST_UNI_SF_ID"], client_secret=ENV["TEST_UNI_SF_SECRET"]) as sf, \
                FakeZendesk(email="etl@acme.com", token=ENV["TEST_UNI_ZD_TOKEN"]) as zd:
            contact = sf.put("Contact", {"Email": email.upper(), "FirstName": "Ann", "LastName": "Known"})
            stranger = sf.put("Contact", {"Email": "nobody.else@example.net", "LastName": "Stranger"})
            gone = sf.put("Contact", {"Email": email, "LastName": "Deleted"})
            sf.delete("Contact", gone)
            requester = zd.put("users", {"email": f" {email} ", "name": "Ann Known"})
            agent = zd.put("users", {"email": email, "name": "Support Agent", "role": "agent"})
            zd.settle()
            p.manifest(f"""
                sf_contacts:
                  type: salesforce
                  schema: {p.schema}
                  object: Contact
                  login_url: {sf.url}
                  client_id_env: TEST_UNI_SF_ID
                  client_secret_env: TEST_UNI_SF_SECRET
                  fields: [Email, FirstName, LastName, CreatedDate]
                zd_users:
                  type: zendesk
                  schema: {p.schema}
                  resource: users
                  url: {zd.url}
                  email: etl@acme.com
                  api_token_env: TEST_UNI_ZD_TOKEN
            """)
            p.ingest()
        variables = {"rsync_braze_raw_schema": p.schema, "rsync_braze_salesforce_enabled": True,
                     "rsync_braze_salesforce_contacts_table": "raw_sf_contacts", "rsync_braze_zendesk_enabled": True,
                     "rsync_braze_zendesk_users_table": "raw_zd_users"}
        # Models and seeds only: some data tests of the identity models read models outside this selection.
        _run([str(BIN / "dbt"), "build", "--select", "+int_customer_records_matched", "--exclude-resource-type", "test",
              "--project-dir", str(REPO),
              "--target-path", str(p.tmp / "target"), "--log-path", str(p.tmp / "logs"),
              "--vars", json.dumps(variables)], p.tmp, env)
        rows = p.query(f'select source, record_id, person_id from "{p.schema}_intermediate".int_customer_records_matched '
                       "where (source, record_id) in (('eshop', %s), ('salesforce', %s), ('salesforce', %s), "
                       "('salesforce', %s), ('zendesk', %s), ('zendesk', %s))",
                       (customer_id, contact, stranger, gone, str(requester), str(agent)))
        person = {(source, record_id): person_id for source, record_id, person_id in rows}
        assert ("salesforce", gone) not in person, "a deleted Salesforce contact is not a record"
        assert ("zendesk", str(agent)) not in person, "a Zendesk agent is staff, not a customer"
        assert person[("eshop", customer_id)] == person[("salesforce", contact)] == person[("zendesk", str(requester))]
        assert person[("salesforce", stranger)] != person[("eshop", customer_id)]
        names = p.query(f'select first_name, last_name from "{p.schema}_intermediate".int_customer_records_unioned '
                        "where source = 'zendesk' and record_id = %s", (str(requester),))
        assert names == [("Ann", "Known")], "Zendesk's one name is split into first and last"
    finally:
        for schema in (truth, *built):
            p.query(f'drop schema if exists "{schema}" cascade')
