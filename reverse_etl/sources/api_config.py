"""Validation of the API sources of ``sources:``: ``type: salesforce`` (one sObject) and ``type: zendesk``
(tickets or users). Called by :func:`reverse_etl.sources.config.parse_sources`; every problem names the key
and the fix. Credentials are environment variable *names*; the values are read when the source runs."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..braze.destination import is_loopback

SOQL_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # sObject and field API names (custom ones end in __c)
SOQL_FIELD_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")  # Account.Name: relationships
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ALWAYS_READ = ("Id", "SystemModstamp", "IsDeleted")


@dataclass(frozen=True)
class HttpSettings:
    max_retries: int
    backoff_max: float
    timeout: float


@dataclass(frozen=True)
class SalesforceSourceConfig:
    name: str
    schema: str
    table: str
    object: str
    fields: tuple[str, ...]
    login_url: str
    auth: str
    client_id_env: str
    client_secret_env: str | None
    refresh_token_env: str | None
    username: str | None
    password_env: str | None
    api_version: str
    include_deleted: bool
    overlap_seconds: int
    start: dt.datetime | None
    page_size: int
    http: HttpSettings
    schedule: str = "manual"  # cron for `serve`, or manual
    timezone: str = "UTC"
    type: str = "salesforce"


@dataclass(frozen=True)
class ZendeskSourceConfig:
    name: str
    schema: str
    table: str
    resource: str
    url: str
    email: str
    api_token_env: str
    start: dt.datetime | None
    per_page: int
    http: HttpSettings
    schedule: str = "manual"  # cron for `serve`, or manual
    timezone: str = "UTC"
    type: str = "zendesk"


def _http(s: dict) -> HttpSettings:
    return HttpSettings(int(s["max_retries"]), float(s["backoff_max_seconds"]), float(s["timeout"]))


def _url(value: str, where: str, problems: Any) -> str | None:
    """An https:// base URL (plain http only on loopback, for the fakes), without a trailing slash."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.add(where, f"{value!r} is not a URL: write it as https://host.")
        return None
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        problems.add(where, f"must use HTTPS: use https://{parts.netloc} (plain HTTP only on loopback).")
        return None
    if parts.query or parts.fragment or parts.path not in ("", "/"):
        problems.add(where, f"give the site only, https://{parts.netloc}, without a path or query.")
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _env(s: dict, key: str, where: str, problems: Any, need: str | None = None) -> None:
    value = s.get(key)
    if value is None:
        if need:
            problems.add(f"{where}.{key}", f"is required {need}: name the environment variable holding it.")
        return
    if not ENV_NAME_RE.match(str(value)):
        problems.add(f"{where}.{key}", f"{value!r} is not an environment variable name (letters, digits, underscores).")


def _start(value: str | None, where: str, problems: Any) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        problems.add(f"{where}.start", f"{value!r} is not an ISO 8601 time: write e.g. 2026-01-01T00:00:00Z.")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def salesforce(name: str, s: dict, table: str, where: str, problems: Any) -> SalesforceSourceConfig | None:
    """A validated ``type: salesforce`` source, or None (problems reported)."""
    if s["object"] is not None and not SOQL_NAME_RE.match(s["object"]):
        problems.add(f"{where}.object", f"{s['object']!r} is not an sObject API name (letters, digits, "
                                        f"underscores: Contact, My_Object__c).")
    bad = [f for f in s["fields"] if not isinstance(f, str) or not SOQL_FIELD_RE.match(f)]
    if bad:
        problems.add(f"{where}.fields", f"{', '.join(map(repr, bad))}: not field API names (Email, Account.Name).")
    login = _url(s["login_url"], f"{where}.login_url", problems) if s["login_url"] else None
    auth = s["auth"]
    _env(s, "client_id_env", where, problems)
    _env(s, "client_secret_env", where, problems, None if auth == "refresh_token" else f"with auth: {auth}")
    _env(s, "refresh_token_env", where, problems, "with auth: refresh_token" if auth == "refresh_token" else None)
    _env(s, "password_env", where, problems, "with auth: password" if auth == "password" else None)
    if auth == "password" and not s["username"]:
        problems.add(f"{where}.username", "is required with auth: password.")
    if not re.match(r"^\d{2,3}\.0$", str(s["api_version"])):
        problems.add(f"{where}.api_version", f"{s['api_version']!r}: write the version as 62.0.")
    start = _start(s["start"], where, problems)
    if login is None or s["object"] is None or s["client_id_env"] is None:
        return None
    fields = tuple(dict.fromkeys([*ALWAYS_READ, *s["fields"]])) if s["fields"] else ()
    return SalesforceSourceConfig(
        name=name, schema=str(s["schema"]), table=table, object=s["object"], fields=fields, login_url=login,
        auth=auth, client_id_env=s["client_id_env"], client_secret_env=s["client_secret_env"],
        refresh_token_env=s["refresh_token_env"], username=s["username"], password_env=s["password_env"],
        api_version=str(s["api_version"]), include_deleted=bool(s["include_deleted"]),
        overlap_seconds=int(s["overlap_seconds"]), start=start, page_size=int(s["page_size"]), http=_http(s))


def zendesk(name: str, s: dict, table: str, where: str, problems: Any) -> ZendeskSourceConfig | None:
    """A validated ``type: zendesk`` source, or None (problems reported)."""
    url = _url(s["url"], f"{where}.url", problems) if s["url"] else None
    _env(s, "api_token_env", where, problems)
    if s["email"] is not None and "@" not in s["email"]:
        problems.add(f"{where}.email", f"{s['email']!r} is not an email address: the API token's owner, "
                                       f"e.g. etl@acme.com.")
    start = _start(s["start"], where, problems)
    if url is None or s["email"] is None or s["api_token_env"] is None or s["resource"] is None:
        return None
    return ZendeskSourceConfig(name=name, schema=str(s["schema"]), table=table, resource=s["resource"], url=url,
                               email=s["email"], api_token_env=s["api_token_env"], start=start,
                               per_page=int(s["per_page"]), http=_http(s))
