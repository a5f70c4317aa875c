"""``POST /users/track``: validate each object, apply the valid ones, count data points [braze-api.md 1, 2.1, 3.5].

Objects are processed attributes first, then events, then purchases [1.2]. An invalid object is skipped and
reported as ``{"type", "input_array", "index"}``; the others apply. Nothing valid at all is a 400 [2.1].
Pure of HTTP: the server hands a parsed body and gets a :class:`TrackResult` back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import values as v
from .operators import custom_value
from .store import Profile, Store
from .values import Invalid

ARRAYS = ("attributes", "events", "purchases")
PRIMARY = ("external_id", "user_alias", "braze_id")
# Keys of an attributes object that are not attribute writes (identifiers are not billed [3.5]).
CONTROL_KEYS = frozenset({"external_id", "user_alias", "braze_id", "_update_existing_only", "push_token_import",
                          "_merge_objects"})
# Standard fields [1.5], plus the one name the newest docs call out as invalid.
SPECIAL_FIELDS = v.STANDARD_FIELDS | {"email_subscription_info"}
ALL_INVALID = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."


@dataclass
class TrackOptions:
    """The parts of the emulator's configuration that change how objects are judged."""

    array_max: int = 500
    error_types: str = "codes"
    blocked_external_ids: frozenset[str] = frozenset()


@dataclass
class TrackResult:
    status: int
    body: dict
    data_points: int = 0
    object_errors: int = 0
    processed: dict[str, int] = field(default_factory=dict)


class BodyError(Exception):
    """The request as a whole is refused (400 with this message)."""


def check_shape(body: Any, max_objects: int, per_array: bool) -> None:
    """Envelope checks: a JSON object, arrays of objects, and the object count limit [1.1, 1.2]."""
    if not isinstance(body, dict):
        raise BodyError("Request body must be a JSON object.")
    counts = []
    for name in ARRAYS:
        if name in body:
            if not isinstance(body[name], list):
                raise BodyError(f"'{name}' must be an array.")
            counts.append(len(body[name]))
    if not counts or not any(counts):
        raise BodyError(ALL_INVALID)
    if (max(counts) if per_array else sum(counts)) > max_objects:
        raise BodyError("Max Input Length Exceeded")


def _identify(obj: dict, array: str, opts: TrackOptions) -> tuple[str, Any, bool]:
    """(kind, value, update_only) of an object's identifier, with Braze's rules [1.3]."""
    primaries = [k for k in PRIMARY if k in obj]
    if len(primaries) > 1:
        if set(primaries) >= {"external_id", "user_alias"}:
            raise Invalid("'external_id' and 'user_alias' cannot both be provided; use /users/alias/new")
        raise Invalid("only one of 'external_id', 'braze_id' or 'user_alias' may be provided")
    update_only = obj.get("_update_existing_only")
    if update_only is not None and type(update_only) is not bool:
        raise Invalid("'_update_existing_only' must be a boolean")
    if obj.get("push_token_import") is True:
        # Anonymous push token import: no external_id or braze_id, and tokens present [1.3].
        if "external_id" in obj or "braze_id" in obj or not obj.get("push_tokens"):
            raise Invalid("push_token_import needs push_tokens and no external_id or braze_id",
                          "BAD_PUSH_TOKEN_IMPORT")
        return "anonymous", None, False
    if primaries:
        kind = primaries[0]
        value = obj[kind]
        if kind == "external_id":
            if type(value) is not str or not value:
                raise Invalid("'external_id' must be a non-empty string")
            if len(value) * 4 > v.MAX_EXTERNAL_ID_BYTES and len(value.encode()) > v.MAX_EXTERNAL_ID_BYTES:
                raise Invalid("'external_id' is longer than 987 bytes", "EXTERNAL_USER_ID_TOO_LARGE")
            if value in opts.blocked_external_ids:
                raise Invalid("provided external_id is blacklisted and disallowed", "BLACKLISTED_EXTERNAL_USER_ID")
            return kind, value, bool(update_only)
        if kind == "user_alias":
            if not isinstance(value, dict) or not isinstance(value.get("alias_name"), str) \
                    or not isinstance(value.get("alias_label"), str) or not value["alias_name"] \
                    or not value["alias_label"]:
                raise Invalid("'user_alias' must have string 'alias_name' and 'alias_label'")
            # "Update only" defaults to true for aliases on attributes, always true on events/purchases [1.3].
            alias_update_only = True if array != "attributes" else (True if update_only is None else update_only)
            return kind, (value["alias_label"], value["alias_name"]), alias_update_only
        if type(value) is not str or not value:
            raise Invalid("'braze_id' must be a non-empty string")
        return kind, value, True  # braze_id never creates users [1.3]
    # Secondary identifiers, used only without a primary one; email wins over phone [1.3].
    if "email" in obj:
        return "email", v.email(obj["email"]), bool(update_only)
    if "phone" in obj:
        return "phone", v.phone(obj["phone"]), bool(update_only)
    raise Invalid("'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required")


def _lookup(store: Store, kind: str, value: Any) -> Profile | None:
    if kind == "external_id":
        return store.by_external_id(value)
    if kind == "user_alias":
        return store.by_user_alias(*value)
    if kind == "braze_id":
        return store.by_braze_id(value)
    if kind == "anonymous":
        return None
    return store.by_field(kind, value)  # email or phone: Braze's choice among several [1.3]


def _create(store: Store, kind: str, value: Any) -> Profile | None:
    if kind == "braze_id":
        return None  # braze_id never creates users [1.3]
    if kind == "user_alias":
        return store.create(alias=value)
    if kind == "anonymous":
        return store.create()
    return store.create(**{kind: value})


def _attributes(store: Store, obj: dict, kind: str, ident: Any, update_only: bool, array_max: int) -> int:
    """Validate every attribute first (an invalid value skips the whole object, and creates no profile),
    then create the profile if needed and allowed, and write; returns the data points."""
    profile = _lookup(store, kind, ident)
    merge = obj.get("_merge_objects", False)
    if type(merge) is not bool:
        raise Invalid("'_merge_objects' must be a boolean")
    standard: list[tuple[str, Any]] = []
    custom_writes: list[tuple[str, Any]] = []
    points = 0
    custom = profile["custom_attributes"] if profile else {}
    not_billed = v.NOT_BILLED
    for name, value in obj.items():
        if name in CONTROL_KEYS or name == kind:
            continue  # identifiers; an email or phone used as the identifier is not a write either [1.3]
        if name in SPECIAL_FIELDS:
            if name == "email_subscription_info":
                raise Invalid("'email_subscription_info' is not a valid attribute",
                              "INVALID_ATTRIBUTE_EMAIL_SUBSCRIPTION_INFO")
            if name == "bio":
                continue  # the old profile field `bio` is ignored [1.4]
            standard.append((name, v.standard(name, value)))
            points += name not in not_billed
            continue
        # Custom attribute names: non-empty, at most 255 characters, no leading $ [1.4]. JSON keys are strings.
        if not name or name[0] == "$" or len(name) > v.MAX_KEY:
            v.key(name, "custom attribute name")
        kind_of = type(value)
        if kind_of is str:
            if len(value) > v.MAX_STRING:
                raise Invalid(f"'{name}' is longer than {v.MAX_STRING} characters")
            custom_writes.append((name, value))
            points += 1
        elif kind_of is int or kind_of is float or kind_of is bool or value is None:
            custom_writes.append((name, value))  # a null unset also costs one data point [3.5]
            points += 1
        else:
            stored, p = custom_value(name, value, custom.get(name), merge, array_max)
            custom_writes.append((name, stored))
            points += p
    if profile is None:
        if update_only:
            return 0
        profile = _create(store, kind, ident)
        if profile is None:
            return 0
        custom = profile["custom_attributes"]
    for name, stored in standard:
        if name == "subscription_groups":
            groups = profile.setdefault("subscription_groups", {})
            for g in stored or []:
                groups[g["subscription_group_id"]] = g["subscription_state"]
            continue
        store.set_field(profile, name, stored)
        if name == "email_subscribe" and profile.get("email"):
            # Subscription changes also update the other profiles sharing the email [1.5].
            for other in store.all_by_field("email", profile["email"]):
                store.set_field(other, name, stored)
    for name, stored in custom_writes:
        if stored is None:
            custom.pop(name, None)
        else:
            custom[name] = stored
    store.touch(profile)
    return points


def process(store: Store, body: dict, opts: TrackOptions | None = None) -> TrackResult:
    """Apply a shape-checked body to ``store`` (from one thread at a time) and build Braze's answer."""
    opts = opts or TrackOptions()
    store.begin()
    errors: list[dict] = []
    processed = {name: 0 for name in ARRAYS if name in body}
    points = 0
    for array in ARRAYS:
        for index, obj in enumerate(body.get(array, ())):
            try:
                if type(obj) is not dict:
                    raise Invalid(f"each item of '{array}' must be an object")
                kind, value, update_only = _identify(obj, array, opts)
                if array == "attributes":
                    points += _attributes(store, obj, kind, value, update_only, opts.array_max)
                else:
                    record = _event(obj) if array == "events" else _purchase(obj)
                    profile = _lookup(store, kind, value)
                    if profile is None and not update_only:
                        profile = _create(store, kind, value)
                    if profile is not None:
                        store.add_event(profile, array, record)
                        points += 1  # each event and purchase is one data point [3.5]
                processed[array] += 1
            except Invalid as exc:
                errors.append({"type": exc.type_for(opts.error_types), "input_array": array, "index": index})
    total = sum(len(body.get(a, ())) for a in ARRAYS)
    if total and len(errors) == total:
        return TrackResult(400, {"message": ALL_INVALID, "errors": errors}, 0, len(errors), processed)
    response: dict[str, Any] = {"message": "success"}
    response.update({f"{a}_processed": n for a, n in processed.items()})
    if errors:
        response["errors"] = errors
    return TrackResult(201, response, points, len(errors), processed)


def _event(obj: dict) -> dict:
    """An event object [1.6]: required name and time, optional app_id and properties."""
    name = obj.get("name")
    if type(name) is not str or not name:
        raise Invalid("'name' is required")
    v.key(v.string(name, "name"), "'name'")
    record = {"name": name, "time": v.event_time(obj.get("time"))}
    if obj.get("properties") is not None:
        record["properties"] = v.properties(obj["properties"], v.EVENT_RESERVED, v.MAX_EVENT_PROPERTIES_BYTES,
                                            "properties")
    if obj.get("app_id") is not None:
        record["app_id"] = v.string(obj["app_id"], "app_id")
    return record


def _purchase(obj: dict) -> dict:
    """A purchase object [1.7]: product_id, 3-letter currency, price, quantity 1..100, time."""
    product_id = obj.get("product_id")
    if not isinstance(product_id, str) or not product_id:
        raise Invalid("'product_id' is required")
    v.string(product_id, "product_id")
    currency = obj.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        raise Invalid("'currency' must be a 3-letter ISO-4217 code")
    if not v.is_number(obj.get("price")):
        raise Invalid("'price' is required and must be a number")
    quantity = obj.get("quantity", 1)
    if type(quantity) is not int or not 1 <= quantity <= 100:
        raise Invalid("'quantity' is not valid")
    record = {"product_id": product_id, "currency": currency.upper(), "price": obj["price"], "quantity": quantity,
              "time": v.event_time(obj.get("time"))}
    if obj.get("properties") is not None:
        record["properties"] = v.properties(obj["properties"], v.PURCHASE_RESERVED, v.MAX_PURCHASE_PROPERTIES_BYTES,
                                            "properties")
    if obj.get("app_id") is not None:
        record["app_id"] = v.string(obj["app_id"], "app_id")
    return record
