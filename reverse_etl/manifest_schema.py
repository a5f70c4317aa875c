"""Every key of ``rsync_braze.yml``: type, default, meaning. The validator and the generated reference both
read these tables, so the documentation cannot drift from what is checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ATTRIBUTE_TYPES = ("string", "integer", "float", "boolean", "time", "array", "object")
IDENTIFIER_TYPES = ("external_id", "email", "phone", "braze_id", "user_alias")
OBJECTS = ("user_attributes", "events", "purchases", "subscriptions")
SYNC_ON = ("create", "update")
# Columns an events or purchases sync must name under `event:` (name may be a constant: name_value).
EVENT_KEYS = {"events": ("id", "name", "time"), "purchases": ("id", "product_id", "currency", "price", "time")}
STANDARD_ATTRIBUTES = frozenset({
    "first_name", "last_name", "home_city", "email", "phone", "country", "language", "gender", "dob",
    "time_zone", "email_subscribe", "push_subscribe", "subscription_groups", "current_location",
    "email_open_tracking_disabled", "email_click_tracking_disabled", "date_of_first_session",
    "date_of_last_session", "marked_email_as_spam_at",
})


@dataclass(frozen=True)
class Key:
    """One manifest key: ``kind`` is str, int, number, bool, enum, list (of strings),
    items (list of mappings), map or enum-list."""

    kind: str
    doc: str
    default: Any = None
    required: bool = False
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    example: str = ""

    def check(self, value: Any) -> str | None:
        """None when ``value`` fits, else what is wrong and how to fix it."""
        kind = self.kind
        if kind == "str" and not isinstance(value, str):
            return f"must be a string, not {type(value).__name__}."
        if kind == "bool" and not isinstance(value, bool):
            return "must be true or false."
        if kind in ("int", "number"):
            ok = isinstance(value, int) if kind == "int" else isinstance(value, int | float)
            if isinstance(value, bool) or not ok:
                return f"must be {'a whole number' if kind == 'int' else 'a number'}, not {value!r}."
            if self.minimum is not None and value < self.minimum:
                return f"must be at least {self.minimum:g}, not {value!r}."
            if self.maximum is not None and value > self.maximum:
                return f"must be at most {self.maximum:g}, not {value!r}."
        if kind == "enum" and value not in self.choices:
            return f"must be one of {', '.join(map(str, self.choices))}, not {value!r}."
        if kind in ("list", "enum-list"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return "must be a list of strings."
            if kind == "enum-list":
                bad = [v for v in value if v not in self.choices]
                if bad or not value:
                    return f"must be a non-empty list of {', '.join(self.choices)}."
        if kind == "items" and not isinstance(value, list):
            return "must be a list (one item per entry, each starting with `- `)."
        if kind == "map" and not isinstance(value, dict):
            return "must be a mapping."
        return None


TOP_KEYS = {
    "version": Key("int", "Manifest format version.", default=1, choices=(1,), minimum=1, maximum=1),
    "state_schema": Key("str", "Warehouse schema holding snapshots, run log and rejections.", default="rsync_braze"),
    "destinations": Key("map", "Braze workspaces to send to, by name.", required=True),
    "syncs": Key("items", "The syncs: which model goes where, how.", required=True),
    "sources": Key("map", "Files and webhooks landing in raw tables, by name: keys in docs/sources.md.", default={}),
    "timezone": Key("str", "IANA time zone of the syncs' cron schedules (a sync's own `timezone` wins).",
                    default="UTC", example="Europe/Paris"),
}

DESTINATION_KEYS = {
    "endpoint": Key("str", "REST endpoint of your Braze instance, or the local emulator's URL.", required=True,
                    example="https://rest.fra-01.braze.eu"),
    "api_key_env": Key("str", "Name of the environment variable holding the REST API key (users.track).",
                       required=True, example="BRAZE_API_KEY"),
    "app_id": Key("str", "Braze app identifier, attached to events and purchases when set."),
    "rate_limit": Key("map", "Your limit: `requests` per `period` seconds, for all syncs of this destination.",
                      default={"requests": 3000, "period": 3}, example="{requests: 600, period: 3}"),
    "objects_per_request": Key("int", "Objects per /users/track request (75 combined by default).", default=75,
                               minimum=1, maximum=75),
    "legacy_per_array": Key("bool", "Count objects_per_request per array (legacy limits) instead of combined.",
                            default=False),
    "timeout": Key("number", "Seconds to wait for one Braze answer.", default=30, minimum=1, maximum=600),
    "workers": Key("int", "Concurrent requests.", default=4, minimum=1, maximum=32),
    "allow_hosts": Key("list", "Extra endpoint hosts to accept (a proxy): Braze hosts and loopback are accepted.",
                       default=[]),
    "custom_attributes": Key("map", "Custom attributes you send, with `type` and `required` (rows missing a "
                                    "required attribute are rejected).", default={},
                             example="{lifetime_value: {type: float, required: true}}"),
    "owner": Key("map", "Who answers for this workspace's syncs: {name, email} (dbt exposures' owner).",
                 default={}, example="{name: CRM team, email: crm@example.com}"),
}

SYNC_KEYS = {
    "name": Key("str", "Unique name of the sync (lower case, digits, underscores; at most 53 characters).",
                required=True),
    "model": Key("str", "dbt model to sync, resolved through target/manifest.json.", example="braze_users"),
    "relation": Key("str", "Explicit relation instead of a model: schema.table.", example="analytics.users"),
    "destination": Key("str", "Destination name (optional when there is only one)."),
    "object": Key("enum", "What the rows become in Braze.", default="user_attributes", choices=OBJECTS),
    "identifier": Key("map", "The identifying column: {column, type, label}; type among "
                             + ", ".join(IDENTIFIER_TYPES) + "; label for user_alias.", required=True,
                      example="{column: external_id, type: external_id}"),
    "mode": Key("enum", "incremental sends what changed since the last successful sync; full sends every row.",
                default="incremental", choices=("incremental", "full")),
    "mapping": Key("map", "Model column → Braze attribute (name, or {attribute, sync_on}).", default={},
                   example="{email: email, ltv: lifetime_value}"),
    "sync_on": Key("enum-list", "Send a row's fields when the row is created, updated, or both.",
                   default=["create", "update"], choices=SYNC_ON),
    "on_remove": Key("enum", "When a row leaves the model: ignore, unset its mapped attributes, or delete the "
                             "profile.", default="ignore", choices=("ignore", "unset", "delete")),
    "confirm_delete": Key("bool", "Must be true for on_remove: delete.", default=False),
    "schedule": Key("str", "manual, realtime, or a cron expression (for rsync-braze serve).", default="manual"),
    "timezone": Key("str", "IANA time zone of this sync's cron schedule (default: the manifest's `timezone`).",
                    example="America/New_York"),
    "owner": Key("map", "Who answers for this sync: {name, email} (default: its destination's owner).", default={},
                 example="{name: Jane Doe, email: jane@example.com}"),
    "tags": Key("list", "Tags for --select tag:NAME.", default=[]),
    "max_rejected_share": Key("number", "Exit non-zero when more than this share of rows is rejected.",
                              default=0.0, minimum=0, maximum=1),
    "merges": Key("map", "For external_id syncs: a model of retired ids and the ids they merged into (identity "
                         "resolution); before each run, Braze merges each retired profile into the surviving one "
                         "(POST /users/merge) and the retired id leaves the snapshot. Keys below.", default={},
                  example="{model: identity_retired_person_ids, retired: retired_person_id, surviving: person_id}"),
    "event": Key("map", "For events syncs: columns {id, name (or name_value: a constant), time, properties: [...]}; "
                        "for purchases: {id, product_id, currency, price, quantity, time, properties}.", default={},
                 example="{id: order_id, name_value: order_completed, time: ordered_at, properties: [total]}"),
}

MERGE_KEYS = {
    "model": Key("str", "dbt model listing retired ids (one row per retired id).", example="identity_retired_person_ids"),
    "relation": Key("str", "Explicit relation instead of a model: schema.table."),
    "retired": Key("str", "Column holding the id that no longer exists.", required=True, example="retired_person_id"),
    "surviving": Key("str", "Column holding the id it merged into.", required=True, example="person_id"),
}

MAPPING_KEYS = {
    "attribute": Key("str", "Braze attribute name (standard or declared custom)."),
    "sync_on": Key("enum-list", "Overrides the sync's sync_on for this field, e.g. [create] for opt-ins.",
                   choices=SYNC_ON),
}


def reference_markdown() -> str:
    """The manifest key reference, as Markdown tables (for the README)."""
    return key_tables((("Top level", TOP_KEYS), ("`destinations.<name>`", DESTINATION_KEYS),
                       ("`syncs[]`", SYNC_KEYS), ("`syncs[].mapping.<column>` (long form)", MAPPING_KEYS),
                       ("`syncs[].merges`", MERGE_KEYS)))


def key_tables(sections) -> str:
    """Markdown tables of ``(title, keys)`` sections (also used by docs/sources.md's reference)."""
    parts = []
    for title, keys in sections:
        parts.append(f"#### {title}\n\n| key | type | default | meaning |\n|---|---|---|---|")
        for name, key in keys.items():
            kind = key.kind if not key.choices else " \\| ".join(map(str, key.choices))
            default = "required" if key.required else ("" if key.default in (None, [], {}) else f"`{key.default}`")
            example = f" Example: `{key.example}`." if key.example else ""
            parts.append(f"| `{name}` | {kind} | {default} | {key.doc}{example} |")
        parts.append("")
    return "\n".join(parts)
