"""Load test of ``rsync-braze ingest serve``: signed JSON webhooks over loopback, committed before each answer.

    .venv/bin/python benchmarks/webhook_load.py                           # 10 s, 8 clients, 1 record a request
    .venv/bin/python benchmarks/webhook_load.py --records-per-request 20 --seconds 20

Starts its own embedded PostgreSQL (a temporary folder, a free port; the embedded server's default is
``synchronous_commit = off``, but the webhook writer's session sets it on, so every acknowledged commit has
been flushed to disk) and the CLI's webhook server in a subprocess. Client processes each
keep one keep-alive connection and send requests one after another, each signed (HMAC-SHA256) with a unique
Idempotency-Key, so every record is a new row. Latency is measured per request, from the first byte sent to
the last byte of the answer. At the end the table is counted: it must hold every acknowledged record.
On a 2-core machine the clients share the CPU with the server and PostgreSQL; the script reports each
side's CPU so the figure can be read honestly. Loopback only; at most 300 s and 32 clients. Prints JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator_load import read_response  # noqa: E402  (same raw keep-alive client)
from reverse_etl.embedded import EmbeddedWarehouse, free_port  # noqa: E402

SECRET = b"load-test-secret"
RSYNC_BRAZE = str(Path(sys.executable).parent / "rsync-braze")


def request_bytes(port: int, client: int, i: int, records: int) -> bytes:
    """One signed POST of ``records`` records (or one object when ``records`` is 1)."""
    items = [{"event_id": f"c{client}-{i}-{j}", "email": f"user{client}.{i}.{j}@example.org", "type": "order_paid",
              "total": 12.5 + j, "at": "2026-11-29T02:00:00Z"} for j in range(records)]
    body = json.dumps(items[0] if records == 1 else items, separators=(",", ":")).encode()
    signature = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    head = (f"POST /hooks/load HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"X-Signature-256: sha256={signature}\r\nIdempotency-Key: c{client}-{i}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head + body


def client(port: int, n: int, records: int, seconds: float, out) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    latencies, acked, errors, i = [], 0, 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        payload = request_bytes(port, n, i, records)
        i += 1
        started = time.perf_counter()
        sock.sendall(payload)
        status = read_response(sock, buf)
        latencies.append(time.perf_counter() - started)
        if status == 200:
            acked += records
        else:
            errors += 1
    sock.close()
    out.put((latencies, acked, errors))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the run (at most 300)")
    parser.add_argument("--clients", type=int, default=8, help="client processes (1..32)")
    parser.add_argument("--records-per-request", type=int, default=1, help="records in each request (1..500)")
    parser.add_argument("--no-durable-commit", action="store_true",
                        help="durable_commit: false (the embedded server's synchronous_commit = off)")
    args = parser.parse_args()
    seconds = min(max(args.seconds, 1.0), 300.0)
    clients = min(max(args.clients, 1), 32)
    records = min(max(args.records_per_request, 1), 500)

    with tempfile.TemporaryDirectory(prefix="webhook-load-") as tmp_name:
        tmp = Path(tmp_name)
        warehouse = EmbeddedWarehouse(tmp / ".rsync-braze")
        warehouse.start(free_port(), watch_pid=os.getpid())
        server = None
        try:
            port = warehouse.status().port
            (tmp / "profiles.yml").write_text(
                "rsync_braze:\n  target: t\n  outputs:\n    t:\n      type: postgres\n      host: 127.0.0.1\n"
                f"      port: {port}\n      user: postgres\n      password: ''\n      dbname: rsync_braze\n"
                "      schema: bench\n      threads: 1\n")
            (tmp / "rsync_braze.yml").write_text(
                "destinations:\n  braze: {endpoint: 'http://127.0.0.1:4010', api_key_env: UNUSED}\n"
                "syncs:\n  - {name: s, relation: a.b, identifier: {column: id}}\n"
                "sources:\n  load: {type: webhook, auth: hmac, secret_env: LOAD_SECRET, "
                f"durable_commit: {'false' if args.no_durable_commit else 'true'}}}\n")
            env = {**os.environ, "LOAD_SECRET": SECRET.decode()}
            server = subprocess.Popen([RSYNC_BRAZE, "ingest", "serve", "--port", "0", "--project-dir", str(tmp),
                                       "--profiles-dir", str(tmp)], env=env, stdout=subprocess.PIPE, text=True)
            line = server.stdout.readline()
            hook_port = int(line.split(":")[2].split(" ")[0])
            server_ps = psutil.Process(server.pid)
            server_ps.cpu_percent(None)
            queue = multiprocessing.Queue()
            procs = [multiprocessing.Process(target=client, args=(hook_port, n, records, seconds, queue))
                     for n in range(clients)]
            started = time.monotonic()
            for p in procs:
                p.start()
            results = [queue.get(timeout=seconds + 120) for _ in procs]
            elapsed = time.monotonic() - started
            for p in procs:
                p.join(10)
            server_cpu = server_ps.cpu_percent(None)
            import psycopg

            with psycopg.connect(warehouse.url()) as conn:
                stored = conn.execute("select count(*) from raw.raw_load").fetchone()[0]
                # The backend serving the writer: its CPU is PostgreSQL's share of the work (plus WAL flushes).
                backend = conn.execute("select pid from pg_stat_activity where application_name = "
                                       "'rsync-braze hooks load'").fetchone()
            times = psutil.Process(backend[0]).cpu_times() if backend else None
            pg_cpu = times.user + times.system if times else float("nan")
        finally:
            if server is not None:
                server.terminate()
                server.wait(30)
            warehouse.stop()

    latencies = [x for lat, _, _ in results for x in lat]
    acked = sum(a for _, a, _ in results)
    print(json.dumps({
        "clients": clients, "records_per_request": records, "durable_commit": not args.no_durable_commit,
        "seconds": round(elapsed, 1),
        "requests": len(latencies), "errors": sum(e for _, _, e in results),
        "records_acknowledged": acked, "records_in_table": stored,
        "records_per_second": round(acked / elapsed), "requests_per_second": round(len(latencies) / elapsed),
        "latency_ms": {"p50": round(percentile(latencies, 50) * 1000, 2),
                       "p99": round(percentile(latencies, 99) * 1000, 2),
                       "max": round(max(latencies) * 1000, 2)},
        "server_cpu_percent": round(server_cpu), "postgres_backend_cpu_seconds": round(pg_cpu, 1),
        "cpu_count": psutil.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
