"""A fake Zendesk Support account on loopback: the cursor-based incremental export of tickets and users.

Facts from Zendesk's public documentation that this fake follows:

- ``GET /api/v2/incremental/tickets/cursor.json?start_time=<unix>`` (and ``/users/cursor.json``) starts a
  cursor-based export: every item created or changed at or after ``start_time``; later pages and later exports
  pass ``cursor=<after_cursor>`` instead (no start time). Answers: the items (``tickets`` / ``users``),
  ``after_cursor``, ``after_url``, ``before_cursor``, ``before_url``, ``end_of_stream`` (true when the request
  returned everything up to now). A client saves ``after_cursor`` and polls again from it later.
  https://developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
  https://developer.zendesk.com/documentation/ticketing/managing-tickets/using-the-incremental-export-api
- Items created or changed within the minute before the request are left out (they come in a later export).
  https://developer.zendesk.com/documentation/ticketing/managing-tickets/using-the-incremental-export-api
- Up to 1,000 items a page (``per_page``); tickets are ordered by their ``generated_timestamp``, users by
  ``updated_at``; an item changed again appears again later in the stream.
- Deleted tickets stay in the export with ``status: "deleted"`` (``exclude_deleted=true`` leaves them out);
  a deleted user comes back with ``active: false`` (as the Deleted Users API shows them).
  https://developer.zendesk.com/api-reference/ticketing/users/users/ (Deleted Users examples)
- Authentication is HTTP Basic with ``{email}/token:{api_token}``; a bad one gets 401
  ``{"error": "Couldn't authenticate you"}``. https://support.zendesk.com/hc/en-us/articles/4408831452954
- The incremental export endpoints allow 10 requests a minute (30 with High Volume API); over the limit the
  answer is 429 with ``Retry-After`` (seconds to wait).
  https://developer.zendesk.com/api-reference/introduction/rate-limits
- Cursors are opaque (base64 of the position, e.g. ``MTU4MDc1Mzc5OC4wfHw0MzJ8`` = ``1580753798.0||432|``).

Not modelled: sideloads, time-based export, ``exclude_deleted``, organizations and ticket events.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
from typing import Any

from .base import Answer, FakeServer

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
RESOURCES = ("tickets", "users")
PATHS = {f"/api/v2/incremental/{r}/cursor{ext}": r for r in RESOURCES for ext in (".json", "")}
HIDDEN_SECONDS = 60  # changes of the last minute are not exported yet


def z_time(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode(position: tuple[int, int]) -> str:
    return base64.b64encode(f"{position[0]}.0||{position[1]}|".encode()).decode()


def decode(cursor: str) -> tuple[int, int]:
    try:
        ts, _, rest = base64.b64decode(cursor, validate=True).decode().partition("||")
        return int(float(ts)), int(rest.rstrip("|"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise Answer(400, {"error": "InvalidCursor", "description": "The cursor is invalid"}) from None


class FakeZendesk(FakeServer):
    """One account with tickets and users; ``email``/``token`` is the only accepted credential."""

    def __init__(self, *, email: str, token: str, port: int = 0):
        super().__init__(port)
        self.authorization = "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()
        self.now = EPOCH
        self.items: dict[str, dict[int, dict[str, Any]]] = {r: {} for r in RESOURCES}
        self.positions: dict[str, dict[int, tuple[int, int]]] = {r: {} for r in RESOURCES}  # id -> (ts, id)
        self._ids = itertools.count(1001)

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += dt.timedelta(seconds=seconds)

    def settle(self) -> None:
        """Let a minute pass, so every change so far is exported."""
        self.advance(HIDDEN_SECONDS + 1)

    def put(self, resource: str, values: dict[str, Any]) -> int:
        """Create an item, or update the one whose ``id`` is given (the clock moves 1 s)."""
        with self.lock:
            self.now += dt.timedelta(seconds=1)
            table = self.items[resource]
            item = table.get(values.get("id", -1))
            if item is None:
                new_id = next(self._ids)
                base = {"id": new_id, "url": f"{self.url}/api/v2/{resource}/{new_id}.json",
                        "created_at": z_time(self.now)}
                if resource == "tickets":
                    base.update(subject=None, description=None, status="new", requester_id=None, tags=[])
                else:
                    base.update(name=None, email=None, phone=None, role="end-user", active=True, external_id=None)
                item = base
            item.update(values)
            item["updated_at"] = z_time(self.now)
            if resource == "tickets":
                item["generated_timestamp"] = int(self.now.timestamp())
            table[item["id"]] = item
            self.positions[resource][item["id"]] = self._position(item, resource)
            return item["id"]

    def delete(self, resource: str, item_id: int) -> None:
        """A deleted ticket gets status "deleted"; a deleted user ``active: false``."""
        self.put(resource, {"id": item_id, **({"status": "deleted"} if resource == "tickets" else {"active": False})})

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded"}
        return {"error": {"title": f"HTTP {status}", "message": "Server error"}}

    @staticmethod
    def _position(item: dict[str, Any], resource: str) -> tuple[int, int]:
        ts = item["generated_timestamp"] if resource == "tickets" else int(
            dt.datetime.fromisoformat(item["updated_at"].replace("Z", "+00:00")).timestamp())
        return ts, item["id"]

    def route(self, method, path, query, headers, body):
        resource = PATHS.get(path)
        if resource is None:
            raise Answer(404, {"error": "InvalidEndpoint", "description": "Not found"})
        if headers.get("Authorization") != self.authorization:
            raise Answer(401, {"error": "Couldn't authenticate you"})
        fault = self.fault()
        if fault:
            raise fault
        if method != "GET":
            raise Answer(405, {"error": "MethodNotAllowed"})
        per_page = query.get("per_page", ["1000"])[0]
        if not per_page.isdigit() or not 1 <= int(per_page) <= 1000:
            raise Answer(400, {"error": "InvalidPaginationParameter", "description": "per_page must be 1 to 1000"})
        if "cursor" in query:
            position = decode(query["cursor"][0])
        elif "start_time" in query and query["start_time"][0].isdigit():
            position = (int(query["start_time"][0]), -1)  # at or after start_time
        else:
            raise Answer(400, {"error": "InvalidPaginationParameter",
                               "description": "start_time or cursor is required"})
        with self.lock:
            horizon = int(self.now.timestamp()) - HIDDEN_SECONDS
            after = sorted(p for p in self.positions[resource].values() if p > position and p[0] <= horizon)
            page = after[: int(per_page)]
            items = [dict(self.items[resource][item_id]) for _, item_id in page]
        cursor = encode(page[-1] if page else position)
        return {resource: items, "after_cursor": cursor,
                "after_url": f"{self.url}/api/v2/incremental/{resource}/cursor.json?cursor={cursor}",
                "before_cursor": encode(page[0]) if page else None,
                "before_url": None, "end_of_stream": len(after) <= len(page)}
