"""Events and purchases syncs: an append-style model, one row per event with a unique id and a timestamp.

Each event is sent once: the state is a ledger of the event ids Braze acknowledged (or rejected for good);
the diff is the model's rows whose id is not in the ledger. Braze does not de-duplicate events, so the ledger
is written ahead: a batch's ids are committed as ``sending`` before the batch is handed to the client, and
become ``delivered`` (or ``rejected``) when Braze answers. After a crash, the ids still ``sending`` are the
only ones whose fate is unknown: the next run sends them again and counts them as ``possibly_duplicated``
(run log and ledger), as it does for a request whose outcome was unknown and was retried.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
from psycopg import sql

from .braze.rows import Event, Identifier, Purchase, TrackRow
from .diff import q
from .errors import ConfigError
from .manifest import SyncConfig
from .manifest_schema import EVENT_KEYS


LEDGER_DDL = """
    create table if not exists {table} (
        event_id text primary key,
        status text not null,
        possibly_duplicated boolean not null default false,
        run_id bigint not null,
        delivered_at timestamptz not null default clock_timestamp()
    )
"""


def ledger_table(schema: str, sync_name: str) -> sql.Composable:
    return sql.Identifier(schema, f"ledger__{sync_name}")


def ensure_ledger(conn: psycopg.Connection, schema: str, sync_name: str) -> None:
    with conn.transaction():
        conn.execute(sql.SQL(LEDGER_DDL).format(table=ledger_table(schema, sync_name)))


def columns(sync: SyncConfig) -> list[str]:
    """Model columns an events/purchases sync reads, in the order the diff returns them."""
    e = sync.event
    cols = [e["id"], sync.identifier_column]
    if sync.object == "events":
        cols += [e["name"]] if e.get("name") else []
        cols += [e["time"]]
    else:
        cols += [e["product_id"], e["currency"], e["price"], e["time"]] + ([e["quantity"]] if e.get("quantity") else [])
    return cols + list(e.get("properties") or [])


def check_config(sync: SyncConfig) -> None:
    missing = [k for k in EVENT_KEYS[sync.object] if not sync.event.get(k)
               and not (k == "name" and sync.event.get("name_value"))]
    if missing:
        raise ConfigError(f"Sync {sync.name!r}: `event` lacks {', '.join(missing)} (model columns), e.g. "
                          + ("{id: event_id, name: event_name, time: occurred_at, properties: [order_id]}"
                             if sync.object == "events" else
                             "{id: purchase_id, product_id: sku, currency: currency, price: price, time: purchased_at}"))


def ledger_query(sync: SyncConfig, model_relation: str, ledger_relation: str) -> str:
    """Model rows whose event id is not in the ledger (or still ``sending``): the reason when one is invalid,
    whether it was handed over before (``sending``: an earlier run died before Braze's answer), then the
    columns of :func:`columns`."""
    cols = columns(sync)
    e = sync.event
    select = ", ".join(f"m0.{q(c)} as {q(f'_rb_c{i}')}" for i, c in enumerate(cols))
    return f"""
        with m as (select cast(m0.{q(e['id'])} as text) as _rb_event_id, {select} from {model_relation} as m0),
        duplicated as materialized (  -- computed once: see diff.py's duplicated
            select cast({q(e['id'])} as text) as _rb_event_id from {model_relation}
            where {q(e['id'])} is not null group by 1 having count(*) > 1
        )
        select case
                   when m._rb_event_id is null then 'event id is null'
                   when m._rb_c1 is null then 'identifier is null'
                   when d._rb_event_id is not null then 'event id is not unique in the model'
               end as _rb_reason,
               l.event_id is not null as _rb_resend,
               m.*
        from m
        left join duplicated as d on d._rb_event_id = m._rb_event_id
        left join {ledger_relation} as l on l.event_id = m._rb_event_id
        where l.event_id is null or l.status = 'sending'
    """


def track_row(sync: SyncConfig, row: tuple, app_id: str | None) -> TrackRow:
    """A diff row (after the reason column) as the TrackRow carrying its one event or purchase."""
    e = sync.event
    event_id, _, user, *rest = row
    identifier = Identifier(sync.identifier_type, str(user), sync.identifier_label)
    props_names = list(e.get("properties") or [])
    props = dict(zip(props_names, rest[len(rest) - len(props_names):])) if props_names else None
    if sync.object == "events":
        if e.get("name"):
            name, time = rest[0], rest[1]
        else:
            name, time = e["name_value"], rest[0]
        return TrackRow(key=event_id, identifier=identifier, events=[Event(name, time, props, app_id)])
    product_id, currency, price, time = rest[:4]
    quantity = rest[4] if e.get("quantity") else 1
    return TrackRow(key=event_id, identifier=identifier,
                    purchases=[Purchase(str(product_id), currency, price, time, quantity, props, app_id)])


def stream(conn: psycopg.Connection, query: str) -> Iterator[tuple]:
    with conn.cursor(name="rb_ledger") as cur:
        cur.itersize = 5000
        cur.execute(query)
        yield from cur


def delivered_count_query(ledger_relation: str) -> str:
    return f"select count(*) from {ledger_relation} where status <> 'sending'"


def mark_sending(conn: psycopg.Connection, schema: str, sync_name: str, run_id: int, event_ids: list[str]) -> None:
    """Commit ``event_ids`` as handed over to Braze (before the request leaves), in a transaction of their own."""
    if not event_ids:
        return
    table = ledger_table(schema, sync_name)
    with conn.transaction():
        conn.execute(sql.SQL("insert into {0} (event_id, status, run_id) select unnest(%s::text[]), 'sending', %s "
                             "on conflict (event_id) do update set run_id = excluded.run_id "
                             "where {0}.status = 'sending'").format(table), (event_ids, run_id))


def record(conn: psycopg.Connection, schema: str, sync_name: str, run_id: int,
           rows: list[tuple[str, str, bool]]) -> None:
    """(event_id, status, possibly_duplicated) rows into the ledger, inside the caller's transaction: Braze's
    answer for events marked ``sending`` (an event already delivered keeps its record)."""
    if not rows:
        return
    table = ledger_table(schema, sync_name)
    # One statement for the whole buffer (arrays unnested): executemany ran one upsert per event, 0.1 ms each
    # on the server, most of an events run's time (measured: 100,000 events at 6,200/s before).
    ids, statuses, doubts = zip(*rows)
    conn.execute(sql.SQL("insert into {0} (event_id, status, possibly_duplicated, run_id) "
                         "select distinct on (e) e, s, d, %s from unnest(%s::text[], %s::text[], %s::boolean[]) as u(e, s, d) "
                         "on conflict (event_id) do update set status = excluded.status, "
                         "possibly_duplicated = excluded.possibly_duplicated, run_id = excluded.run_id, "
                         "delivered_at = clock_timestamp() where {0}.status = 'sending'").format(table),
                 (run_id, list(ids), list(statuses), list(doubts)))
