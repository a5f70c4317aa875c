"""Zendesk source: tickets or users through the cursor-based incremental export, upserted by id.

The first run starts at ``start`` (or the beginning: ``start_time=0``); every page's items are upserted into
``raw_<source>`` and its ``after_cursor`` stored in ``source_cursors`` in the same transaction, so a crash or
an error mid-export resumes from the last committed page, and the next run polls from where the last one
ended (``end_of_stream``). Items changed again come again (a later version: the row is updated); an item read
twice is the same version (nothing changes). Deleted tickets (``status: deleted``) and deleted users
(``active: false``) are flagged ``_deleted``. 429 (the export allows 10 requests a minute) and 5xx are
retried after ``Retry-After`` by :mod:`.http`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

import psycopg

from . import store
from .api_config import ZendeskSourceConfig
from .config import read_env
from .http import ApiError, ApiResult, get_json, session

log = logging.getLogger(__name__)
FIXES = {
    401: "Zendesk refused the API token: check that {env} holds a token of {email} and that token access is on "
         "(Admin Center > Apps and integrations > Zendesk API).",
    403: "{email} may not export: incremental exports need an admin.",
    404: "check sources.{name}.url is your Zendesk URL (https://<subdomain>.zendesk.com).",
}


def modified_at(item: dict, resource: str) -> dt.datetime:
    """The item's position in the export: a ticket's ``generated_timestamp``, a user's ``updated_at``."""
    if resource == "tickets" and item.get("generated_timestamp") is not None:
        return dt.datetime.fromtimestamp(int(item["generated_timestamp"]), dt.timezone.utc)
    return dt.datetime.fromisoformat(str(item["updated_at"]).replace("Z", "+00:00"))


def is_deleted(item: dict, resource: str) -> bool:
    return item.get("status") == "deleted" if resource == "tickets" else item.get("active") is False


def ingest(conn: psycopg.Connection, source: ZendeskSourceConfig, state_schema: str) -> ApiResult:
    """Export what changed since the stored cursor; the caller holds the source's lock."""
    started = time.monotonic()
    result = ApiResult(source.name, "zendesk")
    who = f"Source {source.name!r} (Zendesk {source.resource})"
    token = read_env(source.api_token_env, f"Source {source.name!r}", "the Zendesk API token")
    http = session(source.http)
    http.auth = (f"{source.email}/token", token)  # HTTP Basic, as Zendesk's API token authentication wants
    store.ensure_api_table(conn, source.schema, source.table)
    cursor = store.read_cursor(conn, state_schema, source.name)
    result.cursor = cursor
    url = f"{source.url}/api/v2/incremental/{source.resource}/cursor.json"
    start = int(source.start.timestamp()) if source.start else 0
    fix = f"check sources.{source.name}: url, email and resource."
    fixes = {status: text.format(env=source.api_token_env, email=source.email, name=source.name)
             for status, text in FIXES.items()}
    while True:
        params = {"per_page": source.per_page, **({"cursor": cursor} if cursor else {"start_time": start})}
        body, retried = get_json(http, url, who, source.http.timeout, fix, fixes, params=params)
        result.retries += retried
        items = body.get(source.resource)
        after = body.get("after_cursor")
        if not isinstance(items, list) or not after:
            raise ApiError(f"{who}: the answer has no {source.resource!r} list or no after_cursor; check "
                           f"sources.{source.name}.url points at Zendesk's API.")
        rows = [(str(i["id"]), modified_at(i, source.resource), is_deleted(i, source.resource), json.dumps(i))
                for i in items]
        if rows or after != cursor:
            result.changed += store.commit_page(conn, state_schema, source.schema, source.table, source.name,
                                                rows, after)
            result.pages += 1
            result.records += len(rows)
            result.deleted += sum(1 for r in rows if r[2])
            log.info("source %s: page %d committed, %d items", source.name, result.pages, len(rows))
        cursor = result.cursor = after
        if body.get("end_of_stream"):
            break
    result.seconds = time.monotonic() - started
    return result
