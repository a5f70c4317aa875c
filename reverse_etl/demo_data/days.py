"""What happens to one person on one day: everything on day 1 (or when they first appear), a few
updates and new records on a later day when they are among the changed share."""

from __future__ import annotations

import random
from math import log

from .contacts import crm_contact, file_contact, web_events
from .context import Context
from .ids import DAY, SLOTS
from .person import Person, rng
from .shop import count, eshop_accounts, eshop_orders, pos_transactions

STREAM_CHANGES, STREAM_PICK = 2, 3
# Share of a day's new orders and receipts dated before the previous day (late-arriving data).
LATE_SHARE = 0.2


def new_person(ctx: Context, person_id: int, start: int, end: int) -> None:
    """Every record of a person first seen between ``start`` and ``end`` (day 1, or a new person later)."""
    p = Person(ctx.ids, ctx.seed, person_id, start, end)
    r = p.random
    ctx.out.persons.append(f"{person_id}\t{p.email}\t{p.phone_e164}\t{p.first_name}\t{p.last_name}\t{p.country}\n")
    created = p.seen_at
    customer_id = None
    if p.in_eshop:
        customer_ids = eshop_accounts(ctx, p, r, created, end)
        customer_id = customer_ids[0]
        # Capped by the id slots per person and day (999; only the far tail of a high average reaches it).
        eshop_orders(ctx, p, r, customer_ids, min(count(r, ctx.orders_per_customer), SLOTS - 1), created, end)
    if p.in_crm:
        crm_contact(ctx, p, r, created + int(r() * (end - created) * 0.3), end)
    if p.in_pos:
        pos_transactions(ctx, p, r, max(1, count(r, 3.0)), created, end)
    if p.in_file:
        file_contact(ctx, p, r, created)
    if p.in_web:
        web_events(ctx, p, r, max(1, count(r, 4.0)), customer_id, created, end)


def change_person(ctx: Context, person_id: int, start: int, end: int) -> None:
    """A changed person's day: fixed e-mail or first name, new consents, new (sometimes late) orders,
    receipts and web events, and perhaps a row in the day's contacts file."""
    p = Person(ctx.ids, ctx.seed, person_id, start, end)
    r = rng(ctx.seed, STREAM_CHANGES, ctx.day, person_id).random
    clock, out = ctx.clock, ctx.out
    customer_id = ctx.ids.customer_id(person_id) if p.in_eshop else None
    if customer_id and r() < 0.6:
        # Updates name only the columns they change; \N leaves a column as it is.
        email = p.email if r() < 0.7 else "\\N"
        first = p.first_name if r() < 0.5 else "\\N"
        at = start + int(r() * (end - start))
        out.eshop_customers_updates.append(f"{customer_id}\t{email}\t{first}\t{clock.ts(at)}\n")
    if customer_id and r() < 0.5:
        eshop_orders(ctx, p, r, [customer_id], 1 + int(r() * 2), start, end, late=LATE_SHARE)
    if p.in_crm and r() < 0.6:
        at = clock.ts(start + int(r() * (end - start)))
        x = r()
        email_part = f"{'t' if r() < 0.5 else 'f'}\t{at}" if x < 0.7 else "\\N\t\\N"
        sms_part = f"{'t' if r() < 0.4 else 'f'}\t{at}" if x > 0.4 else "\\N\t\\N"
        out.crm_contacts_updates.append(f"{ctx.ids.contact_id(person_id)}\t{email_part}\t{sms_part}\t{at}\n")
    if p.in_pos and r() < 0.5:
        pos_transactions(ctx, p, r, 1 + int(r() * 2), start, end, late=LATE_SHARE)
    if p.in_web and r() < 0.5:
        web_events(ctx, p, r, 1 + int(r() * 5), customer_id, start, end)
    if r() < 0.2:
        file_contact(ctx, p, r, start + int(r() * (end - start)))


def changed_ids(seed: int, day: int, population: int, rate: float):
    """The persons changed on ``day``: each with probability ``rate``, drawn by geometric skips so the
    cost follows the number changed, not the population."""
    if rate <= 0:
        return
    if rate >= 1:
        yield from range(population)
        return
    r = random.Random(((seed * 64 + STREAM_PICK) * 4096 + day) * 2 ** 34).random
    scale = 1.0 / log(1.0 - rate)
    person_id = -1
    while True:
        person_id += 1 + int(log(1.0 - r()) * scale)
        if person_id >= population:
            return
        yield person_id


def day_window(ctx: Context) -> tuple[int, int]:
    """Epoch seconds [start, end) of the records of ``ctx.day``."""
    start = ctx.clock.day_start(ctx.day)
    return start, (ctx.clock.as_of if ctx.day == 1 else start + DAY)
