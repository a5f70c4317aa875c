"""Shared fixtures: one embedded PostgreSQL for the whole test session, a unique schema per test.

The session's server lives in a temporary folder on a free port; a watchdog stops it if the test process
is killed, so no server outlives the suite.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import pytest

from reverse_etl.embedded import EmbeddedWarehouse, free_port

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def embedded_warehouse(tmp_path_factory):
    """A running embedded warehouse for the session (stopped at the end)."""
    home = tmp_path_factory.mktemp("wh") / ".rsync-braze"
    warehouse = EmbeddedWarehouse(home)
    warehouse.start(free_port(), watch_pid=os.getpid())
    yield warehouse
    warehouse.stop()


@pytest.fixture(scope="session")
def warehouse_url(embedded_warehouse) -> str:
    return embedded_warehouse.url()


@pytest.fixture
def db(warehouse_url):
    """An autocommit connection to the session's warehouse."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def schema(db):
    """A unique schema for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:10]}"
    db.execute(f'create schema "{name}"')
    yield name
    db.execute(f'drop schema "{name}" cascade')
