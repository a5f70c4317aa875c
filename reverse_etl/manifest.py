"""The sync manifest (``rsync_braze.yml``): loaded, rendered and validated completely before any I/O.

``env_var('NAME')`` / ``env_var('NAME', 'default')`` work in any string value, as in dbt. The whole file is
checked at once and every problem is reported together, each naming the file, the sync or destination, the
key, and the fix. The key reference in the README is generated from :data:`reverse_etl.manifest_schema.SCHEMA`,
the same table this module validates against, so the two cannot drift.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

from .errors import ConfigError
from .manifest_schema import (
    ATTRIBUTE_TYPES, DESTINATION_KEYS, EVENT_KEYS, IDENTIFIER_TYPES, MAPPING_KEYS, MERGE_KEYS, STANDARD_ATTRIBUTES,
    SYNC_KEYS, TOP_KEYS, Key,
)

DEFAULT_PATH = "rsync_braze.yml"
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# A sync's state tables are named <kind>__<sync> (snapshot__ is the longest kind, 10 characters) and
# PostgreSQL cuts identifiers at 63 bytes: two long names sharing their first 53 characters would share tables.
MAX_SYNC_NAME = 53
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CRON_FIELD_RE = re.compile(r"^[\d*/,\-A-Za-z]+$")


@dataclass(frozen=True)
class CustomAttribute:
    name: str
    type: str
    required: bool = False


@dataclass(frozen=True)
class DestinationConfig:
    name: str
    endpoint: str
    api_key_env: str
    app_id: str | None
    rate_limit_requests: int
    rate_limit_period: float
    objects_per_request: int
    legacy_per_array: bool
    timeout: float
    workers: int
    allow_hosts: tuple[str, ...]
    custom_attributes: dict[str, CustomAttribute]
    owner: dict[str, str] = field(default_factory=dict)

    def api_key(self) -> str:
        """The key, read from the environment at run time (never stored in the manifest)."""
        value = os.environ.get(self.api_key_env, "")
        if not value.strip():
            raise ConfigError(
                f"Destination {self.name!r}: environment variable {self.api_key_env} is not set; export your "
                f"Braze REST API key in it (the manifest names the variable, never the key)."
            )
        return value.strip()


@dataclass(frozen=True)
class FieldMapping:
    """One model column sent as one Braze attribute; ``sync_on`` says on which changes it is sent."""

    column: str
    attribute: str
    sync_on: tuple[str, ...]


@dataclass(frozen=True)
class SyncConfig:
    name: str
    model: str | None
    relation: str | None
    destination: str
    object: str
    identifier_column: str
    identifier_type: str
    identifier_label: str | None
    mode: str
    mapping: tuple[FieldMapping, ...]
    on_remove: str
    schedule: str
    tags: tuple[str, ...]
    max_rejected_share: float
    event: dict[str, Any] = field(default_factory=dict)
    timezone: str = "UTC"
    owner: dict[str, str] = field(default_factory=dict)  # the sync's, else its destination's
    merges: dict[str, str] = field(default_factory=dict)  # model|relation, retired, surviving (MERGE_KEYS)


@dataclass(frozen=True)
class Manifest:
    path: Path
    state_schema: str
    destinations: dict[str, DestinationConfig]
    syncs: dict[str, SyncConfig]
    sources: dict[str, Any] = field(default_factory=dict)  # reverse_etl.sources.config.SourceConfig by name


class _Problems:
    """Collects every problem of the file, so the user fixes them all in one go."""

    def __init__(self, path: Path):
        self.path = path
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            lines = "\n".join(f"  - {item}" for item in self.items)
            raise ConfigError(f"{self.path} has {len(self.items)} problem(s):\n{lines}")


def _render(value: Any, where: str, problems: _Problems) -> Any:
    """Render env_var() in every string of the parsed YAML (never in the raw text: values stay values)."""
    if isinstance(value, dict):
        return {k: _render(v, f"{where}.{k}", problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str) or "{{" not in value:
        return value

    def env_var(name: str, default: str | None = None) -> str:
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return str(default)
        raise KeyError(name)

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    try:
        return env.from_string(value).render(env_var=env_var)
    except KeyError as exc:
        problems.add(where, f"environment variable {exc.args[0]} is not set: export it or give env_var() a default.")
    except jinja2.TemplateError as exc:
        problems.add(where, f"template error: {exc}.")
    except Exception as exc:  # noqa: BLE001 - the user's template code raised (1/0, env_var() with no name...)
        problems.add(where, f"template error: {type(exc).__name__}: {exc}.")
    return value


def _check_keys(data: dict, keys: dict[str, Key], where: str, problems: _Problems) -> dict[str, Any]:
    """Type-check ``data`` against ``keys``; return values with defaults filled in."""
    out: dict[str, Any] = {}
    for name in data:
        if name not in keys:
            close = difflib.get_close_matches(str(name), list(keys), n=1, cutoff=0.7)
            hint = f" Did you mean {close[0]!r}?" if close else f" Known keys: {', '.join(keys)}."
            problems.add(f"{where}.{name}", f"unknown key.{hint}")
    for name, key in keys.items():
        if name not in data or data[name] is None:
            if key.required:
                problems.add(f"{where}.{name}", f"is required. {key.doc}")
            out[name] = key.default
            continue
        value = data[name]
        error = key.check(value)
        if error:
            problems.add(f"{where}.{name}", error)
            out[name] = key.default
        else:
            out[name] = value
    return out


def load(path: str | os.PathLike | None = None, project_dir: str | os.PathLike | None = None) -> Manifest:
    """Read, render and validate the manifest; raise one ConfigError listing every problem."""
    base = Path(project_dir or os.getcwd())
    manifest_path = Path(path) if path else base / DEFAULT_PATH
    if not manifest_path.is_absolute():
        manifest_path = base / manifest_path
    if not manifest_path.is_file():
        raise ConfigError(
            f"No sync manifest at {manifest_path}: create it (rsync-braze init writes one) or pass --manifest."
        )
    try:
        raw = yaml.safe_load(manifest_path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{manifest_path} is not valid YAML: {' '.join(str(exc).split())}") from None
    problems = _Problems(manifest_path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{manifest_path} must be a mapping with `destinations:` and `syncs:` at the top.")
    data = _render(raw, "manifest", problems)
    top = _check_keys(data, TOP_KEYS, "manifest", problems)

    destinations: dict[str, DestinationConfig] = {}
    for name, body in (top["destinations"] or {}).items():
        where = f"destinations.{name}"
        if not isinstance(name, str):
            problems.add(where, "destination names are text, e.g. braze: rename it.")
            continue
        if not isinstance(body, dict):
            problems.add(where, "must be a mapping (endpoint, api_key_env, ...).")
            continue
        if "api_key" in body:
            problems.add(f"{where}.api_key", "API keys never go in the manifest: put the key in an environment "
                                             "variable and name it in api_key_env.")
            body = {k: v for k, v in body.items() if k != "api_key"}
        d = _check_keys(body, DESTINATION_KEYS, where, problems)
        attrs: dict[str, CustomAttribute] = {}
        for attr, spec in (d["custom_attributes"] or {}).items():
            spec = {"type": spec} if isinstance(spec, str) else spec
            if not isinstance(spec, dict) or spec.get("type") not in ATTRIBUTE_TYPES:
                problems.add(f"{where}.custom_attributes.{attr}",
                             f"needs a type among {', '.join(ATTRIBUTE_TYPES)}, e.g. {{type: float, required: true}}.")
                continue
            if attr in STANDARD_ATTRIBUTES or str(attr).startswith("$") or len(str(attr)) > 255:
                problems.add(f"{where}.custom_attributes.{attr}",
                             "is a Braze standard field, starts with $, or is longer than 255 characters: rename it.")
                continue
            attrs[attr] = CustomAttribute(attr, spec["type"], bool(spec.get("required", False)))
        rate_requests, rate_period = _rate(d["rate_limit"] or {}, where, problems)
        destinations[name] = DestinationConfig(
            name=name, endpoint=str(d["endpoint"] or ""), api_key_env=str(d["api_key_env"] or ""),
            app_id=d["app_id"], rate_limit_requests=rate_requests,
            rate_limit_period=rate_period, objects_per_request=int(d["objects_per_request"]),
            legacy_per_array=bool(d["legacy_per_array"]), timeout=float(d["timeout"]), workers=int(d["workers"]),
            allow_hosts=tuple(d["allow_hosts"] or ()), custom_attributes=attrs,
            owner=_owner(d["owner"], f"{where}.owner", problems),
        )
        _check_endpoint(destinations[name], where, problems)

    zone = _timezone(top["timezone"], "manifest.timezone", problems)  # checked once: one problem, not one per sync
    syncs: dict[str, SyncConfig] = {}
    for index, body in enumerate(top["syncs"] or []):
        sync = _sync(body, index, destinations, problems, zone)
        if sync is None:
            continue
        if sync.name in syncs:
            problems.add(f"syncs.{sync.name}", "is defined twice: sync names must be unique.")
        syncs[sync.name] = sync
    from .sources.config import parse_sources

    sources = parse_sources(top["sources"], problems, zone)
    if "%" in str(top["state_schema"]):
        # psycopg reads a % inside a composed identifier as a placeholder in statements that bind values.
        problems.add("state_schema", "contains '%', which the state statements cannot carry: pick a name without it.")
    problems.raise_if_any()
    return Manifest(manifest_path, str(top["state_schema"]), destinations, syncs, sources)


def _rate(rate: dict, where: str, problems: _Problems) -> tuple[int, float]:
    """``rate_limit``: a whole number of ``requests`` per ``period`` seconds (Braze's 3,000 per 3 s by default)."""
    requests, period = rate.get("requests", 3000), rate.get("period", 3)
    try:  # env_var() renders to text: "600" is as good as 600
        requests = int(requests) if isinstance(requests, str) else requests
        period = float(period) if isinstance(period, str) else period
    except ValueError:
        pass
    if (set(rate) - {"requests", "period"} or type(requests) is not int or requests < 1
            or type(period) not in (int, float) or not 0 < period < math.inf):
        problems.add(f"{where}.rate_limit", "takes `requests` (a whole number, at least 1) per `period` (seconds, "
                                            "a positive number), e.g. {requests: 600, period: 3}.")
        return 3000, 3.0
    return requests, float(period)


def _check_endpoint(dest: DestinationConfig, where: str, problems: _Problems) -> None:
    from .braze.destination import Destination, RateLimit

    try:
        Destination(endpoint=dest.endpoint, api_key="validation-only",
                    rate_limit=RateLimit(dest.rate_limit_requests, dest.rate_limit_period),
                    objects_per_request=dest.objects_per_request, legacy_per_array=dest.legacy_per_array,
                    timeout=dest.timeout, workers=dest.workers, allow_hosts=dest.allow_hosts)
    except ConfigError as exc:
        problems.add(where, str(exc))
    if not ENV_NAME_RE.match(dest.api_key_env):
        problems.add(f"{where}.api_key_env", f"{dest.api_key_env!r} is not an environment variable name "
                                             "(letters, digits, underscores), e.g. BRAZE_API_KEY.")


def _sync(body: Any, index: int, destinations: dict[str, DestinationConfig], problems: _Problems,
          timezone: str = "UTC") -> SyncConfig | None:
    if not isinstance(body, dict):
        problems.add(f"syncs[{index}]", "must be a mapping with at least name, model and identifier.")
        return None
    name = body.get("name")
    where = f"syncs.{name}" if isinstance(name, str) else f"syncs[{index}]"
    s = _check_keys(body, SYNC_KEYS, where, problems)
    if isinstance(name, str) and not NAME_RE.match(name):
        problems.add(f"{where}.name", "use lower case letters, digits and underscores, starting with a letter.")
    elif isinstance(name, str) and len(name) > MAX_SYNC_NAME:
        problems.add(f"{where}.name", f"is {len(name)} characters long; use at most {MAX_SYNC_NAME} (its state tables "
                                      f"are named snapshot__<name>, and PostgreSQL cuts names at 63).")
    if bool(s["model"]) == bool(s["relation"]):
        problems.add(where, "give exactly one of `model` (a dbt model name) or `relation` (schema.table).")
    dest = s["destination"]
    if dest is None and len(destinations) == 1:
        dest = next(iter(destinations))
    if dest not in destinations:
        problems.add(f"{where}.destination", f"{dest!r} is not a destination of this manifest "
                                             f"({', '.join(destinations) or 'none defined'}).")
    ident = s["identifier"] or {}
    id_type = ident.get("type", "external_id")
    if id_type not in IDENTIFIER_TYPES:
        problems.add(f"{where}.identifier.type", f"must be one of {', '.join(IDENTIFIER_TYPES)}.")
    if not ident.get("column"):
        problems.add(f"{where}.identifier.column", "is required: the model column holding the identifier.")
    if id_type == "user_alias" and not ident.get("label"):
        problems.add(f"{where}.identifier.label", "is required for a user_alias identifier (the alias_label).")
    mapping = _mapping(s, where, destinations.get(dest), problems)
    if s["on_remove"] == "delete" and not s["confirm_delete"]:
        problems.add(f"{where}.on_remove", "delete removes Braze profiles for good: add `confirm_delete: true` "
                                           "to the sync to confirm.")
    if s["object"] in ("events", "purchases") and s["on_remove"] != "ignore":
        problems.add(f"{where}.on_remove", "events and purchases are a ledger: only `ignore` applies.")
    if s["object"] in EVENT_KEYS:
        event = s["event"] or {}
        missing = [k for k in EVENT_KEYS[s["object"]] if not event.get(k) and not (k == "name" and event.get("name_value"))]
        if missing:
            problems.add(f"{where}.event", f"an {s['object']} sync names its columns here; missing: {', '.join(missing)}.")
        if s["mapping"]:
            problems.add(f"{where}.mapping", f"an {s['object']} sync sends `event:` columns, not a mapping.")
    _check_schedule(s["schedule"], f"{where}.schedule", problems)
    return SyncConfig(
        name=str(name), model=s["model"], relation=s["relation"], destination=str(dest), object=s["object"],
        identifier_column=str(ident.get("column", "")), identifier_type=id_type, identifier_label=ident.get("label"),
        mode=s["mode"], mapping=tuple(mapping), on_remove=s["on_remove"], schedule=str(s["schedule"]),
        tags=tuple(s["tags"] or ()), max_rejected_share=float(s["max_rejected_share"]), event=dict(s["event"] or {}),
        timezone=_timezone(s["timezone"], f"{where}.timezone", problems) if s["timezone"] else timezone,
        owner=_owner(s["owner"], f"{where}.owner", problems) or (destinations[dest].owner if dest in destinations else {}),
        merges=_merges(s, id_type, where, problems),
    )


def _mapping(s: dict, where: str, dest: DestinationConfig | None, problems: _Problems) -> list[FieldMapping]:
    default_on = tuple(s["sync_on"])
    out: list[FieldMapping] = []
    for column, target in (s["mapping"] or {}).items():
        spot = f"{where}.mapping.{column}"
        if isinstance(target, str):
            spec = {"attribute": target}
        elif isinstance(target, dict):
            spec = _check_keys(target, MAPPING_KEYS, spot, problems)
        else:
            problems.add(spot, "must be a Braze attribute name or {attribute: ..., sync_on: [create]}.")
            continue
        attribute = spec.get("attribute") or column
        sync_on = tuple(spec.get("sync_on") or default_on)
        if dest is not None and attribute not in STANDARD_ATTRIBUTES and attribute not in dest.custom_attributes:
            problems.add(spot, f"{attribute!r} is neither a Braze standard field nor declared under "
                               f"destinations.{dest.name}.custom_attributes: declare it with its type.")
        out.append(FieldMapping(str(column), str(attribute), sync_on))
    targets = [m.attribute for m in out]
    for dup in {t for t in targets if targets.count(t) > 1}:
        problems.add(f"{where}.mapping", f"two columns are mapped to {dup!r}.")
    if dest is not None and s["object"] == "user_attributes":
        for attr in dest.custom_attributes.values():
            if attr.required and attr.name not in targets:
                problems.add(f"{where}.mapping", f"{attr.name!r} is required for syncs to {dest.name!r}: map a column to it.")
    return out


def _check_schedule(value: Any, where: str, problems: _Problems) -> None:
    if value in ("manual", "realtime"):
        return
    fields = str(value).split()
    if len(fields) != 5 or not all(CRON_FIELD_RE.match(f) for f in fields):
        problems.add(where, "must be manual, realtime, or a 5-field cron expression such as '0 6 * * *'.")


def _merges(s: dict, id_type: str, where: str, problems: _Problems) -> dict[str, str]:
    """``merges:`` checked: its keys, exactly one of model/relation, and a sync it can apply to."""
    if not isinstance(s["merges"], dict) or not s["merges"]:
        return {}  # absent, or not a mapping (_check_keys has said so)
    m = _check_keys(s["merges"], MERGE_KEYS, f"{where}.merges", problems)
    if bool(m["model"]) == bool(m["relation"]):
        problems.add(f"{where}.merges", "give exactly one of `model` (e.g. identity_retired_person_ids) or `relation`.")
    if s["object"] != "user_attributes" or id_type != "external_id":
        problems.add(f"{where}.merges", "applies to user_attributes syncs identified by external_id only "
                                        "(Braze merges profiles by their external_id here).")
    return {k: str(v) for k, v in m.items() if v is not None}


def _timezone(value: str, where: str, problems: _Problems) -> str:
    """An IANA zone name schedules are read in (checked now, so `serve` never starts with a bad one)."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.add(where, f"{value!r} is not an IANA time zone: use e.g. UTC, Europe/Paris, America/New_York.")
        return "UTC"
    return value


def _owner(value: dict, where: str, problems: _Problems) -> dict[str, str]:
    """{name, email}, both optional strings (dbt exposures require an owner name or email)."""
    bad = [k for k, v in value.items() if k not in ("name", "email") or not isinstance(v, str)]
    if bad:
        problems.add(where, "takes `name` and `email` (strings) only, e.g. {name: CRM team, email: crm@example.com}.")
        return {}
    return dict(value)
