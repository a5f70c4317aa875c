"""The ``sources:`` section of ``rsync_braze.yml``: files (local or SFTP), webhooks, Salesforce and Zendesk.

Validated with the rest of the manifest, before any I/O, by :func:`parse_sources` (every problem names the
file, the source, the key and the fix). Secrets are never in the manifest: a source names the environment
variable holding them (``password_env``, ``secret_env``...), read only when the source runs.
The key tables are in :mod:`.schema`, which also generates the reference embedded in ``docs/sources.md``.
"""

from __future__ import annotations

import codecs
import datetime as dt
import os
import re
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ConfigError
from . import api_config
from .api_config import SalesforceSourceConfig, ZendeskSourceConfig
from .schema import COMMON_KEYS, KEYS_BY_TYPE, SFTP_KEYS, SOURCE_TYPES

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
TABLE_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# strftime directives a file-name date may use, with the text they match.
DATE_DIRECTIVES = {"%Y": r"\d{4}", "%m": r"\d{2}", "%d": r"\d{2}", "%H": r"\d{2}", "%M": r"\d{2}", "%S": r"\d{2}",
                   "%y": r"\d{2}", "%j": r"\d{3}"}
SECRET_KEYS = {"password": "password_env", "secret": "secret_env", "token": "secret_env",
               "private_key_passphrase": "private_key_passphrase_env", "passphrase": "private_key_passphrase_env",
               "client_secret": "client_secret_env", "refresh_token": "refresh_token_env",
               "api_token": "api_token_env", "access_token": "client_secret_env"}


@dataclass(frozen=True)
class SftpConfig:
    host: str
    port: int
    username: str
    password_env: str | None
    private_key: str | None
    private_key_passphrase_env: str | None
    known_hosts: str
    check_host_key: bool
    directory: str
    timeout: float


@dataclass(frozen=True)
class FileSourceConfig:
    name: str
    schema: str
    table: str
    format: str
    directory: str | None
    sftp: SftpConfig | None
    name_pattern: re.Pattern
    date_format: str | None
    since: dt.date | None
    min_age_seconds: float
    delimiter: str
    quote: str
    encoding: str
    header: bool
    columns: tuple[str, ...]
    schedule: str = "manual"  # cron for `serve`, or manual
    timezone: str = "UTC"
    type: str = "files"


@dataclass(frozen=True)
class WebhookSourceConfig:
    name: str
    schema: str
    table: str
    auth: str
    secret_env: str
    signature_header: str
    idempotency_header: str
    idempotency_field: str | None
    max_body_bytes: int
    durable_commit: bool
    notify: bool
    schedule: str = "manual"  # cron for `serve`, or manual
    timezone: str = "UTC"
    type: str = "webhook"

    def secret(self) -> bytes:
        """The HMAC secret or bearer token, read from the environment (never stored in the manifest)."""
        return read_env(self.secret_env, f"Source {self.name!r}", "the webhook secret").encode()


SourceConfig = FileSourceConfig | WebhookSourceConfig | SalesforceSourceConfig | ZendeskSourceConfig


def read_env(name: str, who: str, what: str) -> str:
    """A secret from the environment, or a ConfigError naming the variable (never a value)."""
    value = os.environ.get(name, "")
    if not value:
        raise ConfigError(f"{who}: environment variable {name} is not set: export {what} in it "
                          f"(the manifest names the variable, never the secret).")
    return value


def parse_sources(data: Any, problems: Any, timezone: str = "UTC") -> dict[str, SourceConfig]:
    """Validate the ``sources:`` mapping; report into ``problems`` (``add(where, message)``). ``timezone``: the
    manifest's, for schedules that do not name their own."""
    from ..manifest import _check_keys, _check_schedule, _timezone  # the manifest's own checks and messages

    out: dict[str, SourceConfig] = {}
    if data is None:
        return out
    for name, body in data.items():
        where = f"sources.{name}"
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.add(where, "source names use lower case letters, digits and underscores, starting with a "
                                "letter (at most 41 characters).")
            continue
        if not isinstance(body, dict):
            problems.add(where, f"must be a mapping with at least `type:` ({', '.join(SOURCE_TYPES)}).")
            continue
        before = len(problems.items)
        body = _no_secrets(body, where, problems)
        kind = body.get("type")
        keys = {**COMMON_KEYS, **(KEYS_BY_TYPE.get(kind, {}) if isinstance(kind, str) else {})}
        s = _check_keys(body, keys, where, problems)
        if kind not in SOURCE_TYPES:
            continue
        table = s["table"] or f"raw_{name}"
        for key, value in (("schema", s["schema"]), ("table", table)):
            if not TABLE_RE.match(str(value)):
                problems.add(f"{where}.{key}", f"{value!r}: use lower case letters, digits and underscores.")
        parse = {"files": _files, "webhook": _webhook, "salesforce": api_config.salesforce,
                 "zendesk": api_config.zendesk}[kind]
        source = parse(name, s, str(table), where, problems)
        schedule = str(s["schedule"])
        if schedule == "realtime" or (kind == "webhook" and schedule != "manual"):
            problems.add(f"{where}.schedule", "a source's schedule is manual or a cron expression; webhook sources "
                                              "take no schedule (`rsync-braze ingest serve` receives them).")
        else:
            _check_schedule(schedule, f"{where}.schedule", problems)
        zone = _timezone(s["timezone"], f"{where}.timezone", problems) if s["timezone"] else timezone
        if source is not None and len(problems.items) == before:
            out[name] = replace(source, schedule=schedule, timezone=zone)
    tables: dict[tuple[str, str], str] = {}
    for source in out.values():
        other = tables.setdefault((source.schema, source.table), source.name)
        if other != source.name:
            problems.add(f"sources.{source.name}.table", f"{source.schema}.{source.table} is already the raw table "
                                                         f"of source {other!r}: give each source its own table.")
    return out


def _no_secrets(body: dict, where: str, problems: Any) -> dict:
    """A secret written in the manifest is refused with the key to use instead; the value is never echoed."""
    clean = dict(body)
    for spot, mapping in ((where, clean), (f"{where}.sftp", clean.get("sftp"))):
        if not isinstance(mapping, dict):
            continue
        for key, instead in SECRET_KEYS.items():
            if key in mapping:
                problems.add(f"{spot}.{key}", f"secrets never go in the manifest: put it in an environment "
                                              f"variable and name that variable in `{instead}`.")
                mapping.pop(key)
    if isinstance(clean.get("sftp"), dict):
        clean["sftp"] = dict(clean["sftp"])
    return clean


def _check_env(value: str | None, where: str, problems: Any) -> None:
    if value is not None and not ENV_NAME_RE.match(value):
        problems.add(where, f"{value!r} is not an environment variable name (letters, digits, underscores).")


def _files(name: str, s: dict, table: str, where: str, problems: Any) -> FileSourceConfig | None:
    from ..manifest import _check_keys

    if bool(s["directory"]) == bool(s["sftp"]):
        problems.add(where, "give exactly one of `directory` (a local folder) or `sftp` (a server).")
    sftp = None
    if s["sftp"]:
        f = _check_keys(s["sftp"], SFTP_KEYS, f"{where}.sftp", problems)
        if not f["password_env"] and not f["private_key"]:
            problems.add(f"{where}.sftp", "needs `password_env` (password authentication) or `private_key` "
                                          "(a key file), or both.")
        _check_env(f["password_env"], f"{where}.sftp.password_env", problems)
        _check_env(f["private_key_passphrase_env"], f"{where}.sftp.private_key_passphrase_env", problems)
        sftp = SftpConfig(**{k: f[k] for k in SFTP_KEYS})
    pattern = _name_pattern(s, where, problems)
    if len(s["delimiter"]) != 1 and s["delimiter"] != "\\t":
        problems.add(f"{where}.delimiter", "must be one character (or \\t for tabs).")
    if len(s["quote"]) != 1:
        problems.add(f"{where}.quote", "must be one character.")
    try:
        codecs.lookup(s["encoding"])
        if "id,\n".encode(s["encoding"]) != b"id,\n":
            raise ValueError
    except LookupError:
        problems.add(f"{where}.encoding", f"{s['encoding']!r} is not a known encoding (e.g. utf-8, latin-1, cp1252).")
    except ValueError:
        # Files are split into lines before decoding (a bad line is rejected alone): ASCII-compatible codecs only.
        problems.add(f"{where}.encoding", f"{s['encoding']!r} cannot be read line by line: convert the files to "
                                          f"utf-8 (or another ASCII-compatible encoding).")
    if s["format"] == "csv" and not s["header"] and not s["columns"]:
        problems.add(f"{where}.columns", "with `header: false`, name the columns: columns: [id, email, ...].")
    if s["format"] != "csv" and (s["columns"] or not s["header"]):
        problems.add(f"{where}.columns", "header and columns apply to CSV files only.")
    since = None
    if s["since"] is not None:
        try:
            since = dt.date.fromisoformat(str(s["since"]))
        except ValueError:
            problems.add(f"{where}.since", "must be a day, YYYY-MM-DD.")
        if not s["date_format"]:
            problems.add(f"{where}.since", "needs `date_format` (and a date in the file names) to compare with.")
    if pattern is None or (s["sftp"] and sftp is None):
        return None
    return FileSourceConfig(
        name=name, schema=str(s["schema"]), table=table, format=s["format"], directory=s["directory"], sftp=sftp,
        name_pattern=pattern, date_format=s["date_format"], since=since, min_age_seconds=float(s["min_age_seconds"]),
        delimiter="\t" if s["delimiter"] == "\\t" else s["delimiter"], quote=s["quote"], encoding=s["encoding"],
        header=bool(s["header"]), columns=tuple(s["columns"] or ()),
    )


def _name_pattern(s: dict, where: str, problems: Any) -> re.Pattern | None:
    """One compiled full-match pattern for file names, with a ``date`` group when a date format is given."""
    if bool(s["glob"]) == bool(s["regex"]):
        problems.add(where, "give exactly one of `glob` (e.g. contacts_*.csv) or `regex` to select the files.")
        return None
    date_format = s["date_format"]
    date_re = None
    if date_format:
        unknown = set(re.findall(r"%.", date_format)) - set(DATE_DIRECTIVES)
        if unknown:
            problems.add(f"{where}.date_format", f"unsupported directive(s) {', '.join(sorted(unknown))}: use "
                                                 f"{' '.join(DATE_DIRECTIVES)}.")
            return None
        date_re = re.sub(r"%.", lambda m: DATE_DIRECTIVES[m.group()], re.escape(date_format).replace("\\%", "%"))
    if s["glob"]:
        glob = s["glob"]
        if "/" in glob:
            problems.add(f"{where}.glob", "matches file names in the folder: put the folder in `directory`.")
            return None
        if date_format and "{date}" not in glob:
            problems.add(f"{where}.glob", "with `date_format`, mark where the date is: e.g. contacts_{date}.csv.")
            return None
        if "{date}" in glob and not date_format:
            problems.add(f"{where}.date_format", "the glob has {date}: say how it is written, e.g. %Y%m%d.")
            return None
        parts = [_glob_to_regex(p) for p in glob.split("{date}")]
        text = f"(?P<date>{date_re})".join(parts) if date_re else parts[0]
    else:
        text = s["regex"]
    try:
        pattern = re.compile(text)
    except re.error as exc:
        problems.add(f"{where}.regex", f"is not a valid regular expression: {exc}.")
        return None
    if date_format and "date" not in pattern.groupindex:
        problems.add(f"{where}.regex", "with `date_format`, capture the date in a (?P<date>...) group.")
        return None
    return pattern


def _glob_to_regex(glob: str) -> str:
    out = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[" and "]" in glob[i + 1:]:
            end = glob.index("]", i + 1)
            body = glob[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _webhook(name: str, s: dict, table: str, where: str, problems: Any) -> WebhookSourceConfig | None:
    _check_env(s["secret_env"], f"{where}.secret_env", problems)
    for key in ("signature_header", "idempotency_header"):
        if not re.match(r"^[A-Za-z0-9-]+$", str(s[key])):
            problems.add(f"{where}.{key}", "must be an HTTP header name (letters, digits, dashes).")
    if s["secret_env"] is None:
        return None
    return WebhookSourceConfig(
        name=name, schema=str(s["schema"]), table=table, auth=s["auth"], secret_env=s["secret_env"],
        signature_header=s["signature_header"], idempotency_header=s["idempotency_header"],
        idempotency_field=s["idempotency_field"], max_body_bytes=int(s["max_body_bytes"]),
        durable_commit=bool(s["durable_commit"]), notify=bool(s["notify"]),
    )
