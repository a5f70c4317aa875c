"""The diff of a sync's model against its snapshot, on DuckDB: same rows, columns and actions as
``reverse_etl/diff.py`` (read it for the design), written with DuckDB's functions.

Hashes: DuckDB's ``hash(a, b, ...)`` hashes its arguments by type and in order (``hash(1, 2) <> hash(2, 1)``; a
null hashes to a constant), returning a UBIGINT. The snapshot's ``row_hash`` is a BIGINT (as on PostgreSQL), so
the UBIGINT is shifted by 2^63 through HUGEINT: a bijection onto BIGINT's range, never an overflow, no bit lost.
Per-field hashes are kept as JSON numbers under each attribute's name, compared as text.

DuckDB's ``hash()`` is not a stable format: should a DuckDB upgrade change it, the next run sees every row as
changed and resends its mapped fields once (the same happens on PostgreSQL when the hash scheme changes).
"""

from __future__ import annotations

from ..diff import DiffSpec, _literal, q


def row_hash(columns: list[str]) -> str:
    """The 64-bit hash of (quoted, qualified) ``columns`` as a BIGINT."""
    args = ", ".join(columns) or "1"
    return f"cast(cast(hash({args}) as hugeint) - 9223372036854775808 as bigint)"


def _json_path(key: str) -> str:
    """A JSON path literal selecting object key ``key`` whatever it holds (quotes, dots, spaces)."""
    return _literal('$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"')


def diff_query(spec: DiffSpec, all_values: bool = False) -> str:
    """The rows needing work, with columns ``diff.OUTPUT`` then the mapped columns as ``_rb_v<i>``."""
    n = len(spec.fields)
    v = [q(f"_rb_v{i}") for i in range(n)]
    h = [q(f"_rb_h{i}") for i in range(n)]
    values = "".join(f", m0.{q(c)} as {v[i]}" for i, (c, _) in enumerate(spec.fields))
    pairs = ", ".join(f"{_literal(attr)}, b.{h[i]}" for i, (_, attr) in enumerate(spec.fields))
    new_hashes = f"cast(json_object({pairs}) as varchar)" if n else "'{}'"
    # An attribute changed when its delivered hash (JSON number, read as text) differs from the new one.
    tests = ", ".join(f"case when json_extract_string(b._rb_old_hashes, {_json_path(attr)}) is distinct from "
                      f"cast(b.{h[i]} as varchar) then {_literal(attr)} end" for i, (_, attr) in enumerate(spec.fields))
    changed = f"list_filter([{tests}], lambda x: x is not null)" if n else "cast([] as varchar[])"

    def missing_case(alias: str) -> str:
        missing = " ".join(f"when {alias}.{v[i]} is null then "
                           f"{_literal(f'required attribute {attr} is null (column {col})')}"
                           for i, (col, attr) in enumerate(spec.fields) if (col, attr) in spec.required)
        return f"case {missing} end" if missing else "cast(null as varchar)"

    if spec.check_duplicates:
        duplicated = f"""duplicated as materialized (
        select cast({q(spec.id_column)} as varchar) as _rb_dup_id from {spec.model_relation}
        where {q(spec.id_column)} is not null group by 1 having count(*) > 1
    ),"""
        dup_join = "left join duplicated as d on d._rb_dup_id = m._rb_id"
        dup_col = "d._rb_dup_id"
    else:
        duplicated, dup_join, dup_col = "", "", "cast(null as varchar)"
    needs_work = "" if all_values else (
        f"and (m._rb_row_hash is distinct from s.row_hash or s.status = 'removed' or {dup_col} is not null"
        + (f" or {missing_case('m')} is not null" if spec.required else "") + ")")
    row = row_hash([f"m0.{q(c)}" for c, _ in spec.fields])
    return f"""
    with model as (
        select cast(m0.{q(spec.id_column)} as varchar) as _rb_id, {row} as _rb_row_hash, true as _rb_in_model{values}
        from {spec.model_relation} as m0
    ),
    {duplicated}
    compared as (
        select m.*, s.id as _rb_snapshot_id, s.row_hash as _rb_old_row_hash, s.status as _rb_old_status,
            {dup_col} as _rb_duplicate
        from model as m
        {dup_join}
        full outer join (select id, row_hash, status from {spec.snapshot_relation}) as s on s.id = m._rb_id
        where (m._rb_in_model or s.status <> 'removed') {needs_work}
    ),
    a as (
        select c.*, {missing_case('c')} as _rb_missing,
            case
                when _rb_in_model is null then 'removed'
                when _rb_id is null or _rb_duplicate is not null or {missing_case('c')} is not null then 'invalid'
                when _rb_snapshot_id is null or _rb_old_status = 'removed' then 'new'
                when _rb_old_row_hash = _rb_row_hash then 'unchanged'
                else 'changed'
            end as _rb_action
            {''.join(f", hash(c.{v[i]}) as {h[i]}" for i in range(n))}
        from compared as c
    ),
    b as (
        select a.*, o.field_hashes as _rb_old_hashes
        from a left join {spec.fields_relation} as o on a._rb_action = 'changed' and o.id = a._rb_snapshot_id
    )
    select coalesce(b._rb_id, b._rb_snapshot_id) as _rb_id, b._rb_action,
        case
            when b._rb_action <> 'invalid' then null
            when b._rb_id is null then 'identifier is null'
            when b._rb_duplicate is not null then 'identifier is not unique in the model'
            else b._rb_missing
        end as _rb_reason,
        b._rb_row_hash,
        case when b._rb_in_model then {new_hashes} end as _rb_field_hashes,
        case when b._rb_action = 'changed' then {changed} end as _rb_changed,
        b._rb_old_status, b._rb_snapshot_id is not null as _rb_matched
        {''.join(f', b.{v[i]}' for i in range(n))}
    from b
    """
