"""The in-warehouse diff and `plan`, on real PostgreSQL (no Braze needed: plan sends nothing)."""

from __future__ import annotations

import textwrap

import psycopg
import pytest

from reverse_etl.diff import DiffSpec, changed_attributes, diff_query, relation
from reverse_etl.engine import Engine, select_syncs
from reverse_etl.manifest import load
from reverse_etl.profiles import resolve

pytestmark = pytest.mark.db

MANIFEST = """
state_schema: {state}
destinations:
  braze:
    endpoint: http://127.0.0.1:9
    api_key_env: UNUSED_KEY_FOR_PLAN
    custom_attributes:
      ltv: {{type: float, required: true}}
      "odd name": string
syncs:
  - name: users
    relation: {schema}.users
    identifier: {{column: id, type: external_id}}
    mapping:
      email: email
      ltv: ltv
      'we"ird col': odd name
"""


@pytest.fixture
def engine(embedded_warehouse, schema, tmp_path, db):
    state = f"{schema}_state"
    db.execute(f'create table "{schema}".users (id text, email text, ltv numeric, "we""ird col" text)')
    db.execute(f'insert into "{schema}".users select \'u\' || g, \'u\' || g || \'@x.org\', g, \'w\' || g '
               f"from generate_series(1, 20) g")
    port = embedded_warehouse.status().port
    (tmp_path / "profiles.yml").write_text(
        f"rsync_braze:\n  target: t\n  outputs:\n    t:\n      type: postgres\n      host: 127.0.0.1\n      port: {port}\n"
        f"      user: postgres\n      password: ''\n      dbname: rsync_braze\n      schema: {schema}\n      threads: 1\n")
    (tmp_path / "rsync_braze.yml").write_text(textwrap.dedent(MANIFEST.format(state=state, schema=schema)))
    eng = Engine(load(tmp_path / "rsync_braze.yml"), resolve(tmp_path, str(tmp_path)), tmp_path)
    yield eng
    db.execute(f'drop schema if exists "{state}" cascade')


def deliver_everything(engine, db):
    """Write the snapshot a successful run would leave."""
    sync = select_syncs(engine.manifest, ())[0]
    with psycopg.connect(db.info.dsn) as conn:
        spec = engine._prepare(conn, sync, full_refresh=False)
    db.execute(f"insert into {spec.snapshot_relation} (id, row_hash, field_hashes, status, run_id) "
               f"select _rb_id, _rb_row_hash, _rb_field_hashes, 'delivered', 0 from ({diff_query(spec)}) d "
               f"where _rb_action = 'new'")


def test_first_plan_sees_every_row_as_new(engine):
    result = engine.plan(select_syncs(engine.manifest, ())[0])
    assert result.counts["created"] == 20
    assert result.counts["updated"] == result.counts["unchanged"] == result.counts["removed"] == 0
    assert result.fields_changed == {"email": 20, "ltv": 20, "odd name": 20}
    assert result.counts["data_points"] == 60
    assert result.estimated_requests == 1


def test_plan_after_changes(engine, db, schema):
    deliver_everything(engine, db)
    sync = select_syncs(engine.manifest, ())[0]
    assert engine.plan(sync).counts["unchanged"] == 20
    t = f'"{schema}".users'
    db.execute(f"update {t} set ltv = ltv + 1 where id in ('u1', 'u2')")
    db.execute(f"update {t} set \"we\"\"ird col\" = 'changed' where id = 'u3'")
    db.execute(f"delete from {t} where id = 'u4'")
    db.execute(f"insert into {t} values ('u21', 'new@x.org', 5, 'n'), (null, 'nullid@x.org', 1, 'n'), "
               f"('u5', 'dup@x.org', 1, 'd'), ('u22', 'noltv@x.org', null, 'n')")
    result = engine.plan(sync)
    assert result.counts["created"] == 1
    assert result.counts["updated"] == 3
    assert result.counts["removed"] == 1
    assert result.counts["invalid"] == 4  # null id, both rows of duplicated u5, missing required ltv
    assert result.counts["unchanged"] == 20 - 3 - 1 - 1  # minus changed, removed, and u5 now invalid
    assert result.fields_changed == {"ltv": 2 + 1, "odd name": 1 + 1, "email": 1}
    reasons = {ident: reason for ident, _, reason in result.rejections}
    assert reasons[None] == "identifier is null"
    assert reasons["u5"] == "identifier is not unique in the model"
    assert "ltv" in reasons["u22"]


def test_identifiers_are_quoted():
    spec = DiffSpec(relation('my"schema', "t"), relation("st", "snap"), 'id"; drop table x; --',
                    (("c", "a'b"),), ())
    sql = diff_query(spec)
    assert '"my""schema"."t"' in sql
    assert '"id""; drop table x; --"' in sql
    assert "'a''b'" in sql


def test_changed_attributes():
    assert changed_attributes({"a": 1, "b": 2}, {"a": 1, "b": 3}) == ["b"]
    assert changed_attributes({"a": 1}, None) == ["a"]
    assert changed_attributes(None, {"a": 1}) == []
