"""rsync-braze against the open-source peer drt-core, pushing the same model to the same Braze emulator.

Scenario (both tools in one run, on the same data; issue #10, "Against an open-source peer" and "Cost"):

1. A scratch copy of this project with its own embedded warehouse: ``rsync-braze demo-data --people N``,
   ``dbt build --select +braze_users --resource-type seed snapshot model`` (the real model, its real ``updated_at``).
2. Two fresh emulators in their own processes (rate limit lifted), one per tool. rsync-braze runs with this
   project's manifest (``rsync_braze.yml``); drt-core (installed by this script in ``.bench/venv-drt``, never
   in ``.venv``) runs a ``rest_api`` destination in ``body_mode: batch``: ``/users/track`` bodies of 75
   ``{"attributes": [...]}`` objects keyed by ``external_id``, the same mapped columns, the key as a bearer
   header, ``rate_limit`` at Braze's 1,000 requests/s, in its best incremental mode for a REST destination:
   ``mode: incremental`` with ``cursor_field: updated_at`` (``incremental_strategy: diff`` needs a
   destination ``upsert_key``, which ``rest_api`` does not have: drt refuses it, checked below).
3. Initial load: wall time, objects/s, requests and data points (emulator counters) for each tool.
4. Day 2: ``rsync-braze demo-data --day 2`` (1% of persons change) and the model rebuilt; each tool syncs
   again: data points and requests. The "watermark sync of whole rows" (Braze Cloud Data Ingestion pattern)
   is computed from the model: every row whose ``updated_at`` is newer than the day-1 maximum, all its
   billed attributes. Cost ratio = rsync-braze data points / watermark data points.
5. Final state: every model row against the emulator's profile, attribute by attribute (create-only
   attributes excluded: ``email_subscribe`` is mapped ``sync_on: [create]``, Braze stays its master).

Prints one JSON object on stdout (and writes it to ``--output`` when given); progress goes to stderr.

    .venv/bin/python benchmarks/peer_drt.py --people 100000
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import requests
import yaml
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _peers import BENCH_DIR, ScratchProject, arguments, emit, ensure_venv, log, pip_version, run, timed, tool  # noqa: E402

from reverse_etl.emulator import EmulatorConfig, start_emulator  # noqa: E402

DRT_REQUIREMENT = "drt-core[postgres]==1.2.1"
API_KEY = "peer-bench-key"
SYNC = "braze_users"
STATE_SCHEMA = "rsync_braze"  # rsync_braze.yml's state_schema (the default)
# Not billed by Braze (identifiers, subscription states): left out of the watermark's data points.
UNBILLED = {"external_id", "email_subscribe", "push_subscribe", "subscription_groups"}


def mapping(project_dir: Path) -> tuple[dict[str, str], set[str]]:
    """The braze_users sync's mapping (column -> attribute) and its create-only columns, from rsync_braze.yml."""
    manifest = yaml.safe_load((project_dir / "rsync_braze.yml").read_text())
    sync = next(s for s in manifest["syncs"] if s["name"] == SYNC)
    columns, create_only = {}, set()
    for column, spec in sync["mapping"].items():
        columns[column] = spec if isinstance(spec, str) else spec["attribute"]
        if isinstance(spec, dict) and spec.get("sync_on") == ["create"]:
            create_only.add(column)
    return columns, create_only


def drt_project(directory: Path, warehouse, relation: str, url: str, columns: dict[str, str],
                strategy: str = "cursor") -> Path:
    """Write a drt project (drt_project.yml, syncs/, and a HOME with .drt/profiles.yml) pushing ``relation``."""
    home = directory / "home"
    (home / ".drt").mkdir(parents=True, exist_ok=True)
    (directory / "syncs").mkdir(parents=True, exist_ok=True)
    (home / ".drt" / "profiles.yml").write_text(yaml.safe_dump({"bench": {
        "type": "postgres", "host": warehouse.spec.host, "port": warehouse.spec.port,
        "dbname": warehouse.spec.dbname, "user": warehouse.spec.user}}))
    (directory / "drt_project.yml").write_text(yaml.safe_dump({"name": "peer_bench", "profile": "bench"}))
    fields = ", ".join(f'"{attr}": {{{{ row.{col} | tojson_safe }}}}' for col, attr in columns.items())
    batch_template = ('{"attributes": [{% for row in rows %}{"external_id": {{ row.external_id | tojson_safe }}, '
                      + fields + "}{% if not loop.last %},{% endif %}{% endfor %}]}")
    select = ", ".join(f'"{c}"' for c in ["external_id", *columns, "updated_at"])
    sync_options = {"batch_size": 7500, "rate_limit": {"requests_per_second": 1000}, "on_error": "skip"}
    if strategy == "cursor":
        sync_options.update(mode="incremental", cursor_field="updated_at")
    else:
        sync_options.update(mode="upsert", incremental_strategy="diff", diff={"hash_columns": "all"})
    (directory / "syncs" / f"{SYNC}.yml").write_text(yaml.safe_dump({
        "name": SYNC,
        "model": f"select {select} from {relation}",
        "destination": {
            "type": "rest_api", "url": f"{url}/users/track", "method": "POST",
            "headers": {"Content-Type": "application/json"},
            "auth": {"type": "bearer", "token_env": "BRAZE_API_KEY"},
            "body_mode": "batch", "max_records_per_request": 75, "batch_template": batch_template,
        },
        "sync": sync_options,
    }, sort_keys=False))
    return home


class Emulator:
    """A fresh emulator in its own process, rate limit lifted; counters read over HTTP."""

    def __init__(self):
        self.handle = start_emulator(EmulatorConfig(api_key=API_KEY, rate_limit_requests=None), mode="process")
        self.url = self.handle.url

    def counters(self) -> dict:
        return requests.get(f"{self.url}/_emulator/counters", timeout=30).json()

    def profiles(self, attributes: list[str]) -> dict[str, dict]:
        data = requests.get(f"{self.url}/_emulator/profiles", timeout=600).json()["profiles"]
        out = {}
        for p in data:
            if p.get("external_id"):
                custom = p.get("custom_attributes", {})
                out[p["external_id"]] = {a: custom[a] if a in custom else p.get(a) for a in attributes}
        return out

    def stop(self) -> None:
        self.handle.stop()


def delta(after: dict, before: dict) -> dict:
    keys = ("requests", "data_points", "attributes_processed", "errors", "object_errors", "rate_limited")
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys}


def normalize(value):
    """One comparable form for a model value and what the emulator stored (dates, times, decimals)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and len(value) >= 19 and value[10:11] in ("T", " ") and value[4:5] == "-":
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
        except ValueError:
            return value
    return value


def compare(project: ScratchProject, relation_parts: tuple[str, str], columns: dict[str, str], create_only: set[str],
            emulator: Emulator) -> dict:
    """Share of model rows whose emulator profile holds every mapped (not create-only) attribute's value."""
    compared = {c: a for c, a in columns.items() if c not in create_only}
    profiles = emulator.profiles(list(compared.values()))
    equal = missing = differing = 0
    per_attribute: dict[str, int] = {}
    seen: set[str] = set()
    with project.connect() as conn, conn.transaction():
        query = sql.SQL("select {} from {}").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in ["external_id", *compared]), sql.Identifier(*relation_parts))
        with conn.cursor(name="compare") as cur:  # server-side: the model is streamed
            cur.execute(query)
            for row in cur:
                ext_id = row[0]
                seen.add(ext_id)
                profile = profiles.get(ext_id)
                if profile is None:
                    missing += 1
                    continue
                bad = [a for a, v in zip(compared.values(), row[1:]) if normalize(v) != normalize(profile[a])]
                for a in bad:
                    per_attribute[a] = per_attribute.get(a, 0) + 1
                if bad:
                    differing += 1
                else:
                    equal += 1
    total = equal + missing + differing
    return {"model_rows": total, "equal": equal, "missing": missing, "differing": differing,
            "share_equal": round(equal / total, 6) if total else None,
            "differing_by_attribute": dict(sorted(per_attribute.items(), key=lambda kv: -kv[1])),
            "profiles_not_in_model": len(set(profiles) - seen)}


def sync_rsync(project: ScratchProject, emulator: Emulator) -> dict:
    before = emulator.counters()
    seconds, result = timed([tool("rsync-braze"), "run", "--json", SYNC, "--project-dir", str(project.dir)],
                            env={**project.env, "RSYNC_BRAZE_ENDPOINT": emulator.url, "BRAZE_API_KEY": API_KEY},
                            cwd=project.dir, check=False)
    if result.returncode not in (0, 6):  # 6: rejected rows above the sync's share, still a finished run
        raise RuntimeError(f"rsync-braze run exited {result.returncode}: {result.stderr[-2000:]}")
    report = json.loads(result.stdout.splitlines()[-1])
    return _figures(seconds, delta(emulator.counters(), before), {"exit_code": result.returncode,
                                                                  "counts": report.get("counts", {})})


def sync_drt(drt_bin: Path, directory: Path, home: Path, emulator: Emulator) -> dict:
    before = emulator.counters()
    env = {"HOME": str(home), "PATH": f"{drt_bin}:/usr/bin:/bin", "BRAZE_API_KEY": API_KEY, "DO_NOT_TRACK": "1"}
    seconds, result = timed([str(drt_bin / "drt"), "run", "--select", SYNC, "--output", "json"], env=env,
                            cwd=directory, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"drt run exited {result.returncode}: {(result.stdout + result.stderr)[-2000:]}")
    return _figures(seconds, delta(emulator.counters(), before), {"exit_code": result.returncode})


def _figures(seconds: float, counters: dict, extra: dict) -> dict:
    objects = counters["attributes_processed"]
    return {"seconds": round(seconds, 2), "objects": objects,
            "objects_per_s": round(objects / seconds) if seconds else None, **counters, **extra}


def drt_diff_refused(drt_bin: Path, project: ScratchProject, relation: str, columns: dict[str, str]) -> str:
    """drt's ``incremental_strategy: diff`` on a rest_api destination: the first line of its refusal (or 'accepted')."""
    directory = BENCH_DIR / "drt" / "drt-diff-probe"
    home = drt_project(directory, project, relation, "http://127.0.0.1:9", columns, strategy="diff")
    env = {"HOME": str(home), "PATH": f"{drt_bin}:/usr/bin:/bin", "DO_NOT_TRACK": "1", "BRAZE_API_KEY": "x"}
    result = run([str(drt_bin / "drt"), "run", "--select", SYNC, "--dry-run"], env=env, cwd=directory, check=False)
    text = " ".join(re.sub("[\u2500-\u257f]", " ", result.stdout + result.stderr).split())  # drop rich's box
    found = re.search(r"\w+Error: .{0,200}?upsert_key\S*", text)
    return found.group(0) if found else f"exit {result.returncode}: {text[-300:]}"


def watermark_points(project: ScratchProject, relation_parts: tuple[str, str], columns: dict[str, str],
                     watermark) -> dict:
    """Rows with updated_at newer than ``watermark`` and their billed attributes (all of them, nulls included)."""
    billed = [c for c, a in columns.items() if a not in UNBILLED]
    with project.connect() as conn:
        rows = conn.execute(sql.SQL("select count(*) from {} where updated_at > %s").format(
            sql.Identifier(*relation_parts)), (watermark,)).fetchone()[0]
    return {"rows": rows, "billed_attributes_per_row": len(billed), "data_points": rows * len(billed),
            "requests": -(-rows // 75)}


def main(argv: list[str] | None = None) -> dict:
    parser = arguments(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    started = time.perf_counter()
    drt_bin = ensure_venv("venv-drt", [DRT_REQUIREMENT])
    project = ScratchProject("drt", args.port).start()
    columns, create_only = mapping(project.dir)
    result: dict = {"benchmark": "peer_drt", "people": args.people, "seed": args.seed, "project_commit": project.commit,
                    "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "drt_core_version": pip_version(drt_bin, "drt-core"),
                    "mapped_attributes": len(columns), "create_only": sorted(create_only)}
    emulators: list[Emulator] = []
    try:
        relation_parts = (f"{project.spec.schema}_marts", "braze_users")
        relation = '"{}"."{}"'.format(*relation_parts)
        log(f"day 1 data: {args.people} people")
        result["prepare_day1_s"] = {"demo_data": round(project.demo_data(args.people, args.seed), 1),
                                    "dbt": round(project.build("+braze_users +identity_retired_person_ids"), 1)}
        with project.connect() as conn:
            # A fresh deployment: no snapshot left by an earlier benchmark run in this scratch warehouse.
            conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(STATE_SCHEMA)))
            rows, watermark = conn.execute(sql.SQL("select count(*), max(updated_at) from {}").format(
                sql.Identifier(*relation_parts))).fetchone()
        result["model_rows_day1"] = rows
        result["drt_diff_strategy_on_rest_api"] = drt_diff_refused(drt_bin, project, relation, columns)
        ours, theirs = Emulator(), Emulator()
        emulators += [ours, theirs]
        drt_dir = BENCH_DIR / "drt" / "drt-project"
        if (drt_dir / ".drt").exists():  # drt's cursor state from an earlier benchmark run
            import shutil
            shutil.rmtree(drt_dir / ".drt")
        home = drt_project(drt_dir, project, relation, theirs.url, columns)
        log("initial load: rsync-braze")
        result["initial"] = {"rsync_braze": sync_rsync(project, ours)}
        log("initial load: drt")
        result["initial"]["drt"] = sync_drt(drt_bin, drt_dir, home, theirs)
        log("day 2 data (1% of persons change)")
        result["prepare_day2_s"] = {"demo_data": round(project.demo_data(args.people, args.seed, day=2), 1),
                                    "dbt": round(project.build("+braze_users +identity_retired_person_ids"), 1)}
        result["watermark_day2"] = watermark_points(project, relation_parts, columns, watermark)
        log("day 2: rsync-braze")
        result["day2"] = {"rsync_braze": sync_rsync(project, ours)}
        log("day 2: drt")
        result["day2"]["drt"] = sync_drt(drt_bin, drt_dir, home, theirs)
        wm = result["watermark_day2"]["data_points"]
        result["cost_ratio_day2"] = round(result["day2"]["rsync_braze"]["data_points"] / wm, 4) if wm else None
        result["drt_vs_watermark_day2"] = round(result["day2"]["drt"]["data_points"] / wm, 4) if wm else None
        init = result["initial"]
        result["throughput_ratio_initial"] = round(init["rsync_braze"]["objects_per_s"] / init["drt"]["objects_per_s"], 2)
        log("final state against the model")
        result["final_state"] = {"rsync_braze": compare(project, relation_parts, columns, create_only, ours),
                                 "drt": compare(project, relation_parts, columns, create_only, theirs)}
    finally:
        for emulator in emulators:
            emulator.stop()
        if not args.keep:
            project.stop()
    emit(result, args.output, started)
    return result


if __name__ == "__main__":
    main()
