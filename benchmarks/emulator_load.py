"""Load test of the local Braze emulator: 75-object /users/track requests with the rate limit lifted.

    .venv/bin/python benchmarks/emulator_load.py                  # 10 s, 4 client processes
    .venv/bin/python benchmarks/emulator_load.py --seconds 120    # the short soak (RSS sampled every 10 s)
    .venv/bin/python benchmarks/emulator_load.py --soak           # opt-in: the full 10-minute soak

The emulator runs in its own process (``mode="process"``). Clients are separate processes, each with one
keep-alive connection over a raw socket and pre-encoded requests, so the load generator costs little CPU;
on a 2-core machine it still shares the CPU with the emulator, and the script reports both sides' CPU use
and the machine's load so the figure can be read honestly. Loopback (127.0.0.1) only; bounded in time
(at most 15 minutes) and in clients (at most 16). Prints one JSON object.

Leak check: RSS is sampled once the working set is built (every client's distinct profiles exist after the
warm-up) and then every ``--sample-every`` seconds; a leak shows as a steady climb after the warm-up.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reverse_etl.emulator import EmulatorConfig, start_emulator  # noqa: E402

KEY = "load-test-key"
BODIES_PER_CLIENT = 40  # x 75 objects: 3,000 distinct profiles per client, rewritten over and over


def request_bytes(client: int, i: int, port: int) -> bytes:
    """One complete HTTP request: 75 attribute objects as a sync sends them (identifier + 5 attributes)."""
    body = json.dumps({"attributes": [
        {"external_id": f"c{client}-u{i * 75 + j}", "email": f"user{client}.{i * 75 + j}@example.org",
         "ltv": round(j * 1.5, 2), "segment": ["gold", "silver"][j % 2], "orders": j, "vip": j % 3 == 0}
        for j in range(75)]}, separators=(",", ":")).encode()
    head = (f"POST /users/track HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    return head + body


def read_response(sock: socket.socket, buf: bytearray) -> int:
    """Read one response off a keep-alive socket; returns its status."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the emulator closed the connection")
        buf += chunk
    head_end = buf.index(b"\r\n\r\n") + 4
    head = bytes(buf[:head_end]).decode("latin-1")
    length = int(head.lower().split("content-length:", 1)[1].split("\r\n", 1)[0])
    while len(buf) < head_end + length:
        buf += sock.recv(65536)
    del buf[:head_end + length]
    return int(head.split(" ", 2)[1])


def client(index: int, port: int, seconds: float, out) -> None:
    requests = [request_bytes(index, i, port) for i in range(BODIES_PER_CLIENT)]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = bytearray()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    cpu0 = time.process_time()
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        start = time.perf_counter()
        sock.sendall(requests[n % BODIES_PER_CLIENT])
        status = read_response(sock, buf)
        latencies.append(time.perf_counter() - start)
        statuses[status] = statuses.get(status, 0) + 1
        n += 1
    sock.close()
    out.put((latencies, statuses, time.process_time() - cpu0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the run (at most 900)")
    parser.add_argument("--clients", type=int, default=4, help="client processes (1..16)")
    parser.add_argument("--soak", action="store_true", help="the full soak: 600 seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the first RSS sample")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds between RSS samples")
    args = parser.parse_args()
    seconds = 600.0 if args.soak else args.seconds
    if not 0 < seconds <= 900 or not 1 <= args.clients <= 16:
        parser.error("--seconds must be in (0, 900] and --clients in 1..16")

    config = EmulatorConfig(api_key=KEY, rate_limit_requests=None, keep_events=0)
    with start_emulator(config, mode="process") as emu:
        server = psutil.Process(emu.pid)
        rss_idle = server.memory_info().rss
        cpu_server0 = sum(server.cpu_times()[:2])
        psutil.cpu_percent(None)
        queue = multiprocessing.Queue()
        procs = [multiprocessing.Process(target=client, args=(i, emu.port, seconds, queue))
                 for i in range(args.clients)]
        started = time.monotonic()
        for p in procs:
            p.start()
        samples = []
        next_sample = started + args.warmup
        while time.monotonic() < started + seconds - 0.5:
            time.sleep(0.1)
            if time.monotonic() >= next_sample:
                samples.append((round(time.monotonic() - started), round(server.memory_info().rss / 2**20, 1)))
                next_sample += args.sample_every
        results = [queue.get(timeout=seconds + 60) for _ in procs]
        elapsed = time.monotonic() - started
        for p in procs:
            p.join()
        machine_cpu = psutil.cpu_percent(None)
        server_cpu = sum(server.cpu_times()[:2]) - cpu_server0
        rss_end = server.memory_info().rss
    latencies = sorted(x for r in results for x in r[0])
    statuses: dict[int, int] = {}
    for r in results:
        for status, n in r[1].items():
            statuses[status] = statuses.get(status, 0) + n
    n = len(latencies)
    print(json.dumps({
        "requests": n, "seconds": round(elapsed, 1), "requests_per_s": round(n / elapsed),
        "objects_per_s": round(n * 75 / elapsed), "statuses": statuses,
        "p50_ms": round(latencies[n // 2] * 1000, 2), "p99_ms": round(latencies[int(n * 0.99)] * 1000, 2),
        "clients": args.clients, "cpus": os.cpu_count(),
        "emulator_cpu_percent_of_one_core": round(100 * server_cpu / elapsed),
        "clients_cpu_percent_of_one_core": round(100 * sum(r[2] for r in results) / elapsed),
        "machine_cpu_percent": machine_cpu, "load_average_1m": round(os.getloadavg()[0], 2),
        "emulator_rss_mb": {"idle": round(rss_idle / 2**20, 1), "samples_s_mb": samples,
                            "end": round(rss_end / 2**20, 1)},
    }))


if __name__ == "__main__":
    main()
