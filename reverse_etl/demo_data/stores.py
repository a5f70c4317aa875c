"""The point-of-sale stores: about 50 per 100,000 people (at least 5), derived from the seed alone."""

from __future__ import annotations

import random

from .pools import FR_CITIES, STORE_KINDS


def store_count(people: int) -> int:
    return max(5, round(people / 2000))


def stores(seed: int, people: int) -> list[tuple[str, str, str, str, str, str, str]]:
    """(store_id, name, city, country, phone, phone as clerks type it on receipts, currency) per store."""
    r = random.Random(seed * 7 + 3).random
    out = []
    for i in range(store_count(people)):
        if i == 1:
            city, country, currency, prefix = "Bruxelles", "BE", "EUR", "+32 2 "
        elif i == 2:
            city, country, currency, prefix = "Genève", "CH", "CHF", "+41 22 "
        else:
            city, country, currency, prefix = FR_CITIES[i % len(FR_CITIES)][0], "FR", "EUR", None
        digits = f"{int(r() * 10 ** 8):08d}"
        if prefix is None:
            area = "01" if city == "Paris" else f"0{2 + int(r() * 4)}"
            phone = f"{area} {digits[0:2]} {digits[2:4]} {digits[4:6]} {digits[6:8]}"
            typed = area + digits if r() < 0.5 else phone
        else:
            phone = prefix + f"{digits[0:3]} {digits[3:5]} {digits[5:7]}"
            typed = phone.replace(" ", "")
        name = f"Maison {city} {STORE_KINDS[(i // len(FR_CITIES)) % len(STORE_KINDS)]}"
        out.append((f"S{i + 1:04d}", name, city, country, phone, typed, currency))
    return out
