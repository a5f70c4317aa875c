"""Profile merges from identity resolution (a sync's ``merges:``), run before the sync's attributes.

When two persons merge, identity resolution retires one person id (``identity_retired_person_ids``: retired
id → surviving id). Left alone, Braze would keep the retired profile (with its history) and the diff would
see its id leave the model (``on_remove``). Instead, before the attribute diff, each retired id Braze holds
(in the snapshot) whose surviving id Braze holds too, and that is not in this sync's merge ledger yet, is
sent to ``POST /users/merge`` (50 per request, braze-api.md §5). For each merge Braze accepts, in one
transaction: the ledger records it, the retired id leaves the snapshot (so it is neither "removed" nor sent
again), and the surviving row's delivered hashes are cleared, so the attribute sync that follows sends
all its mapped fields again: Braze's merge fills the kept profile's missing fields from the retired one,
and the model's values must win.

A surviving id Braze does not hold yet is created by this run's attribute sync; its merge follows on the
next run, and until then the retired id is held out of ``on_remove`` (it is not unset nor deleted). A merge Braze refuses is recorded as rejected (with the reason, in ``sync_rejections``) and not
retried; one that failed (network, 5xx) is tried again next run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import psycopg
from psycopg import sql

from .braze import BrazeClient
from .braze.endpoints import _run_grouped
from .braze.rows import Outcome
from .braze.values import Invalid
from .diff import q

MERGES_DDL = """
    create table if not exists {table} (
        retired_id text primary key,
        surviving_id text not null,
        status text not null,
        run_id bigint not null,
        merged_at timestamptz not null default clock_timestamp()
    )
"""


@dataclass(frozen=True, slots=True)
class MergeRow:
    """Merge the profile of external id ``retired`` into the profile of ``surviving``."""

    key: str
    retired: str
    surviving: str


def merge_users(client: BrazeClient, rows: Iterable[MergeRow]) -> Iterator[Outcome]:
    """``POST /users/merge`` by external id, 50 merges per request, one outcome per row (202 = accepted)."""
    def entry(row: MergeRow) -> tuple[str, dict, str]:
        if not row.retired or not row.surviving or row.retired == row.surviving:
            raise Invalid("a merge needs two different external ids")
        return "merge", {"identifier_to_merge": {"external_id": row.retired},
                         "identifier_to_keep": {"external_id": row.surviving}}, f"external_id:{row.surviving}"

    return _run_grouped(client, rows, "/users/merge", "users_misc", entry,
                        lambda _kind, items: {"merge_updates": items})


def table(schema: str, sync_name: str) -> sql.Composable:
    return sql.Identifier(schema, f"merges__{sync_name}")


def ensure_ledger(conn: psycopg.Connection, schema: str, sync_name: str) -> None:
    with conn.transaction():
        conn.execute(sql.SQL(MERGES_DDL).format(table=table(schema, sync_name)))


def pending_query(merges: dict[str, str], retired_relation: str, snapshot_relation: str, ledger_relation: str) -> str:
    """Retired ids Braze holds (in the snapshot, not removed), not merged yet: (retired, surviving, ready), ready
    when Braze holds the surviving id too."""
    retired, surviving = q(merges["retired"]), q(merges["surviving"])
    return f"""
        select distinct cast(r.{retired} as text), cast(r.{surviving} as text), kept.id is not null
        from {retired_relation} as r
        join {snapshot_relation} as old on old.id = cast(r.{retired} as text) and old.status <> 'removed'
        left join {snapshot_relation} as kept on kept.id = cast(r.{surviving} as text) and kept.status <> 'removed'
        left join {ledger_relation} as l on l.retired_id = cast(r.{retired} as text)
        where l.retired_id is null and r.{retired} is not null and r.{surviving} is not null
          and cast(r.{retired} as text) <> cast(r.{surviving} as text)
    """


def record(conn: psycopg.Connection, schema: str, sync_name: str, run_id: int,
           rows: list[tuple[str, str, str]]) -> None:
    """(retired, surviving, status) rows, inside the caller's transaction; for ``merged`` ones, the retired id
    leaves the snapshot and the surviving one's delivered hashes are cleared (all its fields resent)."""
    if not rows:
        return
    with conn.cursor() as cur:
        cur.executemany(sql.SQL("insert into {} (retired_id, surviving_id, status, run_id) values (%s, %s, %s, %s) "
                                "on conflict (retired_id) do nothing").format(table(schema, sync_name)),
                        [(r, s, status, run_id) for r, s, status in rows])
    merged = [(r, s) for r, s, status in rows if status == "merged"]
    if not merged:
        return
    retired, surviving = [r for r, _ in merged], [s for _, s in merged]
    snapshot, fields = sql.Identifier(schema, f"snapshot__{sync_name}"), sql.Identifier(schema, f"fields__{sync_name}")
    for t in (snapshot, fields):
        conn.execute(sql.SQL("delete from {} where id = any(%s)").format(t), (retired,))
    conn.execute(sql.SQL("update {} set row_hash = 0 where id = any(%s)").format(snapshot), (surviving,))
    conn.execute(sql.SQL("update {} set attrs = '{{}}', hashes = '{{}}' where id = any(%s)").format(fields), (surviving,))
