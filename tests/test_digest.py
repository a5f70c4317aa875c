"""The snapshot digest (digest.py) on real PostgreSQL: kept exact by its triggers, and a diff restricted to the
buckets it cannot vouch for returns exactly what the diff of every row returns."""

from __future__ import annotations

import dataclasses

import psycopg
import pytest

from reverse_etl import digest, state
from reverse_etl.diff import differing_buckets_query, relation
from reverse_etl.engine import Engine, select_syncs
from reverse_etl.manifest import load
from reverse_etl.profiles import resolve

from test_diff import deliver_everything, make_engine

pytestmark = pytest.mark.db


@pytest.fixture
def small_buckets(monkeypatch):
    """64 buckets instead of 65,536: a model of a few thousand rows then has dozens of rows per bucket, so
    unchanged rows share buckets with changed ones (as they do at a million rows)."""
    monkeypatch.setattr(digest, "BUCKETS", 64)


@pytest.fixture
def engine(embedded_warehouse, schema, tmp_path, db, small_buckets):
    eng = make_engine(embedded_warehouse, schema, tmp_path, db, 2000)
    yield eng
    db.execute(f'drop schema if exists "{schema}_state" cascade')


def prepared(engine, db):
    sync = select_syncs(engine.manifest, ())[0]
    with psycopg.connect(db.info.dsn) as conn:
        return sync, engine._prepare(conn, sync, full_refresh=False)


def digest_mismatches(db, state_schema: str) -> int:
    """Buckets where the digest differs from the snapshot summed from scratch (zero rows count as absent)."""
    snapshot = relation(state_schema, "snapshot__users")
    truth = (f"select bucket, count(*) as n, bit_xor({digest.row_key('row_hash', digest.id_hash('id'))}) as x "
             f"from {snapshot} where status <> 'removed' group by bucket")
    return db.execute(
        f"select count(*) from ({truth}) t full join (select * from {relation(state_schema, 'digest__users')} "
        "where n <> 0 or x <> 0) d using (bucket) where t.n is distinct from d.n or t.x is distinct from d.x").fetchone()[0]


def test_every_write_to_the_snapshot_keeps_the_digest_exact(engine, db):
    _, spec = prepared(engine, db)
    st = engine.manifest.state_schema
    assert digest_mismatches(db, st) == 0
    attrs = ["email", "ltv", "odd name"]
    with psycopg.connect(db.info.dsn) as conn:
        with conn.transaction():  # new rows
            state.upsert_snapshot(conn, st, "users", 1, [(f"u{i}", i, "{1,2,3}", "delivered") for i in range(1, 500)], attrs)
        with conn.transaction():  # new and existing rows in one statement (insert ... on conflict do update)
            state.upsert_snapshot(conn, st, "users", 2, [(f"u{i}", i * 7, "{1,2,3}", "delivered") for i in range(400, 700)]
                                  + [("u1", 5, "{}", "removed"), ("u2", 9, "{1,2,3}", "rejected")], attrs)
        with conn.transaction():
            state.delete_from_snapshot(conn, st, "users", ["u3", "u4", "u650"])
        assert digest_mismatches(db, st) == 0
        with conn.transaction():  # what a merge does to a survivor
            conn.execute(f"update {spec.snapshot_relation} set row_hash = 0 where id in ('u5', 'u6')")
        with pytest.raises(RuntimeError), conn.transaction():  # a crash: the batch lands in neither table
            state.upsert_snapshot(conn, st, "users", 3, [("u7", 1, "{1,2,3}", "delivered")], attrs)
            raise RuntimeError("killed")
    assert digest_mismatches(db, st) == 0
    n = db.execute(f"select sum(n) from {spec.digest_relation}").fetchone()[0]
    assert n == db.execute(f"select count(*) from {spec.snapshot_relation} where status <> 'removed'").fetchone()[0] == 695
    with psycopg.connect(db.info.dsn) as conn:
        state.reset_snapshot(conn, st, "users")  # --full-refresh
    assert db.execute(f"select count(*) from {spec.digest_relation}").fetchone()[0] == 0


def test_a_snapshot_from_before_the_digest_is_summed_once(engine, db):
    sync = select_syncs(engine.manifest, ())[0]
    st = engine.manifest.state_schema
    with psycopg.connect(db.info.dsn) as conn:
        state.ensure_schema(conn, st)
        state.ensure_snapshot(conn, st, "users")  # the tables as an older release left them: no digest
    db.execute(f"""insert into "{st}".snapshot__users (id, row_hash, status, run_id)
                   select 'u' || g, g, case when g % 10 = 0 then 'removed' else 'delivered' end, 1
                   from generate_series(1, 3000) g""")
    with psycopg.connect(db.info.dsn) as conn:
        spec = engine._prepare(conn, sync, full_refresh=False)
    assert spec.digest_relation == f'"{st}"."digest__users"'
    assert digest_mismatches(db, st) == 0
    assert db.execute(f"select sum(n) from {spec.digest_relation}").fetchone()[0] == 2700
    indexed = db.execute("select count(*) from pg_indexes where schemaname = %s and tablename = 'snapshot__users' "
                         "and indexdef like '%%(bucket)%%'", (st,)).fetchone()[0]
    assert indexed == 1


def test_field_hashes_stored_as_json_become_arrays(engine, db):
    """A fields table from before the digest ({attribute: hash} in jsonb) is converted in place."""
    st = engine.manifest.state_schema
    db.execute(f'create schema "{st}"')
    db.execute(f'create table "{st}".fields__users (id text primary key, field_hashes jsonb not null)')
    db.execute(f"""insert into "{st}".fields__users values ('u1', '{{"ltv": 7, "email": -3}}'), ('u2', '{{}}')""")
    prepared(engine, db)
    rows = db.execute(f'select id, attrs, hashes from "{st}".fields__users order by id').fetchall()
    assert rows == [("u1", ["email", "ltv"], [-3, 7]), ("u2", [], [])]


def rows_of(engine, db, spec, restricted: bool) -> tuple[list[tuple], dict]:
    """The diff's rows, sorted, and its counts: through the digest (the engine's path) or joining every row."""
    counts: dict[str, int] = {}
    if not restricted:
        spec = dataclasses.replace(spec, digest_relation="")
    with psycopg.connect(db.info.dsn) as conn:
        out = sorted(engine._diff(conn, spec, False, counts), key=repr)
    return out, counts


def test_the_digest_diff_returns_what_the_diff_of_every_row_returns(engine, db, schema):
    deliver_everything(engine, db)
    sync, spec = prepared(engine, db)
    t, snap = f'"{schema}".users', spec.snapshot_relation
    db.execute(f"update {snap} set status = 'rejected' where id in ('u10', 'u11')")
    db.execute(f"update {snap} set status = 'removed', row_hash = 0 where id = 'u20'")  # removed, now back
    db.execute(f"update {t} set ltv = ltv + 1 where id in ('u1', 'u2', 'u11')")
    db.execute(f"update {t} set \"we\"\"ird col\" = 'changed' where id = 'u3'")
    db.execute(f"delete from {t} where id = 'u4'")
    db.execute(f"update {t} set ltv = null where id = 'u7'")  # required attribute missing
    db.execute(f"insert into {t} values ('u3001', 'new@x.org', 5, 'n'), (null, 'nullid@x.org', 1, 'n')")
    db.execute(f"insert into {t} select * from {t} where id = 'u5'")  # an exact duplicate of a delivered row
    db.execute(f"insert into {t} values ('u6', 'other@x.org', 6, 'w6')")  # a duplicate with other values
    with psycopg.connect(db.info.dsn) as conn:
        buckets = [b for b, _, _ in conn.execute(differing_buckets_query(spec))]
    assert 0 < len(buckets) <= 12 < digest.BUCKETS // 2, "the restricted path is the one under test"
    restricted, counts = rows_of(engine, db, spec, restricted=True)
    everything, all_counts = rows_of(engine, db, spec, restricted=False)
    assert restricted == everything
    assert counts == all_counts
    actions = {(r[0], r[1]) for r in restricted}
    assert {("u1", "changed"), ("u2", "changed"), ("u11", "changed"), ("u3", "changed"), ("u4", "removed"),
            ("u20", "new"), ("u3001", "new"), ("u7", "invalid"), (None, "invalid"), ("u5", "invalid"),
            ("u6", "invalid")} == actions
    assert sum(1 for r in restricted if r[0] == "u5") == 2, "both rows of the exact duplicate"
    assert counts["unchanged"] == 2000 - 4 - 1 - 1 - 2 - 1  # minus changed, removed, u7, duplicates u5 u6, u20


def test_nothing_changed_reads_no_row(engine, db, monkeypatch):
    deliver_everything(engine, db)
    sync, spec = prepared(engine, db)

    def no_diff(*args, **kwargs):
        raise AssertionError("the diff query ran although every bucket agrees with the model")

    monkeypatch.setattr(engine.db, "stream", no_diff)
    result = engine.plan(sync)
    assert result.counts["unchanged"] == 2000
    assert result.counts["created"] == result.counts["updated"] == result.counts["removed"] == 0


def test_a_first_run_or_a_big_change_joins_every_row(engine, db, monkeypatch):
    seen = []
    original = engine.db.diff_query

    def spy(spec, all_values=False, buckets=None, lean=False):
        seen.append(buckets)
        return original(spec, all_values=all_values, buckets=buckets, lean=lean)

    monkeypatch.setattr(engine.db, "diff_query", spy)
    sync = select_syncs(engine.manifest, ())[0]
    assert engine.plan(sync).counts["created"] == 2000
    assert seen == [None], "an empty snapshot: every bucket differs, so no bucket list"


def test_the_real_bucket_count(embedded_warehouse, schema, tmp_path, db):
    """65,536 buckets, 30,000 rows, 3 changed: the diff reads about 3 buckets' rows and finds the 3."""
    engine = make_engine(embedded_warehouse, schema, tmp_path, db, 30000)
    try:
        deliver_everything(engine, db)
        sync, spec = prepared(engine, db)
        db.execute(f'update "{schema}".users set email = \'x\' || email where id in (\'u1\', \'u20000\', \'u29999\')')
        with psycopg.connect(db.info.dsn) as conn:
            assert len(list(conn.execute(differing_buckets_query(spec)))) == 3
        result = engine.plan(sync)
        assert result.counts["updated"] == 3 and result.counts["unchanged"] == 29997
        assert result.fields_changed == {"email": 3}
    finally:
        db.execute(f'drop schema if exists "{schema}_state" cascade')


def test_without_the_digest_the_plain_diff_runs(engine, db, schema, monkeypatch):
    """PostgreSQL 13 and older (no bit_xor): no digest, every row joined, same answers."""
    monkeypatch.setattr(digest, "MIN_SERVER_VERSION", 10_000_000)
    deliver_everything(engine, db)
    sync, spec = prepared(engine, db)
    assert spec.digest_relation == ""
    db.execute(f"update \"{schema}\".users set ltv = 0 where id = 'u1'")
    result = engine.plan(sync)
    assert result.counts["updated"] == 1 and result.counts["unchanged"] == 1999


def test_a_changed_mapping_reads_delivered_hashes_by_attribute_name(engine, db, schema, tmp_path):
    """Field hashes are stored in the order of the mapping they were delivered under; a sync whose mapping
    was reordered and extended finds each delivered hash by name, and sends only the new attribute."""
    deliver_everything(engine, db)
    manifest = (tmp_path / "rsync_braze.yml").read_text().replace(
        "      email: email\n      ltv: ltv\n", "      ltv: ltv\n      email: email\n      id: first_name\n")
    (tmp_path / "rsync_braze.yml").write_text(manifest)
    moved = Engine(load(tmp_path / "rsync_braze.yml"), resolve(tmp_path, str(tmp_path)), tmp_path)
    result = moved.plan(select_syncs(moved.manifest, ())[0])
    assert result.counts["updated"] == 2000
    assert result.fields_changed == {"first_name": 2000}


def test_two_first_runs_at_once_create_the_digest_once(engine, db):
    """The second waits for the first's lock, then finds the digest there (no duplicate index, no error)."""
    import threading

    st = engine.manifest.state_schema
    with psycopg.connect(db.info.dsn) as first, psycopg.connect(db.info.dsn) as second:
        state.ensure_schema(first, st)
        state.ensure_snapshot(first, st, "users")
        first.commit()
        digest.ensure(first, st, "users")  # holds the snapshot's lock until commit
        done = threading.Event()
        errors: list[BaseException] = []

        def other() -> None:
            try:
                digest.ensure(second, st, "users")
                second.commit()
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)
            done.set()

        thread = threading.Thread(target=other)
        thread.start()
        assert not done.wait(0.5), "the second must wait for the first's lock"
        first.commit()
        thread.join(10)
    assert errors == []
    assert db.execute("select count(*) from pg_indexes where schemaname = %s and tablename = 'snapshot__users' "
                      "and indexdef like '%%(bucket)%%'", (st,)).fetchone()[0] == 1


def diff_calls(engine, monkeypatch) -> list[tuple]:
    """(buckets given, lean) of each diff query the engine builds."""
    seen: list[tuple] = []
    original = engine.db.diff_query

    def spy(spec, all_values=False, buckets=None, lean=False):
        seen.append((buckets is not None, lean))
        return original(spec, all_values=all_values, buckets=buckets, lean=lean)

    monkeypatch.setattr(engine.db, "diff_query", spy)
    return seen


def test_new_duplicates_are_found_by_the_lean_check_alone(engine, db, schema, monkeypatch):
    deliver_everything(engine, db)
    sync, _ = prepared(engine, db)
    db.execute(f'insert into "{schema}".users values (\'u9001\', \'a@x.org\', 1, \'a\'), (\'u9001\', \'b@x.org\', 2, \'b\'), '
               f"('u9002', 'c@x.org', 3, 'c')")
    db.execute(f'update "{schema}".users set ltv = 0 where id = \'u8\'')
    calls = diff_calls(engine, monkeypatch)
    result = engine.plan(sync)
    assert calls == [(True, True)], "no second query: no identifier Braze holds is repeated"
    assert result.counts["invalid"] == 2 and result.counts["created"] == 1 and result.counts["updated"] == 1
    assert {r[0] for r in result.rejections} == {"u9001"}


def test_a_repeated_identifier_that_braze_holds_brings_the_full_check(engine, db, schema, monkeypatch):
    """An exact copy of a delivered row, nothing else changed: both rows are unchanged, the lean query returns
    nothing, but its balance (0) is not the digest's (one more model row than snapshot rows)."""
    deliver_everything(engine, db)
    sync, _ = prepared(engine, db)
    db.execute(f'insert into "{schema}".users select * from "{schema}".users where id = \'u42\'')
    calls = diff_calls(engine, monkeypatch)
    result = engine.plan(sync)
    assert calls == [(True, True), (True, False)]
    assert result.counts["invalid"] == 2 and result.counts["unchanged"] == 1999
    assert [r[0] for r in result.rejections] == ["u42", "u42"]


def test_a_role_that_cannot_add_the_triggers_gets_the_plain_diff(embedded_warehouse, schema, tmp_path, db, caplog):
    """The state tables belong to another role (created by an admin, say): the sync still plans and runs,
    joining every row, and the log says how to give the snapshot its digest."""
    engine = make_engine(embedded_warehouse, schema, tmp_path, db, 50)
    st = engine.manifest.state_schema
    role = f"r_{schema}"
    try:
        with psycopg.connect(db.info.dsn) as conn:
            state.ensure_schema(conn, st)
            state.ensure_snapshot(conn, st, "users")
        db.execute(f'create role "{role}" login')
        db.execute(f'grant create on database rsync_braze to "{role}"')  # create schema if not exists asks it
        db.execute(f'grant usage on schema "{schema}" to "{role}"')
        db.execute(f'grant usage, create on schema "{st}" to "{role}"')
        db.execute(f'grant select on all tables in schema "{schema}" to "{role}"')
        db.execute(f'grant select, insert, update, delete on all tables in schema "{st}" to "{role}"')
        profile = (tmp_path / "profiles.yml").read_text().replace("user: postgres", f"user: {role}")
        (tmp_path / "profiles.yml").write_text(profile)
        limited = Engine(load(tmp_path / "rsync_braze.yml"), resolve(tmp_path, str(tmp_path)), tmp_path)
        sync = select_syncs(limited.manifest, ())[0]
        with caplog.at_level("WARNING", logger="reverse_etl.engine"):
            result = limited.plan(sync)
        assert result.counts["created"] == 50
        assert "no digest for its snapshot" in caplog.text and "owner of" in caplog.text
        assert db.execute("select to_regclass(%s)", (f'"{st}".digest__users',)).fetchone()[0] is None
    finally:
        db.execute(f'drop schema if exists "{st}" cascade')
        if db.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
            db.execute(f'drop owned by "{role}"')
            db.execute(f'drop role "{role}"')
