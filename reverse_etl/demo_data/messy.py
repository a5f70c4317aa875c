"""How real systems garble a clean value: e-mail case and spaces, phone formats, typos, placeholders.

Each function takes the clean value and a ``random()`` bound method and returns what a source stores
(``None`` for SQL NULL). The shares are per call, so every source gets its own mix.
"""

from __future__ import annotations

import unicodedata

from .pools import EMAIL_DOMAINS, MISSING_TEXT, PLACEHOLDER_EMAILS, PLACEHOLDER_PHONES


def email(clean: str, r, *, missing: float = 0.0, placeholder: float = 0.02) -> str | None:
    """A stored e-mail: mostly clean, else upper case, padded, mistyped domain, placeholder or missing."""
    x = r()
    if x < missing:
        return None if x < missing / 2 else MISSING_TEXT[int(r() * 3)]
    x = r()
    if x < 0.70:
        return clean
    if x < 0.78:
        local, _, domain = clean.partition("@")
        return f"{local.capitalize()}@{domain.capitalize()}"
    if x < 0.83:
        return clean.upper()
    if x < 0.90:
        return (" ", "  ", "\u00a0")[int(r() * 3)] + clean if r() < 0.5 else clean + " "
    if x < 0.93:
        local, _, domain = clean.partition("@")
        for good, typo in EMAIL_DOMAINS:
            if good == domain:
                return f"{local}@{typo}"
        return f"{local}@@{domain}"
    if x < 0.93 + placeholder:
        return PLACEHOLDER_EMAILS[int(r() * len(PLACEHOLDER_EMAILS))]
    return clean


def _groups(digits: str, sep: str) -> str:
    return sep.join(digits[i:i + 2] for i in range(0, len(digits), 2))


def phone(e164: str, r, *, missing: float = 0.0) -> str | None:
    """A stored phone in one of the formats people type: national, international, 00-prefixed, dotted."""
    x = r()
    if x < missing:
        y = r()
        return None if y < 0.5 else (MISSING_TEXT[int(r() * 3)] if y < 0.8 else PLACEHOLDER_PHONES[int(r() * 4)])
    if e164.startswith("+33"):
        national = "0" + e164[3:]
        k = int(r() * 8)
        if k == 0:
            return _groups(national, " ")               # 06 12 34 56 78
        if k == 1:
            return national                             # 0612345678
        if k == 2:
            return _groups(national, ".")               # 06.12.34.56.78
        if k == 3:
            return "+33 " + e164[3] + " " + _groups(e164[4:], " ")   # +33 6 12 34 56 78
        if k == 4:
            return e164                                 # +33612345678
        if k == 5:
            return "00" + e164[1:]                      # 0033612345678
        if k == 6:
            return _groups(national, "-")               # 06-12-34-56-78
        return "+33 (0)" + e164[3] + " " + _groups(e164[4:], " ")
    # Foreign numbers are written in international form, spaced or not, with + or 00.
    k = int(r() * 3)
    if k == 0:
        return e164
    if k == 1:
        return "00" + e164[1:]
    code = "1" if e164.startswith("+1") else e164[1:3]
    rest = e164[1 + len(code):]
    return f"+{code} {rest[:3]} {rest[3:6]} {rest[6:]}"


def name(clean: str, r, *, missing: float = 0.01) -> str | None:
    """A stored name: as typed, upper or lower case, accents dropped, two letters swapped, or missing."""
    x = r()
    if x < missing:
        return None if x < missing / 2 else MISSING_TEXT[int(r() * 3)]
    x = r()
    if x < 0.86:
        return clean
    if x < 0.91:
        return clean.upper()
    if x < 0.93:
        return clean.lower()
    if x < 0.96 and len(clean) > 3:
        i = 1 + int(r() * (len(clean) - 2))
        return clean[:i] + clean[i + 1] + clean[i] + clean[i + 2:]   # Mrie -> Maire style swap
    if x < 0.98:
        return clean + " "
    return unicodedata.normalize("NFKD", clean).encode("ascii", "ignore").decode()


def text(clean: str, r, *, missing: float = 0.05) -> str | None:
    """Any other optional text (postcode, country): sometimes NULL, empty or a placeholder."""
    x = r()
    if x < missing:
        return None if x < missing / 2 else MISSING_TEXT[int(r() * len(MISSING_TEXT))]
    return clean
