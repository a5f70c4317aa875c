"""The diff of a sync's model against its snapshot (what Braze acknowledged), as one set-based query.

The query is built here (identifiers quoted by sqlglot, transpiled from PostgreSQL to the target dialect)
and run by the engine through ``warehouse.py``. Per model row it yields an action:

    new          not in the snapshot (or removed earlier and back)
    changed      in the snapshot with another row hash; the field hashes say which fields changed
    unchanged    same row hash as delivered (or as rejected: a rejected row is not retried until it changes)
    removed      in the snapshot, no longer in the model
    invalid      null identifier, duplicate identifier, or a required attribute missing

Change detection costs one md5 per row (of the row's mapped values); per-field hashes are computed only for
rows that are new or changed, so an unchanged table costs about the bare join of model and snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

ACTIONS = ("new", "changed", "unchanged", "removed", "invalid")


def q(name: str) -> str:
    """A quoted identifier, safe whatever the name holds."""
    return exp.to_identifier(name, quoted=True).sql(dialect="postgres")


def relation(schema: str, name: str, database: str | None = None) -> str:
    parts = ([database] if database else []) + [schema, name]
    return ".".join(q(p) for p in parts)


@dataclass(frozen=True)
class DiffSpec:
    """What the diff needs to know about one user_attributes sync."""

    model_relation: str        # already quoted (relation())
    snapshot_relation: str     # already quoted
    id_column: str
    fields: tuple[tuple[str, str], ...]   # (model column, Braze attribute)
    required: tuple[tuple[str, str], ...]  # (model column, attribute) that must not be null


def diff_query(spec: DiffSpec, dialect: str = "postgres", all_values: bool = False) -> str:
    """SELECT of every model or snapshot row with its action; columns:

    ``_rb_id, _rb_action, _rb_reason, _rb_row_hash, _rb_field_hashes, _rb_old_field_hashes``, then the
    mapped columns as ``_rb_v<i>`` (typed as in the model; NULL for removed rows, and for unchanged rows
    unless ``all_values``: a full-mode sync sends them too).
    """
    cols = [q(c) for c, _ in spec.fields]
    row_expr = "row(" + ", ".join(f"m0.{c}" for c in cols) + ")" if cols else "row(1)"
    hashes = ", ".join(
        f"'{attr.replace(chr(39), chr(39) * 2)}', md5(cast(m.{q(f'_rb_v{i}')} as text))"
        for i, (_, attr) in enumerate(spec.fields)
    ) or "'_', ''"
    values = ", ".join(f"m0.{c} as {q(f'_rb_v{i}')}" for i, c in enumerate(cols))
    missing = " ".join(
        f"when m.{q(f'_rb_v{i}')} is null then 'required attribute {attr} is null (column {column})'"
        for i, (column, attr) in enumerate(spec.fields) if (column, attr) in spec.required
    )
    missing_case = f"case {missing} end" if missing else "cast(null as text)"
    sendable = "'new', 'changed', 'unchanged'" if all_values else "'new', 'changed'"
    out_values = ", ".join(
        f"case when a._rb_action in ({sendable}) then a.{q(f'_rb_v{i}')} end as {q(f'_rb_v{i}')}"
        for i in range(len(cols))
    )
    sql = f"""
    with model as (
        select cast(m0.{q(spec.id_column)} as text) as _rb_id,
               md5(cast({row_expr} as text)) as _rb_row_hash
               {', ' + values if values else ''}
        from {spec.model_relation} as m0
    ),
    duplicated as (
        select _rb_id from model where _rb_id is not null group by _rb_id having count(*) > 1
    ),
    actions as (
        select
            coalesce(m._rb_id, s.id) as _rb_id,
            case
                when m._rb_row_hash is null then 'removed'
                when m._rb_id is null or d._rb_id is not null or {missing_case} is not null then 'invalid'
                when s.id is null or s.status = 'removed' then 'new'
                when s.row_hash = m._rb_row_hash then 'unchanged'
                else 'changed'
            end as _rb_action,
            case
                when m._rb_row_hash is not null and m._rb_id is null then 'identifier is null'
                when d._rb_id is not null then 'identifier is not unique in the model'
                when m._rb_row_hash is not null then {missing_case}
            end as _rb_reason,
            m._rb_row_hash,
            s.field_hashes as _rb_old_field_hashes,
            s.status as _rb_old_status
            {', ' + ', '.join(f'm.{q(f"_rb_v{i}")}' for i in range(len(cols))) if cols else ''},
            case when s.id is null or s.row_hash is distinct from m._rb_row_hash or s.status = 'removed'
                 then jsonb_build_object({hashes}) end as _rb_field_hashes
        from model as m
        left join duplicated as d on d._rb_id = m._rb_id
        full outer join {spec.snapshot_relation} as s on s.id = m._rb_id
        where not (m._rb_row_hash is null and s.status = 'removed')
    )
    select a._rb_id, a._rb_action, a._rb_reason, a._rb_row_hash, a._rb_field_hashes, a._rb_old_field_hashes,
           a._rb_old_status{', ' + out_values if out_values else ''}
    from actions as a
    """
    if dialect == "postgres":
        return sqlglot.transpile(sql, read="postgres", write="postgres", pretty=False)[0]
    return sqlglot.transpile(sql, read="postgres", write=dialect)[0]


def bare_join_query(spec: DiffSpec) -> str:
    """The reference the diff is measured against: the bare full join of model and snapshot on the id."""
    return (f"select count(*) from (select cast({q(spec.id_column)} as text) as id from {spec.model_relation}) m "
            f"full outer join {spec.snapshot_relation} s on s.id = m.id")


def changed_attributes(new_hashes: dict | None, old_hashes: dict | None) -> list[str]:
    """Attributes whose value hash differs from the delivered one (every attribute for a new row)."""
    new_hashes = new_hashes or {}
    old_hashes = old_hashes or {}
    return [attr for attr, h in new_hashes.items() if old_hashes.get(attr) != h]
