"""E-shop and point-of-sale records of one person: accounts, orders, receipts and their lines."""

from __future__ import annotations

from math import log

from . import messy
from .context import Context, amount, nul
from .ids import DAY
from .person import Person, rng
from .pools import CATEGORIES, PRODUCT_PRICES

_CURRENCY = {"FR": "EUR", "BE": "EUR", "DE": "EUR", "CH": "CHF", "GB": "GBP", "US": "USD"}
_N_PRODUCTS = len(PRODUCT_PRICES)
# Stream of randomness of the original receipt a till refund names (see person.rng).
STREAM_POS_REFUNDS = 4
# The constant part of a line, per product: product id, category; and its unit price as text.
_PRODUCT_TEXT = tuple(f"\tP{i:04d}\t{CATEGORIES[i % len(CATEGORIES)]}\t" for i in range(_N_PRODUCTS))
_PRICE_TEXT = tuple(f"\t{amount(price)}\n" for price in PRODUCT_PRICES)


def count(r, mean: float) -> int:
    """A skewed count with the given mean (exponential, rounded): many small, a few large."""
    return int(-log(1.0 - r()) * mean + 0.5)


def _lines(out_append, record_id: str, r, sign: int, items: list | None = None) -> int:
    """Append 1-4 product lines for an order or receipt (and their (product, quantity) to ``items``);
    returns the total in cents."""
    total = 0
    for n in range(1, 2 + int(r() * r() * 4)):
        product = int(r() * _N_PRODUCTS)
        price = PRODUCT_PRICES[product]
        quantity = 1 if r() < 0.8 else 2 + int(r() * 2)
        total += quantity * price
        out_append(f"{record_id}\t{n}{_PRODUCT_TEXT[product]}{sign * quantity}{_PRICE_TEXT[product]}")
        if items is not None:
            items.append((product, quantity))
    return total * sign


def _refund_of(at: int, sales: list, r) -> tuple | None:
    """The earlier sale (transaction id, time, items) a refund receipt at ``at`` names, or None: the person's
    latest sale of this batch dated before it, named on 85% of refunds (the rest come without the receipt)."""
    earlier = [sale for sale in sales if sale[1] < at]
    if not earlier or r() >= 0.85:
        return None
    return max(earlier, key=lambda sale: sale[1])


def _refund_lines(out_append, tx_id: str, items: list, r) -> int:
    """Lines of a refund of ``items`` (product, quantity): all of them, or one on a partial refund (30%);
    quantities negative. Returns the total in cents (negative)."""
    if len(items) > 1 and r() < 0.3:
        items = [items[int(r() * len(items))]]
    total = 0
    for n, (product, quantity) in enumerate(items, 1):
        total -= quantity * PRODUCT_PRICES[product]
        out_append(f"{tx_id}\t{n}{_PRODUCT_TEXT[product]}{-quantity}{_PRICE_TEXT[product]}")
    return total


def eshop_accounts(ctx: Context, p: Person, r, created: int, end: int) -> list[str]:
    """The person's e-shop account(s); returns their customer ids (the first is the main one)."""
    out, clock, pid = ctx.out, ctx.clock, p.person_id
    ids = [ctx.ids.customer_id(pid)]
    email = messy.email(p.email, r)
    phone = messy.phone(p.phone_e164, r, missing=0.1) if r() < 0.4 else None
    birth = clock.date(clock.as_of - p.birth_date * DAY) if r() < 0.75 else (None if r() < 0.9 else "1900-01-01")
    country = p.country if r() < 0.9 else (p.country.lower() if r() < 0.5 else None)
    updated = created if r() < 0.7 else created + int(r() * (end - created))
    out.eshop_customers.append(
        f"{ids[0]}\t{nul(email)}\t{nul(messy.name(p.first_name, r))}\t{nul(messy.name(p.last_name, r))}\t"
        f"{nul(phone)}\t{nul(country)}\t{nul(birth)}\t{nul(messy.text(p.postcode, r))}\t"
        f"{clock.ts(created)}\t{clock.ts(updated)}\n")
    out.record_persons.append(f"eshop\t{ids[0]}\t{pid}\n")
    if p.second_account:
        # A forgotten password: same e-mail typed differently, or another address with the same phone.
        second = ctx.ids.customer_id(pid, second_account=True)
        if r() < 0.6:
            email2, phone2 = (p.email.upper() if r() < 0.5 else f" {p.email.capitalize()}"), None
        else:
            email2 = p.email.replace("@", ".pro@", 1)
            phone2 = messy.phone(p.phone_e164, r)
        created2 = created + int(r() * (end - created))
        out.eshop_customers.append(
            f"{second}\t{email2}\t{p.first_name}\t{p.last_name}\t{nul(phone2)}\t{p.country}\t\\N\t\\N\t"
            f"{clock.ts(created2)}\t{clock.ts(created2)}\n")
        out.record_persons.append(f"eshop\t{second}\t{pid}\n")
        ids.append(second)
    return ids


def eshop_orders(ctx: Context, p: Person, r, customer_ids: list[str], n: int, start: int, end: int,
                 late: float = 0.0) -> None:
    """``n`` orders between ``start`` and ``end``; a share ``late`` is dated up to a week before ``start``."""
    out, clock, ids = ctx.out, ctx.clock, ctx.ids
    currency = _CURRENCY[p.country]
    for k in range(n):
        order_id = ids.order_id(ctx.day, p.person_id, k)
        customer_id = customer_ids[-1] if len(customer_ids) > 1 and r() < 0.3 else customer_ids[0]
        arrived = None
        if late and r() < late:
            # Synced late by the shop: an old order date, but written (updated_at) during the day.
            at = start - int((0.05 + r()) * 7 * DAY)
            arrived = start + int(r() * (end - start))
        else:
            at = start + int(r() * (end - start))
        x = r()
        status, updated = "completed", arrived or at + int(r() * 3600)
        if x < 0.06:
            # A late-synced order is written when it arrives: never stamped before it (the incremental models
            # read the shop by that stamp, and would miss it).
            status, updated = "refunded", max(at + int((1 + r() * 20) * DAY), arrived or 0)
        elif x < 0.10:
            status = "cancelled"
        cur = currency if r() < 0.9 else "EUR"
        total = _lines(out.eshop_order_lines.append, order_id, r, 1)
        out.eshop_orders.append(f"{order_id}\t{customer_id}\t{clock.ts(at)}\t{status}\t{cur}\t{amount(total)}\t"
                                f"{clock.ts(min(updated, end - 1))}\n")


def pos_transactions(ctx: Context, p: Person, r, n: int, start: int, end: int, late: float = 0.0) -> None:
    """``n`` till receipts: loyalty card on most, a phone on some, the store's own phone on a few."""
    out, clock, ids, stores = ctx.out, ctx.clock, ctx.ids, ctx.stores
    home = int(r() * len(stores))
    sales: list[tuple[str, int, list]] = []  # (transaction id, time, items) of this batch, for refunds to name
    for k in range(n):
        tx_id = ids.transaction_id(ctx.day, p.person_id, k)
        store_id, store_phone, currency = stores[home if r() < 0.85 else int(r() * len(stores))]
        card = p.loyalty_card if p.loyalty_card and r() < 0.8 else None
        x = r()
        if x < 0.07:
            phone = store_phone  # the clerk typed the shop's number to get past a mandatory field
        elif x < (0.12 if card else 0.30):
            phone = messy.phone(p.phone_e164, r)
        else:
            phone = None
        if late and r() < late:
            at = start - int((0.05 + r()) * 10 * DAY)
        else:
            at = start + int(r() * (end - start))
        refund = r() < 0.03
        original = None
        if refund:
            # A stream of its own, so every other value stays what it was before refunds named their sale.
            side = rng(ctx.seed, STREAM_POS_REFUNDS, ctx.day, p.person_id * 1000 + k).random
            original = _refund_of(at, sales, side)
        if original:
            _lines([].append, tx_id, r, -1)  # the draws of an unlinked refund, so later receipts do not change
            total = _refund_lines(out.pos_transaction_lines.append, tx_id, original[2], side)
        else:
            items: list = []
            total = _lines(out.pos_transaction_lines.append, tx_id, r, -1 if refund else 1, items)
            if not refund:
                sales.append((tx_id, at, items))
        out.pos_transactions.append(f"{tx_id}\t{store_id}\t{nul(card)}\t{nul(phone)}\t{clock.ts(at)}\t{currency}\t"
                                    f"{amount(total)}\t{'t' if refund else 'f'}\t{nul(original and original[0])}\n")
        out.record_persons.append(f"pos\t{tx_id}\t{p.person_id}\n")
