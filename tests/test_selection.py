"""--select like dbt's, and syncs blocked by a failed dbt run (from dbt's own artifacts)."""

from __future__ import annotations

import json
import textwrap

import pytest

from reverse_etl.errors import ConfigError
from reverse_etl.manifest import load
from reverse_etl.selection import dbt_blockers, select

MANIFEST = """
destinations:
  braze: {endpoint: "https://rest.fra-01.braze.eu", api_key_env: K}
syncs:
  - {name: users, model: braze_users, identifier: {column: id}, tags: [daily]}
  - {name: vip, model: vip_users, identifier: {column: id}, tags: [daily, vip]}
  - {name: leads, relation: crm.leads, identifier: {column: id}}
"""


def node(name, kind="model", depends=()):
    return {"name": name, "resource_type": kind, "depends_on": {"nodes": list(depends)}}


@pytest.fixture
def project(tmp_path):
    (tmp_path / "rsync_braze.yml").write_text(textwrap.dedent(MANIFEST))
    target = tmp_path / "target"
    target.mkdir()
    nodes = {
        "model.p.stg_crm": node("stg_crm"),
        "model.p.braze_users": node("braze_users", depends=["model.p.stg_crm"]),
        "model.p.vip_users": node("vip_users", depends=["model.p.braze_users"]),
        "model.p.stg_web": node("stg_web"),
        "test.p.unique_braze_users_id": node("unique_braze_users_id", "test", ["model.p.braze_users"]),
    }
    child_map = {"model.p.stg_crm": ["model.p.braze_users"], "model.p.braze_users": ["model.p.vip_users",
                 "test.p.unique_braze_users_id"], "model.p.vip_users": [], "model.p.stg_web": []}
    (target / "manifest.json").write_text(json.dumps({"nodes": nodes, "child_map": child_map}))
    return tmp_path


def names(project, *selectors):
    return [s.name for s in select(load(project / "rsync_braze.yml"), selectors, project)]


def test_selectors(project):
    assert names(project) == ["users", "vip", "leads"]
    assert names(project, "leads") == ["leads"]
    assert names(project, "tag:daily") == ["users", "vip"]
    assert names(project, "tag:vip users") == ["users", "vip"]
    assert names(project, "model:vip_users") == ["vip"]
    assert names(project, "+stg_crm") == ["users", "vip"], "downstream of a staging model, like dbt's +"
    assert names(project, "+vip_users") == ["vip"]


def test_selector_matching_nothing_is_an_error(project):
    with pytest.raises(ConfigError, match="matches no sync"):
        names(project, "tag:nope")
    with pytest.raises(ConfigError, match="matches no sync"):
        names(project, "+stg_web")


def write_results(project, results):
    (project / "target" / "run_results.json").write_text(json.dumps({"results": [
        {"unique_id": uid, "status": status} for uid, status in results]}))


def test_failed_test_on_the_model_blocks_its_sync_only(project):
    manifest = load(project / "rsync_braze.yml")
    write_results(project, [("model.p.braze_users", "success"), ("test.p.unique_braze_users_id", "fail"),
                            ("model.p.vip_users", "success")])
    assert dbt_blockers(manifest.syncs["users"], project) == ["unique_braze_users_id fail in the last dbt run"]
    assert dbt_blockers(manifest.syncs["vip"], project) == []
    assert dbt_blockers(manifest.syncs["leads"], project) == [], "a relation sync has no dbt model"


def test_errored_or_skipped_model_blocks(project):
    manifest = load(project / "rsync_braze.yml")
    write_results(project, [("model.p.braze_users", "error"), ("model.p.vip_users", "skipped")])
    assert dbt_blockers(manifest.syncs["users"], project)
    assert dbt_blockers(manifest.syncs["vip"], project)
    write_results(project, [("model.p.braze_users", "success"), ("test.p.unique_braze_users_id", "pass")])
    assert dbt_blockers(manifest.syncs["users"], project) == []
