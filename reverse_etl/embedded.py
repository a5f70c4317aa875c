"""The embedded warehouse: a local PostgreSQL whose data lives in the project, under ``.rsync-braze/``.

It lets a newcomer run the whole pipeline (sources, ``dbt build``, sync) with nothing installed but Python:
the server binaries come from the ``pgserver`` wheel (or from ``RSYNC_BRAZE_PG_BIN``, e.g.
``/usr/lib/postgresql/15/bin``). Data survives between runs, so a second run is incremental.

PostgreSQL refuses to run as root, so when we are root the cluster is owned by, and the server runs as, an
unprivileged system user (``RSYNC_BRAZE_PG_USER``, default ``rsyncbraze``, created with ``useradd`` on first
use). The server listens on 127.0.0.1 only, with ``trust`` authentication: it is a development warehouse,
never exposed beyond the loopback interface.

Layout of ``.rsync-braze/``::

    pgdata/            the cluster (postgres.log inside it)
    warehouse.json     the port and database last used, so ``url`` and ``status`` answer without flags
    profiles.yml       a dbt profile for the embedded target, written at each start
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from .errors import EmbeddedWarehouseError

HOME_DIRNAME = ".rsync-braze"
DEFAULT_PORT = 54329
DEFAULT_DBNAME = "rsync_braze"
SUPERUSER = "postgres"
PORT_ENV = "RSYNC_BRAZE_WAREHOUSE_PORT"
BIN_ENV = "RSYNC_BRAZE_PG_BIN"
RUN_AS_ENV = "RSYNC_BRAZE_PG_USER"
DEFAULT_RUN_AS = "rsyncbraze"
OWN_PORT_RELEASE_SECONDS = 5.0  # how long `start` waits for the port its own killed server still holds

# Settings for a development warehouse on a small machine: generous memory for joins and sorts, no
# synchronous flush on commit (a process crash loses nothing; only an OS crash may lose the last commits).
SERVER_SETTINGS = {
    "shared_buffers": "512MB",
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
    "max_wal_size": "4GB",
    "synchronous_commit": "off",
    "max_connections": "100",
    "timezone": "UTC",
    "log_min_messages": "warning",
}


@dataclass(frozen=True)
class WarehouseStatus:
    """What ``rsync-braze warehouse status`` reports."""

    running: bool
    pid: int | None
    port: int | None
    pgdata: Path
    dbname: str

    @property
    def url(self) -> str | None:
        if not self.running or self.port is None:
            return None
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{self.dbname}"


def project_home(project_dir: str | os.PathLike | None = None) -> Path:
    """The ``.rsync-braze`` folder of a project (the current directory by default)."""
    return Path(project_dir or os.getcwd()).resolve() / HOME_DIRNAME


def _bin_dir() -> Path:
    override = os.environ.get(BIN_ENV)
    if override:
        path = Path(override)
        if not (path / "pg_ctl").exists():
            raise EmbeddedWarehouseError(
                f"{BIN_ENV}={override} has no pg_ctl in it. Point it at a PostgreSQL bin folder "
                f"(e.g. /usr/lib/postgresql/15/bin) or unset it to use the bundled server."
            )
        return path
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedWarehouseError(
            "The bundled PostgreSQL server is missing: install it with `pip install pgserver`, or set "
            f"{BIN_ENV} to a PostgreSQL bin folder."
        )
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _port_in_use(port: int, wait: float = 0) -> bool:
    """True when something listens on 127.0.0.1:port (TIME_WAIT sockets do not count).

    With ``wait``, keeps checking for that many seconds and answers False as soon as the port is free.
    """
    deadline = time.monotonic() + wait
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                return False
            except OSError:
                pass
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.1)


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_range() -> tuple[int, int] | None:
    """The ports the kernel hands to outgoing connections (Linux), or None when unknown."""
    try:
        low, high = (int(x) for x in EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return None
    return low, high


def free_port() -> int:
    """A TCP port nobody listens on right now (for tests and parallel runs).

    Picked below the kernel's ephemeral range when there is room there: a port from that range (what binding
    to port 0 gives) can be taken by any outgoing connection between this call and the server's own bind.
    """
    ephemeral = _ephemeral_range()
    if ephemeral and ephemeral[0] > 11_024:
        rng = random.SystemRandom()
        for _ in range(100):
            port = rng.randrange(ephemeral[0] - 10_000, ephemeral[0])
            if not _port_in_use(port):
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmbeddedWarehouse:
    """Start, stop and inspect the PostgreSQL server of one ``.rsync-braze`` folder."""

    def __init__(self, home: str | os.PathLike):
        self.home = Path(home).resolve()
        self.pgdata = self.home / "pgdata"
        self.state_file = self.home / "warehouse.json"
        self.log_file = self.pgdata / "postgres.log"

    # ----------------------------------------------------------------------------------------- state
    def _saved(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}

    def _save(self, **values) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        state = self._saved() | values
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)

    def _postmaster(self) -> tuple[int, int | None] | None:
        """(pid, port) of the live postmaster of this cluster, or None. Removes a stale pid file."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid = int(lines[0])
        except (OSError, ValueError, IndexError):
            return None
        port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
        if self._is_our_postmaster(pid):
            return pid, port
        # Left by a killed server (or the pid now belongs to another program): PostgreSQL would refuse to
        # start while it is there, so clear it.
        try:
            pid_file.unlink()
        except OSError:
            pass
        return None

    def _is_our_postmaster(self, pid: int) -> bool:
        try:
            proc = psutil.Process(pid)
            cmdline = proc.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return False
        return bool(cmdline) and Path(cmdline[0]).name.startswith("postgres") and str(self.pgdata) in cmdline

    def status(self) -> WarehouseStatus:
        """Whether the server runs, on which port, and where its data is."""
        live = self._postmaster()
        saved = self._saved()
        dbname = saved.get("dbname", DEFAULT_DBNAME)
        if live is None:
            return WarehouseStatus(False, None, saved.get("port"), self.pgdata, dbname)
        pid, port = live
        return WarehouseStatus(True, pid, port or saved.get("port"), self.pgdata, dbname)

    # ------------------------------------------------------------------------------------- processes
    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        user = os.environ.get(RUN_AS_ENV, DEFAULT_RUN_AS)
        import pwd

        try:
            pwd.getpwnam(user)
        except KeyError:
            result = subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise EmbeddedWarehouseError(
                    f"PostgreSQL cannot run as root and the user {user!r} could not be created "
                    f"({result.stderr.strip()}). Create it, or set {RUN_AS_ENV} to an existing unprivileged user."
                ) from None
        return user

    def _grant_access(self, user: str, bin_dir: Path) -> None:
        """Let ``user`` traverse to the cluster and run the binaries: add o+x to every parent folder."""
        import pwd

        entry = pwd.getpwnam(user)
        for target in (self.pgdata, bin_dir):
            for parent in list(target.parents):
                mode = parent.stat().st_mode
                if not mode & stat.S_IXOTH:
                    parent.chmod(mode | stat.S_IXOTH)
        for root, dirs, files in os.walk(self.pgdata):
            os.chown(root, entry.pw_uid, entry.pw_gid)
            for name in files:
                os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)

    def _pg(self, tool: str, args: list[str], user: str | None, timeout: float) -> subprocess.CompletedProcess:
        command = [str(_bin_dir() / tool), *args]
        # Drop root's groups too: a process left in group root is refused by folders that are group-private.
        identity = {"user": user, "group": _gid(user), "extra_groups": []} if user else {}
        try:
            return subprocess.run(
                command,
                **identity,
                capture_output=True,
                text=True,
                timeout=timeout,
                # Detached from the caller's terminal: a later Ctrl-C elsewhere does not reach the server,
                # and the server's own children never inherit our stdin.
                start_new_session=True,
                stdin=subprocess.DEVNULL,
                cwd="/",
            )
        except subprocess.TimeoutExpired as exc:
            raise EmbeddedWarehouseError(f"{tool} did not finish within {timeout:.0f}s; see {self.log_file}") from exc

    def _ensure_cluster(self, user: str | None) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        if self.pgdata.exists():
            # An initdb that was interrupted leaves a folder without PG_VERSION: it holds no data yet.
            shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(parents=True)
        if user:
            self._grant_access(user, _bin_dir())
        result = self._pg(
            "initdb",
            ["-D", str(self.pgdata), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-instructions"],
            user,
            timeout=120,
        )
        if result.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise EmbeddedWarehouseError(f"initdb failed: {result.stderr.strip()[-500:]}")

    def start(self, port: int | None = None, *, dbname: str | None = None, watch_pid: int | None = None,
              timeout: float = 60) -> WarehouseStatus:
        """Start the server (initialising the cluster on first use) and create the database.

        Idempotent: when the server already runs, its status is returned. ``watch_pid`` starts a watchdog
        that stops the server when that process ends (test sessions use it, so a killed session leaves no
        server behind).
        """
        current = self.status()
        dbname = dbname or current.dbname
        if current.running:
            if port is not None and current.port != port:
                raise EmbeddedWarehouseError(
                    f"The embedded warehouse already runs on port {current.port}; stop it first "
                    f"(rsync-braze warehouse stop) to move it to port {port}."
                )
            self._ensure_database(current.port, dbname)
            return current

        saved_port = self._saved().get("port")
        port = port or _env_port() or saved_port or DEFAULT_PORT
        # A server of ours that just crashed or was killed keeps its listening socket until its last
        # child process has exited (measured: up to about a second); give that port time to come free.
        grace = OWN_PORT_RELEASE_SECONDS if port == saved_port else 0
        if _port_in_use(port, wait=grace):
            raise EmbeddedWarehouseError(
                f"Port {port} is already taken by another program. Start the warehouse on another port: "
                f"rsync-braze warehouse start --port {port + 1} (or set {PORT_ENV})."
            )
        user = self._run_as()
        try:
            self._ensure_cluster(user)
            if user:
                self._grant_access(user, _bin_dir())
            options = " ".join(
                ["-h 127.0.0.1", f"-p {port}", "-k ''"] + [f"-c {k}={v}" for k, v in SERVER_SETTINGS.items()]
            )
            result = self._pg(
                "pg_ctl",
                ["-D", str(self.pgdata), "-l", str(self.log_file), "-w", "-t", str(int(timeout)), "-o", options, "start"],
                user,
                timeout=timeout + 10,
            )
            if result.returncode != 0:
                raise EmbeddedWarehouseError(
                    f"PostgreSQL did not start: {self._log_tail() or result.stderr.strip()[-500:]}"
                )
            self._save(port=port, dbname=dbname)
            self._ensure_database(port, dbname)
        except KeyboardInterrupt:
            self.stop()
            raise
        if watch_pid is not None:
            self._spawn_watchdog(watch_pid)
        return self.status()

    def _log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log_file.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""

    def _ensure_database(self, port: int, dbname: str) -> None:
        import psycopg
        from psycopg import sql

        try:
            with psycopg.connect(host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres",
                                 autocommit=True, connect_timeout=10) as conn:
                exists = conn.execute("select 1 from pg_database where datname = %s", (dbname,)).fetchone()
                if not exists:
                    conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
        except psycopg.Error as exc:
            raise EmbeddedWarehouseError(f"Could not create database {dbname!r}: {exc}") from exc

    def stop(self, timeout: float = 30) -> bool:
        """Stop the server (fast shutdown: open sessions are rolled back). True when it was running."""
        live = self._postmaster()
        if live is None:
            return False
        pid, _ = live
        user = self._run_as()
        self._pg("pg_ctl", ["-D", str(self.pgdata), "-m", "fast", "-w", "-t", str(int(timeout)), "stop"], user,
                 timeout=timeout + 10)
        try:
            psutil.Process(pid).wait(timeout)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            self._kill_tree(pid)
        self._kill_leftovers()
        return True

    def _kill_tree(self, pid: int) -> None:
        try:
            proc = psutil.Process(pid)
            procs = proc.children(recursive=True) + [proc]
        except psutil.NoSuchProcess:
            return
        for p in procs:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(procs, timeout=5)

    def _kill_leftovers(self) -> None:
        """Backends whose postmaster died keep running until they notice; do not leave them behind."""
        leftovers = []
        for proc in psutil.process_iter(["cmdline"]):
            cmdline = proc.info.get("cmdline") or []
            if cmdline and Path(cmdline[0]).name.startswith("postgres") and str(self.pgdata) in cmdline:
                leftovers.append(proc)
        for proc in leftovers:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(leftovers, timeout=5)

    def _spawn_watchdog(self, watch_pid: int) -> None:
        subprocess.Popen(
            [sys.executable, "-m", "reverse_etl.embedded", "--watch", str(watch_pid), str(self.home)],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def url(self, dbname: str | None = None) -> str:
        """Connection URL of the running server."""
        status = self.status()
        if not status.running:
            raise EmbeddedWarehouseError(
                f"The embedded warehouse in {self.home} is not running: start it with `rsync-braze warehouse start`."
            )
        return f"postgresql://{SUPERUSER}@127.0.0.1:{status.port}/{dbname or status.dbname}"

    def write_profile(self, profile_name: str = "rsync_braze", schema: str = "analytics") -> Path:
        """Write ``.rsync-braze/profiles.yml``: a dbt profile whose ``embedded`` target is this server."""
        status = self.status()
        port = status.port or DEFAULT_PORT
        path = self.home / "profiles.yml"
        path.write_text(
            "# Written by `rsync-braze warehouse start`: the embedded warehouse of this project.\n"
            f"{profile_name}:\n"
            "  target: embedded\n"
            "  outputs:\n"
            "    embedded:\n"
            "      type: postgres\n"
            "      host: 127.0.0.1\n"
            f"      port: {port}\n"
            f"      user: {SUPERUSER}\n"
            '      password: ""\n'
            f"      dbname: {status.dbname}\n"
            f"      schema: \"{{{{ env_var('RSYNC_BRAZE_SCHEMA', '{schema}') }}}}\"\n"
            "      threads: 4\n"
        )
        return path


def _gid(user: str) -> int:
    import pwd

    return pwd.getpwnam(user).pw_gid


def _env_port() -> int | None:
    value = os.environ.get(PORT_ENV)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise EmbeddedWarehouseError(f"{PORT_ENV}={value!r} is not a port number.") from None


def _watch(watch_pid: int, home: str) -> None:
    """Stop the server of ``home`` once ``watch_pid`` has exited (or the server stopped on its own)."""
    warehouse = EmbeddedWarehouse(home)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while _alive(watch_pid):
        if not warehouse.status().running:
            return
        time.sleep(0.5)
    warehouse.stop()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--watch":
    _watch(int(sys.argv[2]), sys.argv[3])
