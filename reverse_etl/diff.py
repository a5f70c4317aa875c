"""The diff of a sync's model against its snapshot (what Braze acknowledged), as one set-based query.

The query is built here (identifiers quoted by sqlglot, transpiled from PostgreSQL to the target dialect)
and streamed by the engine through a server-side cursor. It returns only the rows that need work:

    new          not in the snapshot (or removed earlier and back)
    changed      in the snapshot with another row hash; the field hashes say which fields changed
    removed      in the snapshot, no longer in the model
    invalid      null identifier, duplicate identifier, or a required attribute missing
    unchanged    same row hash as delivered: not returned (except for a full-mode sync, which resends them)

Change detection hashes each row once (64-bit, one hash function call per column by type: ``row_hash``);
per-field hashes are computed only for rows that are new or changed, and the delivered ones are read (from
the snapshot's side table) only for changed rows. The number of unchanged rows follows from the snapshot's
count. Duplicated identifiers are found by grouping the model's identifiers (by a 64-bit hash: a collision
would only flag two rows as duplicates, with odds of about 1 in 10^8 at 1M rows); that check is left out
(``check_duplicates=False``) when the identifier is known to be unique: see ``uniqueness.py``.

On PostgreSQL the snapshot has a digest (``digest.py``): :func:`differing_buckets_query` sums the model per
bucket of identifiers and names the buckets that disagree with it, and :func:`diff_query` with ``buckets``
joins only their rows (a seventh of them at 1% changed), which is also where every duplicate is. Without a
digest (DuckDB, PostgreSQL before 14, full-mode syncs, a first run) the query joins every row.

The query is one skeleton for every warehouse; what each writes its own way (hash functions, JSON, the
duplicate check, the delivered hashes' lookup) are the methods of :class:`Expressions` (DuckDB's are in
``duck/diff.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from . import digest

ACTIONS = ("new", "changed", "unchanged", "removed", "invalid")
# _rb_field_hashes is the text of the per-attribute hashes as the warehouse stores them (PostgreSQL: a bigint[]
# in mapping order; DuckDB: JSON {attribute: hash}); the engine stores it as is, without parsing it;
# _rb_changed lists the attributes whose hash differs from the delivered one (changed rows only).
# _rb_balance (lean duplicate check only, else null): on every row, the model rows without an active snapshot
# row minus the rows removed, over the whole result: see diff_query.
OUTPUT = ("_rb_id", "_rb_action", "_rb_reason", "_rb_row_hash", "_rb_field_hashes", "_rb_changed",
          "_rb_old_status", "_rb_matched", "_rb_balance")


def q(name: str) -> str:
    """A quoted identifier, safe whatever the name holds."""
    return exp.to_identifier(name, quoted=True).sql(dialect="postgres")


def relation(schema: str, name: str, database: str | None = None) -> str:
    parts = ([database] if database else []) + [schema, name]
    return ".".join(q(p) for p in parts)


def _literal(text: str) -> str:
    return exp.Literal.string(text).sql(dialect="postgres")


def _array_item(text: str) -> str:
    """``text`` as one element of a PostgreSQL array literal (quoted, backslashes and quotes escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class DiffSpec:
    """What the diff needs to know about one user_attributes sync."""

    model_relation: str        # already quoted (relation())
    snapshot_relation: str     # already quoted
    id_column: str
    fields: tuple[tuple[str, str], ...]   # (model column, Braze attribute)
    required: tuple[tuple[str, str], ...]  # (model column, attribute) that must not be null
    fields_relation: str = ""  # already quoted: the per-field hashes of the snapshot's rows
    check_duplicates: bool = True  # False only when the identifier is known unique (uniqueness.py)
    types: tuple[str, ...] = ()  # PostgreSQL type name of each field's column (cheaper row hash when known)
    digest_relation: str = ""  # already quoted: the snapshot's digest (digest.py); empty: join every row


# The row hash is computed for every row of the model on every plan and run: one hash function call per
# column, by type, costs about two thirds of hash_record_extended(row(...)), which builds a record first.
# Columns of other types are hashed through their text form. {x} is the column, {s} the seed.
# Text is hashed under the "C" collation: the same bytes, the same hash as under any deterministic collation
# (so the same row hash as before), without looking the column's collation up on every call; under a
# nondeterministic one, a change of case or accents is still a change. A timestamptz is hashed as UTC time
# through a zero interval offset: the same value as `at time zone 'UTC'`, without parsing the zone's name on
# every row (that was a tenth of the row hash's cost).
TYPED_HASH = {
    **dict.fromkeys(("text", "varchar", "name"), 'hashtextextended({x} collate "C", {s})'),
    "bpchar": 'hashbpcharextended({x} collate "C", {s})',
    "int2": "hashint2extended({x}, {s})",
    "int4": "hashint4extended({x}, {s})",
    "int8": "hashint8extended({x}, {s})",
    "numeric": "hash_numeric_extended({x}, {s})",
    "float4": "hashfloat4extended({x}, {s})",
    "float8": "hashfloat8extended({x}, {s})",
    "bool": "hashint4extended(cast({x} as integer), {s})",
    "date": "hashint4extended({x} - date '2000-01-01', {s})",
    "timestamp": "timestamp_hash_extended({x}, {s})",
    "timestamptz": "timestamp_hash_extended({x} at time zone interval '0', {s})",
    "uuid": "uuid_hash_extended({x}, {s})",
    "jsonb": "jsonb_hash_extended({x}, {s})",
}


# Types without a hash function (hash_record_extended fails on them): hashed through their text form.
UNHASHABLE = frozenset({"json", "xml", "money", "point", "line", "lseg", "box", "path", "polygon", "circle"})


def field_hash(column: str, kind: str) -> str:
    """The hash of one field's value, as stored per attribute in the snapshot (to tell which fields changed)."""
    if kind in UNHASHABLE or kind.lstrip("_") in UNHASHABLE:
        return f"hashtextextended(cast({column} as text), 0)"
    return f"hash_record_extended(row({column}), 0)"


def row_hash(columns: list[str], types: tuple[str, ...]) -> str:
    """A 64-bit hash of the (quoted, qualified) ``columns``: with their types, the xor of one seeded hash per
    column (seed = position, so swapped values differ; a null hashes to its position); without them,
    ``hash_record_extended``."""
    if not columns:
        return "hash_record_extended(row(1), 0)"
    if len(types) != len(columns) or not all(types):
        return f"hash_record_extended(row({', '.join(columns)}), 0)"
    parts = []
    for i, (col, kind) in enumerate(zip(columns, types), start=1):
        template = TYPED_HASH.get(kind, "hashtextextended(cast({x} as text), {s})")
        parts.append(f"coalesce({template.format(x=col, s=i)}, {i})")
    return " # ".join(parts)


class Expressions:
    """The parts of the diff a warehouse writes its own way (PostgreSQL here; DuckDB in duck/diff.py). The
    query around them, :func:`diff_query`, is the same everywhere."""

    text = "text"

    def row_hash(self, spec: DiffSpec, columns: list[str]) -> str:
        return row_hash(columns, spec.types)

    def field_hash(self, column: str, kind: str) -> str:
        return field_hash(column, kind)

    def hashes_out(self, attrs: list[str], hashes: list[str]) -> str:
        """The text the fields table stores for a row's per-attribute ``hashes`` (SQL expressions, in mapping
        order): here a bigint[] in that order (the attribute names are stored beside it, see state.py)."""
        return f"cast(array[{', '.join(hashes)}]::bigint[] as text)"

    def changed(self, attrs: list[str], new_hashes: list[str]) -> str:
        """The attributes (names) whose hash differs from the delivered one (``b._rb_old_hashes``), as an array."""
        tests = ", ".join(f"case when {self.delivered_hash(a, i)} is distinct from {self.comparable_hash(h)} "
                          f"then {_literal(a)} end" for i, (a, h) in enumerate(zip(attrs, new_hashes)))
        return self.non_null_array(tests)

    def delivered_hash(self, attr: str, position: int) -> str:
        """The delivered hash of ``attr``, the ``position``-th mapped attribute, read from ``b._rb_old_hashes``
        (here the bigint[] :meth:`with_old_hashes` lines up with the mapping)."""
        return f"b._rb_old_hashes[{position + 1}]"

    def comparable_hash(self, new_hash: str) -> str:
        """A new hash in the form :meth:`delivered_hash` reads."""
        return new_hash

    def non_null_array(self, items: str) -> str:
        """An array of the text ``items`` without their nulls."""
        return f"array_remove(array[{items}]::text[], null)"

    def duplicates(self, spec: DiffSpec, restricted: bool = False) -> tuple[str, str, str]:
        """(CTE, join, column): the identifiers found more than once in the model; ``restricted``: among the
        rows of CTE ``model`` (the buckets the digest could not vouch for, where every duplicate is: digest.py),
        which PostgreSQL then keeps in memory for both readers instead of scanning the model once more."""
        # Materialized: when the planner expects few rows to need work (all delivered, stale statistics) it
        # joins `duplicated` in a nested loop, and an inlined grouping is then rescanned for every row that
        # does: 92 s instead of 0.4 s for 1,300 new events among 335,000 (measured on the events ledger).
        # Grouped by a 64-bit hash of the identifier: less memory than the text.
        source = ("_rb_id", "model") if restricted else (
            f"cast(m0.{q(spec.id_column)} as text)", f"{spec.model_relation} as m0")
        return (f"""duplicated as materialized (
        select hashtextextended({source[0]}, 0) as _rb_id_hash from {source[1]}
        where {source[0]} is not null group by 1 having count(*) > 1
    ),""", "left join duplicated as d on d._rb_id_hash = hashtextextended(m._rb_id, 0)", "d._rb_id_hash")

    def no_duplicate(self) -> str:
        return "cast(null as bigint)"

    def with_old_hashes(self, spec: DiffSpec) -> str:
        """The body of CTE ``b``: ``a`` with the delivered field hashes of changed rows (``_rb_old_hashes``), in
        the order of the mapping (stored in the order of the mapping they were delivered under: looked up by
        name when that differs; null for an attribute not delivered then)."""
        attrs = f"cast({_literal('{' + ','.join(_array_item(a) for _, a in spec.fields) + '}')} as text[])"
        return f"""select a.*, case when a._rb_action = 'changed' then (
            select case when o.attrs = {attrs} then o.hashes else array(
                select o.hashes[array_position(o.attrs, w.attr)] from unnest({attrs}) with ordinality as w (attr, n)
                order by w.n) end
            from {spec.fields_relation} as o where o.id = a._rb_snapshot_id
        ) end as _rb_old_hashes
        from a
        offset 0  -- computed once per row: the select below reads _rb_old_hashes once per field"""

    # PostgreSQL inlines the model subquery into the join's filter; `offset 0` keeps it a subquery.
    model_fence = "offset 0"


POSTGRES = Expressions()


def _in_buckets(buckets: Sequence[int]) -> str:
    """``= any(<constant array>)``: a constant, so PostgreSQL looks each row up in a hash of the array."""
    return f"= any(cast({_literal('{' + ','.join(str(int(b)) for b in buckets) + '}')} as integer[]))"


def diff_query(spec: DiffSpec, dialect: str = "postgres", all_values: bool = False,
               expressions: Expressions = POSTGRES, buckets: Sequence[int] | None = None,
               lean_duplicates: bool = False) -> str:
    """The rows needing work, with columns :data:`OUTPUT` then the mapped columns as ``_rb_v<i>`` (typed
    as in the model). ``all_values`` also returns unchanged rows with their values (full-mode syncs).
    ``buckets``: only the rows of these digest buckets (:func:`differing_buckets_query`), model and snapshot
    alike; every other bucket was found equal to what Braze holds.

    ``lean_duplicates`` (with ``buckets``): the duplicate check groups only the result's rows that have no
    active snapshot row (two such rows with one identifier are both in the result), and every row carries
    ``_rb_balance``, those rows' count minus the removed rows'. Without duplicates among the rows that match
    an active snapshot row, each model row of the buckets is either one of those or matches one snapshot row,
    and each active snapshot row is matched or removed, so the balance equals the buckets' model rows minus
    their snapshot rows (from the digest pass); when it does not, the engine runs the full check."""
    x = expressions
    n = len(spec.fields)
    model_where = snapshot_where = ""
    if buckets is not None:
        inside = _in_buckets(buckets)
        model_bucket = digest.bucket(digest.id_hash(f"cast(m0.{q(spec.id_column)} as {x.text})"))
        model_where, snapshot_where = f"where {model_bucket} {inside}", f"where bucket {inside}"
    v = [q(f"_rb_v{i}") for i in range(n)]
    row = x.row_hash(spec, [f"m0.{q(c)}" for c, _ in spec.fields])
    values = "".join(f", m0.{q(c)} as {v[i]}" for i, (c, _) in enumerate(spec.fields))
    # Per-field hashes (for the rows returned only): compared attribute by attribute with the delivered ones,
    # read by primary key for changed rows only.
    h = [q(f"_rb_h{i}") for i in range(n)]
    attrs = [attr for _, attr in spec.fields]
    new_hashes = x.hashes_out(attrs, [f"b.{h[i]}" for i in range(n)]) if n else "'{}'"
    changed = x.changed(attrs, [f"b.{h[i]}" for i in range(n)]) if n else f"cast(array[] as {x.text}[])"
    # A changed row sends only its changed fields (unless Braze rejected it last time: then all of them), so
    # its other values are not returned: less to decode and check in Python (a tenth of a plan's CPU).
    outputs = [f"b.{v[i]}" if all_values else
               f"case when b._rb_action <> 'changed' or b._rb_old_status = 'rejected' or "
               f"{x.delivered_hash(attrs[i], i)} is distinct from {x.comparable_hash(f'b.{h[i]}')} then b.{v[i]} end"
               for i in range(n)]

    def missing_case(alias: str) -> str:
        missing = " ".join(f"when {alias}.{v[i]} is null then {_literal(f'required attribute {attr} is null (column {col})')}"
                           for i, (col, attr) in enumerate(spec.fields) if (col, attr) in spec.required)
        return f"case {missing} end" if missing else f"cast(null as {x.text})"

    lean = lean_duplicates and spec.check_duplicates and buckets is not None
    duplicated, dup_join, dup_col = (x.duplicates(spec, buckets is not None) if spec.check_duplicates and not lean
                                     else ("", "", x.no_duplicate()))
    unmatched = "(_rb_snapshot_id is null or _rb_old_status = 'removed')"  # no active snapshot row
    new_dups, a_from, is_dup, balance = "", "compared as c", "c._rb_duplicate is not null", "cast(null as bigint)"
    if lean:
        new_dups = f"""new_dups as materialized (
        select _rb_id as _rb_dup_id from compared where _rb_id is not null and {unmatched} group by 1 having count(*) > 1
    ),"""
        a_from = "compared as c left join new_dups as nd on nd._rb_dup_id = c._rb_id"
        is_dup = "(c._rb_duplicate is not null or nd._rb_dup_id is not null)"
        balance = (f"sum(case when b._rb_action = 'removed' then -1 when b._rb_in_model and {unmatched.replace('_rb_', 'b._rb_')} "
                   "then 1 else 0 end) over ()")
    # The filter is evaluated on every row of the join: keep it to cheap comparisons (a null id never matches
    # the snapshot, so it passes the first test); the action is worked out only for the rows it lets through.
    # PostgreSQL inlines the model subquery into the join's filter, so each mention of _rb_row_hash there is
    # one more hash of the whole row: it appears once (_rb_in_model says "the model has this row").
    needs_work = "" if all_values else (
        f"and (m._rb_row_hash is distinct from s.row_hash or s.status = 'removed' or {dup_col} is not null"
        + (f" or {missing_case('m')} is not null" if spec.required else "") + ")")
    field_hashes = "".join(f", {x.field_hash(f'c.{v[i]}', spec.types[i] if spec.types else '')} as {h[i]}"
                           for i in range(n))
    sql = f"""
    with model as (
        select cast(m0.{q(spec.id_column)} as {x.text}) as _rb_id, {row} as _rb_row_hash, true as _rb_in_model{values}
        from {spec.model_relation} as m0 {model_where}
        {x.model_fence}
    ),
    {duplicated}
    compared as (
        select m.*, s.id as _rb_snapshot_id, s.row_hash as _rb_old_row_hash, s.status as _rb_old_status,
            {dup_col} as _rb_duplicate
        from model as m
        {dup_join}
        full outer join (select id, row_hash, status from {spec.snapshot_relation} {snapshot_where}) as s on s.id = m._rb_id
        where (m._rb_in_model or s.status <> 'removed') {needs_work}
    ),
    {new_dups}
    a as (
        select c.*, {missing_case('c')} as _rb_missing, {is_dup} as _rb_is_dup,
            case
                when c._rb_in_model is null then 'removed'
                when c._rb_id is null or {is_dup} or {missing_case('c')} is not null then 'invalid'
                when c._rb_snapshot_id is null or c._rb_old_status = 'removed' then 'new'
                when c._rb_old_row_hash = c._rb_row_hash then 'unchanged'
                else 'changed'
            end as _rb_action
            {field_hashes}
        from {a_from}
    ),
    b as (
        {x.with_old_hashes(spec)}
    )
    select coalesce(b._rb_id, b._rb_snapshot_id) as _rb_id, b._rb_action,
        case
            when b._rb_action <> 'invalid' then null
            when b._rb_id is null then 'identifier is null'
            when b._rb_is_dup then 'identifier is not unique in the model'
            else b._rb_missing
        end as _rb_reason,
        b._rb_row_hash,
        case when b._rb_in_model then {new_hashes} end as _rb_field_hashes,
        case when b._rb_action = 'changed' then {changed} end as _rb_changed,
        b._rb_old_status, b._rb_snapshot_id is not null as _rb_matched, {balance} as _rb_balance
        {''.join(f', {outputs[i]} as {v[i]}' for i in range(n))}
    from b
    """
    # Written in PostgreSQL's dialect: transpiling it to itself would only cost time (~60 ms a plan).
    return sql if dialect == "postgres" else sqlglot.transpile(sql, read="postgres", write=dialect)[0]


def differing_buckets_query(spec: DiffSpec) -> str:
    """(bucket, model rows, snapshot rows) of the digest buckets where the model and the snapshot disagree
    (count or xor of row keys, digest.py): one pass over the model that hashes every row and sums it per
    bucket, then a join of 65,536 rows at most."""
    row = POSTGRES.row_hash(spec, [f"m0.{q(c)}" for c, _ in spec.fields])
    return f"""
    select coalesce(m.bucket, d.bucket), coalesce(m.n, 0), coalesce(d.n, 0) from (
        select {digest.bucket('h._rb_idh')} as bucket, count(*) as n, bit_xor({digest.row_key('h._rb_row_hash', 'h._rb_idh')}) as x
        from (
            select {digest.id_hash(f'cast(m0.{q(spec.id_column)} as text)')} as _rb_idh, {row} as _rb_row_hash
            from {spec.model_relation} as m0
            offset 0  -- each hash computed once per row (the group key and the xor both read _rb_idh)
        ) as h
        group by 1
    ) as m
    full outer join {spec.digest_relation} as d on d.bucket = m.bucket
    where coalesce(m.n, 0) <> coalesce(d.n, 0) or coalesce(m.x, 0) <> coalesce(d.x, 0)
    """


# Run before a diff or ledger query, in its transaction. The duplicate check's left join to `duplicated` is
# estimated at a third of the model (a HAVING count(*) > 1 guess) and then planned as a merge join, which sorts
# the whole model first: at 1M rows an external sort of 100 MB, 0.6 s of a 2.5 s diff. Without merge joins the
# planner hashes `duplicated` (nearly always empty) and the full join with the snapshot stays a hash join.
DIFF_SETTINGS = "set local enable_mergejoin = off"


def active_snapshot_count_query(spec: DiffSpec) -> str:
    """Rows Braze holds for this sync (delivered or rejected, not removed)."""
    return f"select count(*) from {spec.snapshot_relation} where status <> 'removed'"


def bare_join_query(spec: DiffSpec) -> str:
    """The reference the diff is measured against: the bare full join of model and snapshot on the id,
    reading the mapped columns."""
    cols = ", ".join(f"m0.{q(c)}" for c, _ in spec.fields) or "1"
    return (f"select count(*) from (select cast(m0.{q(spec.id_column)} as text) as id, {cols} "
            f"from {spec.model_relation} as m0) as m full outer join {spec.snapshot_relation} as s on s.id = m.id")
