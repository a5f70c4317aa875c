"""``rsync-braze init``: scaffold ``rsync_braze.yml`` for one model, from the columns the warehouse reports.

Columns come from ``information_schema.columns`` of the relation dbt built for the model (or an explicit
``schema.table``). A column whose name is a Braze standard field (email, phone, first_name, country, dob, ...,
with common spellings such as ``phone_number`` or ``birth_date``) and whose SQL type fits it is mapped to that
field; any other column becomes a custom attribute typed from its SQL type (integer, float, boolean, time,
string, array, object). Columns with no Braze type (bytea, interval, ...) are listed as comments, not mapped.
The identifier is ``--identifier`` or the first column named like an id (external_id, user_id, customer_id...).

A new manifest is written only when none exists (``--force`` overwrites). ``--append`` adds the sync to an
existing manifest; the file is rewritten through YAML, so its comments are lost: the previous file is kept
next to it as ``rsync_braze.yml.bak``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import yaml

from . import dialect
from .dbt_artifacts import DbtManifest, Relation, parse_relation
from .errors import ConfigError
from .manifest import NAME_RE
from .manifest_schema import IDENTIFIER_TYPES, STANDARD_ATTRIBUTES
from .validate import INTEGER_TYPES, NUMBER_TYPES, STANDARD_TYPES, TEXT_TYPES, TIME_TYPES

DEFAULT_ENDPOINT = "{{ env_var('RSYNC_BRAZE_ENDPOINT', 'http://127.0.0.1:4010') }}"
# Column names (lower case, without _ and spaces) that mean a Braze standard field.
STANDARD_NAMES = {
    "email": "email", "emailaddress": "email", "mail": "email",
    "phone": "phone", "phonenumber": "phone", "mobile": "phone", "mobilephone": "phone", "phonee164": "phone",
    "firstname": "first_name", "givenname": "first_name", "lastname": "last_name", "surname": "last_name",
    "familyname": "last_name", "country": "country", "countrycode": "country", "dob": "dob",
    "dateofbirth": "dob", "birthdate": "dob", "birthday": "dob", "city": "home_city", "homecity": "home_city",
    "language": "language", "gender": "gender", "timezone": "time_zone", "emailsubscribe": "email_subscribe",
    "pushsubscribe": "push_subscribe",
}
IDENTIFIER_NAMES = ("external_id", "user_id", "customer_id", "person_id", "contact_id", "id")
# The custom attribute type each SQL type (information_schema data_type) is sent as; all accepted by validate.
CUSTOM_TYPES = {
    **dict.fromkeys(INTEGER_TYPES, "integer"), **dict.fromkeys(NUMBER_TYPES - INTEGER_TYPES, "float"),
    "boolean": "boolean", **dict.fromkeys(TIME_TYPES, "time"), **dict.fromkeys(TEXT_TYPES, "string"),
    "ARRAY": "array", "json": "object", "jsonb": "object",
}


@dataclass
class Scaffold:
    """What init found and proposes for one model."""

    sync_name: str
    model: str | None
    relation: Relation
    identifier: str
    identifier_type: str
    mapping: dict[str, str] = field(default_factory=dict)  # column -> attribute
    custom_attributes: dict[str, str] = field(default_factory=dict)  # attribute -> type
    unmapped: dict[str, str] = field(default_factory=dict)  # column -> why not


def table_columns(conn: psycopg.Connection, rel: Relation) -> list[tuple[str, str]]:
    """(name, data_type) of a relation's columns in their order (empty when it does not exist)."""
    return dialect.of(conn).data_types(conn, rel.schema, rel.name)


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name.lower())


def custom_type(data_type: str) -> str | None:
    """The attribute type a SQL column type is sent as (None: no Braze type)."""
    return CUSTOM_TYPES.get(data_type)


def propose(conn: psycopg.Connection, project_dir: Path, model: str | None, relation: str | None,
            identifier: str | None, identifier_type: str | None, sync_name: str | None) -> Scaffold:
    """Read the relation's columns and propose identifier, mapping and custom attribute types."""
    if bool(model) == bool(relation):
        raise ConfigError("init: give --model NAME (a dbt model, resolved through target/manifest.json) "
                          "or --relation schema.table.")
    rel = DbtManifest(project_dir).relation(model) if model else parse_relation(relation)
    columns = table_columns(conn, rel)
    if not columns:
        raise ConfigError(f"init: relation {rel} does not exist in the warehouse: run `dbt build` first, "
                          "or check --model/--relation.")
    types = dict(columns)
    if identifier is None:
        identifier = next((c for n in IDENTIFIER_NAMES for c in types if c.lower() == n), None)
        if identifier is None:
            raise ConfigError(f"init: no column of {rel} looks like an identifier ({', '.join(IDENTIFIER_NAMES)}): "
                              f"pass --identifier COLUMN (columns: {', '.join(types)}).")
    elif identifier not in types:
        raise ConfigError(f"init: --identifier {identifier!r} is not a column of {rel} (columns: {', '.join(types)}).")
    if identifier_type is None:
        key = _key(identifier)  # contact_email, phone_e164... say what the identifier is
        identifier_type = next((k for k in ("email", "phone") if STANDARD_NAMES.get(key) == k or key.endswith(k)),
                               "external_id")
    if identifier_type not in IDENTIFIER_TYPES or identifier_type == "user_alias":
        raise ConfigError(f"init: --type must be one of {', '.join(t for t in IDENTIFIER_TYPES if t != 'user_alias')} "
                          "(write a user_alias identifier by hand: it needs a label).")
    name = sync_name or re.sub(r"[^a-z0-9_]", "_", (model or rel.name).lower()).lstrip("_0123456789")[:63] or "users"
    if not NAME_RE.match(name):
        raise ConfigError(f"init: sync name {name!r} must be lower case letters, digits and underscores: pass --sync.")
    found = Scaffold(name, model, rel, identifier, identifier_type)
    for column, data_type in columns:
        if column == identifier:
            continue
        standard = STANDARD_NAMES.get(_key(column))
        if standard and data_type in STANDARD_TYPES.get(standard, set()) and standard not in found.mapping.values():
            found.mapping[column] = standard
            continue
        kind = custom_type(data_type)
        if kind is None:
            found.unmapped[column] = f"{data_type} has no Braze attribute type"
        elif column in STANDARD_ATTRIBUTES or column.startswith("$") or len(column) > 255:
            found.unmapped[column] = f"{data_type} does not fit the Braze standard field {column!r}: cast it in the model"
        else:
            found.mapping[column] = column
            found.custom_attributes[column] = kind
    return found


def _q(value: str) -> str:
    """A YAML scalar: bare when plainly safe, else JSON-quoted (valid YAML)."""
    return value if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) and value not in ("true", "false", "null", "yes", "no", "on", "off") else json.dumps(value)


def sync_yaml(found: Scaffold) -> str:
    """The sync's entry under ``syncs:``, with the unmapped columns as comments."""
    source = f"model: {_q(found.model)}" if found.model else f"relation: {_q(str(found.relation))}"
    lines = [f"  - name: {found.sync_name}", f"    {source}",
             f"    identifier: {{column: {_q(found.identifier)}, type: {found.identifier_type}}}",
             "    mode: incremental", "    on_remove: ignore", "    schedule: manual", "    mapping:"]
    lines += [f"      {_q(c)}: {_q(a)}" for c, a in found.mapping.items()] or ["      {}"]
    lines += [f"      # {c}: not mapped, {why}" for c, why in found.unmapped.items()]
    return "\n".join(lines) + "\n"


def manifest_yaml(found: Scaffold, endpoint: str, api_key_env: str) -> str:
    """A whole new manifest for one sync."""
    attrs = [f"      {_q(a)}: {t}" for a, t in found.custom_attributes.items()]
    source = f"`rsync-braze init --model {found.model}`" if found.model else f"`rsync-braze init --relation {found.relation}`"
    return "\n".join([
        f"# rsync-braze sync manifest, scaffolded by {source} (keys: README, \"Sync manifest reference\").",
        "# Review it: columns named like Braze standard fields are mapped to them, the others are custom attributes",
        "# typed from their SQL types. Then: rsync-braze validate && rsync-braze plan",
        "destinations:", "  braze:",
        "    # Your instance's REST endpoint (e.g. https://rest.fra-01.braze.eu); the default is the local emulator.",
        f"    endpoint: {json.dumps(endpoint)}",
        f"    api_key_env: {api_key_env}   # the NAME of the variable holding the REST API key, never the key",
        "    custom_attributes:" + ("" if attrs else " {}"), *attrs, "syncs:", sync_yaml(found)])


def write(found: Scaffold, path: Path, *, force: bool = False, append: bool = False,
          endpoint: str = DEFAULT_ENDPOINT, api_key_env: str = "BRAZE_API_KEY", destination: str | None = None) -> str:
    """Write the manifest (new, overwritten with ``force``, or the sync appended); return what was done."""
    if not path.exists() or force:
        path.write_text(manifest_yaml(found, endpoint, api_key_env))
        return "overwritten" if force else "written"
    if not append:
        raise ConfigError(f"{path} already exists: pass --append to add sync {found.sync_name!r} to it, "
                          "or --force to replace it.")
    data = yaml.safe_load(path.read_text()) or {}
    dests, syncs = data.get("destinations") or {}, data.get("syncs") or []
    if any(isinstance(s, dict) and s.get("name") == found.sync_name for s in syncs):
        raise ConfigError(f"{path} already has a sync named {found.sync_name!r}: pass --sync ANOTHER_NAME.")
    dest = destination or (next(iter(dests)) if len(dests) == 1 else None)
    if dest not in dests:
        raise ConfigError(f"{path}: pass --destination (one of {', '.join(dests) or 'none defined'}).")
    declared = dests[dest].setdefault("custom_attributes", {}) or {}
    dests[dest]["custom_attributes"] = declared
    for attr, kind in found.custom_attributes.items():
        declared.setdefault(attr, kind)  # an existing declaration wins; validate reports a mismatch
    entry = yaml.safe_load(sync_yaml(found))[0]
    if len(dests) > 1:
        entry["destination"] = dest
    data["syncs"] = [*syncs, entry]
    path.with_name(path.name + ".bak").write_text(path.read_text())
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120))
    return "appended"
