"""The HTTP side of the emulator: auth, content type, size, rate limits, faults, routing, introspection.

Requests to the Braze namespace need ``Authorization: Bearer <key>`` (401 otherwise) and a JSON content type
(415); bodies over 4 MB get 413 [braze-api.md 1.2, 2.2]. Each endpoint group has its own fixed-window rate
limit; every answer carries ``X-RateLimit-Limit/Remaining/Reset`` and a 429 adds ``X-Ratelimit-Retry-After``
and ``Retry-After`` [3.3]. ``/_emulator/...`` is outside Braze's namespace and needs no key (loopback only).
"""

from __future__ import annotations

import json
import math
import random
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import others, track
from .config import EmulatorConfig
from .store import Store

MAX_BODY = 4 * 1024 * 1024
ROUTES = {
    "/users/track": "track",
    "/users/export/ids": "export",
    "/users/delete": "users_misc",
    "/users/alias/new": "users_misc",
    "/users/identify": "users_misc",
    "/users/merge": "users_misc",
    "/subscription/status/set": "subscription",
}
FAULT_KEYS = {"error_rate", "error_statuses", "rate_limit_burst", "latency_ms", "drop_before_apply_rate",
              "drop_after_apply_rate", "hang_rate", "hang_seconds", "seed"}


class Limiter:
    """Fixed windows aligned on the epoch: at most ``requests`` per ``period`` seconds."""

    def __init__(self, requests: int | None, period: float):
        self.requests, self.period = requests, period
        self.window, self.used = -1, 0
        self.lock = threading.Lock()

    def take(self) -> tuple[bool, int, float]:
        """(allowed, remaining, window reset epoch)."""
        now = time.time()
        with self.lock:
            window = int(now // self.period)
            if window != self.window:
                self.window, self.used = window, 0
            reset = (window + 1) * self.period
            if self.requests is None:
                return True, 1_000_000, reset
            if self.used >= self.requests:
                return False, 0, reset
            self.used += 1
            return True, self.requests - self.used, reset


class Emulator:
    """State, counters, faults and limits of one emulated Braze instance."""

    def __init__(self, config: EmulatorConfig):
        self.config = config
        self.store = Store(config.state_file, config.keep_events)
        self.limiters = {
            "track": Limiter(config.rate_limit_requests, config.rate_limit_period),
            "export": Limiter(config.export_rate_requests, config.export_rate_period),
            "users_misc": Limiter(20_000, 60.0),
            "subscription": Limiter(5_000, 60.0),
        }
        self.counters_lock = threading.Lock()
        self.reset_counters()
        self.faults: dict[str, Any] = {}
        self.rng = random.Random()
        self.set_faults(dict(config.faults or {}))

    def reset_counters(self) -> None:
        with self.counters_lock:
            self.counters: dict[str, Any] = {
                "requests": 0, "requests_by_endpoint": {}, "rate_limited": 0, "errors": 0, "object_errors": 0,
                "data_points": 0, "attributes_processed": 0, "events_processed": 0, "purchases_processed": 0,
                "faults_injected": 0, "dropped_connections": 0,
            }

    def count(self, **amounts: int) -> None:
        with self.counters_lock:
            for key, n in amounts.items():
                self.counters[key] += n

    def set_faults(self, faults: dict) -> None:
        unknown = set(faults) - FAULT_KEYS
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        self.faults = faults
        self.rng = random.Random(faults.get("seed"))
        self.burst = int(faults.get("rate_limit_burst", 0))

    def roll(self, key: str) -> bool:
        rate = float(self.faults.get(key, 0) or 0)
        return rate > 0 and self.rng.random() < rate


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "BrazeEmulator/1.0"
    emulator: Emulator  # set on the subclass built by make_server

    def log_message(self, *args: Any) -> None:  # no access log: bodies hold personal data and keys
        return

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # --------------------------------------------------------------------------------------- answering
    def _send(self, status: int, body: dict, headers: dict[str, str] | None = None, close: bool = False) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, val in (headers or {}).items():
            self.send_header(k, val)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)
        if status >= 400:
            self.emulator.count(errors=1)

    def _drop(self) -> None:
        """Close the connection without an answer, as a failing network or proxy would."""
        self.emulator.count(dropped_connections=1, faults_injected=1)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _rate_headers(self, group: str, remaining: int, reset: float) -> dict[str, str]:
        limiter = self.emulator.limiters[group]
        shown = reset if self.emulator.config.reset_header == "epoch" else max(0.0, reset - time.time())
        return {"X-RateLimit-Limit": str(limiter.requests if limiter.requests is not None else 1_000_000),
                "X-RateLimit-Remaining": str(max(0, remaining)), "X-RateLimit-Reset": str(math.ceil(shown))}

    # ----------------------------------------------------------------------------------------- methods
    def do_GET(self) -> None:
        emu = self.emulator
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/_emulator/profiles":
            with emu.store.lock:
                profiles = [emu.store.public(p) for p in emu.store.profiles.values()]
            return self._send(200, {"profiles": profiles})
        if path.startswith("/_emulator/profiles/"):
            from urllib.parse import unquote

            with emu.store.lock:
                p = emu.store.by_external_id(unquote(path[len("/_emulator/profiles/"):]))
                body = emu.store.public(p) if p else None
            return self._send(200, body) if body else self._send(404, {"message": "No such profile"})
        if path == "/_emulator/counters":
            with emu.counters_lock:
                return self._send(200, json.loads(json.dumps(emu.counters)))
        if path == "/_emulator/faults":
            return self._send(200, emu.faults)
        self._send(404, {"message": "Not Found"})

    def do_PUT(self) -> None:
        self._discard_body()
        self._send(404 if self.path.split("?")[0] not in ROUTES else 405, {"message": "Not Found"})

    do_DELETE = do_PATCH = do_PUT

    def _discard_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def do_POST(self) -> None:
        emu = self.emulator
        path = self.path.split("?", 1)[0]
        if path.startswith("/_emulator/"):
            return self._introspect(path, self._discard_body())
        group = ROUTES.get(path)
        if group is None:
            self._discard_body()
            return self._send(404, {"message": "Not Found"})
        emu.count(requests=1)
        with emu.counters_lock:
            by = emu.counters["requests_by_endpoint"]
            by[path] = by.get(path, 0) + 1
        raw = self._discard_body()
        if raw is None:
            return self._send(413, {"message": "Request Entity Too Large"}, close=True)
        if self.headers.get("Authorization", "") != f"Bearer {emu.config.api_key}":
            return self._send(401, {"message": "Invalid API Key"})
        if (self.headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
            return self._send(415, {"message": "Unsupported Media Type: send Content-Type: application/json"})
        if self._fault_before():
            return
        allowed, remaining, reset = emu.limiters[group].take()
        rate_headers = self._rate_headers(group, remaining, reset)
        if not allowed or (emu.burst > 0 and self._take_burst()):
            emu.count(rate_limited=1)
            wait = str(max(1, math.ceil(reset - time.time())))
            return self._send(429, {"message": "Rate Limited"},
                              {**rate_headers, "X-Ratelimit-Retry-After": wait, "Retry-After": wait})
        try:
            body = json.loads(raw)
        except ValueError:
            return self._send(400, {"message": "Invalid JSON in request body."}, rate_headers)
        status, answer = self._dispatch(path, body)
        if emu.roll("drop_after_apply_rate"):
            return self._drop()  # applied, but the client never learns it
        if emu.faults.get("latency_ms"):
            time.sleep(float(emu.faults["latency_ms"]) / 1000)
        self._send(status, answer, rate_headers)

    def _take_burst(self) -> bool:
        emu = self.emulator
        with emu.counters_lock:
            if emu.burst > 0:
                emu.burst -= 1
                emu.counters["faults_injected"] += 1
                return True
        return False

    def _fault_before(self) -> bool:
        """Faults that strike before the request is applied; True when the request was answered."""
        emu = self.emulator
        if emu.roll("hang_rate"):
            time.sleep(float(emu.faults.get("hang_seconds", 30)))
            self._drop()
            return True
        if emu.roll("drop_before_apply_rate"):
            self._drop()
            return True
        if emu.roll("error_rate"):
            statuses = emu.faults.get("error_statuses") or [500, 502, 503]
            emu.count(faults_injected=1)
            self._send(int(emu.rng.choice(statuses)), {"message": "Internal Server Error (injected)"})
            return True
        return False

    def _dispatch(self, path: str, body: Any) -> tuple[int, dict]:
        emu = self.emulator
        if path == "/users/track":
            try:
                track.check_shape(body, emu.config.objects_per_request, emu.config.legacy_per_array)
            except track.BodyError as exc:
                return 400, {"message": str(exc)}
            with emu.store.lock:
                result = track.process(emu.store, body, emu.config.array_max)
            emu.count(data_points=result.data_points, object_errors=result.object_errors,
                      **{f"{a}_processed": n for a, n in result.processed.items()})
            return result.status, result.body
        if not isinstance(body, dict):
            return 400, {"message": "Request body must be a JSON object."}
        handler = {"/users/export/ids": lambda s, b: others.export_ids(s, b, emu.config.require_fields_to_export),
                   "/users/delete": others.delete, "/users/alias/new": others.alias_new,
                   "/users/identify": others.identify, "/users/merge": others.merge,
                   "/subscription/status/set": others.subscription_status}[path]
        with emu.store.lock:
            return handler(emu.store, body)

    def _introspect(self, path: str, raw: bytes | None) -> None:
        emu = self.emulator
        if path.rstrip("/") == "/_emulator/reset":
            with emu.store.lock:
                emu.store.reset()
            emu.reset_counters()
            return self._send(200, {"message": "reset"})
        if path.rstrip("/") == "/_emulator/faults":
            try:
                faults = json.loads(raw or b"{}")
                emu.set_faults(faults if isinstance(faults, dict) else {"bad": faults})
            except ValueError as exc:
                return self._send(400, {"message": f"bad faults: {exc}"})
            return self._send(200, emu.faults)
        self._send(404, {"message": "Not Found"})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def make_server(config: EmulatorConfig) -> tuple[Server, Emulator]:
    emulator = Emulator(config)
    handler = type("BoundHandler", (Handler,), {"emulator": emulator})
    server = Server((config.host, config.port), handler)
    return server, emulator
