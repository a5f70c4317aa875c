"""Salesforce source: one sObject read incrementally with SOQL over the REST API, upserted by Id.

Each run:

1. gets an OAuth 2.0 token from ``login_url`` (client_credentials, refresh_token or password; secrets read from
   the environment variables the manifest names) and calls the ``instance_url`` it answers with;
2. reads the fields (``fields``, or every field the object's describe lists, base64 ones excepted);
3. runs ``SELECT <fields> FROM <Object> WHERE SystemModstamp >= <high-water mark - overlap_seconds> ORDER BY
   SystemModstamp, Id`` through ``queryAll`` (deleted records included, ``IsDeleted`` true) or ``query``, and
   follows ``nextRecordsUrl`` page by page;
4. commits each page in one transaction: its records upserted into ``raw_<source>`` by Id (``_deleted`` from
   IsDeleted) and the new high-water mark (the page's latest SystemModstamp) in ``source_cursors``.

Because the rows come in SystemModstamp order, a committed mark means every record stamped before it is
landed: a crash or an error mid-paging loses nothing, and the next run starts again from the mark. Records
read twice (the page at the mark, the overlap window) are upserts of the same version: nothing doubles. A 401
(the session ended) gets a new token once; 429/5xx are retried by :mod:`.http`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

import psycopg

from ..braze.destination import is_loopback
from . import store
from .api_config import SalesforceSourceConfig
from .config import read_env
from .http import ApiError, ApiResult, call, failure, retries_of, session

log = logging.getLogger(__name__)
SKIPPED_TYPES = {"base64"}  # a base64 field in a query returns a URL per record, not data: read them apart


def parse_time(value: str) -> dt.datetime:
    """Salesforce's ``2026-01-01T00:00:00.000+0000`` (or ISO 8601) as an aware datetime."""
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    return dt.datetime.fromisoformat(text)


def soql_time(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql(source: SalesforceSourceConfig, fields: list[str], since: dt.datetime | None) -> str:
    """The extract query; names were validated as SOQL identifiers, the time is a dateTime literal."""
    where = f" WHERE SystemModstamp >= {soql_time(since)}" if since else ""
    return f"SELECT {', '.join(fields)} FROM {source.object}{where} ORDER BY SystemModstamp ASC, Id ASC"


class Client:
    """An authenticated Salesforce REST session for one source."""

    def __init__(self, source: SalesforceSourceConfig):
        self.source = source
        self.who = f"Source {source.name!r} (Salesforce {source.object})"
        self.http = session(source.http)
        self.instance_url = ""
        self.retries = 0

    def authenticate(self) -> None:
        """Get a token with the configured flow; refusals name the variables to check, never their values."""
        s = self.source
        who = f"Source {s.name!r}"
        form = {"grant_type": s.auth, "client_id": read_env(s.client_id_env, who, "the consumer key")}
        names = [s.client_id_env]
        if s.client_secret_env:
            form["client_secret"] = read_env(s.client_secret_env, who, "the consumer secret")
            names.append(s.client_secret_env)
        if s.auth == "refresh_token":
            form["refresh_token"] = read_env(s.refresh_token_env, who, "the refresh token")
            names.append(s.refresh_token_env)
        if s.auth == "password":
            form["username"] = s.username
            form["password"] = read_env(s.password_env, who, "the password followed by the security token")
            names.append(s.password_env)
        response = call(self.http, "POST", f"{s.login_url}/services/oauth2/token", self.who, s.http.timeout,
                        data=form)
        self.retries += retries_of(response)
        if response.status_code != 200:
            raise failure(response, self.who, f"Salesforce refused the {s.auth} login at {s.login_url}: check "
                                              f"{', '.join(names)} and that the connected app allows this flow.")
        body = response.json()
        instance = urlsplit(body.get("instance_url") or s.login_url)
        if instance.scheme != "https" and not is_loopback(instance.hostname or ""):
            # The token goes wherever instance_url says: never in clear text beyond this machine.
            raise ApiError(f"{self.who}: the token answer names a non-HTTPS instance_url ({instance.netloc}); "
                           f"check sources.{s.name}.login_url is your Salesforce My Domain URL.")
        self.http.headers["Authorization"] = f"Bearer {body['access_token']}"
        self.instance_url = f"{instance.scheme}://{instance.netloc}"

    def get(self, path: str, fix: str, **kwargs) -> Any:
        """GET a path of the instance; on 401 (the session ended) authenticate once more and repeat."""
        url = f"{self.instance_url}{path}"
        for attempt in (1, 2):
            response = call(self.http, "GET", url, self.who, self.source.http.timeout, **kwargs)
            self.retries += retries_of(response)
            if response.status_code == 401 and attempt == 1:
                log.info("source %s: session expired; getting a new token", self.source.name)
                self.authenticate()
                continue
            if response.status_code == 403 and "REQUEST_LIMIT_EXCEEDED" in response.text:
                fix = ("the org's API request limit is spent: run ingest again once it resets; it resumes from "
                       "the stored cursor.")
            if response.status_code != 200:
                raise failure(response, self.who, fix)
            return response.json()
        raise AssertionError("unreachable")

    def describe_fields(self) -> list[str]:
        s = self.source
        body = self.get(f"/services/data/v{s.api_version}/sobjects/{s.object}/describe",
                        f"check sources.{s.name}.object names an sObject the integration user can read.")
        names = [f["name"] for f in body["fields"] if f.get("type") not in SKIPPED_TYPES]
        return list(dict.fromkeys(["Id", "SystemModstamp", "IsDeleted", *names]))


def ingest(conn: psycopg.Connection, source: SalesforceSourceConfig, state_schema: str) -> ApiResult:
    """Land the records changed since the stored high-water mark; the caller holds the source's lock."""
    started = time.monotonic()
    result = ApiResult(source.name, "salesforce")
    store.ensure_api_table(conn, source.schema, source.table)
    stored = store.read_cursor(conn, state_schema, source.name)
    mark = parse_time(stored) if stored else source.start
    result.cursor = stored
    client = Client(source)
    client.authenticate()
    fields = list(source.fields) or client.describe_fields()
    since = mark - dt.timedelta(seconds=source.overlap_seconds) if mark else None
    endpoint = "queryAll" if source.include_deleted else "query"
    path: str | None = f"/services/data/v{source.api_version}/{endpoint}"
    params: dict[str, str] | None = {"q": soql(source, fields, since)}
    headers = {"Sforce-Query-Options": f"batchSize={source.page_size}"}
    fix = f"check sources.{source.name}: object, fields and api_version."
    while path:
        body = client.get(path, fix, params=params, headers=headers)
        rows = []
        for record in body.get("records", []):
            record.pop("attributes", None)
            stamp = parse_time(record["SystemModstamp"])
            rows.append((record["Id"], stamp, bool(record.get("IsDeleted")), json.dumps(record)))
            mark = stamp if mark is None or stamp > mark else mark
        if rows:
            result.cursor = mark.isoformat()
            result.changed += store.commit_page(conn, state_schema, source.schema, source.table, source.name,
                                                rows, result.cursor)
            result.pages += 1
            result.records += len(rows)
            result.deleted += sum(1 for r in rows if r[2])
            log.info("source %s: page %d committed, %d records, high-water mark %s", source.name, result.pages,
                     len(rows), result.cursor)
        if body.get("done", True):
            break
        if not body.get("nextRecordsUrl"):
            raise ApiError(f"{client.who}: an answer had done=false but no nextRecordsUrl; run ingest again (it "
                           f"resumes from the stored mark).")
        path, params = body["nextRecordsUrl"], None
    result.retries = client.retries
    result.seconds = time.monotonic() - started
    return result
