"""A person: the clean truth every source record is a garbled view of, drawn from (seed, person id).

``Person`` is rebuilt from its number whenever it is needed (day 1, or a later day that changes it), so
nothing about people is ever kept in memory. Each draw consumes a fixed amount of randomness in a fixed
order, so adding a field at the end does not change earlier ones.
"""

from __future__ import annotations

import random

from .ids import IdSpace
from .pools import COUNTRIES, FIRST_NAMES_F, FIRST_NAMES_M, FR_CITIES, LAST_NAMES, ascii_fold, cumulated

_COUNTRY_CUM = cumulated(c[1] for c in COUNTRIES)
_DOMAINS = ("gmail.com", "gmail.com", "gmail.com", "orange.fr", "hotmail.fr", "hotmail.com", "yahoo.fr",
            "free.fr", "outlook.fr", "laposte.net", "sfr.fr", "wanadoo.fr", "icloud.com", "live.fr")
_FOLDED = {n: ascii_fold(n).replace(" ", "") for n in FIRST_NAMES_F + FIRST_NAMES_M + LAST_NAMES}

# Share of people present in each source (a person in none of them is put in the e-shop).
SHARE_ESHOP, SHARE_SECOND_ACCOUNT, SHARE_CRM, SHARE_POS, SHARE_FILE, SHARE_WEB = 0.70, 0.03, 0.50, 0.40, 0.15, 0.35
# Streams of randomness: one per (purpose, day), so a change in one source never shifts another.
STREAM_PERSON = 0


def rng(seed: int, stream: int, day: int, person_id: int) -> random.Random:
    """The deterministic generator of one person for one purpose on one day."""
    return random.Random(((seed * 64 + stream) * 4096 + day) * 2 ** 34 + person_id)


class Person:
    """Canonical values of one person and the sources they appear in."""

    __slots__ = ("person_id", "first_name", "last_name", "email", "phone_e164", "country", "country_index",
                 "birth_date", "postcode", "city", "in_eshop", "second_account", "in_crm", "in_pos",
                 "in_file", "in_web", "seen_at", "loyalty_card", "random")

    def __init__(self, ids: IdSpace, seed: int, person_id: int, start: int, end: int):
        # The records of the person's first day continue this same stream (one seeding per person).
        self.random = r = rng(seed, STREAM_PERSON, 0, person_id).random
        self.person_id = person_id
        female = r() < 0.52
        pool = FIRST_NAMES_F if female else FIRST_NAMES_M
        self.first_name = first = pool[int(r() * len(pool))]
        self.last_name = last = LAST_NAMES[int(r() * len(LAST_NAMES))]
        x = r()
        ci = 0
        while x >= _COUNTRY_CUM[ci] and ci < len(COUNTRIES) - 1:
            ci += 1
        self.country_index = ci
        self.country = COUNTRIES[ci][0]
        # The person number in the address keeps addresses unique while they still look like people's.
        f, l = _FOLDED[first], _FOLDED[last]
        k = int(r() * 4)
        local = (f"{f}.{l}{person_id}", f"{f[0]}{l}{person_id}", f"{f}{person_id}", f"{l}.{f}{person_id}")[k]
        self.email = f"{local}@{_DOMAINS[int(r() * len(_DOMAINS))]}"
        digits = ids.phone_digits(person_id)
        self.phone_e164 = _phone(self.country, digits, r())
        age_days = int((18 + r() * 62) * 365.25)
        self.birth_date = age_days  # days before the as-of date; formatted by the sources
        city, dept = FR_CITIES[int(r() * len(FR_CITIES))]
        self.city = city
        self.postcode = _postcode(self.country, dept, int(r() * 1000))
        self.in_eshop = r() < SHARE_ESHOP
        self.second_account = self.in_eshop and r() < SHARE_SECOND_ACCOUNT
        self.in_crm = r() < SHARE_CRM
        self.in_pos = r() < SHARE_POS
        self.in_file = r() < SHARE_FILE
        self.in_web = r() < SHARE_WEB
        if not (self.in_eshop or self.in_crm or self.in_pos or self.in_file or self.in_web):
            self.in_eshop = True
        # A loyalty card comes with the CRM record of shoppers, and with most other store customers.
        self.loyalty_card = ids.loyalty_card(person_id) if self.in_pos and (self.in_crm or r() < 0.5) else None
        self.seen_at = start + int(r() * (end - start))


def _phone(country: str, digits: int, x: float) -> str:
    if country == "FR":
        return f"+33{6 if x < 0.7 else 7}{digits:08d}"
    if country == "BE":
        return f"+324{digits:08d}"
    if country == "CH":
        return f"+417{digits:08d}"
    if country == "DE":
        return f"+4915{digits:08d}"
    if country == "GB":
        return f"+4479{digits:08d}"
    return f"+1{212 + int(x * 700):03d}{digits % 10_000_000:07d}"


def _postcode(country: str, dept: str, n: int) -> str:
    if country == "FR":
        return f"{dept}{n % 100:02d}0"
    if country in ("BE", "CH"):
        return f"{1000 + n * 8}"
    if country == "DE":
        return f"{10115 + n * 80}"
    if country == "GB":
        return f"SW{n % 20 + 1} {n % 9 + 1}AA"
    return f"{10001 + n * 90:05d}"
