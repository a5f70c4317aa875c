"""``rsync-braze demo``: the whole job on the embedded warehouse and the local Braze emulator.

Steps: start the embedded warehouse; generate the sample sources (first run only, or with ``--reset``);
load the partner's contacts file with the ``partner_contacts`` file source and push newsletter sign-ups to
the ``shop_hooks`` webhook receiver (``demo_sources.py``); ``dbt build``; sync ``braze_users`` to the local
Braze emulator (``rsync-braze run``); then apply the next
day of changes to the sources, ``dbt build`` again and sync again, which sends only what changed. Each step
is a real subprocess, as a pipeline would run it; the emulator keeps its profiles in
``.rsync-braze/emulator-state.json`` so a second ``make demo`` continues where the first stopped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

from .embedded import EmbeddedWarehouse, project_home
from .errors import ConfigError, RsyncBrazeError
from .demo_sources import FILE_SOURCE, forget, hooks_vars, push_hooks, signups
from .manifest import load as load_manifest
from .profiles import resolve

RAW_TABLES = (
    "eshop_customers", "eshop_orders", "eshop_order_lines", "crm_contacts", "pos_stores",
    "pos_transactions", "pos_transaction_lines", "file_contacts", "web_events", "raw_shop_hooks",
)


DEMO_API_KEY = "rsync-braze-demo-key"


@dataclass
class DemoReport:
    """What the demo did, for the summary (and for tests)."""

    raw_rows: dict[str, int] = field(default_factory=dict)
    people: int = 0
    records: int = 0
    multi_source_people: int = 0
    dbt_results: dict[str, int] = field(default_factory=dict)
    syncs: list[tuple[str, dict]] = field(default_factory=list)
    emulator: dict = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    hooks_pushed: int = 0


def _tool(name: str) -> str:
    """An executable of this virtualenv (dbt, rsync-braze), so the demo never picks another install."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def _run(step: str, command: list[str], *, cwd: Path, env: dict[str, str], echo) -> None:
    echo(f"==> {step}: {' '.join(Path(command[0]).name if i == 0 else c for i, c in enumerate(command))}")
    result = subprocess.run(command, cwd=cwd, env=env)
    if result.returncode != 0:
        raise RsyncBrazeError(f"The demo stopped at '{step}' (exit code {result.returncode}); see the output above.")


def _sync(label: str, project_dir: Path, env: dict[str, str], report: DemoReport, echo) -> None:
    echo(f"==> {label}: rsync-braze run")
    result = subprocess.run([_tool("rsync-braze"), "run", "--json", "--project-dir", str(project_dir)],
                            cwd=project_dir, env=env, capture_output=True, text=True)
    if result.stderr:
        echo(result.stderr.rstrip())
    if result.returncode not in (0, 6):  # 6: some rows rejected, which the sample data means to show
        raise RsyncBrazeError(f"The demo stopped at '{label}' (exit code {result.returncode}).")
    for line in result.stdout.splitlines():
        data = json.loads(line)
        report.syncs.append((label, data))


def _sources(day: int, project_dir: Path, env: dict[str, str], spec, report: DemoReport, echo) -> None:
    """The day's partner file through the file source, and the day's sign-ups through the webhook receiver."""
    from . import warehouse as wh

    _run("partner file", [_tool("rsync-braze"), "ingest", FILE_SOURCE, "--project-dir", str(project_dir)],
         cwd=project_dir, env=env, echo=echo)
    with wh.connect(spec, autocommit=True) as conn:
        records = signups(conn, day)
    report.hooks_pushed += push_hooks(project_dir, env, records, _tool, echo)


def _next_day(conn, truth_schema: str = "raw_truth") -> int:
    from . import warehouse as wh

    if not wh.relation_exists(conn, truth_schema, "demo_runs"):
        return 1
    row = wh.fetch_one(conn, "select coalesce(max(day), 0) from {}", truth_schema, "demo_runs")
    return int(row[0]) + 1


def run_demo(project_dir: Path, people: int, seed: int, reset: bool, echo=click.echo) -> DemoReport:
    """Run the demo end to end and return its report."""
    if not (project_dir / "dbt_project.yml").exists():
        raise ConfigError(f"{project_dir} is not a dbt project (no dbt_project.yml): run the demo from the repository root.")
    report = DemoReport()
    started = time.monotonic()
    warehouse = EmbeddedWarehouse(project_home(project_dir))
    status = warehouse.start()
    profiles = warehouse.write_profile()
    report.timings["warehouse"] = time.monotonic() - started
    echo(f"==> Embedded warehouse on {status.url}")

    env = dict(os.environ, DBT_PROFILES_DIR=str(profiles.parent), DBT_TARGET="embedded")
    env.pop("RSYNC_BRAZE_SCHEMA", None)
    spec = resolve(project_dir, str(profiles.parent), None, "embedded")
    raw_schema = "raw"

    from . import warehouse as wh

    with wh.connect(spec, autocommit=True) as conn:
        # An earlier demo's data without the webhook table predates the sources: generate it again.
        have_data = all(wh.relation_exists(conn, raw_schema, t) for t in ("eshop_customers", "raw_shop_hooks"))
    if reset or not have_data:
        with wh.connect(spec, autocommit=True) as conn:
            forget(conn, load_manifest(project_dir / "rsync_braze.yml").state_schema, raw_schema)
        t = time.monotonic()
        _run("sample sources", [_tool("rsync-braze"), "demo-data", "--people", str(people), "--seed", str(seed),
                                "--files-only", "--project-dir", str(project_dir), "--profiles-dir",
                                str(profiles.parent)], cwd=project_dir, env=env, echo=echo)
        report.timings["demo-data"] = time.monotonic() - t
        _sources(1, project_dir, env, spec, report, echo)
    else:
        echo("==> Sample sources already loaded (use --reset to generate them again)")

    t = time.monotonic()
    _run("dbt build", [_tool("dbt"), "build", "--project-dir", str(project_dir), *hooks_vars()], cwd=project_dir,
         env=env, echo=echo)
    report.timings["dbt build"] = time.monotonic() - t
    report.dbt_results = _dbt_results(project_dir / "target" / "run_results.json")

    from .emulator import EmulatorConfig, start_emulator

    state_file = project_home(project_dir) / "emulator-state.json"
    with start_emulator(EmulatorConfig(api_key=DEMO_API_KEY, state_file=str(state_file))) as emulator:
        echo(f"==> Local Braze emulator on {emulator.url} (profiles kept in {state_file})")
        env.update(RSYNC_BRAZE_ENDPOINT=emulator.url, BRAZE_API_KEY=DEMO_API_KEY)
        t = time.monotonic()
        _sync("sync", project_dir, env, report, echo)
        with wh.connect(spec, autocommit=True) as conn:
            day = _next_day(conn)
        _run(f"day {day} of changes", [_tool("rsync-braze"), "demo-data", "--day", str(day), "--files-only",
                                       "--project-dir", str(project_dir), "--profiles-dir", str(profiles.parent)],
             cwd=project_dir, env=env, echo=echo)
        _sources(day, project_dir, env, spec, report, echo)
        _run("dbt build", [_tool("dbt"), "build", "--project-dir", str(project_dir), *hooks_vars()],
             cwd=project_dir, env=env, echo=echo)
        _sync(f"sync after day {day}", project_dir, env, report, echo)
        report.timings["syncs"] = time.monotonic() - t
        import requests

        report.emulator = requests.get(f"{emulator.url}/_emulator/counters", timeout=10).json()
        report.emulator["profiles"] = len(requests.get(f"{emulator.url}/_emulator/profiles", timeout=30).json()["profiles"])
    with wh.connect(spec, autocommit=True) as conn:
        for table in RAW_TABLES:
            if wh.relation_exists(conn, raw_schema, table):
                report.raw_rows[table] = wh.count_rows(conn, raw_schema, table)
        marts = f"{spec.schema}_marts"
        row = wh.fetch_one(conn, "select count(*), coalesce(sum(source_record_count), 0), "
                                 "count(*) filter (where source_count > 1) from {}", marts, "braze_users")
        report.people, report.records, report.multi_source_people = (int(v) for v in row)
    report.timings["total"] = time.monotonic() - started
    return report


def _dbt_results(path: Path) -> dict[str, int]:
    """Counts per resource type and status from dbt's run_results.json."""
    try:
        results = json.loads(path.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return {}
    counts: dict[str, int] = {}
    for result in results:
        kind = result["unique_id"].split(".", 1)[0]
        key = f"{kind} {result['status']}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def format_report(report: DemoReport) -> str:
    """The summary printed at the end of the demo."""
    lines = ["", "rsync-braze demo summary", "========================", "Rows per source table:"]
    width = max((len(t) for t in report.raw_rows), default=10)
    for table, count in report.raw_rows.items():
        lines.append(f"  {table:<{width}}  {count:>10,}")
    lines.append("")
    lines.append(f"People after unification: {report.people:,} (from {report.records:,} person records; "
                 f"{report.multi_source_people:,} seen in more than one source)")
    if report.dbt_results:
        lines.append("dbt build: " + ", ".join(f"{v} {k}" for k, v in sorted(report.dbt_results.items())))
    for label, r in report.syncs:
        c = r["counts"]
        lines.append(f"{label} ({r['sync']}): {c.get('created', 0):,} created, {c.get('updated', 0):,} updated, "
                     f"{c.get('removed', 0):,} removed, "
                     + (f"{c['merged']:,} merged, " if c.get("merged") else "")
                     + f"{c.get('unchanged', 0):,} unchanged, "
                     f"{c.get('invalid', 0) + c.get('rejected', 0):,} rejected; {c.get('requests', 0):,} requests, "
                     f"{c.get('data_points', 0):,} data points")
        if r.get("fields_changed"):
            lines.append("    fields sent: " + ", ".join(f"{k} {v:,}" for k, v in sorted(r["fields_changed"].items())))
    if report.hooks_pushed:
        lines.append(f"Webhooks: {report.hooks_pushed:,} newsletter sign-ups pushed to /hooks/shop_hooks, each stored "
                     "before it was acknowledged")
    if report.emulator:
        e = report.emulator
        lines.append(f"Braze emulator: {e.get('profiles', 0):,} profiles, {e.get('requests', 0):,} requests, "
                     f"{e.get('data_points', 0):,} data points billed in all")
    lines.append("Timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items()))
    return "\n".join(lines)
