"""`rsync-braze ingest serve` as a real process over real HTTP: auth, limits, bad input, idempotent retries,
NOTIFY after commit, and kill -9 under load losing no acknowledged record."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from test_sources_files import Project

pytestmark = pytest.mark.db
RSYNC_BRAZE = str(Path(sys.executable).parent / "rsync-braze")
SECRET, TOKEN = "hook-secret-\u00e9", "bearer-token-123"

SOURCES = """
shop:
  type: webhook
  schema: {schema}
  auth: hmac
  secret_env: TEST_HOOK_SECRET
  max_body_bytes: 4096
crm:
  type: webhook
  schema: {schema}
  table: crm_pushes
  auth: bearer
  secret_env: TEST_HOOK_TOKEN
  idempotency_field: event_id
  signature_header: X-Unused
"""


class Server:
    """The CLI's webhook server in a subprocess, on a free port."""

    def __init__(self, project: Project):
        self.project = project
        self.env = {**os.environ, "TEST_HOOK_SECRET": SECRET, "TEST_HOOK_TOKEN": TOKEN}
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> Server:
        self.proc = subprocess.Popen(
            [RSYNC_BRAZE, "ingest", "serve", "--port", "0", "--project-dir", str(self.project.tmp),
             "--profiles-dir", str(self.project.tmp)], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line + self.proc.stderr.read()
        self.port = int(line.split(":")[2].split(" ")[0])
        return self

    def stop(self) -> str:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            out, _ = self.proc.communicate(timeout=30)
            return out
        return ""

    def post(self, path: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, json.loads(data) if data else {}


def signed(body: bytes, prefix: str = "sha256=") -> dict:
    return {"X-Signature-256": prefix + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()}


def bearer() -> dict:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def module_schema(warehouse_url):
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute(f'create schema "{name}"')
        yield name
        conn.execute(f'drop schema "{name}" cascade')


@pytest.fixture(scope="module")
def server(embedded_warehouse, module_schema, tmp_path_factory):
    project = Project(embedded_warehouse.url(), embedded_warehouse.status().port, tmp_path_factory.mktemp("hooks"),
                      module_schema)
    project.manifest(SOURCES.format(schema=module_schema))
    srv = Server(project).start()
    yield srv
    summary = srv.stop()
    assert "stopped:" in summary and "requests refused" in summary  # SIGTERM: a clean stop with its counts


def rows(server: Server, table: str) -> list[tuple]:
    return server.project.query(f"select _idempotency_key, payload from {{s}}.{table} order by _id")


def test_signed_records_are_stored_with_idempotent_retries_and_notify(server, warehouse_url):
    with psycopg.connect(warehouse_url, autocommit=True) as listener:
        listener.execute("listen rsync_braze")
        body = json.dumps([{"email": "a@x.com", "n": 1}, {"email": "b@x.com"}]).encode()
        headers = {**signed(body), "Idempotency-Key": "req-1"}
        assert server.post("/hooks/shop", body, headers) == (200, {"received": 2, "stored": 2, "duplicates": 0})
        notes = list(listener.notifies(timeout=5, stop_after=1))
        assert [(n.channel, n.payload) for n in notes] == [("rsync_braze", "shop")]
    # The sender did not hear the answer and retries: nothing stored twice.
    assert server.post("/hooks/shop", body, headers) == (200, {"received": 2, "stored": 0, "duplicates": 2})
    single = b'{"email": "c@x.com"}'
    assert server.post("/hooks/shop", single, {**signed(single, prefix=""), "Idempotency-Key": "req-2"})[0] == 200
    got = rows(server, "raw_shop")
    assert [(k, r["email"]) for k, r in got] == [("req-1:0", "a@x.com"), ("req-1:1", "b@x.com"), ("req-2", "c@x.com")]


def test_bearer_source_with_idempotency_field(server):
    body = json.dumps([{"event_id": "e1", "v": 1}, {"event_id": 2, "v": 2}, {"event_id": "e1", "v": 3}]).encode()
    assert server.post("/hooks/crm", body, bearer()) == (200, {"received": 3, "stored": 2, "duplicates": 1})
    assert server.post("/hooks/crm", b'{"event_id": "e1"}', bearer())[1]["duplicates"] == 1
    assert [(k, r["v"]) for k, r in rows(server, "crm_pushes")] == [("e1", 1), ("2", 2)]
    status, answer = server.post("/hooks/crm", b'[{"event_id": "e9"}, {"no_id": 1}]', bearer())
    assert status == 422 and "record 1 has no 'event_id'" in answer["error"]
    assert len(rows(server, "crm_pushes")) == 2


@pytest.mark.parametrize("path, body, headers, status, words", [
    ("/hooks/shop", b'{"a": 1}', {"X-Signature-256": "sha256=" + "0" * 64}, 401, "signature"),
    ("/hooks/shop", b'{"a": 1}', {}, 401, "signature"),
    ("/hooks/crm", b'{"event_id": "x"}', {"Authorization": "Bearer wrong"}, 401, "bearer"),
    ("/hooks/crm", b'{"event_id": "x"}', {"Authorization": TOKEN}, 401, "bearer"),
    ("/hooks/shop", b'{"a": 1,', "sign", 400, "malformed JSON"),
    ("/hooks/shop", b"\xff\xfe", "sign", 400, "malformed JSON"),
    ("/hooks/shop", b'"just a string"', "sign", 422, "a JSON str"),
    ("/hooks/shop", b'[{"a": 1}, 5]', "sign", 422, "record 1 is a JSON int"),
    ("/hooks/shop", b'{"a": "\\u0000"}', "sign", 422, "\\u0000"),
    ("/hooks/shop", b'{"a": "' + b"x" * 5000 + b'"}', "sign", 413, "larger than 4096 bytes"),
    ("/hooks/nope", b"{}", {}, 404, "unknown path"),
])
def test_bad_requests_are_refused_and_nothing_is_stored(server, path, body, headers, status, words):
    before = len(rows(server, "raw_shop")) + len(rows(server, "crm_pushes"))
    got, answer = server.post(path, body, signed(body) if headers == "sign" else headers)
    assert got == status and words in answer["error"]
    assert len(rows(server, "raw_shop")) + len(rows(server, "crm_pushes")) == before


def test_oversized_chunked_body_and_wrong_method(server):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("POST", "/hooks/shop")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for _ in range(10):
        conn.send(b"400\r\n" + b"x" * 0x400 + b"\r\n")
    conn.send(b"0\r\n\r\n")
    resp = conn.getresponse()
    assert resp.status == 413 and resp.getheader("Connection") == "close"
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request("GET", "/hooks/shop")
    assert conn.getresponse().status == 405


def test_malformed_http_gets_400_and_the_connection_is_closed(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(b"THIS IS NOT HTTP\r\n\r\n")
        out = b""
        while chunk := sock.recv(65536):  # the server closes the connection after its answer
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"Connection: close" in head
    assert json.loads(body) == {"error": "malformed HTTP request"}


def test_missing_secret_fails_before_listening(server):
    env = {k: v for k, v in server.env.items() if k != "TEST_HOOK_TOKEN"}
    proc = subprocess.run([RSYNC_BRAZE, "ingest", "serve", "--port", "0", "--project-dir", str(server.project.tmp),
                           "--profiles-dir", str(server.project.tmp)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and "TEST_HOOK_TOKEN is not set" in proc.stderr


@pytest.mark.slow
def test_kill_9_under_load_loses_no_acknowledged_record(embedded_warehouse, schema, tmp_path):
    """Eight senders post batches; the server is SIGKILLed mid-load. Every acknowledged record is in the
    table; after a restart, the senders' retries (same keys) complete the set exactly once."""
    project = Project(embedded_warehouse.url(), embedded_warehouse.status().port, tmp_path, schema)
    project.manifest(SOURCES.format(schema=schema))
    srv = Server(project).start()
    acked: set[str] = set()
    sent: list[list[dict]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sender(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        for i in range(100_000):
            if stop.is_set():
                return
            batch = [{"event_id": f"s{n}-{i}-{j}", "n": j} for j in range(20)]
            with lock:
                sent.append(batch)
            try:
                conn.request("POST", "/hooks/crm", body=json.dumps(batch), headers=bearer())
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                return  # the server died: this batch is unacknowledged
            if resp.status == 200:
                with lock:
                    acked.update(r["event_id"] for r in batch)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    assert len(acked) > 0
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(30)
    stored = {k for (k,) in project.query("select _idempotency_key from {s}.crm_pushes")}
    print(f"acked {len(acked)}, stored {len(stored)}, sent {sum(map(len, sent))}")
    assert acked <= stored, f"{len(acked - stored)} acknowledged records lost"
    all_ids = {r["event_id"] for batch in sent for r in batch}
    assert stored <= all_ids

    # The senders retry everything they sent: each record ends up stored exactly once.
    srv = Server(project).start()
    try:
        for batch in sent:
            status, _ = srv.post("/hooks/crm", json.dumps(batch).encode(), bearer())
            assert status == 200
    finally:
        srv.stop()
    assert project.query("select count(*), count(distinct _idempotency_key) from {s}.crm_pushes") == [
        (len(all_ids), len(all_ids))]


def test_writer_commits_synchronously_even_where_the_server_default_is_off(server):
    """The embedded warehouse runs with synchronous_commit off; the writer's session turns it on."""
    import asyncio

    from reverse_etl.manifest import load
    from reverse_etl.profiles import resolve
    from reverse_etl.sources.webhook_writer import Writer

    assert server.project.query("show synchronous_commit") == [("off",)]
    manifest = load(server.project.tmp / "rsync_braze.yml")
    writer = Writer(manifest.sources["crm"], resolve(server.project.tmp, str(server.project.tmp)))

    async def setting() -> str:
        conn = await writer._connect()
        try:
            return (await (await conn.execute("show synchronous_commit")).fetchone())[0]
        finally:
            await conn.close()

    assert asyncio.run(setting()) == "on"
    fast = manifest.sources["crm"].__class__(**{**manifest.sources["crm"].__dict__, "durable_commit": False})
    writer = Writer(fast, resolve(server.project.tmp, str(server.project.tmp)))
    assert asyncio.run(setting()) == "off"  # durable_commit: false keeps the server's setting
