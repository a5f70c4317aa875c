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

from .. import diff
from ..diff import DiffSpec, _literal, q


def row_hash(columns: list[str]) -> str:
    """The 64-bit hash of (quoted, qualified) ``columns`` as a BIGINT."""
    args = ", ".join(columns) or "1"
    return f"cast(cast(hash({args}) as hugeint) - 9223372036854775808 as bigint)"


def _json_path(key: str) -> str:
    """A JSON path literal selecting object key ``key`` whatever it holds (quotes, dots, spaces)."""
    return _literal('$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"')


class DuckExpressions(diff.Expressions):
    """DuckDB's functions for the parts of the diff each warehouse writes its own way."""

    text = "varchar"
    model_fence = ""

    def row_hash(self, spec: DiffSpec, columns: list[str]) -> str:
        return row_hash(columns)

    def field_hash(self, column: str, kind: str) -> str:
        return f"hash({column})"

    def hashes_out(self, attrs: list[str], hashes: list[str]) -> str:
        pairs = ", ".join(f"{_literal(a)}, {h}" for a, h in zip(attrs, hashes))
        return f"cast(json_object({pairs}) as varchar)"

    # An attribute changed when its delivered hash (a JSON number, read as text) differs from the new one.
    def delivered_hash(self, attr: str, position: int) -> str:
        return f"json_extract_string(b._rb_old_hashes, {_json_path(attr)})"

    def comparable_hash(self, new_hash: str) -> str:
        return f"cast({new_hash} as varchar)"

    def non_null_array(self, items: str) -> str:
        return f"list_filter([{items}], lambda x: x is not null)"

    def duplicates(self, spec: DiffSpec, restricted: bool = False) -> tuple[str, str, str]:
        # Never restricted: DuckDB has no digest (no triggers), its diff reads every bucket.
        return (f"""duplicated as materialized (
        select cast({q(spec.id_column)} as varchar) as _rb_dup_id from {spec.model_relation}
        where {q(spec.id_column)} is not null group by 1 having count(*) > 1
    ),""", "left join duplicated as d on d._rb_dup_id = m._rb_id", "d._rb_dup_id")

    def no_duplicate(self) -> str:
        return "cast(null as varchar)"

    def with_old_hashes(self, spec: DiffSpec) -> str:
        return f"""select a.*, o.field_hashes as _rb_old_hashes
        from a left join {spec.fields_relation} as o on a._rb_action = 'changed' and o.id = a._rb_snapshot_id"""


DUCKDB = DuckExpressions()


def diff_query(spec: DiffSpec, all_values: bool = False) -> str:
    """The rows needing work, with columns ``diff.OUTPUT`` then the mapped columns as ``_rb_v<i>``."""
    return diff.diff_query(spec, all_values=all_values, expressions=DUCKDB)
