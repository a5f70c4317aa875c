"""Shared helpers of the peer benchmarks (``peer_drt.py``, ``peer_splink.py``).

- ``ensure_venv``: a peer tool in its own virtualenv under ``.bench/`` (never in the project's ``.venv``).
- ``ScratchProject``: a copy of this dbt project with its own embedded warehouse on its own port, so a
  benchmark never touches the developer's ``.rsync-braze/`` nor another run's data.
- ``timed`` / ``run``: subprocesses as a pipeline would run them, with their wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / ".bench"
BIN = Path(sys.executable).parent
# What a scratch copy needs to be this dbt project (and rsync-braze's manifest).
PROJECT_FILES = ("dbt_project.yml", ".dbtignore", "models", "macros", "seeds", "snapshots", "analyses", "data-tests",
                 "rsync_braze.yml")


def tool(name: str) -> str:
    """An executable of this virtualenv (dbt, rsync-braze), so a benchmark never picks another install."""
    path = BIN / name
    return str(path) if path.exists() else name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(command: list[str], *, env: dict | None = None, cwd: Path | None = None, check: bool = True,
        quiet: bool = True) -> subprocess.CompletedProcess:
    """Run a command; on failure raise with the tail of its output (never the environment)."""
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=quiet, text=True)
    if check and result.returncode != 0:
        tail = ((result.stdout or "") + (result.stderr or ""))[-3000:]
        raise RuntimeError(f"{Path(command[0]).name} {' '.join(command[1:3])} exited {result.returncode}:\n{tail}")
    return result


def timed(command: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    """``run`` and its wall time in seconds."""
    started = time.perf_counter()
    result = run(command, **kwargs)
    return time.perf_counter() - started, result


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ensure_venv(name: str, requirements: list[str]) -> Path:
    """``.bench/<name>/`` with ``requirements`` installed by pip (once: a stamp records what is installed).

    Returns the virtualenv's ``bin`` folder. The project's own ``.venv`` is never touched.
    """
    venv = BENCH_DIR / name
    stamp = venv / ".installed"
    wanted = "\n".join(requirements)
    if stamp.exists() and stamp.read_text() == wanted:
        return venv / "bin"
    log(f"creating {venv} with {', '.join(requirements)}")
    if not (venv / "bin" / "python").exists():
        run([sys.executable, "-m", "venv", str(venv)])
    run([str(venv / "bin" / "pip"), "install", "--quiet", *requirements])
    stamp.write_text(wanted)
    return venv / "bin"


def pip_version(bin_dir: Path, package: str) -> str:
    out = run([str(bin_dir / "python"), "-c",
               f"import importlib.metadata as m; print(m.version({package!r}))"]).stdout
    return out.strip()


class ScratchProject:
    """A copy of this dbt project in ``.bench/<name>/project`` with its own embedded warehouse."""

    def __init__(self, name: str, port: int | None = None, fresh: bool = False):
        """``fresh``: start from an empty warehouse (a run measured "from empty"), not the data an earlier run left."""
        self.fresh = fresh
        self.dir = BENCH_DIR / name / "project"
        self.port = port or free_port()
        self.env: dict[str, str] = {}
        self.spec = None
        self.commit: str | None = None  # the project's git commit measured, when copied from git

    def start(self) -> ScratchProject:
        """Copy the project (fresh models, kept warehouse data dir), start the warehouse, write the profile."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.fresh and (self.dir / ".rsync-braze").exists():
            subprocess.run([tool("rsync-braze"), "warehouse", "stop", "--project-dir", str(self.dir)],
                           capture_output=True)
            shutil.rmtree(self.dir / ".rsync-braze")
        for item in PROJECT_FILES:
            dst = self.dir / item
            if dst.is_dir():
                shutil.rmtree(dst)
            elif dst.exists():
                dst.unlink()
        self._copy_project()
        run([tool("rsync-braze"), "warehouse", "start", "--project-dir", str(self.dir), "--port", str(self.port)])
        profiles = self.dir / ".rsync-braze"
        self.env = {k: v for k, v in os.environ.items() if k not in ("RSYNC_BRAZE_SCHEMA", "DBT_PROFILES_DIR")}
        self.env.update(DBT_PROFILES_DIR=str(profiles), DBT_TARGET="embedded", DO_NOT_TRACK="1",
                        DBT_SEND_ANONYMOUS_USAGE_STATS="false")
        sys.path.insert(0, str(ROOT))
        from reverse_etl.profiles import resolve
        self.spec = resolve(self.dir, str(profiles), None, "embedded")
        return self

    def _copy_project(self) -> None:
        """The committed project (git HEAD) when in a git checkout, so edits in progress in the working tree
        are not measured; else the files as they are (a source archive)."""
        if (ROOT / ".git").exists():
            self.commit = run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]).stdout.strip()
            tracked = run(["git", "-C", str(ROOT), "ls-tree", "--name-only", "HEAD"]).stdout.split()
            items = [i for i in PROJECT_FILES if i in tracked]
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD", "--", *items],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(self.dir)], input=archive, check=True)
            return
        for item in PROJECT_FILES:
            src, dst = ROOT / item, self.dir / item
            if src.is_dir():
                shutil.copytree(src, dst)
            elif src.exists():
                shutil.copy2(src, dst)

    def stop(self) -> None:
        run([tool("rsync-braze"), "warehouse", "stop", "--project-dir", str(self.dir)], check=False)

    def __enter__(self) -> ScratchProject:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def connect(self):
        from reverse_etl import warehouse as wh
        return wh.connect(self.spec, autocommit=True, application_name="rsync-braze-bench")

    def cli(self, *args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
        """``rsync-braze <args> --project-dir <scratch>``."""
        return run([tool("rsync-braze"), *args, "--project-dir", str(self.dir)], env={**self.env, **(env or {})},
                   cwd=self.dir, **kwargs)

    def dbt(self, *args: str) -> float:
        """``dbt <args>`` in the scratch project; returns its wall time."""
        seconds, _ = timed([tool("dbt"), *args, "--project-dir", str(self.dir)], env=self.env, cwd=self.dir)
        return seconds

    def build(self, select: str, *exclude: str) -> float:
        """Seeds, snapshots and models of ``select`` (tests left out: they are not what is measured); wall time."""
        args = ["build", "--select", select, *(f"--resource-type={kind}" for kind in ("seed", "snapshot", "model"))]
        return self.dbt(*args, *(["--exclude", *exclude] if exclude else []))

    def demo_data(self, people: int, seed: int, day: int = 1) -> float:
        args = ["demo-data", "--seed", str(seed), "--people", str(people)] if day == 1 else ["demo-data", "--day", str(day)]
        started = time.perf_counter()
        self.cli(*args)
        return time.perf_counter() - started

    def model_results(self) -> dict[str, float]:
        """Execution time of each model of the last dbt invocation (target/run_results.json)."""
        data = json.loads((self.dir / "target" / "run_results.json").read_text())
        return {r["unique_id"].rsplit(".", 1)[-1]: r["execution_time"] for r in data["results"]}


def arguments(description: str) -> argparse.ArgumentParser:
    """The options every peer benchmark takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--people", type=int, default=100_000, help="persons of the demo data (default 100,000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--port", type=int, default=None, help="port of the scratch warehouse (default: a free one)")
    parser.add_argument("--output", type=Path, default=None, help="also write the JSON object to this file")
    parser.add_argument("--keep", action="store_true", help="leave the scratch warehouse running")
    return parser


def emit(result: dict, output: Path | None, started: float) -> None:
    """Print the benchmark's JSON object (total time added) and write it to ``output`` when given."""
    result["total_s"] = round(time.perf_counter() - started, 1)
    text = json.dumps(result, indent=2, default=str)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text + "\n")
    print(text)
