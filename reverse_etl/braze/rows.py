"""What goes into the client (typed rows) and what comes out (one outcome per row).

A :class:`TrackRow` is one user's update: an identifier, attributes, and any events and purchases to log
for that user. It carries an opaque ``key`` (the engine's row id) that comes back on its :class:`Outcome`,
so the engine can record exactly which rows Braze accepted.

The classes are plain slotted dataclasses, not frozen ones: at 75,000 rows/s the cost of a frozen
dataclass's ``__init__`` shows in profiles. Treat them as immutable all the same.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

DELIVERED = "delivered"
REJECTED = "rejected"
FAILED = "failed"

ID_KINDS = ("external_id", "email", "phone", "braze_id", "user_alias")


@dataclass(slots=True)
class Identifier:
    """Who an object is about: exactly one of Braze's identifiers.

    ``external_id``, ``braze_id`` and ``user_alias`` are primary identifiers; ``email`` and ``phone`` are
    secondary (Braze looks the profile up by them, or creates an email-/phone-only profile).
    """

    kind: str
    value: str
    label: str | None = None  # only for user_alias: value is alias_name, label is alias_label

    @classmethod
    def external_id(cls, value: str) -> Identifier:
        return cls("external_id", value)

    @classmethod
    def email(cls, value: str) -> Identifier:
        return cls("email", value)

    @classmethod
    def phone(cls, value: str) -> Identifier:
        return cls("phone", value)

    @classmethod
    def braze_id(cls, value: str) -> Identifier:
        return cls("braze_id", value)

    @classmethod
    def alias(cls, name: str, label: str) -> Identifier:
        return cls("user_alias", name, label)

    @property
    def identity(self) -> str:
        """A string naming the profile, used to keep one user's updates out of concurrent requests."""
        if self.kind == "user_alias":
            return f"user_alias\x00{self.label}\x00{self.value}"
        return f"{self.kind}\x00{self.value}"

    def fields(self) -> dict[str, Any]:
        """The identifier as it appears inside an attributes, event or purchase object."""
        if self.kind == "user_alias":
            return {"user_alias": {"alias_name": self.value, "alias_label": self.label}}
        return {self.kind: self.value}


@dataclass(slots=True)
class Event:
    """A custom event: ``time`` is a datetime (naive means UTC) or an ISO-8601 string."""

    name: str
    time: datetime | date | str
    properties: Mapping[str, Any] | None = None
    app_id: str | None = None


@dataclass(slots=True)
class Purchase:
    """A purchase: ``currency`` is an ISO-4217 alphabetic code, ``price`` in base units, ``quantity`` 1-100."""

    product_id: str
    currency: str
    price: float
    time: datetime | date | str
    quantity: int = 1
    properties: Mapping[str, Any] | None = None
    app_id: str | None = None


@dataclass(slots=True)
class TrackRow:
    """One user's update for ``/users/track``.

    ``attributes`` maps attribute names (standard fields such as ``email``, ``country``, ``dob``, or custom
    attributes) to values; ``None`` unsets an attribute. ``create`` False means update existing profiles only
    (``_update_existing_only: true``).
    """

    key: Hashable
    identifier: Identifier
    attributes: Mapping[str, Any] | None = None
    events: Sequence[Event] = ()
    purchases: Sequence[Purchase] = ()
    create: bool = True


@dataclass(slots=True)
class Outcome:
    """What became of one input: ``status`` is ``delivered``, ``rejected`` (Braze or the client refused it;
    resending unchanged cannot help) or ``failed`` (not delivered after the retry budget; resend next run).

    ``possibly_duplicated`` is True when events or purchases of this input may have been recorded more than
    once (a request whose outcome was unknown was retried).
    """

    key: Hashable
    status: str
    reason: str | None = None
    possibly_duplicated: bool = False
