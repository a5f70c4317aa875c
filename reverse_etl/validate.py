"""``rsync-braze validate``: the manifest, plus each sync's model and columns checked against the warehouse.

A CI guard for pull requests: it fails when a synced model or a mapped column disappeared, or when a
column's SQL type cannot hold the attribute type declared for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from . import dialect
from .dbt_artifacts import DbtManifest, parse_relation
from .errors import ConfigError
from .manifest import Manifest, SyncConfig

# SQL types (information_schema.columns.data_type) each declared attribute type accepts.
INTEGER_TYPES = {"smallint", "integer", "bigint"}
NUMBER_TYPES = INTEGER_TYPES | {"numeric", "real", "double precision"}
TEXT_TYPES = {"text", "character varying", "character", "name", "uuid", "citext"}
TIME_TYPES = {"date", "timestamp with time zone", "timestamp without time zone"}
COMPATIBLE = {
    "string": TEXT_TYPES,
    "integer": INTEGER_TYPES | {"numeric"},
    "float": NUMBER_TYPES,
    "boolean": {"boolean"},
    "time": TIME_TYPES | TEXT_TYPES,
    "array": {"ARRAY", "jsonb", "json"},
    "object": {"jsonb", "json"},
}
STANDARD_TYPES = {
    "email": TEXT_TYPES, "phone": TEXT_TYPES, "first_name": TEXT_TYPES, "last_name": TEXT_TYPES,
    "home_city": TEXT_TYPES, "country": TEXT_TYPES, "language": TEXT_TYPES, "gender": TEXT_TYPES,
    "time_zone": TEXT_TYPES, "email_subscribe": TEXT_TYPES, "push_subscribe": TEXT_TYPES,
    "dob": TEXT_TYPES | {"date"}, "email_open_tracking_disabled": {"boolean"},
    "email_click_tracking_disabled": {"boolean"},
}


@dataclass
class SyncCheck:
    sync: str
    relation: str | None = None
    problems: list[str] = field(default_factory=list)


def check_sync(conn: psycopg.Connection, manifest: Manifest, dbt: DbtManifest, sync: SyncConfig) -> SyncCheck:
    """Everything wrong with one sync against the warehouse, each with its fix (empty when fine)."""
    check = SyncCheck(sync.name)
    try:
        rel = dbt.relation(sync.model) if sync.model else parse_relation(sync.relation)
    except ConfigError as exc:
        check.problems.append(str(exc))
        return check
    check.relation = str(rel)
    rows = dialect.of(conn).data_types(conn, rel.schema, rel.name)
    if not rows:
        check.problems.append(f"relation {rel} does not exist: run `dbt build`, or fix `model`/`relation`.")
        return check
    types = dict(rows)
    if sync.identifier_column not in types:
        check.problems.append(f"identifier column {sync.identifier_column!r} is not in {rel}.")
    dest = manifest.destinations[sync.destination]
    for m in sync.mapping:
        if m.column not in types:
            check.problems.append(f"mapped column {m.column!r} is not in {rel} (columns: {', '.join(sorted(types))}).")
            continue
        declared = dest.custom_attributes.get(m.attribute)
        accepted = COMPATIBLE[declared.type] if declared else STANDARD_TYPES.get(m.attribute)
        if accepted is not None and types[m.column] not in accepted:
            kind = f"declared {declared.type}" if declared else "a Braze standard field"
            check.problems.append(
                f"column {m.column!r} is {types[m.column]} but {m.attribute!r} is {kind}: cast it in the model "
                f"(to one of {', '.join(sorted(accepted))}) or change the declared type."
            )
    return check
