"""Every key of a manifest's ``sources:`` entries: type, default, meaning. The validator
(:mod:`reverse_etl.sources.config`) and the reference in docs/sources.md both read these tables."""

from __future__ import annotations

from ..manifest_schema import Key, key_tables

SOURCE_TYPES = ("files", "webhook")
FORMATS = ("csv", "json", "jsonl")

COMMON_KEYS = {
    "type": Key("enum", "What the source is: files (CSV/JSON from a folder or SFTP) or webhook (HTTP pushes).",
                required=True, choices=SOURCE_TYPES),
    "schema": Key("str", "Schema of the raw table (dbt's `rsync_braze_raw_schema` reads `raw`).", default="raw"),
    "table": Key("str", "Raw table name (default `raw_<source>`).", example="raw_shop_hooks"),
}
FILE_KEYS = {
    "format": Key("enum", "File format: csv, json (an array of objects, or one object) or jsonl (one object a "
                          "line).", required=True, choices=FORMATS),
    "directory": Key("str", "Local folder to read (relative to the project folder). Give this or `sftp`.",
                     example="landing/contacts"),
    "sftp": Key("map", "SFTP server to read from (keys below). Give this or `directory`.",
                example="{host: files.example.com, username: etl, private_key: ~/.ssh/id_ed25519}"),
    "glob": Key("str", "File names to load (`*`, `?`, `[abc]`; `{date}` stands for `date_format`). Give this or "
                       "`regex`.", example="contacts_{date}.csv"),
    "regex": Key("str", "File names to load, as a full-match regular expression; a `(?P<date>...)` group is parsed "
                        "with `date_format`.", example=r"contacts_(?P<date>\d{8})\.csv"),
    "date_format": Key("str", "strftime format of the date in file names (%Y %m %d %H %M %S %y %j): files load "
                              "in date order and the date lands in `_file_date`.", example="%Y%m%d"),
    "min_age_seconds": Key("number", "Skip files modified less than this many seconds ago (a partner's upload may "
                                     "still be in progress: 60 is a safe value for SFTP drops).", default=0,
                           minimum=0, maximum=86400),
    "since": Key("str", "Ignore files whose name date is before this day (YYYY-MM-DD).", example="2026-01-01"),
    "delimiter": Key("str", "CSV field delimiter (one character; `\\t` for tabs).", default=","),
    "quote": Key("str", "CSV quote character.", default='"'),
    "encoding": Key("str", "Text encoding of the files (a Python codec name).", default="utf-8",
                    example="latin-1"),
    "header": Key("bool", "The CSV's first line names the columns.", default=True),
    "columns": Key("list", "Column names when `header: false`.", default=[]),
}
SFTP_KEYS = {
    "host": Key("str", "SFTP server host name.", required=True),
    "port": Key("int", "SFTP server port.", default=22, minimum=1, maximum=65535),
    "username": Key("str", "User name.", required=True),
    "password_env": Key("str", "Environment variable holding the password (password authentication).",
                        example="SFTP_PASSWORD"),
    "private_key": Key("str", "Path of a private key file (key authentication).", example="~/.ssh/id_ed25519"),
    "private_key_passphrase_env": Key("str", "Environment variable holding the key's passphrase, if it has one."),
    "known_hosts": Key("str", "known_hosts file checked against the server's host key.",
                       default="~/.ssh/known_hosts"),
    "check_host_key": Key("bool", "Verify the server's host key against `known_hosts` (turn off only for tests).",
                          default=True),
    "directory": Key("str", "Remote folder holding the files.", default="."),
    "timeout": Key("number", "Seconds to wait for the connection.", default=30, minimum=1, maximum=600),
}
WEBHOOK_KEYS = {
    "auth": Key("enum", "hmac: `signature_header` carries the HMAC-SHA256 of the body (hex, optionally "
                        "`sha256=`-prefixed); bearer: `Authorization: Bearer <token>`.", required=True,
                choices=("hmac", "bearer")),
    "secret_env": Key("str", "Environment variable holding the HMAC secret or the bearer token.", required=True,
                      example="SHOP_HOOK_SECRET"),
    "signature_header": Key("str", "Header carrying the HMAC signature.", default="X-Signature-256"),
    "idempotency_header": Key("str", "Request header whose value makes a retried request a no-op (an array's "
                                     "records get `<key>:<index>`).", default="Idempotency-Key"),
    "idempotency_field": Key("str", "Record field used as idempotency key instead (required in every record).",
                             example="event_id"),
    "max_body_bytes": Key("int", "Larger bodies get 413.", default=1_048_576, minimum=64, maximum=64 * 1_048_576),
    "durable_commit": Key("bool", "Each commit waits for the WAL flush (`synchronous_commit = on` for the writer), so an "
                                  "acknowledged record survives a crash of the warehouse itself; false keeps the "
                                  "server's setting (faster where it is off; a server crash may then lose the last "
                                  "fraction of a second of acknowledged records).", default=True),
    "notify": Key("bool", "After each commit, `NOTIFY rsync_braze, '<source>'` (for realtime syncs).",
                  default=True),
}


def reference_markdown() -> str:
    """The source key reference as Markdown tables (embedded in docs/sources.md; a test keeps them equal)."""
    return key_tables((("Every source: `sources.<name>`", COMMON_KEYS), ("`type: files`", FILE_KEYS),
                       ("`type: files`, `sftp:`", SFTP_KEYS), ("`type: webhook`", WEBHOOK_KEYS)))
