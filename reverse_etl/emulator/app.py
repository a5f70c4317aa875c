"""The emulated Braze instance behind the HTTP layer: routing, auth, limits, faults, counters, introspection.

No sockets here: :meth:`Emulator.handle` takes a parsed :class:`Request` and returns a :class:`Response`
(or, when a fault delays the answer, a coroutine that returns one). It runs on one event-loop thread, so
each request is applied whole before the next starts.

Braze namespace: ``Authorization: Bearer <key>`` (401 otherwise), ``Content-Type: application/json`` (415),
at most 4 MB (413) [braze-api.md 1.1, 1.2, 2.2]. Each endpoint group has its own fixed-window rate limit;
answers carry ``X-RateLimit-Limit/Remaining/Reset`` and a 429 adds ``X-Ratelimit-Retry-After`` and
``Retry-After`` [3.3]. ``/_emulator/...`` is outside Braze's namespace, needs no key, and answers loopback
clients only.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson

from . import others, track
from .config import EmulatorConfig
from .faults import FaultError, Faults
from .store import Store

MAX_BODY = 4 * 1024 * 1024  # [1.2]
ROUTES = {  # path -> rate-limit group [3.2]
    "/users/track": "track",
    "/users/export/ids": "export",
    "/users/delete": "users",
    "/users/alias/new": "users",
    "/users/identify": "users",
    "/users/merge": "users",
    "/subscription/status/set": "subscription",
}
COUNTERS = ("requests", "rate_limited", "errors", "object_errors", "data_points", "attributes_processed",
            "events_processed", "purchases_processed", "faults_injected", "dropped_connections")


@dataclass(slots=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    too_large: bool = False
    loopback: bool = True


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    close: bool = False
    drop: bool = False  # close the connection without answering


def answer(status: int, body: Any, headers: list[tuple[str, str]] | None = None, close: bool = False) -> Response:
    return Response(status, orjson.dumps(body), headers or [], close)


class Limiter:
    """Fixed windows aligned on the epoch: at most ``requests`` per ``period`` seconds."""

    def __init__(self, requests: int | None, period: float):
        self.requests, self.period = requests, period
        self.window, self.used = -1, 0

    def take(self) -> tuple[bool, int, float]:
        """(allowed, remaining, epoch at which the window resets)."""
        now = time.time()
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
            "users": Limiter(config.users_rate_requests, 60.0),
            "subscription": Limiter(config.subscription_rate_requests, 60.0),
        }
        self.track_options = track.TrackOptions(config.array_max, config.error_types,
                                                frozenset(config.blocked_external_ids))
        self.faults = Faults(dict(config.faults or {}))
        self.auth = f"Bearer {config.api_key}"
        self.recent: deque[dict] = deque(maxlen=500)
        self.connections: set = set()  # the HTTP layer's open connections
        self.reset_counters()

    def reset_counters(self) -> None:
        self.counters: dict[str, Any] = dict.fromkeys(COUNTERS, 0)
        self.counters["requests_by_endpoint"] = {}
        self.recent.clear()

    # ------------------------------------------------------------------------------------------ Braze side
    def handle(self, req: Request) -> Response | Any:
        """Answer one request: a :class:`Response`, or a coroutine returning one when a fault delays it."""
        if req.path.startswith("/_emulator/") or req.path == "/_emulator":
            if not req.loopback:
                return answer(403, {"message": "The emulator's introspection answers loopback clients only."})
            return self._introspect(req)
        resp = self._braze(req)
        if isinstance(resp, Response) and resp.status >= 400:
            self.counters["errors"] += 1
        return resp

    def _braze(self, req: Request) -> Response | Any:
        group = ROUTES.get(req.path)
        if group is None or req.method != "POST":
            return answer(404, {"message": "Not Found"}, close=req.too_large)  # invalid URL [2.2]
        counters = self.counters
        counters["requests"] += 1
        by = counters["requests_by_endpoint"]
        by[req.path] = by.get(req.path, 0) + 1
        if req.too_large:
            return answer(413, {"message": "Request Entity Too Large"}, close=True)
        if req.headers.get("authorization") != self.auth:
            return answer(401, {"message": "Invalid API Key"})
        ctype = req.headers.get("content-type", "")
        if ctype != "application/json" and ctype.split(";", 1)[0].strip().lower() != "application/json":
            return answer(415, {"message": "Unsupported Media Type: send Content-Type: application/json"})
        faults = self.faults
        if faults.active:
            early = self._fault_before()
            if early is not None:
                return early
        allowed, remaining, reset = self.limiters[group].take()
        headers = self._rate_headers(group, remaining, reset)
        if not allowed or (faults.active and faults.take_burst()):
            counters["rate_limited"] += 1
            if allowed:
                counters["faults_injected"] += 1
            wait = str(max(1, math.ceil(reset - time.time())))
            return answer(429, {"message": "Rate Limited"},
                          headers + [("X-Ratelimit-Retry-After", wait), ("Retry-After", wait)])
        try:
            body = orjson.loads(req.body)
        except orjson.JSONDecodeError:
            return answer(400, {"message": "Invalid JSON in request body."}, headers)  # [2.2]
        status, out, points, objects = self._dispatch(req.path, body)
        if req.path == "/users/track" and status < 300:
            headers.append(("X-Emulator-Data-Points", str(points)))
        self.recent.append({"at": time.time(), "endpoint": req.path, "status": status, "objects": objects,
                            "data_points": points})
        resp = answer(status, out, headers)
        if faults.active:
            if faults.roll("drop_after_apply_rate"):
                counters["faults_injected"] += 1
                counters["dropped_connections"] += 1
                return Response(0, drop=True)  # applied, but the client never learns it
            if faults.latency:
                return self._later(resp, faults.latency)
        return resp

    def _fault_before(self) -> Response | Any | None:
        """Faults that strike before anything is applied; None when none struck."""
        faults, counters = self.faults, self.counters
        if faults.roll("hang_rate"):
            counters["faults_injected"] += 1
            counters["dropped_connections"] += 1
            return self._later(Response(0, drop=True), faults.hang_seconds)
        if faults.roll("drop_before_apply_rate"):
            counters["faults_injected"] += 1
            counters["dropped_connections"] += 1
            return Response(0, drop=True)
        if faults.roll("error_rate"):
            counters["faults_injected"] += 1
            resp = answer(faults.error_status(), {"message": "Internal Server Error (injected by the emulator)"})
            if faults.latency:
                counters["errors"] += 1  # handle() counts only the answers it returns at once
                return self._later(resp, faults.latency)
            return resp
        return None

    @staticmethod
    async def _later(resp: Response, seconds: float) -> Response:
        await asyncio.sleep(seconds)
        return resp

    def _rate_headers(self, group: str, remaining: int, reset: float) -> list[tuple[str, str]]:
        limiter = self.limiters[group]
        shown = reset if self.config.reset_header == "epoch" else max(0.0, reset - time.time())
        return [("X-RateLimit-Limit", str(limiter.requests if limiter.requests is not None else 1_000_000)),
                ("X-RateLimit-Remaining", str(remaining)), ("X-RateLimit-Reset", str(math.ceil(shown)))]

    def _dispatch(self, path: str, body: Any) -> tuple[int, dict, int, int]:
        """(status, body, data points, objects) of a parsed request."""
        store = self.store
        if path == "/users/track":
            try:
                track.check_shape(body, self.config.objects_per_request, self.config.legacy_per_array)
            except track.BodyError as exc:
                return 400, {"message": str(exc)}, 0, 0
            result = track.process(store, body, self.track_options)
            c = self.counters
            c["data_points"] += result.data_points
            c["object_errors"] += result.object_errors
            for array, n in result.processed.items():
                c[f"{array}_processed"] += n
            objects = sum(len(body.get(a, ())) for a in track.ARRAYS)
            return result.status, result.body, result.data_points, objects
        if not isinstance(body, dict):
            return 400, {"message": "Request body must be a JSON object."}, 0, 0
        if path == "/users/export/ids":
            status, out = others.export_ids(store, body, self.config.require_fields_to_export)
        else:
            handler = {"/users/delete": others.delete, "/users/alias/new": others.alias_new,
                       "/users/identify": others.identify, "/users/merge": others.merge,
                       "/subscription/status/set": others.subscription_status}[path]
            store.begin()
            status, out = handler(store, body)
        return status, out, 0, 0

    # --------------------------------------------------------------------------------------- introspection
    def _introspect(self, req: Request) -> Response:
        path, store = req.path.rstrip("/"), self.store
        if req.method == "GET":
            if path == "/_emulator/profiles":
                return answer(200, {"profiles": [store.public(p) for p in store.profiles.values()]})
            if path.startswith("/_emulator/profiles/"):
                p = store.by_external_id(unquote(path[len("/_emulator/profiles/"):]))
                return answer(200, store.public(p)) if p else answer(404, {"message": "No profile with that "
                                                                                      "external_id"})
            if path == "/_emulator/counters":
                return answer(200, {**self.counters, "profiles": len(store.profiles),
                                     "open_connections": len(self.connections)})
            if path == "/_emulator/requests":
                return answer(200, {"requests": list(self.recent)})
            if path == "/_emulator/faults":
                return answer(200, self.faults.settings)
            if path == "/_emulator/config":
                return answer(200, {k: val for k, val in asdict(self.config).items() if k != "api_key"})
        elif req.method == "POST":
            if path == "/_emulator/reset":
                store.reset()
                self.reset_counters()
                return answer(200, {"message": "reset"})
            if path == "/_emulator/faults":
                try:
                    self.faults.set(orjson.loads(req.body or b"{}"))
                except (orjson.JSONDecodeError, FaultError) as exc:
                    return answer(400, {"message": f"bad fault settings: {exc}"})
                return answer(200, self.faults.settings)
        return answer(404, {"message": "Not Found (introspection: GET profiles, profiles/<external_id>, counters, "
                                       "requests, faults, config; POST reset, faults)"})
