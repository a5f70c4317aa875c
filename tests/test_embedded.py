"""The embedded warehouse: start, persistence, clean stop, bad situations, the CLI around it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import psycopg
import pytest

from reverse_etl.embedded import EmbeddedWarehouse, free_port
from reverse_etl.errors import EmbeddedWarehouseError

pytestmark = pytest.mark.db

CLI = [sys.executable, "-m", "reverse_etl"]


def server_processes(pgdata: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if cmdline and Path(cmdline[0]).name.startswith("postgres") and str(pgdata) in cmdline:
            found.append(proc)
    return found


@pytest.fixture
def home(tmp_path):
    home = tmp_path / ".rsync-braze"
    yield home
    EmbeddedWarehouse(home).stop()


def test_start_query_stop_leaves_no_process(home):
    warehouse = EmbeddedWarehouse(home)
    status = warehouse.start(free_port())
    assert status.running and status.pid
    with psycopg.connect(warehouse.url()) as conn:
        assert conn.execute("select current_database()").fetchone()[0] == "rsync_braze"
    assert server_processes(warehouse.pgdata)
    assert warehouse.stop() is True
    assert server_processes(warehouse.pgdata) == []
    assert warehouse.status().running is False
    assert warehouse.stop() is False


def test_data_survives_restart_and_start_is_idempotent(home):
    warehouse = EmbeddedWarehouse(home)
    port = free_port()
    warehouse.start(port)
    with psycopg.connect(warehouse.url(), autocommit=True) as conn:
        conn.execute("create table kept (id int)")
        conn.execute("insert into kept values (1), (2)")
    again = warehouse.start()
    assert again.port == port
    warehouse.stop()
    restarted = warehouse.start()
    assert restarted.port == port, "the last port is remembered"
    with psycopg.connect(warehouse.url()) as conn:
        assert conn.execute("select count(*) from kept").fetchone()[0] == 2


@pytest.mark.skipif(not Path("/proc/sys/net/ipv4/ip_local_port_range").exists(), reason="Linux only")
def test_free_port_is_outside_the_range_outgoing_connections_take_ports_from():
    low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = {free_port() for _ in range(20)}
    assert len(ports) > 1, "picked at random, so parallel runs rarely pick the same"
    for port in ports:
        assert not low <= port <= high, f"{port} is in the ephemeral range {low}-{high}"
        with socket.socket() as sock:  # and it can be listened on
            sock.bind(("127.0.0.1", port))
            sock.listen()


def test_port_taken_by_another_program_is_a_clear_error(home):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(EmbeddedWarehouseError, match=rf"Port {port} is already taken.*--port"):
            EmbeddedWarehouse(home).start(port)
    assert not server_processes(home / "pgdata")


def test_start_waits_for_its_own_last_port_while_a_killed_server_releases_it(home, monkeypatch):
    """A killed server's last children hold the listening socket for up to about a second."""
    monkeypatch.delenv("RSYNC_BRAZE_WAREHOUSE_PORT", raising=False)
    warehouse = EmbeddedWarehouse(home)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    warehouse._save(port=port)  # the port the last server of this warehouse used
    releaser = threading.Timer(1.0, busy.close)
    releaser.start()
    try:
        assert warehouse.start().port == port
    finally:
        releaser.cancel()
        busy.close()


def test_own_last_port_held_for_good_is_still_a_clear_error(home, monkeypatch):
    monkeypatch.delenv("RSYNC_BRAZE_WAREHOUSE_PORT", raising=False)
    monkeypatch.setattr("reverse_etl.embedded.OWN_PORT_RELEASE_SECONDS", 0.5)
    warehouse = EmbeddedWarehouse(home)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        warehouse._save(port=port)
        with pytest.raises(EmbeddedWarehouseError, match=rf"Port {port} is already taken"):
            warehouse.start()
    assert not server_processes(home / "pgdata")


def test_moving_a_running_warehouse_to_another_port_is_refused(home):
    warehouse = EmbeddedWarehouse(home)
    warehouse.start(free_port())
    with pytest.raises(EmbeddedWarehouseError, match="stop it first"):
        warehouse.start(free_port())


def test_stale_pid_file_from_a_killed_server_is_recovered(home):
    warehouse = EmbeddedWarehouse(home)
    warehouse.start(free_port())
    for proc in server_processes(warehouse.pgdata):
        proc.kill()
    psutil.wait_procs(server_processes(warehouse.pgdata), timeout=10)
    pid_file = warehouse.pgdata / "postmaster.pid"
    if not pid_file.exists():  # postgres may have removed it; write one as a killed server leaves it
        pid_file.write_text(f"999999\n{warehouse.pgdata}\n0\n{warehouse.status().port}\n\n127.0.0.1\n0 0\nready\n")
    assert warehouse.status().running is False
    assert warehouse.start().running
    with psycopg.connect(warehouse.url()) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_interrupted_initialisation_is_redone(home):
    pgdata = home / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "half-written-file").write_text("initdb was killed here")
    warehouse = EmbeddedWarehouse(home)
    assert warehouse.start(free_port()).running
    assert (pgdata / "PG_VERSION").exists()


def test_url_of_a_stopped_warehouse_says_how_to_start_it(home):
    with pytest.raises(EmbeddedWarehouseError, match="rsync-braze warehouse start"):
        EmbeddedWarehouse(home).url()


def test_watchdog_stops_the_server_when_its_owner_dies(home):
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    warehouse = EmbeddedWarehouse(home)
    warehouse.start(free_port(), watch_pid=owner.pid)
    assert warehouse.status().running
    owner.kill()
    owner.wait()
    deadline = time.monotonic() + 20
    while warehouse.status().running and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not warehouse.status().running
    deadline = time.monotonic() + 10
    while server_processes(warehouse.pgdata) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server_processes(warehouse.pgdata) == []


def test_cli_start_status_url_stop(tmp_path):
    port = str(free_port())
    env = dict(os.environ)
    env.pop("RSYNC_BRAZE_WAREHOUSE_PORT", None)
    run = lambda *args: subprocess.run([*CLI, "warehouse", *args, "--project-dir", str(tmp_path)],  # noqa: E731
                                       capture_output=True, text=True, env=env, timeout=120)
    try:
        started = run("start", "--port", port)
        assert started.returncode == 0, started.stderr
        assert started.stdout.strip() == f"postgresql://postgres@127.0.0.1:{port}/rsync_braze"
        assert (tmp_path / ".rsync-braze" / "profiles.yml").read_text().count(f"port: {port}") == 1
        status = run("status", "--json")
        assert status.returncode == 0
        assert json.loads(status.stdout)["running"] is True
        assert run("url").stdout.strip().endswith(f":{port}/rsync_braze")
    finally:
        stopped = run("stop")
    assert stopped.returncode == 0
    assert "stopped" in stopped.stderr
    after = run("status")
    assert after.returncode == 1 and after.stdout.startswith("stopped")
    assert server_processes(tmp_path / ".rsync-braze" / "pgdata") == []


def test_cli_port_taken_gives_one_line_and_no_traceback(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([*CLI, "warehouse", "start", "--port", str(port), "--project-dir", str(tmp_path)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(f"Error: Port {port} is already taken")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_foreground_server_stops_cleanly_on_signal(tmp_path, sig):
    proc = subprocess.Popen([*CLI, "warehouse", "start", "--foreground", "--port", str(free_port()),
                             "--project-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("postgresql://")
        with psycopg.connect(url) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        EmbeddedWarehouse(tmp_path / ".rsync-braze").stop()
    assert server_processes(tmp_path / ".rsync-braze" / "pgdata") == []
