"""Deterministic identifiers and timestamps, computed from numbers rather than counters.

Every id is a bijection of (day, person, ordinal), so the same record gets the same id whatever order the
records are produced in, two records never share an id, and neighbouring people do not get neighbouring
ids (a dedup model cannot cheat by reading the person number in an id).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone

from ..errors import ConfigError

DAY = 86_400
# Slots per (day, person) in order and transaction ids: far more than anyone buys in a day.
SLOTS = 1_000
# Multipliers of the affine bijections: odd and not multiples of 5, so coprime with any power of ten.
_MULTIPLIERS = {"customer": 73_939_133, "crm": 3_852_157, "card": 7_368_787_373, "order": 982_451_653,
                "pos": 817_504_243, "phone": 87_178_291}


class IdSpace:
    """Id formats for one data set; widths grow with ``people`` so ids stay unique at any size."""

    def __init__(self, seed: int, people: int):
        self.capacity = 10 * people + 1_000  # room for the persons that later days add
        width = max(7, len(str(self.capacity)))
        self._customer_mod, self._crm_mod = 10 ** (width + 1), 10 ** width
        self._card_mod, self._phone_mod, self._event_mod = 10 ** 10, 10 ** 8, 10 ** 16
        offsets = random.Random(seed)
        self._offset = {k: offsets.randrange(10 ** 16) for k in _MULTIPLIERS}
        self._crm_width = width

    def check(self, person_id: int) -> None:
        if person_id >= self.capacity:
            raise ConfigError(f"Person {person_id} exceeds the id space of this data set ({self.capacity}); "
                              "regenerate day 1 with more --people or a lower --change-rate.")

    def _mix(self, kind: str, x: int, mod: int) -> int:
        return (x * _MULTIPLIERS[kind] + self._offset[kind]) % mod

    def customer_id(self, person_id: int, second_account: bool = False) -> str:
        n = self._mix("customer", 2 * person_id + second_account, self._customer_mod)
        return f"C{n:0{self._crm_width + 1}d}"

    def contact_id(self, person_id: int) -> str:
        return f"CRM-{self._mix('crm', person_id, self._crm_mod):0{self._crm_width}d}"

    def loyalty_card(self, person_id: int) -> str:
        return f"LC{self._mix('card', person_id, self._card_mod):010d}"

    def phone_digits(self, person_id: int) -> int:
        """Eight digits unique per person (up to 10**8 people) for the subscriber part of a phone number."""
        return self._mix("phone", person_id, self._phone_mod)

    def order_id(self, day: int, person_id: int, ordinal: int) -> str:
        x = (day * self.capacity + person_id) * SLOTS + ordinal
        return f"O{self._mix('order', x, self._event_mod):016d}"

    def transaction_id(self, day: int, person_id: int, ordinal: int) -> str:
        x = (day * self.capacity + person_id) * SLOTS + ordinal
        return f"T{self._mix('pos', x, self._event_mod):016d}"


class Clock:
    """Formats epoch seconds as PostgreSQL text (``2026-11-01 08:30:00+00``) without ``datetime``.

    Dates of the usual window (four years back, three years on) come from a precomputed list, so a
    timestamp costs one division, two list reads and a concatenation.
    """

    def __init__(self, as_of: datetime):
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=timezone.utc)
        self.as_of = int(as_of.timestamp())
        self._first = self.as_of // DAY - 4 * 366
        epoch = date(1970, 1, 1)
        self._days = [(epoch + timedelta(days=d)).isoformat() for d in range(self._first, self._first + 7 * 366)]
        self._hms = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
        self._hms_utc = [f" {t}+00" for t in self._hms]
        self._other_days: dict[int, str] = {}  # birth dates and other days outside the window

    def _format_date(self, day_number: int) -> str:
        text = self._other_days.get(day_number)
        if text is None:
            text = self._other_days[day_number] = (date(1970, 1, 1) + timedelta(days=day_number)).isoformat()
        return text

    def day_start(self, day: int) -> int:
        """Epoch second at which ``day`` (1 = the as-of date's data, 2 = the day after...) starts."""
        return self.as_of + (day - 2) * DAY if day > 1 else self.as_of - 3 * 365 * DAY

    def date(self, ts: int) -> str:
        d = ts // DAY - self._first
        return self._days[d] if 0 <= d < len(self._days) else self._format_date(ts // DAY)

    def ts(self, ts: int) -> str:
        d = ts // DAY - self._first
        day = self._days[d] if 0 <= d < len(self._days) else self._format_date(ts // DAY)
        return day + self._hms_utc[ts % DAY]

    def iso(self, ts: int, offset_hours: int) -> str:
        """ISO-8601 with an offset, as a browser would send it (``2026-10-03T10:15:00+02:00``)."""
        local = ts + offset_hours * 3600
        if offset_hours == 0:
            return f"{self.date(local)}T{self._hms[local % DAY]}Z"
        return f"{self.date(local)}T{self._hms[local % DAY]}+{offset_hours:02d}:00"

    def compact_date(self, ts: int) -> str:
        return self.date(ts).replace("-", "")
