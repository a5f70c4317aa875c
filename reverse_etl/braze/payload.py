"""Turn a :class:`TrackRow` into encoded ``/users/track`` objects, or a rejection with its reason.

Each object is encoded once, here, to bytes: batching then only counts and concatenates, so the body size
is exact and no object is serialised twice. A row with any value Braze would reject is rejected whole
(nothing of it is sent), so the engine never records half a row as delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from ..errors import ConfigError
from . import limits, values
from .rows import ID_KINDS, Event, Purchase, TrackRow
from .values import Invalid

JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
_NONE: list = []  # shared empty list for rows without events or purchases (never mutated)
TYPES = ("string", "integer", "float", "boolean", "time", "array", "object")


@dataclass(frozen=True)
class AttributeSpec:
    """A declared custom attribute type; ``merge`` (objects only) sends ``_merge_objects: true``."""

    type: str
    merge: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ConfigError(f"Attribute type {self.type!r} is unknown: use one of {', '.join(TYPES)}.")
        if self.merge and self.type not in ("object", "array"):
            raise ConfigError("merge applies to object (and array of objects) attributes only.")


@dataclass(slots=True)
class Prepared:
    """A row ready to batch: its encoded objects per array, total size, and profile identity."""

    key: Any
    identity: str
    attributes: list[bytes]
    events: list[bytes]
    purchases: list[bytes]
    size: int
    count: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row refused before sending, with the reason."""

    key: Any
    reason: str


Converter = Callable[[Any, str], Any]

_STANDARD: dict[str, Converter] = {
    "first_name": values.string, "last_name": values.string, "home_city": values.string,
    "email": values.email, "phone": values.phone, "country": values.country, "language": values.language,
    "gender": values.gender, "dob": values.dob, "time_zone": values.time_zone,
    "email_subscribe": values.subscribe_state, "push_subscribe": values.subscribe_state,
    "subscription_groups": values.subscription_groups, "current_location": values.location,
    "email_open_tracking_disabled": values.boolean, "email_click_tracking_disabled": values.boolean,
    "date_of_first_session": values.timestamp, "date_of_last_session": values.timestamp,
    "marked_email_as_spam_at": values.timestamp,
}
# Python types a declared attribute's value may have to skip its converter (the common, valid case).
_FAST_TYPE: dict[str, type] = {"string": str, "integer": int, "float": float, "boolean": bool, "time": datetime}
_BY_TYPE: dict[str, Converter] = {
    "string": values.string, "integer": values.integer, "float": values.number, "boolean": values.boolean,
    "time": values.timestamp, "array": values.array, "object": values.nested_object,
}


def _inferred(value: Any, what: str) -> Any:
    """Undeclared attribute: the type follows the Python value."""
    if isinstance(value, str):
        return values.string(value, what)
    if isinstance(value, bool | int):
        return value
    if isinstance(value, dict):
        return values.nested_object(value, what)
    if isinstance(value, list | tuple):
        return values.array(value, what)
    if hasattr(value, "year"):
        return values.timestamp(value, what)
    return values.number(value, what)


class PayloadBuilder:
    """Builds ``/users/track`` objects from rows, using the declared custom attribute types."""

    def __init__(self, schema: Mapping[str, str | AttributeSpec] | None = None) -> None:
        self._converters: dict[str, Converter] = dict(_STANDARD)
        self._fast: dict[str, type] = {}
        self._merge: set[str] = set()
        for name, spec in (schema or {}).items():
            spec = spec if isinstance(spec, AttributeSpec) else AttributeSpec(spec)
            try:
                values.key(name, "attribute name")
            except Invalid as exc:
                raise ConfigError(f"Declared attribute {exc}.") from None
            if name in _STANDARD or name in limits.IDENTIFIER_KEYS:
                raise ConfigError(f"{name!r} is a Braze standard field or identifier: do not declare it as a custom attribute.")
            self._converters[name] = _BY_TYPE[spec.type]
            if spec.type in _FAST_TYPE:
                self._fast[name] = _FAST_TYPE[spec.type]
            if spec.merge:
                self._merge.add(name)

    def build(self, row: TrackRow) -> Prepared | Rejection:
        """Encode ``row``'s objects, or say why Braze would reject it."""
        try:
            ident = _identifier_fields(row)
            update_only = not row.create
            is_alias = row.identifier.kind == "user_alias"
            attributes: list[bytes] = []
            if row.attributes or (is_alias and row.create and (row.events or row.purchases)):
                # An alias-only user is created only by an attributes object with _update_existing_only false;
                # events and purchases on an alias never create one, so send an (empty) attributes object first.
                obj = self._attributes(row.attributes or {})
                obj.update(ident)
                if row.identifier.kind == "braze_id":
                    obj["_update_existing_only"] = True  # braze_id cannot create users
                else:
                    obj["_update_existing_only"] = update_only
                attributes.append(orjson.dumps(obj, option=JSON_OPTIONS))
            events = [orjson.dumps(_event(e, i, ident, update_only, is_alias), option=JSON_OPTIONS)
                      for i, e in enumerate(row.events)] if row.events else _NONE
            purchases = [orjson.dumps(_purchase(p, i, ident, update_only, is_alias), option=JSON_OPTIONS)
                         for i, p in enumerate(row.purchases)] if row.purchases else _NONE
        except Invalid as exc:
            return Rejection(row.key, str(exc))
        except orjson.JSONEncodeError as exc:  # integers beyond 64 bits, anywhere in the row
            return Rejection(row.key, f"a value cannot be sent as JSON: {exc} (Braze numbers fit in 64 bits)")
        if events is _NONE and purchases is _NONE:  # the common case: one attributes object
            if not attributes:
                return Rejection(row.key, "nothing to send: the row has no attributes, events or purchases")
            return Prepared(row.key, row.identifier.identity, attributes, _NONE, _NONE, len(attributes[0]), 1)
        size = sum(map(len, attributes)) + sum(map(len, events)) + sum(map(len, purchases))
        count = len(attributes) + len(events) + len(purchases)
        return Prepared(row.key, row.identifier.identity, attributes, events, purchases, size, count)

    def _attributes(self, attrs: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        converters = self._converters
        fast = self._fast
        merge = False
        for name, value in attrs.items():
            # Fast path: a declared attribute whose value already has the wire type and is in range.
            kind = fast.get(name)
            if kind is not None and type(value) is kind:
                if ((kind is str and len(value) <= limits.MAX_STRING_CHARS)
                        or kind is int or kind is bool
                        or (kind is float and value - value == 0.0)  # false for NaN and infinities
                        or (kind is datetime and value.tzinfo is UTC and value.year <= limits.MAX_YEAR)):
                    out[name] = value
                    continue
            convert = converters.get(name)
            if convert is None:
                values.key(name, "attribute name")
                if name in limits.IDENTIFIER_KEYS:
                    raise Invalid(f"{name} is an identifier: put it in the row's identifier, not its attributes")
                if name == "email_subscription_info":
                    raise Invalid("email_subscription_info is not a valid attribute: use email_subscribe")
                convert = _inferred
            out[name] = None if value is None else convert(value, name)
            if name in self._merge and value is not None:
                merge = True
        if merge:
            out["_merge_objects"] = True
        return out


def _identifier_fields(row: TrackRow) -> dict[str, Any]:
    ident = row.identifier
    if ident.kind not in ID_KINDS:
        raise Invalid(f"identifier kind {ident.kind!r} is unknown; use one of {', '.join(ID_KINDS)}")
    if ident.kind == "external_id":
        if not isinstance(ident.value, str) or not ident.value:
            raise Invalid("external_id must be a non-empty string")
        if len(ident.value.encode()) > limits.MAX_EXTERNAL_ID_BYTES:
            raise Invalid(f"external_id is longer than {limits.MAX_EXTERNAL_ID_BYTES} bytes (EXTERNAL_USER_ID_TOO_LARGE)")
    elif ident.kind == "user_alias":
        values.string(ident.value, "alias_name")
        values.string(ident.label, "alias_label")
        if not ident.value or not ident.label:
            raise Invalid("user_alias needs a non-empty alias_name and alias_label")
    elif ident.kind == "email":
        values.email(ident.value, "email identifier")
    elif ident.kind == "phone":
        values.phone(ident.value, "phone identifier")
    elif not isinstance(ident.value, str) or not ident.value:
        raise Invalid("braze_id must be a non-empty string")
    return ident.fields()


def _properties(props: Mapping[str, Any] | None, reserved: frozenset[str], cap: int, what: str) -> dict | None:
    if not props:
        return None
    out = {}
    for k, v in props.items():
        values.key(k, f"{what} property")
        if k in reserved:
            raise Invalid(f"{what} property {k!r} is reserved by Braze")
        out[k] = values._nested(v, f"{what} property {k}")
        if isinstance(out[k], dict) and "$time" in out[k]:
            out[k] = out[k]["$time"]  # top-level property datetimes are plain ISO strings
    size = len(orjson.dumps(out, option=JSON_OPTIONS))
    if size > cap:
        raise Invalid(f"{what} properties are {size} bytes; Braze allows at most {cap}")
    return out


def _event(event: Event, i: int, ident: dict, update_only: bool, is_alias: bool) -> dict[str, Any]:
    what = f"events[{i}]"
    name = values.key(values.string(event.name, f"{what} name"), f"{what} name")
    obj: dict[str, Any] = {**ident, "name": name, "time": values.timestamp(event.time, f"{what} time")}
    props = _properties(event.properties, limits.RESERVED_EVENT_PROPERTY_KEYS, limits.MAX_EVENT_PROPERTIES_BYTES, what)
    if props:
        obj["properties"] = props
    if event.app_id is not None:
        obj["app_id"] = values.string(event.app_id, f"{what} app_id")
    if not is_alias and "braze_id" not in ident:  # alias and braze_id events are always update-only
        obj["_update_existing_only"] = update_only
    return obj


def _purchase(p: Purchase, i: int, ident: dict, update_only: bool, is_alias: bool) -> dict[str, Any]:
    what = f"purchases[{i}]"
    quantity = values.integer(p.quantity, f"{what} quantity")
    if not isinstance(quantity, int) or not limits.MIN_PURCHASE_QUANTITY <= quantity <= limits.MAX_PURCHASE_QUANTITY:
        raise Invalid(f"{what} quantity must be between {limits.MIN_PURCHASE_QUANTITY} and {limits.MAX_PURCHASE_QUANTITY}")
    obj: dict[str, Any] = {
        **ident,
        "product_id": values.string(p.product_id, f"{what} product_id"),
        "currency": values.currency(p.currency, f"{what} currency"),
        "price": values.number(p.price, f"{what} price"),
        "quantity": quantity,
        "time": values.timestamp(p.time, f"{what} time"),
    }
    if not obj["product_id"]:
        raise Invalid(f"{what} product_id must not be empty")
    props = _properties(p.properties, limits.RESERVED_PURCHASE_PROPERTY_KEYS, limits.MAX_PURCHASE_PROPERTIES_BYTES, what)
    if props:
        obj["properties"] = props
    if p.app_id is not None:
        obj["app_id"] = values.string(p.app_id, f"{what} app_id")
    if not is_alias and "braze_id" not in ident:
        obj["_update_existing_only"] = update_only
    return obj
