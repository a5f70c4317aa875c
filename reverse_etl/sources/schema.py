"""Every key of a manifest's ``sources:`` entries: type, default, meaning. The validator
(:mod:`reverse_etl.sources.config`) and the reference in docs/sources.md both read these tables."""

from __future__ import annotations

from ..manifest_schema import Key, key_tables

SOURCE_TYPES = ("files", "webhook", "salesforce", "zendesk")
FORMATS = ("csv", "json", "jsonl")

COMMON_KEYS = {
    "type": Key("enum", "What the source is: files (CSV/JSON from a folder or SFTP), webhook (HTTP pushes), "
                        "salesforce (one object, by SOQL) or zendesk (tickets or users, incremental export).",
                required=True, choices=SOURCE_TYPES),
    "schema": Key("str", "Schema of the raw table (dbt's `rsync_braze_raw_schema` reads `raw`).", default="raw"),
    "table": Key("str", "Raw table name (default `raw_<source>`).", example="raw_shop_hooks"),
    "schedule": Key("str", "When `rsync-braze serve` runs this source: `manual` (only `rsync-braze ingest`) or a "
                           "5-field cron expression read in `timezone`. Not for webhooks (`ingest serve` receives "
                           "them as they come).", default="manual", example="*/15 * * * *"),
    "timezone": Key("str", "IANA time zone of `schedule` (default: the manifest's `timezone`).",
                    example="Europe/Paris"),
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

# Keys shared by the API sources (salesforce, zendesk): how hard to retry before the run stops (its cursor is kept).
API_KEYS = {
    "max_retries": Key("int", "Retries of one request on 429 (after `Retry-After`), 5xx and connection errors before "
                              "the run stops; the next run resumes from the stored cursor.", default=8, minimum=0,
                       maximum=50),
    "backoff_max_seconds": Key("number", "Longest wait between two retries, `Retry-After` included (a longer "
                                         "`Retry-After` is cut to this).", default=120, minimum=1, maximum=3600),
    "timeout": Key("number", "Seconds to wait for one answer.", default=60, minimum=1, maximum=600),
}
SALESFORCE_KEYS = {
    "object": Key("str", "The sObject to read, by API name (Contact, Lead, Account, Opportunity, My_Object__c...).",
                  required=True, example="Contact"),
    "fields": Key("list", "Fields to read; none: every field the object's describe lists (base64 fields "
                          "excepted). Id, SystemModstamp and IsDeleted are always read.", default=[],
                  example="[Id, Email, FirstName, LastName]"),
    "login_url": Key("str", "Where to get the OAuth token (`/services/oauth2/token`): your My Domain URL "
                            "(required for client_credentials), or https://login.salesforce.com.",
                     required=True, example="https://acme.my.salesforce.com"),
    "auth": Key("enum", "OAuth 2.0 flow: client_credentials (an integration user), refresh_token, or password.",
                default="client_credentials", choices=("client_credentials", "refresh_token", "password")),
    "client_id_env": Key("str", "Environment variable holding the connected app's consumer key.", required=True,
                         example="SF_CLIENT_ID"),
    "client_secret_env": Key("str", "Environment variable holding the consumer secret (required except for "
                                    "refresh_token).", example="SF_CLIENT_SECRET"),
    "refresh_token_env": Key("str", "Environment variable holding the refresh token (auth: refresh_token).",
                             example="SF_REFRESH_TOKEN"),
    "username": Key("str", "User name (auth: password).", example="etl@acme.com"),
    "password_env": Key("str", "Environment variable holding the password followed by the security token "
                               "(auth: password).", example="SF_PASSWORD"),
    "api_version": Key("str", "REST API version.", default="62.0"),
    "include_deleted": Key("bool", "Read with queryAll, so deleted records arrive with IsDeleted and are flagged "
                                   "`_deleted`; false uses query (deleted records are then never seen).",
                           default=True),
    "overlap_seconds": Key("int", "Each run re-reads this many seconds before the stored SystemModstamp high-water "
                                  "mark (records committed late in Salesforce); re-reads are harmless upserts.",
                           default=300, minimum=0, maximum=86400),
    "start": Key("str", "First run only: read records modified at or after this time (ISO 8601); none: everything.",
                 example="2026-01-01T00:00:00Z"),
    "page_size": Key("int", "Records per page asked for (`Sforce-Query-Options: batchSize`; Salesforce may send "
                            "fewer).", default=2000, minimum=200, maximum=2000),
}
ZENDESK_KEYS = {
    "resource": Key("enum", "What to export: tickets or users (incremental export, cursor-based).", required=True,
                    choices=("tickets", "users")),
    "url": Key("str", "Your Zendesk URL.", required=True, example="https://acme.zendesk.com"),
    "email": Key("str", "The agent or admin whose API token is used.", required=True, example="etl@acme.com"),
    "api_token_env": Key("str", "Environment variable holding the API token.", required=True,
                         example="ZENDESK_API_TOKEN"),
    "start": Key("str", "First run only: export items changed at or after this time (ISO 8601); none: everything.",
                 example="2026-01-01T00:00:00Z"),
    "per_page": Key("int", "Items per page asked for (at most 1000).", default=1000, minimum=1, maximum=1000),
}


def reference_markdown() -> str:
    """The source key reference as Markdown tables (embedded in docs/sources.md; a test keeps them equal)."""
    return key_tables((("Every source: `sources.<name>`", COMMON_KEYS), ("`type: files`", FILE_KEYS),
                       ("`type: files`, `sftp:`", SFTP_KEYS), ("`type: webhook`", WEBHOOK_KEYS),
                       ("`type: salesforce`", SALESFORCE_KEYS), ("`type: zendesk`", ZENDESK_KEYS),
                       ("`type: salesforce` and `type: zendesk`", API_KEYS)))


KEYS_BY_TYPE = {"files": FILE_KEYS, "webhook": WEBHOOK_KEYS, "salesforce": {**SALESFORCE_KEYS, **API_KEYS},
                "zendesk": {**ZENDESK_KEYS, **API_KEYS}}
