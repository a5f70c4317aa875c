"""Whether a sync's identifier is already known to be unique, so the diff can skip its duplicate check.

The duplicate check groups the whole model by identifier: on a 1M-row model it costs about as much as the
join with the snapshot itself. It is skipped only on proof that duplicates cannot be there:

- a unique index (or primary key) on exactly the identifier column of the model's table, which PostgreSQL
  enforces; or
- dbt's own ``unique`` test on the identifier column of the sync's model passed (status ``pass``, 0 failures,
  no ``where`` filter) in the last dbt invocation (``target/run_results.json``), and the model is a table or
  incremental model (a view's rows can change after the test ran; a table's only by the next dbt run, whose
  run_results would then replace this one).

Anything else (no artifacts, a view, a filtered or failing test, a test of another column) keeps the check.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from .manifest import SyncConfig

TRUSTED_MATERIALIZATIONS = frozenset({"table", "incremental"})


def unique_index(conn: psycopg.Connection, model_relation: str, column: str) -> str | None:
    """The name of a unique, non-partial index on exactly ``column`` of the (quoted) relation, if any."""
    row = conn.execute(
        "select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid "
        "join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0] "
        "where i.indrelid = to_regclass(%s) and i.indisunique and i.indnkeyatts = 1 and i.indpred is null "
        "and i.indexprs is null and a.attname = %s limit 1", (model_relation, column)).fetchone()
    return row[0] if row else None


def passing_dbt_unique_test(sync: SyncConfig, project_dir: Path, target_path: str = "target") -> str | None:
    """The unique_id of a dbt ``unique`` test on the sync's identifier that passed in the last invocation."""
    if not sync.model:
        return None
    try:
        nodes = json.loads((project_dir / target_path / "manifest.json").read_text()).get("nodes", {})
        results = json.loads((project_dir / target_path / "run_results.json").read_text()).get("results", [])
    except (OSError, ValueError):
        return None
    models = {uid: n for uid, n in nodes.items() if n.get("resource_type") == "model" and n.get("name") == sync.model}
    if not models:
        return None
    model_id = max(models, key=lambda uid: models[uid].get("version") or 0)  # as DbtManifest.relation picks
    if models[model_id].get("config", {}).get("materialized") not in TRUSTED_MATERIALIZATIONS:
        return None
    passed = {r.get("unique_id") for r in results
              if str(r.get("status", "")).lower() == "pass" and not r.get("failures")}
    for uid, node in nodes.items():
        meta = node.get("test_metadata") or {}
        if (node.get("resource_type") == "test" and uid in passed and meta.get("name") == "unique"
                and not meta.get("namespace")
                and (meta.get("kwargs") or {}).get("column_name") == sync.identifier_column
                and not (node.get("config") or {}).get("where")
                and model_id in (node.get("depends_on") or {}).get("nodes", [])
                and node.get("attached_node", model_id) == model_id):
            return uid
    return None


def known_unique(conn: psycopg.Connection, sync: SyncConfig, model_relation: str, project_dir: Path,
                 find_index=unique_index) -> str | None:
    """Why the identifier needs no duplicate check (a sentence for logs and --json), or None to check.
    ``find_index``: the warehouse's :func:`unique_index` (DuckDB's is in dialect.py)."""
    index = find_index(conn, model_relation, sync.identifier_column)
    if index:
        return f"unique index {index}"
    test = passing_dbt_unique_test(sync, project_dir)
    if test:
        return f"dbt test {test.split('.')[-2] if test.count('.') >= 3 else test} passed in the last dbt run"
    return None
