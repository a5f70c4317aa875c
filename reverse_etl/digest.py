"""The digest of a sync's snapshot (PostgreSQL): what Braze holds, summed per bucket of identifiers, so the diff
only joins the rows of buckets where the model and the snapshot disagree.

Each identifier falls in one of ``BUCKETS`` buckets (bits of a 64-bit hash of its text; a null identifier in
bucket -1). Each row has a *row key*, a 64-bit hash of its identifier and row hash together. Per bucket, the
digest table ``digest__<sync>`` holds the number of active snapshot rows (not ``removed``) and the xor of their
row keys. The diff (``diff.py``) first sums the model the same way, in one pass that groups its rows into the
buckets (a hash table of 65,536 entries, 11 MB, where a join's holds every snapshot row: 47-70 MB at 1M rows,
read at random), and compares both: a bucket whose count and xor agree holds the same rows with the same values, so
it is left out of the join, which then reads a small share of the model and of the snapshot.

Why it is safe:

* The row key mixes the identifier into the row hash non-linearly (``hashint8extended(row_hash, id_hash)``):
  two rows swapping their values still change the xor. A bucket that changed agrees with the digest only if
  64 bits happen to collide, 1 in 2^64 per bucket and run (the row hash itself is 64 bits).
* A duplicated identifier adds a row to its bucket (the snapshot holds one row per identifier), so its bucket
  always disagrees on the count: the diff's duplicate check, run on the buckets that disagree, sees every
  duplicate. The same holds for a null identifier (bucket -1 is never in the snapshot) and for rows rejected
  as invalid (they never enter the snapshot).
* The digest is kept by triggers on the snapshot table, in the transaction that writes the snapshot: every
  writer (this release, an older one, a merge, a manual fix) keeps it exact, and a crash loses neither.

Needs PostgreSQL 14 (``bit_xor``, ``create or replace trigger``); older servers use the plain diff.
DuckDB has no triggers: its diff joins every row (``duck/diff.py``).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

BUCKETS = 65536  # a power of two: the bucket is the identifier hash's low bits
MIN_SERVER_VERSION = 140000


# Not seed 0: the low 32 bits of hashtextextended(x, 0) are hashtext(x), which PostgreSQL's hash joins and
# aggregates bucket by. With seed 0, the rows of the differing buckets would share a few of the join's hash
# table buckets too: long chains (probing them took 21% of the diff's CPU, 8.5% with seed 1; measured on the
# 120,000 rows of 7,566 buckets out of 1M).
ID_SEED = 1


def id_hash(id_text: str) -> str:
    """The 64-bit hash of an identifier (a text SQL expression), shared by its bucket and its row key."""
    return f'hashtextextended({id_text} collate "C", {ID_SEED})'


def bucket(hashed_id: str) -> str:
    """The bucket of an identifier hash (an SQL expression from :func:`id_hash`); -1 for a null identifier."""
    return f"coalesce(cast({hashed_id} & {BUCKETS - 1} as integer), -1)"


def row_key(row_hash: str, hashed_id: str) -> str:
    """The row key: the row hash mixed with the identifier hash (both SQL expressions)."""
    return f"hashint8extended({row_hash}, {hashed_id})"


def supported(conn: psycopg.Connection) -> bool:
    return conn.info.server_version >= MIN_SERVER_VERSION


def digest_name(sync_name: str) -> str:
    return f"digest__{sync_name}"


def _sum(table: str, sign: str) -> str:
    """(bucket, count, xor of row keys) of a transition table's active rows; ``sign`` '-' for rows leaving."""
    return (f"select bucket, {sign}count(*) as n, bit_xor({row_key('row_hash', id_hash('id'))}) as x "
            f"from {table} where status <> 'removed' group by bucket")


# {digest}: the digest table; the transition tables are _rb_new (rows written) and _rb_old (rows replaced).
_UPSERT = "insert into {digest} as d (bucket, n, x) {rows} on conflict (bucket) do update set n = d.n + excluded.n, x = d.x # excluded.x"
TRIGGER_FUNCTION = """
create or replace function {function}() returns trigger language plpgsql as $rb$
begin
    if tg_op = 'TRUNCATE' then
        truncate {digest};
    elsif tg_op = 'INSERT' then
        """ + _UPSERT.format(digest="{digest}", rows=_sum("_rb_new", "")) + """;
    elsif tg_op = 'DELETE' then
        """ + _UPSERT.format(digest="{digest}", rows=_sum("_rb_old", "-")) + """;
    else
        """ + _UPSERT.format(digest="{digest}", rows="select bucket, sum(n), bit_xor(x) from (" + _sum("_rb_new", "")
                             + " union all " + _sum("_rb_old", "-") + ") as c group by bucket") + """;
    end if;
    return null;
end
$rb$
"""
TRIGGERS = """
create or replace trigger rb_digest_insert after insert on {snapshot} referencing new table as _rb_new
    for each statement execute function {function}();
create or replace trigger rb_digest_update after update on {snapshot} referencing old table as _rb_old new table as _rb_new
    for each statement execute function {function}();
create or replace trigger rb_digest_delete after delete on {snapshot} referencing old table as _rb_old
    for each statement execute function {function}();
create or replace trigger rb_digest_truncate after truncate on {snapshot}
    for each statement execute function {function}();
"""


def ensure(conn: psycopg.Connection, schema: str, sync_name: str) -> None:
    """Give the sync's snapshot its bucket column, digest table and triggers if it lacks them (a snapshot of an
    older release is summed once, under a lock that holds writers off). Inside the caller's transaction."""
    snapshot = sql.Identifier(schema, f"snapshot__{sync_name}")
    digest = sql.Identifier(schema, digest_name(sync_name))  # the trigger function has the table's name too

    def exists() -> bool:
        return conn.execute("select to_regclass(%s) is not null", (digest.as_string(conn),)).fetchone()[0]

    if exists():
        return
    conn.execute(sql.SQL("lock table {} in share row exclusive mode").format(snapshot))
    if exists():  # another run created it while this one waited for the lock
        return
    has_bucket = conn.execute("select 1 from information_schema.columns where table_schema = %s and table_name = %s "
                              "and column_name = 'bucket'", (schema, f"snapshot__{sync_name}")).fetchone()
    if not has_bucket:
        conn.execute(sql.SQL("alter table {} add column bucket integer generated always as ({}) stored")
                     .format(snapshot, sql.SQL(bucket(id_hash("id")))))
    # The diff reads the snapshot rows of the differing buckets through this index (a seventh of the rows at
    # 1% changed: half the time of a scan of them all).
    conn.execute(sql.SQL("create index on {} (bucket)").format(snapshot))
    conn.execute(sql.SQL("create table {} (bucket integer primary key, n bigint not null, x bigint not null)")
                 .format(digest))
    names = {"function": digest, "digest": digest, "snapshot": snapshot}
    conn.execute(sql.SQL(TRIGGER_FUNCTION).format(**names))
    conn.execute(sql.SQL(TRIGGERS).format(**names))
    conn.execute(sql.SQL("insert into {} (bucket, n, x) ").format(digest).as_string(conn)
                 + _sum(snapshot.as_string(conn), ""))


def active_count_query(digest_relation: str) -> str:
    """Rows Braze holds for the sync (delivered or rejected, not removed), from the digest."""
    return f"select cast(coalesce(sum(n), 0) as bigint) from {digest_relation}"
