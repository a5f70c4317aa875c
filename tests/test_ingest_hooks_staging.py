"""Webhook records through a real `rsync-braze ingest serve` and a real `dbt build` of the hooks staging model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from test_ingest_webhook import SOURCES, Server, bearer
from test_sources_files import Project

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
pytestmark = [pytest.mark.db, pytest.mark.dbt]


def test_pushed_records_are_normalized_by_the_staging_model(embedded_warehouse, tmp_path):
    tag = uuid.uuid4().hex[:8]
    raw, models = f"raw_{tag}", f"dbt_{tag}"
    project = Project(embedded_warehouse.url(), embedded_warehouse.status().port, tmp_path, models)
    project.manifest(SOURCES.format(schema=raw))
    server = Server(project).start()
    try:
        body = json.dumps([
            {"event_id": "e1", "type": "Order_Paid", "email": "  Ann.Smith@Example.COM ", "phone": "06 12 34 56 78",
             "first_name": "ann", "occurred_at": "2026-11-28T10:00:00Z", "total": 12.5},
            {"event_id": "e2", "type": "signup", "email": "not an email", "customer_id": " c-42 "},
        ]).encode()
        assert server.post("/hooks/crm", body, bearer())[0] == 200
    finally:
        server.stop()
    env = dict(os.environ, DBT_PROFILES_DIR=str(tmp_path), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    env.pop("DBT_TARGET", None)
    variables = {"rsync_braze_raw_schema": raw, "rsync_braze_hooks_enabled": True,
                 "rsync_braze_hooks_table": "crm_pushes"}
    try:
        result = subprocess.run(
            [str(BIN / "dbt"), "build", "--select", "stg_hooks__customer_events", "--project-dir", str(REPO),
             "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
             "--vars", json.dumps(variables)], env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-3000:]
        rows = project.query(f'select hook_event_id, event_type, email, phone_e164, first_name, customer_id, '
                             f'(properties->>\'total\')::numeric from "{models}_staging".stg_hooks__customer_events '
                             f'order by 1')
        assert rows == [("e1", "order_paid", "ann.smith@example.com", "+33612345678", "Ann", None, 12.5),
                        ("e2", "signup", None, None, None, "c-42", None)]
    finally:
        for schema in (raw, models, f"{models}_staging"):
            project.query(f'drop schema if exists "{schema}" cascade')
