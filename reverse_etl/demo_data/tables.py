"""The raw tables the generator writes: a contract with the dbt staging models (names and types are fixed).

``RAW`` tables go to ``--schema`` (default ``raw``), ``TRUTH`` tables to ``--truth-schema`` (default
``raw_truth``), which only tests read. ``RUNS`` records which days were applied, so day K can refuse to run
on data it does not follow.
"""

from __future__ import annotations

RAW: dict[str, tuple[tuple[str, str], ...]] = {
    "eshop_customers": (
        ("customer_id", "text"), ("email", "text"), ("first_name", "text"), ("last_name", "text"),
        ("phone", "text"), ("country", "text"), ("birth_date", "date"), ("postcode", "text"),
        ("created_at", "timestamptz"), ("updated_at", "timestamptz"),
    ),
    "eshop_orders": (
        ("order_id", "text"), ("customer_id", "text"), ("ordered_at", "timestamptz"), ("status", "text"),
        ("currency", "text"), ("total_amount", "numeric(12,2)"), ("updated_at", "timestamptz"),
    ),
    "eshop_order_lines": (
        ("order_id", "text"), ("line_number", "int"), ("product_id", "text"), ("category", "text"),
        ("quantity", "int"), ("unit_price", "numeric(12,2)"),
    ),
    "crm_contacts": (
        ("contact_id", "text"), ("email", "text"), ("phone", "text"), ("first_name", "text"),
        ("last_name", "text"), ("postcode", "text"), ("birth_date", "date"), ("loyalty_card", "text"),
        ("email_opt_in", "boolean"), ("email_opt_in_at", "timestamptz"), ("sms_opt_in", "boolean"),
        ("sms_opt_in_at", "timestamptz"), ("created_at", "timestamptz"), ("updated_at", "timestamptz"),
    ),
    "pos_stores": (
        ("store_id", "text"), ("store_name", "text"), ("city", "text"), ("country", "text"), ("phone", "text"),
    ),
    "pos_transactions": (
        ("transaction_id", "text"), ("store_id", "text"), ("loyalty_card", "text"), ("phone", "text"),
        ("transacted_at", "timestamptz"), ("currency", "text"), ("total_amount", "numeric(12,2)"),
        ("is_refund", "boolean"), ("original_transaction_id", "text"),
    ),
    "pos_transaction_lines": (
        ("transaction_id", "text"), ("line_number", "int"), ("product_id", "text"), ("category", "text"),
        ("quantity", "int"), ("unit_price", "numeric(12,2)"),
    ),
    "file_contacts": (
        ("email", "text"), ("phone", "text"), ("first_name", "text"), ("last_name", "text"),
        ("country", "text"), ("signup_date", "text"), ("_file_name", "text"), ("_line_number", "int"),
        ("_loaded_at", "timestamptz"),
    ),
    "web_events": (
        ("payload", "jsonb"), ("_file_name", "text"), ("_line_number", "int"), ("_loaded_at", "timestamptz"),
    ),
}

TRUTH: dict[str, tuple[tuple[str, str], ...]] = {
    "record_persons": (("source", "text"), ("record_id", "text"), ("person_id", "bigint")),
    "persons": (
        ("person_id", "bigint"), ("email", "text"), ("phone_e164", "text"), ("first_name", "text"),
        ("last_name", "text"), ("country", "text"),
    ),
    "demo_runs": (
        ("day", "int"), ("people", "bigint"), ("seed", "bigint"), ("change_rate", "double precision"),
        ("as_of", "timestamptz"), ("next_person_id", "bigint"),
    ),
}

CSV_HEADER = "email;phone;first_name;last_name;country;signup_date"


def columns(table: str) -> tuple[str, ...]:
    """Column names of a raw or truth table, in order."""
    spec = RAW.get(table) or TRUTH[table]
    return tuple(name for name, _ in spec)
