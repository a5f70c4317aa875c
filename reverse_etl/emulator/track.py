"""``POST /users/track``: validate each object, apply the valid ones, count data points [braze-api.md 1, 2.1, 3.5].

Objects are processed attributes first, then events, then purchases [1.2]. An invalid object is skipped and
reported as ``{"type", "input_array", "index"}``; the others apply. Nothing valid at all is a 400.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import values as v
from .store import Profile, Store
from .values import Invalid

ARRAYS = ("attributes", "events", "purchases")
PRIMARY = ("external_id", "user_alias", "braze_id")
IDENTIFIER_KEYS = {"external_id", "user_alias", "braze_id", "_update_existing_only", "push_token_import"}


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
    if not counts:
        raise BodyError("Valid data must be provided in the 'attributes', 'events', or 'purchases' fields.")
    if (max(counts) if per_array else sum(counts)) > max_objects:
        raise BodyError("Max Input Length Exceeded")


def _identify(obj: dict, array: str) -> tuple[str, Any, bool]:
    """(kind, value, update_only) of an object's identifier, with Braze's rules [1.3]."""
    primaries = [k for k in PRIMARY if k in obj]
    if len(primaries) > 1:
        if array == "attributes" and set(primaries) >= {"external_id", "user_alias"}:
            raise Invalid("'external_id' and 'user_alias' cannot both be provided; use /users/alias/new")
        raise Invalid("only one of 'external_id', 'braze_id' or 'user_alias' may be provided")
    update_only = obj.get("_update_existing_only")
    if update_only is not None and not isinstance(update_only, bool):
        raise Invalid("'_update_existing_only' must be a boolean")
    if primaries:
        kind = primaries[0]
        value = obj[kind]
        if kind == "external_id":
            if not isinstance(value, str) or not value:
                raise Invalid("'external_id' must be a non-empty string")
            if len(value.encode()) > v.MAX_EXTERNAL_ID_BYTES:
                raise Invalid("EXTERNAL_USER_ID_TOO_LARGE")
            return kind, value, bool(update_only)
        if kind == "user_alias":
            if not isinstance(value, dict) or not isinstance(value.get("alias_name"), str) \
                    or not isinstance(value.get("alias_label"), str) or not value["alias_name"] or not value["alias_label"]:
                raise Invalid("'user_alias' must have string 'alias_name' and 'alias_label'")
            # Update-only defaults to true for aliases on attributes and is always true on events/purchases [1.3].
            alias_update_only = True if array != "attributes" else (True if update_only is None else update_only)
            return kind, (value["alias_label"], value["alias_name"]), alias_update_only
        if not isinstance(value, str) or not value:
            raise Invalid("'braze_id' must be a non-empty string")
        return kind, value, True  # braze_id never creates users [1.3]
    if "email" in obj:
        return "email", v.email(obj["email"]), bool(update_only)
    if "phone" in obj:
        return "phone", v.phone(obj["phone"]), bool(update_only)
    raise Invalid("'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required")


def _resolve(store: Store, kind: str, value: Any, update_only: bool) -> Profile | None:
    if kind == "external_id":
        profile = store.by_external_id(value)
        return profile or (None if update_only else store.create(external_id=value))
    if kind == "user_alias":
        profile = store.by_user_alias(*value)
        return profile or (None if update_only else store.create(alias=value))
    if kind == "braze_id":
        return store.by_braze_id(value)
    profile = store.by_field(kind, value)
    if profile or update_only:
        return profile
    return store.create(**{kind: value})


def _custom_value(name: str, value: Any, current: Any, merge: bool, array_max: int) -> tuple[Any, int]:
    """The stored value of a custom attribute write and its data points [1.4, 3.5]."""
    if value is None:
        return None, 1
    if isinstance(value, bool) or v.is_number(value):
        return value, 1
    if isinstance(value, str):
        return v.string(value, name), 1
    if isinstance(value, list):
        if any(isinstance(x, dict) for x in value):
            return [v.nested(x, name) for x in value], 1
        out: list = []
        for x in value:
            if isinstance(x, str):
                v.string(x, name)
            if x in out:
                out.remove(x)
            out.append(x)
        return out[-array_max:], 1
    if isinstance(value, dict):
        if set(value) == {"inc"}:
            if not isinstance(value["inc"], int) or isinstance(value["inc"], bool):
                raise Invalid(f"'{name}' inc must be an integer")
            base = current if isinstance(current, int) and not isinstance(current, bool) else 0
            return base + value["inc"], 1
        if set(value) and set(value) <= {"add", "remove"}:
            arr = list(current) if isinstance(current, list) else []
            added = value.get("add", [])
            removed = value.get("remove", [])
            if not isinstance(added, list) or not isinstance(removed, list):
                raise Invalid(f"'{name}' add/remove must be arrays")
            for x in added:
                if x in arr:
                    arr.remove(x)
                arr.append(x)
            arr = [x for x in arr if x not in removed]
            return arr[-array_max:], max(len(added), 0) + (1 if removed and not added else 0)
        if set(value) == {"$time"}:
            return v.parse_time(value["$time"], name).isoformat(), 1
        if any(k.startswith("$") for k in value):
            return _object_array_op(name, value, current), 1
        obj = v.nested(value, name)
        points = _count_keys(obj)
        if merge and isinstance(current, dict):
            return _deep_merge(dict(current), obj), points
        return obj, points
    raise Invalid(f"'{name}' has an unsupported value type")


def _object_array_op(name: str, value: dict, current: Any) -> list:
    arr = list(current) if isinstance(current, list) else []
    for op, items in value.items():
        if op not in ("$add", "$remove", "$update") or not isinstance(items, list):
            raise Invalid(f"'{name}' has an unknown operator '{op}'")
        if op == "$add":
            arr.extend(v.nested(x, name) for x in items)
        else:
            for item in items:
                k, val = item.get("$identifier_key"), item.get("$identifier_value")
                if op == "$remove":
                    arr = [x for x in arr if x.get(k) != val]
                else:
                    arr = [_deep_merge(dict(x), v.nested(item.get("$new_object", {}), name)) if x.get(k) == val else x
                           for x in arr]
    return arr


def _count_keys(obj: Any) -> int:
    if isinstance(obj, dict):
        return sum(1 + (_count_keys(x) if isinstance(x, dict) and set(x) != {"$time"} else 0) for x in obj.values())
    return 1


def _deep_merge(base: dict, extra: dict) -> dict:
    for k, val in extra.items():
        base[k] = _deep_merge(dict(base[k]), val) if isinstance(val, dict) and isinstance(base.get(k), dict) else val
    return base


def _attributes(store: Store, obj: dict, profile: Profile | None, kind: str, array_max: int) -> int:
    """Validate every attribute first (an invalid value skips the whole object), then write; data points."""
    merge = obj.get("_merge_objects", False)
    if not isinstance(merge, bool):
        raise Invalid("'_merge_objects' must be a boolean")
    writes: list[tuple[str, Any, bool]] = []
    points = 0
    custom = profile["custom_attributes"] if profile else {}
    for name, value in obj.items():
        if name in IDENTIFIER_KEYS or name == "_merge_objects" or (name == kind and kind in ("email", "phone")):
            continue
        if name == "email_subscription_info":
            raise Invalid("INVALID_ATTRIBUTE_EMAIL_SUBSCRIPTION_INFO")
        if name in v.STANDARD_FIELDS:
            stored = v.standard(name, value)
            writes.append((name, stored, True))
            points += 0 if name in v.NOT_BILLED else 1
        else:
            v.key(name, "custom attribute name")
            stored, p = _custom_value(name, value, custom.get(name), merge, array_max)
            writes.append((name, stored, False))
            points += p
    if profile is None:
        return 0
    for name, stored, is_standard in writes:
        if is_standard:
            if name == "subscription_groups":
                groups = profile.setdefault("subscription_groups", {})
                for g in stored or []:
                    groups[g["subscription_group_id"]] = g["subscription_state"]
            else:
                store.set_field(profile, name, stored)
        elif stored is None:
            custom.pop(name, None)
        else:
            custom[name] = stored
    store.touch(profile)
    return points


def process(store: Store, body: dict, array_max: int = 500) -> TrackResult:
    """Apply a shape-checked body; the caller holds ``store.lock``."""
    errors: list[dict] = []
    processed = {name: 0 for name in ARRAYS if name in body}
    points = 0
    for array in ARRAYS:
        for index, obj in enumerate(body.get(array, [])):
            try:
                if not isinstance(obj, dict):
                    raise Invalid(f"each item of '{array}' must be an object")
                kind, value, update_only = _identify(obj, array)
                if array == "attributes":
                    profile = _resolve(store, kind, value, update_only)
                    points += _attributes(store, obj, profile, kind, array_max)
                else:
                    record = _event(obj) if array == "events" else _purchase(obj)
                    profile = _resolve(store, kind, value, update_only)
                    if profile is not None:
                        store.add_event(profile, array, record)
                        points += 1
                processed[array] += 1
            except Invalid as exc:
                errors.append({"type": str(exc), "input_array": array, "index": index})
    total = sum(len(body.get(a, [])) for a in ARRAYS)
    if total and len(errors) == total:
        return TrackResult(400, {"message": "Valid data must be provided in the 'attributes', 'events', or "
                                            "'purchases' fields.", "errors": errors}, 0, len(errors), processed)
    response: dict[str, Any] = {"message": "success"}
    response.update({f"{a}_processed": n for a, n in processed.items()})
    if errors:
        response["errors"] = errors
    return TrackResult(201, response, points, len(errors), processed)


def _event(obj: dict) -> dict:
    name = v.key(v.string(obj.get("name"), "name") if obj.get("name") is not None else None, "'name'")
    record = {"name": name, "time": v.event_time(obj.get("time"))}
    if obj.get("properties") is not None:
        record["properties"] = v.properties(obj["properties"], v.EVENT_RESERVED, v.MAX_EVENT_PROPERTIES_BYTES,
                                            "properties")
    if obj.get("app_id") is not None:
        record["app_id"] = v.string(obj["app_id"], "app_id")
    return record


def _purchase(obj: dict) -> dict:
    product_id = obj.get("product_id")
    if not isinstance(product_id, str) or not product_id:
        raise Invalid("'product_id' is required")
    v.string(product_id, "product_id")
    currency = obj.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise Invalid("'currency' must be a 3-letter ISO-4217 code")
    if not v.is_number(obj.get("price")):
        raise Invalid("'price' is required and must be a number")
    quantity = obj.get("quantity", 1)
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= 100:
        raise Invalid("'quantity' is not valid")
    record = {"product_id": product_id, "currency": currency.upper(), "price": obj["price"], "quantity": quantity,
              "time": v.event_time(obj.get("time"))}
    if obj.get("properties") is not None:
        record["properties"] = v.properties(obj["properties"], v.PURCHASE_RESERVED, v.MAX_PURCHASE_PROPERTIES_BYTES,
                                            "properties")
    return record
