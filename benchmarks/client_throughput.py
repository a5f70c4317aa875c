"""Throughput and correctness of the Braze client under load (issue 4's targets).

Scenarios (each prints one JSON line; ``--scenario all`` runs them in turn):

- ``ceiling``: as fast as possible against the emulator with its rate limit lifted. Reports requests/s,
  objects/s and the client process's CPU (the emulator runs in another process).
- ``sink``: the same against a do-nothing HTTP server (a separate process that answers 201 without
  parsing), to show the client's own ceiling when the server is not the bottleneck.
- ``limited``: the emulator limited to ``--limit`` requests per ``--period`` s, the client configured the
  same; reports the achieved rate as a share of the limit, and 429s (target: >= 95 %, zero).
- ``limited_sink``: the same against the do-nothing server counting requests in fixed windows and
  answering 429 past the limit (no emulator needed).
- ``faults``: 20 % injected faults (10 % 5xx, 5 % connections dropped before and 5 % after applying); checks that every row ends delivered or
  reported, and that every delivered row is in the emulator.

    .venv/bin/python benchmarks/client_throughput.py --scenario all
    .venv/bin/python benchmarks/client_throughput.py --scenario sink --transport requests
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reverse_etl.braze import BrazeClient, Destination, Event, Identifier, RateLimit, TrackRow  # noqa: E402
from reverse_etl.braze.ratelimit import forget_limiters  # noqa: E402
from reverse_etl.braze.transport import HttpTransport, RequestsTransport  # noqa: E402

API_KEY = "bench-key"
SCHEMA = {"ltv": "float", "orders": "integer", "segment": "string", "vip": "boolean", "last_order_at": "time"}
SEGMENTS = ("gold", "silver", "bronze", "new")


def rows(n: int, events_every: int = 0, prefix: str = "user"):
    """Generated typed rows, as the engine would hand them over (seven attributes, some events)."""
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(n):
        events = (Event("order_placed", ts, {"total": 10.5}),) if events_every and i % events_every == 0 else ()
        yield TrackRow(i, Identifier.external_id(f"{prefix}-{i}"), {
            "ltv": i * 0.5, "orders": i % 50, "segment": SEGMENTS[i % 4], "vip": i % 7 == 0,
            "last_order_at": ts, "first_name": "Ann", "country": "FR",
        }, events=events)


# --- a do-nothing HTTP server, in its own process -------------------------------------------------------

_REPLY = (b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 21\r\n"
          b"X-RateLimit-Remaining: 100000\r\n\r\n{\"message\":\"success\"}")


def _sink(port_queue, limit=None, period=1.0) -> None:
    """Answer 201 to every request; with ``limit``, count requests in fixed windows of ``period`` seconds
    (aligned to the epoch, like an epoch X-RateLimit-Reset) and answer 429 past the limit."""
    import asyncio
    import math

    state = {"window": None, "count": 0, "rejected": 0}

    def reply() -> bytes:
        if limit is None:
            return _REPLY
        now = time.time()
        window = math.floor(now / period)
        if window != state["window"]:
            state["window"], state["count"] = window, 0
        state["count"] += 1
        reset = (window + 1) * period
        if state["count"] > limit:
            state["rejected"] += 1
            wait = max(1, math.ceil(reset - now))
            return (b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n"
                    b"X-Ratelimit-Retry-After: %d\r\n\r\n" % wait)
        body = b'{"message":"success"}'
        return (b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                b"X-RateLimit-Limit: %d\r\nX-RateLimit-Remaining: %d\r\nX-RateLimit-Reset: %d\r\n\r\n%s"
                % (len(body), limit, limit - state["count"], int(reset), body))

    class Sink(asyncio.Protocol):
        def connection_made(self, transport):
            self.t, self.buf = transport, b""

        def data_received(self, data):
            self.buf += data
            while True:
                head_end = self.buf.find(b"\r\n\r\n")
                if head_end < 0:
                    return
                head = self.buf[:head_end].lower()
                if head.startswith(b"get /stats"):
                    self.buf = self.buf[head_end + 4:]
                    body = json.dumps(state).encode()
                    self.t.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                    continue
                at = head.find(b"content-length:")
                line_end = head.find(b"\r\n", at)
                length = int(head[at + 15:line_end if line_end > 0 else None]) if at >= 0 else 0
                end = head_end + 4 + length
                if len(self.buf) < end:
                    return
                self.buf = self.buf[end:]
                self.t.write(reply())

    async def main():
        server = await asyncio.get_running_loop().create_server(Sink, "127.0.0.1", 0)
        port_queue.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def start_sink(limit=None, period=1.0):
    q = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_sink, args=(q, limit, period), daemon=True)
    proc.start()
    return proc, f"http://127.0.0.1:{q.get(timeout=10)}"


# --- measurement ----------------------------------------------------------------------------------------

def deliver(url: str, n: int, *, transport: str = "http", workers: int = 4, limit: tuple[int, float] | None = None,
            events_every: int = 0, **settings) -> dict:
    forget_limiters()
    dest = Destination(url, API_KEY, rate_limit=RateLimit(*(limit or (10_000_000, 1.0))), workers=workers, **settings)
    cls = HttpTransport if transport == "http" else RequestsTransport
    client = BrazeClient(dest, schema=SCHEMA,
                         transport_factory=lambda: cls(dest.endpoint, dest.api_key, dest.timeout, dest.connect_timeout))
    statuses: dict[str, int] = {}
    keys = set()
    flagged = set()
    wall, cpu = time.perf_counter(), time.process_time()
    for outcome in client.track(rows(n, events_every)):
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
        keys.add(outcome.key)
        if outcome.possibly_duplicated:
            flagged.add(outcome.key)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    s = client.stats
    return {
        "rows": n, "outcomes": sum(statuses.values()), "distinct_keys": len(keys), "statuses": statuses,
        "requests": s.requests, "batches": s.batches, "throttled_429": s.throttled,
        "possibly_duplicated": s.possibly_duplicated, "limiter_pauses": client.track_limiter.paused,
        "wall_s": round(wall, 2),
        "requests_per_s": round(s.requests / wall), "objects_per_s": round(n / wall),
        "client_cpu_share_of_one_core": round(cpu / wall, 2), "transport": transport, "workers": workers,
        "_flagged": flagged,
    }


def emulator(**config):
    from reverse_etl.emulator import EmulatorConfig, start_emulator

    return start_emulator(EmulatorConfig(api_key=API_KEY, **config), mode="process")


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.load(r)


def _post(url: str, body: dict) -> None:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()


def scenario_sink(args) -> dict:
    proc, url = start_sink()
    try:
        return {"scenario": "sink"} | deliver(url, args.rows, transport=args.transport, workers=args.workers)
    finally:
        proc.terminate()


def _children_cpu() -> float:
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def scenario_ceiling(args) -> dict:
    with emulator(rate_limit_requests=None) as h:
        before = _children_cpu()
        result = deliver(h.url, args.rows, transport=args.transport, workers=args.workers)
        emulator_cpu = _children_cpu() - before
        counters = _get(h.url + "/_emulator/counters")
    return {"scenario": "ceiling", "emulator_requests": counters.get("requests"),
            "emulator_cpu_share_of_one_core": round(emulator_cpu / result["wall_s"], 2)} | result


def scenario_limited(args) -> dict:
    n = int(args.limit / args.period * args.seconds * 75)
    with emulator(rate_limit_requests=args.limit, rate_limit_period=args.period) as h:
        result = deliver(h.url, n, transport=args.transport, workers=args.workers, limit=(args.limit, args.period))
        counters = _get(h.url + "/_emulator/counters")
    achieved = result["requests"] / result["wall_s"] * args.period
    return {"scenario": "limited", "limit": f"{args.limit} per {args.period:g}s",
            "achieved_share_of_limit": round(achieved / args.limit, 3),
            "emulator_rate_limited": counters.get("rate_limited")} | result


def scenario_limited_sink(args) -> dict:
    """The configured-limit check against the sink's strict fixed-window counter (no emulator needed)."""
    n = int(args.limit / args.period * args.seconds * 75)
    proc, url = start_sink(args.limit, args.period)
    try:
        result = deliver(url, n, transport=args.transport, workers=args.workers, limit=(args.limit, args.period))
        server = _get(url + "/stats")
    finally:
        proc.terminate()
    achieved = result["requests"] / result["wall_s"] * args.period
    return {"scenario": "limited_sink", "limit": f"{args.limit} per {args.period:g}s",
            "achieved_share_of_limit": round(achieved / args.limit, 3), "server_429s": server["rejected"]} | result


def scenario_faults(args) -> dict:
    n = args.fault_rows
    with emulator(rate_limit_requests=None) as h:
        _post(h.url + "/_emulator/faults", {"error_rate": 0.1, "error_statuses": [500, 502, 503],
                                            "drop_before_apply_rate": 0.05, "drop_after_apply_rate": 0.05,
                                            "seed": 1})
        result = deliver(h.url, n, workers=args.workers, events_every=3, max_attempts=8,
                         backoff_base=0.05, backoff_cap=1.0)
        _post(h.url + "/_emulator/faults", {})
        profiles = _get(h.url + "/_emulator/profiles")["profiles"]
        counters = _get(h.url + "/_emulator/counters")
    stored = {p.get("external_id"): p for p in profiles}
    missing = [i for i in range(n) if f"user-{i}" not in stored]
    flagged = result.pop("_flagged")
    doubled = {i for i in range(n) if len((stored.get(f"user-{i}") or {}).get("events") or []) > 1}
    return {"scenario": "faults", "every_row_has_one_outcome": result["outcomes"] == result["distinct_keys"] == n,
            "delivered_but_missing_in_emulator": len(missing) if result["statuses"].get("failed", 0) == 0 else None,
            "events_recorded_twice": len(doubled), "recorded_twice_but_not_flagged": len(doubled - flagged),
            "emulator_errors": counters.get("errors")} | result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", choices=("sink", "ceiling", "limited", "limited_sink", "faults", "all"), default="all")
    p.add_argument("--rows", type=int, default=300_000)
    p.add_argument("--fault-rows", type=int, default=30_000)
    p.add_argument("--transport", choices=("http", "requests"), default="http")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--limit", type=int, default=600)
    p.add_argument("--period", type=float, default=3.0)
    p.add_argument("--seconds", type=float, default=15.0, help="length of the limited run")
    args = p.parse_args()
    chosen = ("sink", "ceiling", "limited", "faults") if args.scenario == "all" else (args.scenario,)
    for name in chosen:
        result = globals()[f"scenario_{name}"](args)
        result.pop("_flagged", None)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
