"""Convert typed values to Braze's wire formats, refusing what Braze would reject.

Each converter returns the JSON-ready value or raises :class:`Invalid` with a reason that names the rule.
Datetimes stay ``datetime`` objects (in UTC) and are written by orjson as ISO-8601 with a ``Z``.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cache
from typing import Any

import orjson

from . import limits


class Invalid(ValueError):
    """A value Braze would reject; the message is the reason reported on the row's outcome."""


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^[0-9+().\-\s]+$")
_DOB = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")
_GENDER_WORDS = {"male": "M", "female": "F", "other": "O", "not_applicable": "N", "prefer_not_to_say": "P"}


def string(value: Any, what: str = "value") -> str:
    if not isinstance(value, str):
        raise Invalid(f"{what} must be a string, not {type(value).__name__}")
    if len(value) > limits.MAX_STRING_CHARS:
        raise Invalid(f"{what} is {len(value)} characters; Braze allows at most {limits.MAX_STRING_CHARS}")
    return value


def integer(value: Any, what: str = "value") -> int | dict:
    if isinstance(value, dict) and value.keys() == {"inc"}:
        return {"inc": integer(value["inc"], what)}
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise Invalid(f"{what} must be an integer, not {type(value).__name__}")
    if isinstance(value, Decimal):
        if not value.is_finite() or value != value.to_integral_value():  # NaN, sNaN, Infinity: not integers
            raise Invalid(f"{what} must be an integer, not {value}")
        return int(value)
    return value


def number(value: Any, what: str = "value") -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise Invalid(f"{what} must be a number, not {type(value).__name__}")
    if isinstance(value, Decimal):
        if not value.is_finite():  # float() of a signaling NaN raises
            raise Invalid(f"{what} must be a finite number, not {value}")
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(f"{what} must be a finite number, not {value}")
    return value


def boolean(value: Any, what: str = "value") -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"{what} must be a boolean, not {type(value).__name__}")
    return value


def timestamp(value: Any, what: str = "value") -> datetime:
    """A datetime in UTC: aware datetimes are converted, naive ones are taken as UTC, dates as midnight UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        except ValueError:
            raise Invalid(f"{what} {value!r} is not an ISO-8601 date or time") from None
    if isinstance(value, datetime):
        try:
            value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01 at +05:00 is before year 1 in UTC
            raise Invalid(f"{what} {value.isoformat()} is out of the range of dates") from None
    elif isinstance(value, date):
        value = datetime.combine(value, time(0), UTC)
    else:
        raise Invalid(f"{what} must be a datetime, not {type(value).__name__}")
    if value.year > limits.MAX_YEAR:
        raise Invalid(f"{what} has year {value.year}; Braze stores years above {limits.MAX_YEAR} as strings")
    return value


def key(name: Any, what: str = "key") -> str:
    if not isinstance(name, str) or not name:
        raise Invalid(f"{what} {name!r} must be a non-empty string")
    if len(name) > limits.MAX_KEY_CHARS:
        raise Invalid(f"{what} {name[:40]!r}... is longer than {limits.MAX_KEY_CHARS} characters")
    if name[0] == "$":
        raise Invalid(f"{what} {name!r} starts with '$', which Braze reserves")
    return name


def nested_object(value: Any, what: str) -> dict:
    """A nested custom attribute: keys without '.', '$' or spaces; datetimes written as ``{"$time": ...}``."""
    if not isinstance(value, dict):
        raise Invalid(f"{what} must be an object, not {type(value).__name__}")
    out = _nested(value, what)
    size = len(orjson.dumps(out, option=orjson.OPT_UTC_Z))
    if size > limits.MAX_NESTED_OBJECT_BYTES:
        raise Invalid(f"{what} is {size} bytes; Braze allows at most {limits.MAX_NESTED_OBJECT_BYTES} per object")
    return out


def _nested(value: Any, what: str) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str) or not k or len(k) > limits.MAX_KEY_CHARS or any(c in k for c in ".$ "):
                raise Invalid(f"{what} has key {str(k)[:40]!r}: nested keys must be 1-255 characters with no '.', '$' or space")
            out[k] = _nested(v, f"{what}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [_nested(v, what) for v in value]
    if isinstance(value, datetime | date):
        return {"$time": timestamp(value, what)}
    if isinstance(value, str):
        return string(value, what)
    if isinstance(value, Decimal | float):
        return number(value, what)
    return value


def array(value: Any, what: str) -> Any:
    """A whole array (scalars or objects), or an ``add``/``remove`` (scalars) or ``$add``/``$remove``/``$update``
    (arrays of objects) update."""
    if isinstance(value, dict):
        ops = set(value)
        if ops and ops <= {"add", "remove"}:
            return {op: [_scalar(v, what) for v in _listed(items, what)] for op, items in value.items()}
        if ops and ops <= {"$add", "$remove", "$update"}:
            return {op: [nested_object(v, what) for v in _listed(items, what)] for op, items in value.items()}
        raise Invalid(f"{what} update must use add/remove (arrays of values) or $add/$remove/$update (arrays of objects)")
    items = _listed(value, what)
    if all(isinstance(v, dict) for v in items) and items:
        return [nested_object(v, what) for v in items]
    return [_scalar(v, what) for v in items]


def _listed(value: Any, what: str) -> list | tuple:
    if not isinstance(value, list | tuple):
        raise Invalid(f"{what} must be a list, not {type(value).__name__}")
    return value


def _scalar(value: Any, what: str) -> Any:
    if isinstance(value, str):
        return string(value, what)
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float | Decimal):
        return number(value, what)
    raise Invalid(f"{what} holds a {type(value).__name__}; array values must be strings, numbers or booleans")


# Standard profile fields, in Braze's formats [braze-api.md 1.5].

def country(value: Any, what: str = "country") -> str:
    if not isinstance(value, str) or len(value) != 2 or not value.isascii() or not value.isalpha():
        raise Invalid(f"{what} must be an ISO-3166-1 alpha-2 code such as 'FR', not {value!r}")
    return value.upper()


def language(value: Any, what: str = "language") -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{2}", value):
        raise Invalid(f"{what} must be an ISO-639-1 code such as 'fr', not {value!r}")
    return value.lower()


def gender(value: Any, what: str = "gender") -> str | None:
    if isinstance(value, str):
        code = value.strip().upper()
        if code in limits.GENDER_CODES:
            return code
        if code == "U":
            return None
        word = _GENDER_WORDS.get(value.strip().lower().replace(" ", "_"))
        if word:
            return word
    raise Invalid(f"{what} must be one of M, F, O, N, P (or null for unknown), not {value!r}")


def dob(value: Any, what: str = "dob") -> str:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and _DOB.match(value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise Invalid(f"{what} must be a date or a 'YYYY-MM-DD' string, not {value!r}")


def subscribe_state(value: Any, what: str) -> str:
    if value not in limits.SUBSCRIBE_STATES:
        raise Invalid(f"{what} must be one of opted_in, subscribed, unsubscribed, not {value!r}")
    return value


def email(value: Any, what: str = "email") -> str:
    value = string(value, what)
    if not _EMAIL.match(value):
        raise Invalid(f"{what} {value!r} is not a valid email address")
    return value


def phone(value: Any, what: str = "phone") -> str:
    value = string(value, what)
    if not _PHONE.match(value) or not any(c.isdigit() for c in value):
        raise Invalid(f"{what} {value!r} is not a phone number (E.164 such as +33612345678 is recommended)")
    return value


def currency(value: Any, what: str = "currency") -> str:
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise Invalid(f"{what} must be an ISO-4217 alphabetic code such as 'EUR', not {value!r}")
    return value.upper()


def time_zone(value: Any, what: str = "time_zone") -> str:
    if not isinstance(value, str) or value not in _zones():
        raise Invalid(f"{what} must be an IANA time zone such as 'Europe/Paris', not {value!r}")
    return value


@cache
def _zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def location(value: Any, what: str = "current_location") -> dict:
    if (not isinstance(value, dict) or set(value) != {"latitude", "longitude"}
            or not -90 <= number(value["latitude"], what) <= 90 or not -180 <= number(value["longitude"], what) <= 180):
        raise Invalid(f"{what} must be {{'latitude': -90..90, 'longitude': -180..180}}")
    return {"latitude": value["latitude"], "longitude": value["longitude"]}


def subscription_groups(value: Any, what: str = "subscription_groups") -> list:
    out = []
    for group in _listed(value, what):
        if (not isinstance(group, dict) or not isinstance(group.get("subscription_group_id"), str)
                or group.get("subscription_state") not in limits.SUBSCRIPTION_GROUP_STATES):
            raise Invalid(f"{what} entries need a string subscription_group_id and subscription_state subscribed/unsubscribed")
        out.append(dict(group))
    return out
