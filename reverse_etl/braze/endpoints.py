"""The other endpoints a sync uses, with the same pipeline as ``/users/track`` (workers, retries, shared
limiter, one outcome per input):

- ``delete_users``: ``/users/delete`` for ``on_remove: delete``;
- ``new_aliases``: ``/users/alias/new`` (add an alias to a user, or create an alias-only user);
- ``identify``: ``/users/identify`` (attach an external_id to an alias-only, email-only or phone-only profile);
- ``set_subscription_status``: ``/subscription/status/set``.

Each takes an iterable of small input records carrying the engine's ``key`` and groups them, as they
stream by, into requests of at most 50 ids of one kind (the body shapes require one kind per array).
Braze and its limits: shared/reference/braze-api.md section 5.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from . import limits, values
from .client import FATAL_HINTS, BrazeClient, _json
from .payload import Rejection
from .pool import Exchange, Job
from .rows import DELIVERED, FAILED, REJECTED, Identifier, Outcome
from .values import Invalid

DEFAULT_PRIORITIZATION = ("identified", "most_recently_updated")


@dataclass(frozen=True, slots=True)
class DeleteRow:
    """Delete the profile found by ``identifier`` (external_id, user_alias, braze_id, email or phone)."""

    key: Hashable
    identifier: Identifier


@dataclass(frozen=True, slots=True)
class AliasRow:
    """Add ``alias`` (a user_alias identifier) to ``external_id``'s profile, or create an alias-only user."""

    key: Hashable
    alias: Identifier
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class IdentifyRow:
    """Give the alias-, email- or phone-only profile found by ``identifier`` the ``external_id``."""

    key: Hashable
    external_id: str
    identifier: Identifier


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    """Set ``identifier``'s (external_id, email or phone) state in subscription group ``group_id``."""

    key: Hashable
    group_id: str
    state: str
    identifier: Identifier


def _external_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid("external_id must be a non-empty string")
    if len(value.encode()) > limits.MAX_EXTERNAL_ID_BYTES:
        raise Invalid(f"external_id is longer than {limits.MAX_EXTERNAL_ID_BYTES} bytes")
    return value


def _alias(ident: Identifier) -> dict[str, str]:
    if ident.kind != "user_alias" or not ident.value or not ident.label:
        raise Invalid("a user_alias identifier with alias_name and alias_label is needed")
    return {"alias_name": values.string(ident.value, "alias_name"), "alias_label": values.string(ident.label, "alias_label")}


def _run_grouped(client: BrazeClient, rows: Iterable[Any], path: str, group: str,
                 entry: Callable[[Any], tuple[Any, Any]], envelope: Callable[[Any, list], dict]) -> Iterator[Outcome]:
    """Validate each row into (group key, body entry), gather up to 50 per group key, send each group."""
    requests, period = limits.SUBSCRIPTION_RATE if group == "subscription" else limits.USERS_MISC_RATE
    limiter = client.limiter(group, requests, period)

    def units() -> Iterator[Rejection | tuple[Job, set[str]]]:
        open_groups: dict[Any, list[tuple[Hashable, Any, str]]] = {}
        for row in rows:
            try:
                gkey, item, identity = entry(row)
            except Invalid as exc:
                yield Rejection(row.key, str(exc))
                continue
            members = open_groups.setdefault(gkey, [])
            members.append((row.key, item, identity))
            if len(members) == limits.MAX_IDS_PER_REQUEST:
                yield _job(path, limiter, envelope, open_groups.pop(gkey), gkey)
        for gkey, members in open_groups.items():
            yield _job(path, limiter, envelope, members, gkey)

    return client.run(units(), _id_outcomes)


def _job(path: str, limiter: Any, envelope: Callable, members: list, gkey: Any) -> tuple[Job, set[str]]:
    body = orjson.dumps(envelope(gkey, [item for _, item, _ in members]))
    return Job(path, body, limiter, [key for key, _, _ in members]), {ident for _, _, ident in members}


def _id_outcomes(job: Job, exchange: Exchange) -> list[Outcome]:
    keys: list[Hashable] = job.context
    if exchange.error is not None:
        return [Outcome(k, FAILED, exchange.error) for k in keys]
    resp = exchange.response
    body = _json(resp.body)
    reasons: dict[int, str] = {}
    for err in body.get("errors") or []:
        if isinstance(err, dict) and isinstance(err.get("index"), int) and 0 <= err["index"] < len(keys):
            reasons[err["index"]] = f"Braze rejected it: {err.get('type') or err.get('message') or 'invalid'}"
    if resp.status < 300:
        status, reason = DELIVERED, None
    elif resp.status in FATAL_HINTS:
        status, reason = FAILED, f"HTTP {resp.status} from Braze"
    else:
        status, reason = REJECTED, f"Braze refused the request: HTTP {resp.status} {body.get('message') or ''}".strip()
    return [Outcome(k, REJECTED, reasons[n]) if n in reasons else Outcome(k, status, reason) for n, k in enumerate(keys)]


def delete_users(client: BrazeClient, rows: Iterable[DeleteRow],
                 prioritization: tuple[str, ...] = DEFAULT_PRIORITIZATION) -> Iterator[Outcome]:
    """Delete profiles. Irreversible in Braze.

    Email and phone deletions use ``prioritization`` to choose among profiles sharing the address.
    """
    def entry(row: DeleteRow) -> tuple[str, Any, str]:
        ident = row.identifier
        if ident.kind == "external_id":
            return "external_ids", _external_id(ident.value), ident.identity
        if ident.kind == "user_alias":
            return "user_aliases", _alias(ident), ident.identity
        if ident.kind == "braze_id":
            return "braze_ids", values.string(ident.value, "braze_id"), ident.identity
        if ident.kind == "email":
            return "email_addresses", {"email": values.email(ident.value), "prioritization": list(prioritization)}, ident.identity
        if ident.kind == "phone":
            return "phone_numbers", {"phone": values.phone(ident.value), "prioritization": list(prioritization)}, ident.identity
        raise Invalid(f"cannot delete by {ident.kind!r}")

    return _run_grouped(client, rows, "/users/delete", "users_misc", entry, lambda kind, items: {kind: items})


def new_aliases(client: BrazeClient, rows: Iterable[AliasRow]) -> Iterator[Outcome]:
    """Add aliases to identified users, or create alias-only users (no ``external_id``)."""
    def entry(row: AliasRow) -> tuple[str, dict, str]:
        item = _alias(row.alias)
        if row.external_id is not None:
            item["external_id"] = _external_id(row.external_id)
        return "user_aliases", item, row.alias.identity

    return _run_grouped(client, rows, "/users/alias/new", "users_misc", entry, lambda kind, items: {kind: items})


def identify(client: BrazeClient, rows: Iterable[IdentifyRow],
             prioritization: tuple[str, ...] = DEFAULT_PRIORITIZATION) -> Iterator[Outcome]:
    """Attach ``external_id`` to alias-only, email-only or phone-only profiles (Braze merges them)."""
    def entry(row: IdentifyRow) -> tuple[str, dict, str]:
        ident, external_id = row.identifier, _external_id(row.external_id)
        if ident.kind == "user_alias":
            return "aliases_to_identify", {"external_id": external_id, "user_alias": _alias(ident)}, ident.identity
        if ident.kind == "email":
            item = {"external_id": external_id, "email": values.email(ident.value), "prioritization": list(prioritization)}
            return "emails_to_identify", item, ident.identity
        if ident.kind == "phone":
            item = {"external_id": external_id, "phone": values.phone(ident.value), "prioritization": list(prioritization)}
            return "phone_numbers_to_identify", item, ident.identity
        raise Invalid(f"identify works from a user_alias, email or phone, not {ident.kind!r}")

    return _run_grouped(client, rows, "/users/identify", "users_misc", entry, lambda kind, items: {kind: items})


def set_subscription_status(client: BrazeClient, rows: Iterable[SubscriptionRow]) -> Iterator[Outcome]:
    """Subscribe or unsubscribe users (by external_id, email or phone) in subscription groups."""
    fields = {"external_id": "external_id", "email": "email", "phone": "phone"}

    def entry(row: SubscriptionRow) -> tuple[tuple, str, str]:
        ident = row.identifier
        if row.state not in limits.SUBSCRIPTION_GROUP_STATES:
            raise Invalid(f"subscription_state must be subscribed or unsubscribed, not {row.state!r}")
        values.string(row.group_id, "subscription_group_id")
        if ident.kind == "external_id":
            value = _external_id(ident.value)
        elif ident.kind == "email":
            value = values.email(ident.value)
        elif ident.kind == "phone":
            value = values.phone(ident.value)
        else:
            raise Invalid(f"subscription status is set by external_id, email or phone, not {ident.kind!r}")
        return (row.group_id, row.state, fields[ident.kind]), value, ident.identity

    def envelope(gkey: tuple, items: list) -> dict:
        group_id, state, field = gkey
        return {"subscription_group_id": group_id, "subscription_state": state, field: items}

    return _run_grouped(client, rows, "/subscription/status/set", "subscription", entry, envelope)
