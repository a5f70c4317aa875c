"""What every source generator needs: ids, clock, stores, options, and the line buffers to append to."""

from __future__ import annotations

from dataclasses import dataclass, field

from .ids import Clock, IdSpace

# Buffers of preformatted COPY lines, one per destination; the writer drains them as they fill.
BUFFERS = ("eshop_customers", "eshop_orders", "eshop_order_lines", "crm_contacts", "pos_transactions",
           "pos_transaction_lines", "record_persons", "persons", "eshop_customers_updates",
           "crm_contacts_updates", "file_contacts_csv", "file_persons", "web_events_jsonl")


class Buffers:
    """Lists of text lines; ``__slots__`` keeps ``out.eshop_orders.append`` a plain attribute read."""

    __slots__ = BUFFERS

    def __init__(self):
        for name in BUFFERS:
            setattr(self, name, [])


@dataclass
class Context:
    """Options and state of one run shared by the source generators."""

    seed: int
    day: int
    ids: IdSpace
    clock: Clock
    orders_per_customer: float
    stores: tuple[tuple[str, str, str], ...]  # (store_id, phone as clerks type it, currency)
    out: Buffers = field(default_factory=Buffers)


def amount(cents: int) -> str:
    """Cents as a numeric literal: 1234 -> '12.34', -5 -> '-0.05'."""
    if cents < 0:
        return f"-{-cents // 100}.{-cents % 100:02d}"
    return f"{cents // 100}.{cents % 100:02d}"


def nul(value: str | None) -> str:
    r"""A value for COPY text format: ``\N`` for NULL."""
    return "\\N" if value is None else value
