"""CRM contacts, rows of the contacts CSV file and web events (JSON lines) of one person."""

from __future__ import annotations

from . import messy
from .context import Context, nul
from .ids import DAY
from .person import Person
from .pools import COUNTRIES, SEARCH_TERMS, WEB_EVENT_TYPES, WEB_PAGES


def crm_contact(ctx: Context, p: Person, r, created: int, end: int) -> None:
    """The person's CRM contact: e-mail and/or phone, loyalty card when they have one, opt-ins."""
    clock, pid = ctx.clock, p.person_id
    contact_id = ctx.ids.contact_id(pid)
    email = messy.email(p.email, r, missing=0.12)
    phone = messy.phone(p.phone_e164, r, missing=0.0 if email is None else 0.35)
    birth = clock.date(clock.as_of - p.birth_date * DAY) if r() < 0.7 else None
    card = p.loyalty_card if p.loyalty_card and r() < 0.95 else None
    updated = created + int(r() * (end - created)) if r() < 0.5 else created
    email_in = r() < 0.6
    email_at = clock.ts(created + int(r() * (updated - created))) if email_in or r() < 0.3 else "\\N"
    sms_in = phone is not None and r() < 0.35
    sms_at = clock.ts(created + int(r() * (updated - created))) if sms_in else "\\N"
    ctx.out.crm_contacts.append(
        f"{contact_id}\t{nul(email)}\t{nul(phone)}\t{nul(messy.name(p.first_name, r))}\t"
        f"{nul(messy.name(p.last_name, r))}\t{nul(messy.text(p.postcode, r, missing=0.15))}\t{nul(birth)}\t"
        f"{nul(card)}\t{'t' if email_in else 'f'}\t{email_at}\t{'t' if sms_in else 'f'}\t{sms_at}\t"
        f"{clock.ts(created)}\t{clock.ts(updated)}\n")
    ctx.out.record_persons.append(f"crm\t{contact_id}\t{pid}\n")


def file_contact(ctx: Context, p: Person, r, signed_up: int) -> None:
    """One row of the day's contacts CSV (semicolon-delimited, messy country spellings, DD/MM/YYYY)."""
    email = messy.email(p.email, r, missing=0.1)
    phone = messy.phone(p.phone_e164, r, missing=0.5)
    spellings = COUNTRIES[p.country_index][3]
    d = ctx.clock.date(signed_up)
    signup = f"{d[8:10]}/{d[5:7]}/{d[0:4]}" if r() < 0.9 else ""
    ctx.out.file_contacts_csv.append(
        f"{email or ''};{phone or ''};{messy.name(p.first_name, r) or ''};{messy.name(p.last_name, r) or ''};"
        f"{spellings[int(r() * len(spellings))]};{signup}\n")
    # The line number is only known once the parts are merged: the merge writes this row's truth.
    ctx.out.file_persons.append(f"{p.person_id}\n")


def web_events(ctx: Context, p: Person, r, n: int, customer_id: str | None, start: int, end: int) -> None:
    """``n`` browsing events: anonymous, after a login (with the e-shop id), or a newsletter signup (e-mail)."""
    clock, out, pid = ctx.clock, ctx.out, p.person_id
    # ``r`` is the bound ``random`` of the person's generator; its ``getrandbits`` makes the ids.
    anonymous_id = f"anon-{r.__self__.getrandbits(64):016x}"
    logged_in = "null"
    signs_up = r() < 0.15  # the visit ends with a newsletter signup, which carries the e-mail
    at = start + int(r() * (end - start))
    for k in range(n):
        at = min(at + int(r() * 900), end - 1)
        x = r()
        if customer_id and logged_in == "null" and x < 0.25:
            kind, props, logged_in = "login", '{"method": "password"}', f'"{customer_id}"'
        elif signs_up and k == n - 1:
            email = messy.email(p.email, r, placeholder=0.05) or ""
            props = '{"source": "footer"}'
            _event(ctx, r, anonymous_id, logged_in, f'"{email}"', "newsletter_signup", at, p.country, props, pid)
            continue
        else:
            y = r()
            kind = next(name for name, cum in WEB_EVENT_TYPES if y < cum)
            product = int(r() * 200)
            if kind == "page_view":
                props = f'{{"path": "{WEB_PAGES[int(r() * len(WEB_PAGES))]}"}}'
            elif kind == "search":
                props = f'{{"query": "{SEARCH_TERMS[int(r() * len(SEARCH_TERMS))]}"}}'
            elif kind == "add_to_cart":
                props = f'{{"product_id": "P{product:04d}", "quantity": 1}}'
            else:
                props = f'{{"product_id": "P{product:04d}"}}'
        _event(ctx, r, anonymous_id, logged_in, "null", kind, at, p.country, props, pid)


def _event(ctx, r, anonymous_id, customer_id, email, kind, at, country, props, pid) -> None:
    # Browsers in France send local time (+01:00 in winter, +02:00 in summer); others send UTC.
    h = f"{r.__self__.getrandbits(128):032x}"
    event_id = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"
    if country == "FR":
        month = int(ctx.clock.date(at)[5:7])
        occurred = ctx.clock.iso(at, 2 if 4 <= month <= 10 else 1)
    else:
        occurred = ctx.clock.iso(at, 0)
    ctx.out.web_events_jsonl.append(
        f'{{"event_id": "{event_id}", "anonymous_id": "{anonymous_id}", "customer_id": {customer_id}, '
        f'"email": {email}, "event_type": "{kind}", "occurred_at": "{occurred}", "properties": {props}}}\n')
    ctx.out.record_persons.append(f"web\t{event_id}\t{pid}\n")
