"""Connected components of identity resolution against a Python union-find, on random graphs.

The SQL side is the real pipeline of the package (identity_groups → identity_star_edges → identity_resolve,
the loop of set-based statements), run through the ``integration_tests/`` project: its identity models read
the cases table named by ``var('identity_it_cases')``. Many random graphs go into one table, values prefixed
with their graph, so a handful of dbt runs check hundreds of graphs. Junk hubs (blocked values shared across
graphs, values above the group-size cap) must link nobody; the union-find applies the same seeds (rules and
blocklist) read from the CSV files.

The same cases also run on DuckDB: the clusters (hashed labels included) must be identical.
"""

from __future__ import annotations

import csv
import functools
import json
import random
import re
import uuid
from collections import defaultdict
from pathlib import Path

import duckdb
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_dbt_macros import PROJECT, _dbt, _duckdb_env, _results

pytestmark = [pytest.mark.db, pytest.mark.dbt]

SEEDS = PROJECT / "seeds" / "identity"
TYPES = ("email", "phone", "card")
# Values the blocklist seed must catch; shared by every graph, so a failing blocklist would merge graphs.
BLOCKED = {"email": ["test@test.com", "noreply@shop.fr", "shared@shop.example"], "phone": ["0000", "00 00 00", ""],
           "card": ["n/a", "-"]}
SELECT = ["--select", "+test_identity_resolution"]
COLUMNS = ("graph_id", "record_key", "source", "id_type", "id_value", "expected_group")


def _rules() -> dict[str, int]:
    """Group-size cap per identifier type of the test entity (data_identity_rules.csv)."""
    with open(SEEDS / "data_identity_rules.csv", newline="") as handle:
        return {row["id_type"]: int(row["max_group_size"]) for row in csv.DictReader(handle) if row["entity"] == "people"}


@functools.cache
def _blocklist() -> tuple[dict, ...]:
    with open(SEEDS / "data_identity_blocked_values.csv", newline="") as handle:
        return tuple(row for row in csv.DictReader(handle) if row["entity"] in ("people", "*"))


def _blocked(id_type: str, value: str) -> bool:
    """Whether the blocklist seed blocks a value (regex patterns match anywhere, as PostgreSQL's ~)."""
    for row in _blocklist():
        if row["id_type"] in (id_type, "*"):
            if row["match_type"] == "exact" and row["pattern"] == value:
                return True
            if row["match_type"] == "regex" and re.search(row["pattern"], value):
                return True
    return False


class UnionFind:
    def __init__(self):
        self.parent: dict = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        self.parent[self.find(a)] = self.find(b)


def expected_rows(graphs: list[list[tuple[str, str, str]]]) -> list[tuple]:
    """Rows of the cases table for graphs of (record, id_type, value), expected_group from a union-find that
    links the records of each group allowed by the rules (known type, not blocked, 2..cap records)."""
    caps = _rules()
    uf = UnionFind()
    groups: dict[tuple[str, str], set] = defaultdict(set)
    records = set()
    for graph_id, graph in enumerate(graphs):
        for record, id_type, value in graph:
            records.add((graph_id, record))
            uf.find((graph_id, record))
            if id_type is not None:
                groups[(id_type, value)].add((graph_id, record))
    for (id_type, value), members in groups.items():
        if id_type in caps and not _blocked(id_type, value) and 2 <= len(members) <= caps[id_type]:
            first, *rest = sorted(members)
            for member in rest:
                uf.union(first, member)
    rows = []
    for graph_id, graph in enumerate(graphs):
        for record, id_type, value in graph:
            root = uf.find((graph_id, record))
            rows.append((f"g{graph_id}", record, "a", id_type, value, f"{root[0]}:{root[1]}"))
    return rows


def build_graph(kind: str, size: int, seed: int, graph_id: int) -> list[tuple[str, str, str]]:
    """A graph of (record, id_type, value) rows: record keys are shuffled random strings, values carry the graph."""
    rng = random.Random(seed)
    keys = [f"r{rng.randrange(10**9):09d}" for _ in range(size)]
    keys = list(dict.fromkeys(keys))  # random keys may collide; keep the distinct ones
    rng.shuffle(keys)
    rows: list[tuple[str, str, str]] = []
    value = iter(range(10**6))

    def link(members, id_type=None):
        id_type = id_type or rng.choice(TYPES)
        name = f"g{graph_id}-{id_type}-{next(value)}"
        rows.extend((m, id_type, name) for m in members)

    if kind == "chain":
        for a, b in zip(keys, keys[1:]):
            link([a, b])
    elif kind == "cycle":
        for a, b in zip(keys, keys[1:] + keys[:1]):
            link([a, b])
    elif kind == "star":
        link(keys, "account")  # one value on every record (the account type's cap is large)
    elif kind == "groups":  # overlapping groups of 2 to 6 records on random types (some above the cap of 5)
        for _ in range(max(1, size // 2)):
            link(rng.sample(keys, min(len(keys), rng.randint(2, 6))))
    elif kind == "junk":  # junk hubs: blocked values and an over-cap value shared by most records, a few true links
        for key in keys:
            id_type = rng.choice(TYPES)
            rows.append((key, id_type, rng.choice(BLOCKED[id_type])))
        hub = keys[: max(6, len(keys) * 2 // 3)]
        link(hub, "phone")
        for a, b in zip(keys[::3], keys[1::3]):
            link([a, b])
    linked = {r[0] for r in rows}
    rows.extend((k, None, None) for k in keys if k not in linked)  # records without identifiers
    return rows


graph_params = st.tuples(st.sampled_from(["chain", "cycle", "star", "groups", "junk"]),
                         st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=2**32))


def pg_env(warehouse, schema: str) -> dict[str, str]:
    """Environment of the integration project's postgres target: the session warehouse, one schema."""
    status = warehouse.status()
    return dict(RSYNC_BRAZE_IT_TARGET="postgres", RSYNC_BRAZE_IT_HOST="127.0.0.1", RSYNC_BRAZE_IT_PORT=str(status.port),
                RSYNC_BRAZE_IT_USER="postgres", RSYNC_BRAZE_IT_DBNAME=status.dbname, RSYNC_BRAZE_IT_SCHEMA=schema)


@pytest.fixture(scope="module")
def it_packages(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("identity_deps")
    deps = _dbt(["deps"], work, packages=work / "dbt_packages", **_duckdb_env(work))
    assert deps.returncode == 0, deps.stdout + deps.stderr
    return work / "dbt_packages"


@pytest.fixture(scope="module")
def pg_run(embedded_warehouse, it_packages, tmp_path_factory):
    """Resolve a list of cases rows on PostgreSQL; returns {(graph, record): cluster_id} and the iterations."""
    work = tmp_path_factory.mktemp("identity_pg")
    schema = f"it_{uuid.uuid4().hex[:10]}"
    url = embedded_warehouse.url()
    env = pg_env(embedded_warehouse, schema)

    def run(rows: list[tuple]) -> tuple[dict, list[tuple]]:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'create schema if not exists "{schema}"')
            conn.execute(f'drop table if exists "{schema}".cases')
            conn.execute(f'create table "{schema}".cases ({", ".join(c + " varchar" for c in COLUMNS)})')
            with conn.cursor().copy(f'copy "{schema}".cases from stdin') as copy:
                for row in rows:
                    copy.write_row(row)
        result = _dbt(["build", *SELECT, "--vars", json.dumps({"identity_it_cases": f'"{schema}".cases'})],
                      work, packages=it_packages, **env)
        assert result.returncode == 0, result.stdout[-4000:]
        assert all(r["status"] in ("success", "pass") for r in _results(work).values())
        with psycopg.connect(url) as conn:
            clusters = {(g, r): c for g, r, c in conn.execute(
                f'select graph_id, record_key, cluster_id from "{schema}".test_identity_resolution')}
            iterations = conn.execute(
                f'select pass_number, iteration, edges_remaining from "{schema}".identity_it_clusters__components__iterations'
                ' order by 1, 2').fetchall()
        return clusters, iterations

    yield run
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'drop schema if exists "{schema}" cascade')


def partition(rows_or_clusters) -> set[frozenset]:
    """The set of clusters as sets of (graph, record)."""
    members: dict = defaultdict(set)
    for key, label in rows_or_clusters:
        members[label].add(key)
    return {frozenset(m) for m in members.values()}


def check(rows: list[tuple], clusters: dict) -> None:
    expected = partition({((g, r), e) for g, r, _s, _t, _v, e in rows})
    actual = partition(clusters.items())
    assert len(clusters) == len({(g, r) for g, r, *_ in rows}), "every record gets a cluster"
    missing, extra = expected - actual, actual - expected
    assert not missing and not extra, f"clusters differ: expected {sorted(map(sorted, missing))[:3]}, got {sorted(map(sorted, extra))[:3]}"


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(graph_params, min_size=30, max_size=80))
def test_sql_clusters_match_union_find_on_random_graphs(pg_run, params):
    graphs = [build_graph(kind, size, seed, i) for i, (kind, size, seed) in enumerate(params)]
    rows = expected_rows(graphs)
    clusters, _ = pg_run(rows)
    check(rows, clusters)


def test_deep_chains_stars_cycles_and_junk_converge_in_few_iterations_and_match_duckdb(pg_run, it_packages, tmp_path):
    """Big graphs: a 5,000-record chain with shuffled ids, a 2,000-record star, cycles, junk hubs; the same
    cases on DuckDB give the same cluster ids."""
    plan = [("chain", 5000), ("star", 2000), ("cycle", 1000), ("junk", 500), ("groups", 2000)] + \
           [("chain", 30)] * 100 + [("cycle", 20)] * 50 + [("junk", 40)] * 50
    graphs = [build_graph(kind, size, 1000 + i, i) for i, (kind, size) in enumerate(plan)]
    rows = expected_rows(graphs)
    clusters, iterations = pg_run(rows)
    check(rows, clusters)
    # Hashed labels: a shuffled chain converges in about log(n) iterations, not n (Splink measured 26 at 200k).
    assert max(i for _, i, _ in iterations) <= 20, iterations
    assert iterations[-1][2] == 0

    duck = tmp_path / "rsync_braze_it.duckdb"
    # Through a CSV file: DuckDB's executemany is slow. NULL is written \N, so an empty value stays empty.
    with open(tmp_path / "cases.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([["\\N" if v is None else v for v in row] for row in rows])
    types = ", ".join(f"'{c}': 'varchar'" for c in COLUMNS)
    with duckdb.connect(str(duck)) as conn:
        conn.execute("create schema if not exists it_checks")
        conn.execute(f"create table it_checks.cases as select * from read_csv(?, header = false, columns = {{{types}}},"
                     " nullstr = '\\N', allow_quoted_nulls = false)", [str(tmp_path / "cases.csv")])
        assert conn.execute("select count(*), count(id_value) from it_checks.cases").fetchone() == \
            (len(rows), sum(r[4] is not None for r in rows))
    result = _dbt(["build", *SELECT, "--vars", json.dumps({"identity_it_cases": "it_checks.cases"})],
                  tmp_path, packages=it_packages, **_duckdb_env(tmp_path))
    assert result.returncode == 0, result.stdout[-4000:]
    with duckdb.connect(str(duck), read_only=True) as conn:
        duck_clusters = {(g, r): c for g, r, c in conn.execute(
            "select graph_id, record_key, cluster_id from it_checks.test_identity_resolution").fetchall()}
    assert duck_clusters == clusters


def test_seed_cases_give_the_same_clusters_on_postgres_and_duckdb(embedded_warehouse, it_packages, tmp_path):
    """The hand-written cases (data_identity_cases.csv: chain, star, cap, cycle, blocked, types, limit...) pass
    their equality test on both warehouses, with identical cluster ids."""
    found = {}
    schema = f"it_{uuid.uuid4().hex[:10]}"
    try:
        for name, env in (("postgres", pg_env(embedded_warehouse, schema)), ("duckdb", _duckdb_env(tmp_path))):
            work = tmp_path / name
            result = _dbt(["build", *SELECT], work, packages=it_packages, **env)
            assert result.returncode == 0, result.stdout[-4000:]
            tests = [r for uid, r in _results(work).items() if uid.startswith("test.")]
            assert [t["status"] for t in tests] == ["pass"]
            sql = "select graph_id, record_key, cluster_id, actual from {}.test_identity_resolution"
            if name == "postgres":
                with psycopg.connect(embedded_warehouse.url()) as conn:
                    found[name] = sorted(conn.execute(sql.format(f'"{schema}"')).fetchall())
            else:
                with duckdb.connect(str(tmp_path / "rsync_braze_it.duckdb"), read_only=True) as conn:
                    found[name] = sorted(conn.execute(sql.format("it_checks")).fetchall())
    finally:
        with psycopg.connect(embedded_warehouse.url(), autocommit=True) as conn:
            conn.execute(f'drop schema if exists "{schema}" cascade')
    assert found["postgres"] == found["duckdb"]
    with open(SEEDS / "data_identity_cases.csv", newline="") as handle:
        cases = list(csv.DictReader(handle))
    assert len(found["postgres"]) == len({(c["graph_id"], c["record_key"]) for c in cases})
    assert len({(g, a) for g, _r, _c, a in found["postgres"]}) == len({(c["graph_id"], c["expected_group"]) for c in cases})
