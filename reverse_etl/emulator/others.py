"""The other endpoints a full sync needs [braze-api.md 5]: export, delete, alias, identify, merge, subscriptions.

Each handler takes the store (used from the event-loop thread only) and the parsed body, and returns
(status, body).
"""

from __future__ import annotations

from typing import Any

from . import values as v
from .store import Profile, Store
from .values import Invalid

MAX_IDS = 50  # [5]: delete, alias/new, identify, merge, export, subscription status


def _alias(value: Any) -> tuple[str, str]:
    if not isinstance(value, dict) or not isinstance(value.get("alias_name"), str) \
            or not isinstance(value.get("alias_label"), str):
        raise Invalid("a user alias needs string 'alias_name' and 'alias_label'")
    return value["alias_label"], value["alias_name"]


def _pick(store: Store, field: str, value: str, prioritization: Any) -> Profile | None:
    """The one profile an email or phone designates under ``prioritization`` [5]; None when several remain."""
    matches = store.all_by_field(field, value)
    order = list(prioritization) if isinstance(prioritization, list) else []
    if "identified" in order:
        matches = [p for p in matches if p.get("external_id")]
    elif "unidentified" in order:
        matches = [p for p in matches if not p.get("external_id")]
    if not matches:
        return None
    if "least_recently_updated" in order:
        return min(matches, key=lambda p: p["_seq"])
    if "most_recently_updated" in order or len(matches) == 1:
        return max(matches, key=lambda p: p["_seq"])
    return None  # several profiles and no rule to choose: nothing happens


EXPORT_FIELDS = ("external_id", "user_aliases", "braze_id", "first_name", "last_name", "email", "dob", "home_city",
                 "country", "phone", "language", "time_zone", "gender", "push_subscribe", "email_subscribe",
                 "custom_attributes", "custom_events", "purchases", "created_at", "total_revenue", "push_tokens")


def export_view(profile: Profile) -> dict:
    """A profile in ``/users/export/ids``'s shape [5]: events and purchases as ``{name, first, last, count}``."""
    out = {k: profile[k] for k in EXPORT_FIELDS if profile.get(k) not in (None, [], {})
           and k not in ("custom_events", "purchases")}
    if profile.get("event_summary"):
        out["custom_events"] = list(profile["event_summary"].values())
    if profile.get("purchase_summary"):
        out["purchases"] = list(profile["purchase_summary"].values())
    return out


def export_ids(store: Store, body: dict, require_fields: bool) -> tuple[int, dict]:
    """Profiles by up to 50 external_ids / user_aliases, or one braze_id, email_address or phone [5]."""
    fields = body.get("fields_to_export")
    if fields is not None and not (isinstance(fields, list) and all(isinstance(f, str) for f in fields)):
        return 400, {"message": "'fields_to_export' must be an array of field names."}
    if require_fields and not fields:
        # Required for workspaces onboarded from 22 Aug 2024 [5].
        return 400, {"message": "'fields_to_export' is required."}
    ids = body.get("external_ids") or []
    aliases = body.get("user_aliases") or []
    if not isinstance(ids, list) or not isinstance(aliases, list):
        return 400, {"message": "'external_ids' and 'user_aliases' must be arrays."}
    if len(ids) + len(aliases) > MAX_IDS:
        return 400, {"message": "The max number of external_ids and aliases per request was exceeded"}
    found: list[Profile] = []
    invalid: list[Any] = []
    for eid in ids:
        p = store.by_external_id(eid) if isinstance(eid, str) else None
        (found.append(p) if p else invalid.append(eid))
    for a in aliases:
        try:
            p = store.by_user_alias(*_alias(a))
        except Invalid:
            return 400, {"message": "each user alias needs string 'alias_name' and 'alias_label'."}
        if p:
            found.append(p)
    for key, field in (("email_address", "email"), ("phone", "phone")):
        if isinstance(body.get(key), str):
            found.extend(store.all_by_field(field, body[key]))
    if isinstance(body.get("braze_id"), str):
        p = store.by_braze_id(body["braze_id"])
        found.extend([p] if p else [])
    users = []
    for p in found:
        view = export_view(p)
        # external_id always comes back so the caller can match the answer to its request.
        users.append({k: val for k, val in view.items() if not fields or k in fields or k == "external_id"})
    out: dict[str, Any] = {"users": users, "message": "success"}
    if invalid:
        out["invalid_user_ids"] = invalid
    return 201, out


def delete(store: Store, body: dict) -> tuple[int, dict]:
    kinds = [k for k in ("external_ids", "user_aliases", "braze_ids", "email_addresses", "phone_numbers") if k in body]
    if len(kinds) != 1 or not isinstance(body[kinds[0]], list):
        return 400, {"message": "Provide exactly one of external_ids, user_aliases, braze_ids, email_addresses or "
                                "phone_numbers."}
    items = body[kinds[0]]
    if len(items) > MAX_IDS:
        return 400, {"message": "The max number of ids per request was exceeded"}
    deleted = 0
    for item in items:
        try:
            if kinds[0] == "external_ids":
                p = store.by_external_id(item)
            elif kinds[0] == "braze_ids":
                p = store.by_braze_id(item)
            elif kinds[0] == "user_aliases":
                p = store.by_user_alias(*_alias(item))
            else:
                field = "email" if kinds[0] == "email_addresses" else "phone"
                p = _pick(store, field, item.get(field), item.get("prioritization")) if isinstance(item, dict) else None
        except (Invalid, TypeError):
            p = None
        if p:
            store.delete(p)
            deleted += 1
    return 202, {"deleted": deleted, "message": "success"}


def alias_new(store: Store, body: dict) -> tuple[int, dict]:
    items = body.get("user_aliases")
    if not isinstance(items, list) or not items:
        return 400, {"message": "'user_aliases' must be a non-empty array."}
    if len(items) > MAX_IDS:
        return 400, {"message": "The max number of external_ids and aliases per request was exceeded"}
    errors, processed = [], 0
    for index, item in enumerate(items):
        try:
            alias = _alias(item)
        except Invalid as exc:
            errors.append({"type": str(exc), "input_array": "user_aliases", "index": index})
            continue
        if item.get("external_id"):
            p = store.by_external_id(item["external_id"])
            if p is None:
                continue  # nothing happens when the user does not exist [5]
            if store.add_alias(p, alias):
                processed += 1
        elif store.by_user_alias(*alias) is None:
            store.create(alias=alias)
            processed += 1
    out: dict[str, Any] = {"aliases_processed": processed, "message": "success"}
    if errors:
        out["errors"] = errors
    return 201, out


def identify(store: Store, body: dict) -> tuple[int, dict]:
    keys = [k for k in ("aliases_to_identify", "emails_to_identify", "phone_numbers_to_identify") if body.get(k)]
    if not keys:
        return 400, {"message": "One of aliases_to_identify, emails_to_identify or phone_numbers_to_identify is required."}
    if sum(len(body[k]) for k in keys) > MAX_IDS:
        return 400, {"message": "The max number of external_ids and aliases per request was exceeded"}
    processed, errors = 0, []
    for key in keys:
        for index, item in enumerate(body[key]):
            eid = item.get("external_id") if isinstance(item, dict) else None
            if not isinstance(eid, str) or not eid:
                errors.append({"type": "'external_id' is required", "input_array": key, "index": index})
                continue
            try:
                if key == "aliases_to_identify":
                    alias = _alias(item.get("user_alias"))
                    source = store.by_user_alias(*alias)
                else:
                    field = "email" if key == "emails_to_identify" else "phone"
                    source = _pick(store, field, item.get(field), item.get("prioritization") or ["unidentified"])
            except Invalid as exc:
                errors.append({"type": str(exc), "input_array": key, "index": index})
                continue
            if source is None or source.get("external_id"):
                continue
            target = store.by_external_id(eid)
            if target is None:
                store.set_external_id(source, eid)
            elif key == "aliases_to_identify" and any(a["alias_label"] == alias[0] for a in target["user_aliases"]):
                continue  # not merged when the target already has an alias with that label [5]
            else:
                store.merge_into(source, target)
            processed += 1
    out: dict[str, Any] = {"aliases_processed": processed, "message": "success"}
    if errors:
        out["errors"] = errors
    return 201, out


def merge(store: Store, body: dict) -> tuple[int, dict]:
    updates = body.get("merge_updates")
    if not isinstance(updates, list) or not all(isinstance(u, dict) for u in updates):
        return 400, {"message": "'merge_updates' must be an array of objects"}
    if len(updates) > MAX_IDS:
        return 400, {"message": "a single request may not contain more than 50 merge updates"}
    for u in updates:
        source, target = _find(store, u.get("identifier_to_merge")), _find(store, u.get("identifier_to_keep"))
        if source and target and source is not target:
            store.merge_into(source, target)
    return 202, {"message": "success"}


def _find(store: Store, ident: Any) -> Profile | None:
    if not isinstance(ident, dict):
        return None
    if ident.get("external_id"):
        return store.by_external_id(ident["external_id"])
    if ident.get("user_alias"):
        try:
            return store.by_user_alias(*_alias(ident["user_alias"]))
        except Invalid:
            return None
    for field in ("email", "phone"):
        if ident.get(field):
            return _pick(store, field, ident[field], ident.get("prioritization"))
    return None


def subscription_status(store: Store, body: dict) -> tuple[int, dict]:
    group, state = body.get("subscription_group_id"), body.get("subscription_state")
    if not isinstance(group, str) or not group or state not in v.GROUP_STATES:
        return 400, {"message": "'subscription_group_id' and a 'subscription_state' of subscribed or unsubscribed "
                                "are required."}
    if body.get("email") and body.get("phone"):
        return 400, {"message": "Either an email address or a phone number should be provided, but not both."}
    targets: list[Profile] = []
    for key, field in (("external_id", None), ("email", "email"), ("phone", "phone")):
        values = body.get(key) or []
        values = values if isinstance(values, list) else [values]
        if len(values) > MAX_IDS:
            return 400, {"message": "The max number of ids per request was exceeded"}
        for value in values:
            if field is None:
                p = store.by_external_id(value)
                targets.extend([p] if p else [])
            else:
                targets.extend(store.all_by_field(field, value))  # every profile sharing it [5]
    for p in targets:
        p.setdefault("subscription_groups", {})[group] = state
        store.touch(p)
    return 201, {"message": "success"}
