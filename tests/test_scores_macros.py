"""The metrics macros (macros/metrics/), checked through the ``integration_tests/`` dbt project.

Each macro has input seeds under ``integration_tests/seeds/metrics/`` with hand-computed expected values (ties,
NULLs, a single order, refunds, several currencies) and a ``test_<macro>`` model that joins the macro's output
with them *fully*, so a missing or an extra person fails as well as a wrong value. The project is run as a real
``dbt`` subprocess on the session's embedded PostgreSQL and on DuckDB (helpers shared with test_dbt_macros.py).
"""

from __future__ import annotations

import csv
import uuid

import pytest
from test_dbt_macros import (  # noqa: F401 (compile_work, packages: fixtures)
    PROJECT, PROJECT_NAME, REPO, _dbt, _duckdb_env, _results, compile_work, packages,
)

MACROS = ("person_order_metrics", "rfm_scores", "churn_risk", "web_engagement", "latest_consent")
SELECT = ["--select", "path:models/metrics", "path:seeds/metrics"]


def _expected_rows(macro: str) -> int:
    seeds = PROJECT / "seeds" / "metrics"
    path = seeds / f"data_{macro}_expected.csv"
    with open(path if path.exists() else seeds / f"data_{macro}.csv", newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def _build(work, packages, **env) -> None:  # noqa: F811
    build = _dbt(["build", *SELECT], work, packages=packages, **env)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-2000:]
    results = _results(work)
    for macro in MACROS:
        model = f"model.{PROJECT_NAME}.test_{macro}"
        assert results.get(model, {}).get("status") == "success", f"{model} was not built"
        tests = [r for uid, r in results.items()
                 if uid.startswith(f"test.{PROJECT_NAME}.actual_matches_expected_test_{macro}_")]
        assert [t["status"] for t in tests] == ["pass"], f"equality test on test_{macro}: {tests}"


@pytest.mark.dbt
def test_metrics_macros_match_hand_computed_values_on_postgres(embedded_warehouse, db, packages, tmp_path):  # noqa: F811
    schema = f"it_{uuid.uuid4().hex[:10]}"
    status = embedded_warehouse.status()
    try:
        _build(tmp_path, packages, RSYNC_BRAZE_IT_TARGET="postgres", RSYNC_BRAZE_IT_HOST="127.0.0.1",
               RSYNC_BRAZE_IT_PORT=str(status.port), RSYNC_BRAZE_IT_USER="postgres",
               RSYNC_BRAZE_IT_DBNAME=status.dbname, RSYNC_BRAZE_IT_SCHEMA=schema)
        for macro in MACROS:
            rows, distinct = db.execute(f'select count(*), count(distinct actual) from "{schema}"."test_{macro}"').fetchone()
            # A full join: as many rows as expected ones unless the output had extra persons (which fail anyway).
            assert rows == _expected_rows(macro), macro
            assert distinct >= 4, f"test_{macro}: actual is nearly constant"
    finally:
        db.execute(f'drop schema if exists "{schema}" cascade')


@pytest.mark.dbt
def test_metrics_macros_match_hand_computed_values_on_duckdb(packages, tmp_path):  # noqa: F811
    _build(tmp_path, packages, **_duckdb_env(tmp_path))


def test_the_tested_segment_mapping_is_the_package_one():
    """The integration project cannot read the package's seeds (they are disabled there): it holds a copy."""
    package = (REPO / "seeds" / "metrics" / "rfm_segments.csv").read_text()
    assert (PROJECT / "seeds" / "metrics" / "data_rfm_segments.csv").read_text() == package


def test_segment_mapping_covers_every_score_pair():
    with open(REPO / "seeds" / "metrics" / "rfm_segments.csv", newline="") as handle:
        rules = sorted(csv.DictReader(handle), key=lambda row: int(row["priority"]))
    for r in range(1, 6):
        for fm in range(1, 6):
            assert any(int(x["r_min"]) <= r <= int(x["r_max"]) and int(x["fm_min"]) <= fm <= int(x["fm_max"])
                       for x in rules), f"no segment for r={r}, fm={fm}"


@pytest.mark.dbt
@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("{{ rsync_braze.person_order_metrics('t', refunds='drop') }}",
         "person_order_metrics(refunds): must be 'exclude' (refunds left out), 'net'"),
        ("{{ rsync_braze.person_order_metrics('t', refunds='net') }}",
         "person_order_metrics(is_refund): refunds='net' needs is_refund"),
        ("{{ rsync_braze.person_order_metrics('t', currency='currency') }}",
         "person_order_metrics(currency): say how to handle currencies: target_currency='EUR'"),
        ("{{ rsync_braze.person_order_metrics('t', refunded_order_id='original_id') }}",
         "person_order_metrics(is_refund): refunded_order_id needs is_refund"),
        ("{{ rsync_braze.rfm_scores('t', buckets=1) }}", "rfm_scores(buckets): must be an integer from 2 to 100; got 1"),
        ("{{ rsync_braze.churn_risk('t', min_orders='3') }}", "churn_risk(min_orders): must be an integer from 2"),
        ("{{ rsync_braze.latest_consent('t', channels='email') }}", "latest_consent(channels): must be a non-empty list"),
    ],
)
def test_bad_arguments_fail_at_compile_time(packages, compile_work, sql, message):  # noqa: F811
    result = _dbt(["compile", "--inline", sql], compile_work, packages=packages, **_duckdb_env(compile_work))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in output, output[-2000:]
    assert "Traceback" not in output
