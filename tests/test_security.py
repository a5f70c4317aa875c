"""Security checks: the Braze API key never leaves the Authorization header, and endpoints that would send
it in clear text or to an unknown host are refused when the manifest is validated.

The key checks run real ``rsync-braze`` processes (a full sync, a wrong key answered 401, a run under 5xx
faults) with DEBUG logging on, then grep every output for the key: stdout, stderr (logs), ``--json``,
``status --json``, ``plan --json``, every row of every table in the state schema (run log, rejections,
snapshots, ledgers) and every file left in the project folder. SQL identifiers from configuration are
tested in tests/test_fuzz.py (quoted, a sentinel table survives).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import sql

from reverse_etl.emulator import EmulatorConfig, start_emulator
from reverse_etl.errors import ConfigError
from reverse_etl.manifest import load

from _helpers_reliability import KEY_ENV, Emu, Project, profile_mismatches

EMULATOR_KEY = f"sEcReT-emu-{uuid.uuid4().hex}"
WRONG_KEY = f"sEcReT-wrong-{uuid.uuid4().hex}"

# `rsync-braze` with the root logger at DEBUG: every module's log lines reach stderr.
DEBUG_CLI = ("import logging, sys; logging.basicConfig(level=logging.DEBUG, stream=sys.stderr); "
             "from reverse_etl.cli import main; sys.argv[0] = 'rsync-braze'; main()")


@pytest.fixture(scope="module")
def emu():
    with start_emulator(EmulatorConfig(api_key=EMULATOR_KEY, rate_limit_requests=None, rate_limit_period=1.0)) as h:
        yield Emu(h.url)


def _debug_cli(project: Project, *args: str, key: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", DEBUG_CLI, *project.command(*args)[1:]]
    return subprocess.run(cmd, env=dict(project.env(), **{KEY_ENV: key}), capture_output=True, text=True, timeout=300)


def _state_dump(project: Project) -> str:
    """Every row of every table of the state schema, as JSON text."""
    with psycopg.connect(project.url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("select table_name from information_schema.tables where table_schema = %s",
                                             (project.state,))]
        assert {"sync_runs", "sync_rejections"} <= set(tables)
        return "\n".join(str(r[0]) for t in tables for r in conn.execute(
            sql.SQL("select row_to_json(t)::text from {} as t").format(sql.Identifier(project.state, t))))


def _files_text(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


SCENARIOS = {
    "full_sync": (None, 6),  # 6: the two bad rows are over max_rejected_share 0
    "wrong_key_401": (None, 4),
    "5xx_faults": ({"error_rate": 0.4, "error_statuses": [500, 502, 503], "seed": 7}, None),
}


@pytest.mark.db
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_api_key_appears_in_no_output_no_table_and_no_file(embedded_warehouse, schema, tmp_path, emu, scenario):
    faults, expected_exit = SCENARIOS[scenario]
    key = WRONG_KEY if scenario == "wrong_key_401" else EMULATOR_KEY
    emu.reset()
    project = Project(tmp_path, embedded_warehouse.url(), embedded_warehouse.status().port, schema, emu.url, key)
    try:
        project.load_users(300)
        project.load_events(200, users=100)
        project.execute("insert into {s}.users values ('bad', 'not-an-email', 'x', 1, 's'), (null, 'n@x.org', 'y', 1, 's')")
        project.manifest()
        emu.faults(faults or {})
        run = _debug_cli(project, "run", "--json", key=key)
        if expected_exit is not None:
            assert run.returncode == expected_exit, run.stderr[-2000:]
        else:
            assert run.returncode in (4, 6), run.stderr[-2000:]
        if scenario == "wrong_key_401":
            assert "401" in run.stderr or "API key" in run.stderr
            assert emu.counters()["errors"] >= 1
        else:
            assert "reverse_etl" in run.stderr, "the runner's log lines were captured"
            emu.faults({})
            if run.returncode == 4:  # what the faults left is delivered by the next run
                assert project.cli("run").returncode == 6
            mismatches = profile_mismatches(project, emu, limit=10)
            assert sorted(mismatches) == ["None: no profile", "bad: no profile"], "only the two bad rows are missing"
            assert "not-an-email" in _state_dump(project), "the rejection with its reason is in the state tables"
        outputs = [run.stdout, run.stderr]
        for args in (("status", "--json", "--rejections", "50"), ("plan", "--json")):
            extra = _debug_cli(project, *args, key=key)
            assert extra.returncode == 0, extra.stderr[-2000:]
            outputs += [extra.stdout, extra.stderr]
        everything = "\n".join(outputs) + _state_dump(project) + _files_text(tmp_path)
        assert key not in everything
        assert key[:16] not in everything, "not even a prefix of it"
    finally:
        emu.faults({})
        project.drop_state()


def test_a_wrong_key_is_reported_by_name_of_its_variable_not_its_value(embedded_warehouse, schema, tmp_path, emu):
    """The 401 message names the environment variable to fix; the key itself stays out of it."""
    emu.reset()
    project = Project(tmp_path, embedded_warehouse.url(), embedded_warehouse.status().port, schema, emu.url, WRONG_KEY)
    try:
        project.load_users(5)
        project.manifest(syncs=("users",))
        run = project.cli("run")
        assert run.returncode == 4
        assert WRONG_KEY not in run.stdout + run.stderr
        assert "Traceback" not in run.stderr
    finally:
        project.drop_state()


# ------------------------------------------------------------------------------------------- endpoints
def _manifest_with(tmp_path: Path, endpoint: str, **destination) -> Path:
    doc = {"destinations": {"braze": {"endpoint": endpoint, "api_key_env": "BRAZE_API_KEY", **destination}},
           "syncs": [{"name": "users", "relation": "analytics.users", "identifier": {"column": "id"},
                      "mapping": {"email": "email"}}]}
    path = tmp_path / f"m_{uuid.uuid4().hex[:6]}.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


REFUSED = {
    "http://rest.fra-01.braze.eu": "HTTPS",             # a Braze host, in clear text
    "http://rest.iad-01.braze.com:80": "HTTPS",
    "http://10.0.0.5:4010": "HTTPS",                    # private network, not loopback
    "http://192.168.1.20": "HTTPS",
    "http://example.com": "HTTPS",                      # plain HTTP to a host that is not Braze
    "http://localhost.example.com:4010": "HTTPS",       # looks local, is not
    "http://127.0.0.1.nip.io": "HTTPS",
    "https://example.com": "not a documented Braze REST host",
    "https://rest.fra-01.braze.eu.example.com": "not a documented Braze REST host",
    "http://user:pw@127.0.0.1:4010": "bare base URL",   # credentials in the URL
    "https://rest.fra-01.braze.eu/users/track": "bare base URL",
    "ftp://rest.fra-01.braze.eu": "not a URL",
}


@pytest.mark.parametrize("endpoint", REFUSED)
def test_endpoints_that_would_leak_the_key_are_refused_at_validation(tmp_path, endpoint):
    with pytest.raises(ConfigError) as caught:
        load(_manifest_with(tmp_path, endpoint))
    message = str(caught.value)
    assert REFUSED[endpoint] in message and "destinations.braze" in message
    assert "validation-only" not in message, "the placeholder key used to validate never shows"


def test_allow_hosts_admits_a_proxy_over_https_only(tmp_path):
    assert load(_manifest_with(tmp_path, "https://braze-proxy.example.com", allow_hosts=["braze-proxy.example.com"]))
    with pytest.raises(ConfigError, match="HTTPS"):
        load(_manifest_with(tmp_path, "http://braze-proxy.example.com", allow_hosts=["braze-proxy.example.com"]))


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:4010", "http://localhost:4010", "http://[::1]:4010",
                                      "https://rest.fra-01.braze.eu", "https://rest.iad-01.braze.com/"])
def test_loopback_http_and_braze_https_endpoints_are_accepted(tmp_path, endpoint):
    assert load(_manifest_with(tmp_path, endpoint)).destinations["braze"].endpoint


def test_the_cli_refuses_a_clear_text_endpoint_before_connecting_anywhere(tmp_path):
    path = _manifest_with(tmp_path, "http://rest.fra-01.braze.eu")
    run = subprocess.run([str(Path(sys.executable).parent / "rsync-braze"), "run", "--manifest", str(path),
                          "--project-dir", str(tmp_path)], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "BRAZE_API_KEY": WRONG_KEY, "HOME": str(tmp_path)})
    assert run.returncode == 2
    assert "HTTPS" in run.stderr and "Traceback" not in run.stderr and WRONG_KEY not in run.stderr
