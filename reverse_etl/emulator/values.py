"""Braze's value rules for ``/users/track``, as pure functions (no HTTP, no state).

Every rule cites its section of shared/reference/braze-api.md in brackets. A function either returns the
value as Braze would store it, or raises :class:`Invalid` with the reason Braze reports in ``errors[].type``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

MAX_STRING = 255                        # [1.4] strings; older docs said 256
MAX_KEY = 255                           # [1.4] custom attribute names
MAX_EXTERNAL_ID_BYTES = 987             # [1.3] EXTERNAL_USER_ID_TOO_LARGE
MAX_NESTED_BYTES = 100 * 1024           # [1.4] nested object / array of objects
MAX_EVENT_PROPERTIES_BYTES = 100 * 1024  # [1.6] (older docs: 50 KB)
MAX_PURCHASE_PROPERTIES_BYTES = 50 * 1024  # [1.7]
GENDERS = {"M", "F", "O", "N", "P"}     # [1.5]
SUBSCRIBE_STATES = {"opted_in", "subscribed", "unsubscribed"}  # [1.5]
GROUP_STATES = {"subscribed", "unsubscribed"}  # [1.5]
EVENT_RESERVED = {"time", "event_name"}  # [1.6]
PURCHASE_RESERVED = {"time", "product_id", "quantity", "event_name", "price", "currency"}  # [1.7]

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]{2,}$")
PHONE_RE = re.compile(r"^\+?[0-9 ().\-]{4,}$")   # SDK: digits, whitespace and +.-() [1.5]
DOB_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
COUNTRY_RE = re.compile(r"[A-Za-z]{2}")
# Accepted date formats [1.4]: ISO-8601 and yyyy-MM-ddTHH:mm:ss:SSSZ, yyyy-MM-dd HH:mm:ss, yyyy-MM-dd, MM/dd/yyyy.
_FORMATS = ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%m/%d/%Y", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M")


class Invalid(Exception):
    """An object Braze skips, with the reason reported in ``errors[].type``.

    ``code`` is the endpoint-specific error name of the newest docs (``EMAIL_BAD_FORMAT``...) where one exists
    [2.1]; the docs do not say whether it replaces the human text in ``type``, so the emulator's
    ``error_types`` setting picks one (codes by default, the newest docs).
    """

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code

    def type_for(self, style: str) -> str:
        return self.code if style == "codes" and self.code else str(self)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_time(value: Any, what: str) -> datetime:
    """A Braze date string as an aware UTC datetime [1.4]; no zone means UTC."""
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"'{what}' must be a date string")
    text = value.strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}:\d{3}", text):  # yyyy-MM-ddTHH:mm:ss:SSSZ
        text = text[:19] + "." + text[20:]
    text = text.replace("Z", "+0000") if text.endswith("Z") else text
    for fmt in _FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"'{what}' is not a valid time") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def event_time(value: Any, what: str = "time") -> str:
    """Events and purchases: a required time; a future one is clamped to now [1.6, 1.7]."""
    parsed = parse_time(value, what)
    now = datetime.now(UTC)
    return (min(parsed, now)).isoformat()


def string(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise Invalid(f"'{what}' must be a string")
    if len(value) > MAX_STRING:
        raise Invalid(f"'{what}' is longer than {MAX_STRING} characters")
    return value


def key(name: Any, what: str) -> str:
    """Custom attribute, event and property names [1.4, 1.6]: non-empty, at most 255, no leading $."""
    if not isinstance(name, str) or not name:
        raise Invalid(f"{what} must be a non-empty string")
    if name.startswith("$"):
        raise Invalid(f"{what} '{name[:50]}' must not start with $")
    if len(name) > MAX_KEY:
        raise Invalid(f"{what} is longer than {MAX_KEY} characters")
    return name


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON (the 100 KB and 50 KB limits [1.4, 1.6, 1.7])."""
    return len(orjson.dumps(value))


def nested(value: dict, what: str, depth: int = 0) -> dict:
    """A nested custom attribute object [1.4]: keys without spaces, '.' or '$' prefix; $time dates."""
    if not isinstance(value, dict):
        raise Invalid(f"'{what}' must be an object")
    if depth > 50:
        raise Invalid(f"'{what}' is nested too deeply")
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k or " " in k or "." in k or k.startswith("$") or len(k) > MAX_KEY:
            raise Invalid(f"'{what}' has an invalid key '{str(k)[:50]}'")
        if isinstance(v, dict) and set(v) == {"$time"}:
            if v["$time"] is None:
                raise Invalid(f"'{what}.{k}' $time must not be null")
            parse_time(v["$time"], f"{what}.{k}")
            out[k] = v
        elif isinstance(v, dict):
            out[k] = nested(v, f"{what}.{k}", depth + 1)
        elif isinstance(v, str):
            out[k] = string(v, f"{what}.{k}")
        elif isinstance(v, list):
            out[k] = [nested(x, f"{what}.{k}", depth + 1) if isinstance(x, dict) else x for x in v]
        else:
            out[k] = v
    if depth == 0 and json_size(out) > MAX_NESTED_BYTES:
        raise Invalid(f"'{what}' is larger than 100 KB")
    return out


def properties(value: Any, reserved: set[str], limit: int, what: str) -> dict:
    """Event and purchase properties [1.6, 1.7]."""
    if not isinstance(value, dict):
        raise Invalid(f"'{what}' must be an object")
    for k, v in value.items():
        key(k, f"{what} key")
        if k in reserved:
            raise Invalid(f"Invalid 'properties' field: '{k}' is reserved")
        if isinstance(v, str) and len(v) > MAX_STRING:
            raise Invalid(f"'{what}.{k}' is longer than {MAX_STRING} characters")
    if json_size(value) > limit:
        raise Invalid(f"'{what}' is larger than {limit // 1024} KB")
    return value


def email(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_STRING or not EMAIL_RE.match(value):
        raise Invalid("The value provided for the 'email' field is not a valid email.", "EMAIL_BAD_FORMAT")
    return value


def phone(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_STRING or not PHONE_RE.match(value) \
            or sum(c.isdigit() for c in value) < 4:
        raise Invalid("The value provided for the 'phone' field is not a valid phone number.")
    return value


def _country(value: Any) -> Any:
    # Best effort [1.5]: alpha-2 is kept; anything Braze cannot map is set to null, not rejected.
    return value.upper() if isinstance(value, str) and COUNTRY_RE.fullmatch(value) else None


def _gender(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in GENDERS | {"U"}:
        raise Invalid("'gender' must be one of M, F, O, N, P or null")
    return value.upper()


def _dob(value: Any) -> str:
    if not isinstance(value, str) or not DOB_RE.match(value):
        raise Invalid("'dob' must be YYYY-MM-DD")
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise Invalid("'dob' must be YYYY-MM-DD") from None
    return value


def _subscribe_state(name: str, code: str):
    def check(value: Any) -> str:
        if value not in SUBSCRIBE_STATES:
            raise Invalid(f"'{name}' must be opted_in, subscribed or unsubscribed", code)
        return value
    return check


def _subscription_groups(value: Any) -> list:
    if not isinstance(value, list):
        raise Invalid("'subscription_groups' must be an array", "BAD_SUBSCRIPTION_GROUP_ARRAY")
    for item in value:
        if not isinstance(item, dict):
            raise Invalid("each subscription group must be an object", "BAD_SUBSCRIPTION_GROUP_HASH")
        if not isinstance(item.get("subscription_group_id"), str) or not item["subscription_group_id"]:
            raise Invalid("'subscription_group_id' is required", "BAD_SUBSCRIPTION_GROUP_ID")
        if item.get("subscription_state") not in GROUP_STATES:
            raise Invalid("'subscription_state' must be subscribed or unsubscribed", "BAD_SUBSCRIPTION_GROUP_STATE")
    return value


def _location(value: Any) -> dict:
    if not isinstance(value, dict) or not is_number(value.get("longitude")) or not is_number(value.get("latitude")):
        raise Invalid("'current_location' needs numeric longitude and latitude", "BAD_LOCATION_UPDATE")
    return value


def _boolean(name: str):
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise Invalid(f"'{name}' must be a boolean")
        return value
    return check


def _push_tokens(value: Any) -> list:
    if not isinstance(value, list):
        raise Invalid("'push_tokens' must be an array of objects", "BAD_PUSH_TOKEN_VALUE")
    for item in value:
        if not isinstance(item, dict):
            raise Invalid("'push_tokens' must be an array of objects", "BAD_PUSH_TOKEN_VALUE")
        if not isinstance(item.get("app_id"), str) or not item["app_id"]:
            raise Invalid("each push token needs an 'app_id'", "BAD_PUSH_TOKEN_APP_ID")
        if not isinstance(item.get("token"), str) or not item["token"]:
            raise Invalid("each push token needs a 'token' string", "BAD_PUSH_TOKEN_STRING")
        device = item.get("device_id")
        if device is not None and (not isinstance(device, str) or not 8 <= len(device.encode()) <= 255):
            raise Invalid("'device_id' must be 8 to 255 bytes", "BAD_DEVICE_ID")
    return value


def _string_field(name: str):
    return lambda value: string(value, name)


def _time_field(name: str):
    return lambda value: parse_time(value, name).isoformat()


# One checker per standard field [1.5], looked up once per write (a chain of ifs cost more than the write).
_STANDARD_CHECKS = {
    "email": email, "phone": phone, "country": _country, "gender": _gender, "dob": _dob,
    "email_subscribe": _subscribe_state("email_subscribe", "BAD_EMAIL_SUBSCRIPTION_STATE"),
    "push_subscribe": _subscribe_state("push_subscribe", "BAD_PUSH_SUBSCRIPTION_STATE"),
    "subscription_groups": _subscription_groups, "current_location": _location, "push_tokens": _push_tokens,
    **{name: _string_field(name) for name in ("first_name", "last_name", "home_city", "language", "time_zone")},
    **{name: _boolean(name) for name in ("email_open_tracking_disabled", "email_click_tracking_disabled")},
    **{name: _time_field(name) for name in ("date_of_first_session", "date_of_last_session",
                                            "marked_email_as_spam_at")},
}


def standard(name: str, value: Any) -> Any:
    """Validate a standard profile field [1.5]; returns the stored value (null unsets, unchecked fields pass)."""
    if value is None:
        return None
    check = _STANDARD_CHECKS.get(name)
    return check(value) if check is not None else value


STANDARD_FIELDS = frozenset({
    "email", "phone", "first_name", "last_name", "home_city", "language", "time_zone", "country", "gender", "dob",
    "email_subscribe", "push_subscribe", "subscription_groups", "current_location", "email_open_tracking_disabled",
    "email_click_tracking_disabled", "date_of_first_session", "date_of_last_session", "marked_email_as_spam_at",
    "push_tokens", "facebook", "twitter", "image_url", "bio",
})
# Not billed as data points [3.5].
NOT_BILLED = frozenset({"email_subscribe", "push_subscribe", "subscription_groups", "push_tokens"})
