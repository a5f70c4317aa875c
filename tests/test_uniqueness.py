"""When the duplicate-identifier check may be skipped: dbt's artifacts must prove the identifier unique."""

from __future__ import annotations

import json

import pytest

from reverse_etl.manifest import SyncConfig
from reverse_etl.uniqueness import passing_dbt_unique_test

MODEL = "model.proj.braze_users"
TEST = "test.proj.unique_braze_users_external_id.1a2b3c"


def sync(model="braze_users", column="external_id") -> SyncConfig:
    return SyncConfig(name="users", model=model, relation=None, destination="braze", object="user_attributes",
                      identifier_column=column, identifier_type="external_id", identifier_label=None,
                      mode="incremental", mapping=(), on_remove="ignore", schedule="manual", tags=(),
                      max_rejected_share=0.0)


def write(tmp_path, materialized="table", test_name="unique", column="external_id", where=None, status="pass",
          failures=0, attached=MODEL):
    target = tmp_path / "target"
    target.mkdir(exist_ok=True)
    nodes = {
        MODEL: {"resource_type": "model", "name": "braze_users", "config": {"materialized": materialized}},
        TEST: {"resource_type": "test", "test_metadata": {"name": test_name, "kwargs": {"column_name": column}},
               "config": {"where": where}, "depends_on": {"nodes": [MODEL]}, "attached_node": attached},
    }
    (target / "manifest.json").write_text(json.dumps({"nodes": nodes}))
    (target / "run_results.json").write_text(json.dumps({"results": [
        {"unique_id": MODEL, "status": "success"}, {"unique_id": TEST, "status": status, "failures": failures}]}))


def test_a_passing_unique_test_on_the_identifier_of_a_table_counts(tmp_path):
    write(tmp_path)
    assert passing_dbt_unique_test(sync(), tmp_path) == TEST


@pytest.mark.parametrize("change", [
    {"materialized": "view"},        # a view's rows can change after the test ran
    {"column": "email"},             # another column
    {"test_name": "not_null"},       # another test
    {"where": "created_at > now() - interval '1 day'"},  # the test saw part of the rows
    {"status": "fail", "failures": 3},
    {"status": "warn", "failures": 3},
    {"status": "pass", "failures": 2},  # a pass through warn_if/error_if thresholds still found duplicates
    {"attached": "model.proj.other"},
])
def test_anything_less_keeps_the_check(tmp_path, change):
    write(tmp_path, **change)
    assert passing_dbt_unique_test(sync(), tmp_path) is None


def test_no_artifacts_or_no_model_keeps_the_check(tmp_path):
    assert passing_dbt_unique_test(sync(), tmp_path) is None
    write(tmp_path)
    assert passing_dbt_unique_test(sync(model=None), tmp_path) is None
    (tmp_path / "target" / "run_results.json").write_text("{not json")
    assert passing_dbt_unique_test(sync(), tmp_path) is None
