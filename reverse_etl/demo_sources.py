"""The demo's sources that are not warehouse tables: the partner's contacts file and the shop's webhooks.

Both go through the real ingestion path, as a user's pipeline would: the day's ``contacts_YYYYMMDD.csv``
(written by ``demo-data --files-only``) is loaded by ``rsync-braze ingest partner_contacts``; newsletter
sign-ups are POSTed, signed with HMAC-SHA256, to ``rsync-braze ingest serve shop_hooks`` running as its own
process, which commits them to ``raw.raw_shop_hooks`` before answering. Both sources are declared in the
project's ``rsync_braze.yml``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import subprocess
from pathlib import Path

import requests
from psycopg import sql

from .embedded import free_port
from .errors import RsyncBrazeError

FILE_SOURCE = "partner_contacts"
HOOK_SOURCE = "shop_hooks"
HOOK_SECRET_ENV = "SHOP_HOOK_SECRET"
DEMO_HOOK_SECRET = "rsync-braze-demo-hook-secret"  # the demo's own; a real shop's secret comes from its env
SIGNUPS_PER_DAY = 200   # sign-ups of known persons pushed each demo day (at most)
NEW_SUBSCRIBERS = 20    # sign-ups of people no other source knows yet, each day
BATCH = 50              # records per POST (an array)


def forget(conn, state_schema: str, raw_schema: str = "raw") -> None:
    """Before a new day 1: forget what the sources loaded from an earlier demo (its files have the same names)."""
    from . import warehouse as wh

    for table in ("source_files", "source_rejects"):
        if wh.relation_exists(conn, state_schema, table):
            conn.execute(sql.SQL("delete from {} where source = %s").format(wh.ident(state_schema, table)),
                         (FILE_SOURCE,))
    conn.execute(sql.SQL("drop table if exists {}").format(wh.ident(raw_schema, f"raw_{HOOK_SOURCE}")))


def signups(conn, day: int, truth_schema: str = "raw_truth") -> list[dict]:
    """The day's newsletter sign-ups: some known persons (their e-mail as the shop has it) and a few new ones."""
    from . import warehouse as wh

    occurred = f"2026-11-{min(day, 28):02d}T09:00:00+00:00"
    rows = conn.execute(sql.SQL("select person_id, email, first_name, last_name from {} where email is not null "
                                "order by md5(person_id::text || %s) limit %s").format(wh.ident(truth_schema, "persons")),
                        (str(day), SIGNUPS_PER_DAY)).fetchall()
    out = [{"event_id": f"signup-{day}-{pid}", "type": "newsletter_signup", "occurred_at": occurred,
            "email": email, "first_name": first, "last_name": last} for pid, email, first, last in rows]
    out += [{"event_id": f"signup-{day}-new-{i}", "type": "newsletter_signup", "occurred_at": occurred,
             "email": f"new.subscriber.{day}.{i}@example.org", "first_name": "New", "last_name": f"Subscriber {i}"}
            for i in range(NEW_SUBSCRIBERS)]
    return out


def push_hooks(project_dir: Path, env: dict[str, str], records: list[dict], tool, echo) -> int:
    """Start ``ingest serve shop_hooks``, POST ``records`` signed, stop it with SIGTERM; records acknowledged."""
    port = free_port()
    env = dict(env, **{HOOK_SECRET_ENV: env.get(HOOK_SECRET_ENV, DEMO_HOOK_SECRET)})
    secret = env[HOOK_SECRET_ENV].encode()
    echo(f"==> webhooks: rsync-braze ingest serve {HOOK_SOURCE} --port {port}")
    server = subprocess.Popen([tool("rsync-braze"), "ingest", "serve", HOOK_SOURCE, "--port", str(port),
                               "--project-dir", str(project_dir)], cwd=project_dir, env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()  # "listening on ..." once it accepts requests
        if not line.startswith("listening"):
            raise RsyncBrazeError(f"The demo's webhook receiver did not start (exit code {server.wait(10)}); "
                                  "see the output above.")
        acknowledged = 0
        with requests.Session() as http:
            for i in range(0, len(records), BATCH):
                body = json.dumps(records[i:i + BATCH]).encode()
                signature = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
                answer = http.post(f"http://127.0.0.1:{port}/hooks/{HOOK_SOURCE}", data=body, timeout=30,
                                   headers={"Content-Type": "application/json", "X-Signature-256": signature})
                if answer.status_code >= 300:
                    raise RsyncBrazeError(f"The demo's webhook receiver answered {answer.status_code} to a batch "
                                          "of sign-ups.")
                acknowledged += len(records[i:i + BATCH])
        echo(f"    {acknowledged:,} sign-ups pushed and acknowledged (each committed before its answer)")
        return acknowledged
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                rest, _ = server.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                rest, _ = server.communicate()
            if rest.strip():
                echo("    " + rest.strip().splitlines()[-1])


def hooks_vars() -> list[str]:
    """dbt arguments that turn the webhook staging model (and its records in the unification) on."""
    return ["--vars", json.dumps({"rsync_braze_hooks_enabled": True})]
