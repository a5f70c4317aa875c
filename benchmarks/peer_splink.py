"""Identity resolution: our dbt models on PostgreSQL against Splink's deterministic linkage on DuckDB.

Same records, same rules (issue #10, "Identity resolution"):

1. A scratch copy of this project with its own embedded warehouse: ``rsync-braze demo-data --people N``,
   ``dbt build`` (seeds, snapshots, models; no tests) of everything upstream of the identity models (staging,
   the graph's nodes: not timed), then
   the identity resolution proper, timed: ``dbt run --select int_identity_identifiers int_identity_groups
   int_identity_edges int_identity_clusters`` (identifiers, guarded groups, star edges, connected
   components with the limits per person).
2. The nodes (``int_identity_records``), the stores' phones and our clusters are exported with COPY; Splink
   (installed by this script in ``.bench/venv-splink``, never in ``.venv``) runs in that virtualenv on DuckDB:
   ``block_on`` exact-match rules on email, phone, loyalty card and the compound key (last name + date of
   birth + postcode, built with the same expression as ``dbt_project.yml``), ``deterministic_link()`` then
   ``cluster_pairwise_predictions_at_threshold()`` (connected components).
3. Splink has no blocked values, group-size caps nor limits per person. Variant ``guarded``: the blocked
   values (``seeds/identity/identity_blocked_values.csv``, the stores' phones) and the groups over the
   type's ``max_group_size`` (``identity_identifier_rules.csv``) are set to NULL in DuckDB before Splink runs
   (timed apart, as ``prep_s``). The limit per person (one CRM contact per person) has no equivalent: the
   clusters our passes split are counted as a known difference. Variant ``raw``: Splink out of the box on
   the same identifiers, no guards (skipped, with its pair count, past ``MAX_PAIRS``).
4. Clusters compared record by record: share of records whose cluster is exactly the same set of records in
   both, and pairwise agreement (pairs of records together in both ÷ together in either); both also against
   the demo data's ground truth (person records only: receipts are grouped into nodes).

Prints one JSON object on stdout (and writes it to ``--output`` when given); progress goes to stderr.

    .venv/bin/python benchmarks/peer_splink.py --people 100000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _peers: standard library only at import time

from _peers import arguments, emit  # noqa: E402

SPLINK_REQUIREMENTS = ["splink==4.0.17", "duckdb>=1.1,<2"]  # DuckDB 2 refuses Splink 4.0 statements with unread results
# Linking identifier types and their expressions over int_identity_records, as in dbt_project.yml's
# rsync_braze_identity_identifiers (crm_contact_id and eshop_customer_id are one record each: they link nothing).
LINKING_TYPES = {
    "email": "email",
    "phone": "phone_e164",
    "loyalty_card": "loyalty_card",
    "name_dob_postcode": "lower(last_name) || '|' || cast(birth_date as varchar) || '|' || postcode",
}
# DuckDB's memory cap, and the most pairs a variant may generate (the unguarded one exhausted 18 GB at 100k people).
MEMORY_LIMIT = "4GB"
MAX_PAIRS = 5_000_000
NODE_COLUMNS = ["node_id", "source", "email", "phone_e164", "loyalty_card", "last_name", "birth_date", "postcode"]
IDENTITY_MODELS = ["int_identity_identifiers", "int_identity_groups", "int_identity_edges", "int_identity_clusters"]


# ------------------------------------------------------------------------------ in the splink virtualenv
def splink_runner(workdir: Path) -> None:
    """Run Splink on ``workdir``'s CSV exports (both variants) and compare with our clusters; print JSON."""
    import duckdb
    import splink
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    con = duckdb.connect(str(workdir / "splink.duckdb"))
    con.execute(f"set memory_limit = '{MEMORY_LIMIT}'")  # a shared machine: spill rather than take it all
    threads = con.execute("select current_setting('threads')").fetchone()[0]
    out: dict = {"splink_version": splink.__version__, "duckdb_version": duckdb.__version__, "duckdb_threads": threads}
    t = time.perf_counter()
    con.execute(f"create or replace table nodes as select * from read_csv('{workdir / 'nodes.csv'}', header=true, "
                "types={'node_id': 'BIGINT', 'birth_date': 'DATE', 'truth_person': 'VARCHAR'})")
    con.execute(f"create or replace table ours as select * from read_csv('{workdir / 'ours.csv'}', header=true, "
                "types={'node_id': 'BIGINT', 'cluster_id': 'BIGINT'})")
    out["load_s"] = round(time.perf_counter() - t, 3)
    exprs = ", ".join(f"trim(cast({e} as varchar)) as {k}" for k, e in LINKING_TYPES.items())
    # Splink's clustering SQL names its own column node_id: the unique id has to be called something else.
    con.execute(f"create or replace table identifiers as select node_id as unique_id, {exprs} from nodes")
    for variant in ("guarded", "raw"):
        print(f"splink: {variant} variant", file=sys.stderr, flush=True)
        t = time.perf_counter()
        table = guard(con, workdir) if variant == "guarded" else "identifiers"
        # Exact-match blocking makes every pair of a shared value: a placeholder e-mail on 10,000 records is
        # 50M pairs. Counted first (an upper bound: pairs found by two rules count twice); skipped past the cap.
        bound = sum(con.execute(f"select coalesce(sum(n * (n - 1) / 2), 0) from (select count(*) as n from {table} "
                                f"where {k} is not null group by {k})").fetchone()[0] for k in LINKING_TYPES)
        if bound > MAX_PAIRS:
            out[variant] = {"pairs_upper_bound": int(bound), "skipped": f"more than {MAX_PAIRS:,} pairs"}
            continue
        prep = time.perf_counter() - t
        t = time.perf_counter()
        settings = SettingsCreator(link_type="dedupe_only", unique_id_column_name="unique_id",
                                   blocking_rules_to_generate_predictions=[block_on(k) for k in LINKING_TYPES],
                                   retain_matching_columns=False, retain_intermediate_calculation_columns=False)
        linker = Linker(table, settings, db_api=DuckDBAPI(connection=con))
        pairs = linker.inference.deterministic_link()
        linked = time.perf_counter() - t
        print(f"splink: {variant}: {bound:,.0f} pairs at most, linked in {linked:.1f} s", file=sys.stderr, flush=True)
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pairs)
        total = time.perf_counter() - t
        con.execute(f"create or replace table splink_{variant} as select unique_id as node_id, "
                    f"cluster_id::varchar as cluster_id from {clusters.physical_name}")
        print(f"splink: {variant}: clustered, comparing", file=sys.stderr, flush=True)
        out[variant] = {"pairs_upper_bound": int(bound), "prep_s": round(prep, 3), "link_s": round(linked, 3),
                        "link_and_cluster_s": round(total, 3),
                        "pairs": con.execute(f"select count(*) from {pairs.physical_name}").fetchone()[0],
                        "vs_ours": agreement(con, f"splink_{variant}", "ours"),
                        "vs_truth": agreement(con, f"splink_{variant}", "truth", person_records_only=True)}
    out["ours_vs_truth"] = agreement(con, "ours", "truth", person_records_only=True)
    print(json.dumps(out))


def guard(con, workdir: Path) -> str:
    """The identifiers with our guards applied (blocked values, store phones, group-size caps) as NULLs."""
    seeds = workdir / "seeds"
    con.execute(f"create or replace table blocklist as select * from read_csv('{seeds / 'identity_blocked_values.csv'}', "
                "header=true, all_varchar=true) where entity in ('customers', '*')")
    con.execute(f"create or replace table rules as select * from read_csv('{seeds / 'identity_identifier_rules.csv'}', "
                "header=true) where entity = 'customers'")
    con.execute(f"create or replace table store_phones as select * from read_csv('{workdir / 'store_phones.csv'}', "
                "header=true, all_varchar=true)")
    selects = []
    for kind in LINKING_TYPES:
        # Verdicts per distinct value (as our identity_groups does), then joined back: no regex per record.
        store = "union select phone_e164 from store_phones" if kind == "phone" else ""
        con.execute(f"""
            create or replace table blocked_{kind} as
            select v from (select distinct {kind} as v from identifiers where {kind} is not null) d
            where exists (select 1 from blocklist b where b.id_type in ('{kind}', '*') and (
                (b.match_type = 'exact' and b.pattern = d.v)
                or (b.match_type = 'regex' and regexp_matches(d.v, b.pattern))))
            {store}""")
        cap = con.execute("select max_group_size from rules where id_type = ?", [kind]).fetchone()[0]
        selects.append(f"case when i.{kind} in (select v from blocked_{kind}) "
                       f"or count(*) over (partition by i.{kind}) > {int(cap)} then null else i.{kind} end as {kind}")
    con.execute(f"create or replace table identifiers_guarded as select i.unique_id, {', '.join(selects)} "
                "from identifiers i")
    return "identifiers_guarded"


def agreement(con, left: str, right: str, person_records_only: bool = False) -> dict:
    """Compare two partitions (node_id, cluster_id) of the same records: exact clusters and pairwise agreement.

    ``truth`` is the ground truth's person of each person record (receipt nodes and unknown records left out,
    and the other partition restricted to the same records).
    """
    if right == "truth":
        con.execute("create or replace temp table truth as select node_id, truth_person as cluster_id from nodes "
                    "where truth_person is not null and source <> 'pos'")
    keep = "where l.node_id in (select node_id from truth)" if person_records_only else ""
    # Step by step in temp tables: DuckDB planned the same as one query of CTEs into a runaway join.
    con.execute(f"create or replace temp table _j as select l.node_id, cast(l.cluster_id as varchar) as a, "
                f"cast(r.cluster_id as varchar) as b from {left} l inner join {right} r on r.node_id = l.node_id {keep}")
    con.execute("create or replace temp table _sa as select a, count(*) as na from _j group by a")
    con.execute("create or replace temp table _sb as select b, count(*) as nb from _j group by b")
    con.execute("create or replace temp table _sab as select a, b, count(*) as nab from _j group by a, b")
    row = con.execute("""
        select
            (select count(*) from _j),
            (select coalesce(sum(nab), 0) from _sab inner join _sa on _sa.a = _sab.a inner join _sb on _sb.b = _sab.b
             where nab = na and nab = nb),
            (select coalesce(sum(na * (na - 1) // 2), 0) from _sa),
            (select coalesce(sum(nb * (nb - 1) // 2), 0) from _sb),
            (select coalesce(sum(nab * (nab - 1) // 2), 0) from _sab),
            (select count(*) from _sa), (select count(*) from _sb)
    """).fetchone()
    records, identical, pairs_l, pairs_r, pairs_both, clusters_l, clusters_r = (int(v) for v in row)
    either = pairs_l + pairs_r - pairs_both
    return {"records": records, "clusters_left": clusters_l, "clusters_right": clusters_r,
            "identical_cluster_share": round(identical / records, 6) if records else None,
            "pairs_left": pairs_l, "pairs_right": pairs_r, "pairs_both": pairs_both,
            "pairwise_agreement": round(pairs_both / either, 6) if either else 1.0}


# ------------------------------------------------------------------------------ in the project virtualenv
def export(project, workdir: Path) -> dict:
    """COPY the nodes (with their true person), the stores' phones and our clusters to CSV files."""
    import shutil

    from psycopg import sql

    schema = project.spec.schema
    inter, staging = f"{schema}_intermediate", f"{schema}_staging"
    queries = {
        "nodes.csv": sql.SQL("select {}, t.person_id as truth_person from {} r left join {} t "
                             "on t.source = r.source and t.record_id = r.record_id").format(
            sql.SQL(", ").join(sql.Identifier("r", c) for c in NODE_COLUMNS),
            sql.Identifier(inter, "int_identity_records"), sql.Identifier("raw_truth", "record_persons")),
        "store_phones.csv": sql.SQL("select distinct phone_e164 from {} where phone_e164 is not null").format(
            sql.Identifier(staging, "stg_pos__stores")),
        "ours.csv": sql.SQL("select node_id, cluster_id from {}").format(sql.Identifier(inter, "int_identity_clusters")),
    }
    workdir.mkdir(parents=True, exist_ok=True)
    counts = {}
    with project.connect() as conn:
        for name, query in queries.items():
            with open(workdir / name, "wb") as f, conn.cursor().copy(
                    sql.SQL("copy ({}) to stdout with (format csv, header)").format(query)) as copy:
                for chunk in copy:
                    f.write(chunk)
        for name in ("int_identity_records", "identity_limit_drops", "identity_skipped_groups"):
            counts[name] = conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(inter, name))).fetchone()[0]
        counts["clusters"] = conn.execute(sql.SQL("select count(distinct cluster_id) from {}").format(
            sql.Identifier(inter, "int_identity_clusters"))).fetchone()[0]
        counts["records_by_source"] = dict(conn.execute(sql.SQL("select source, count(*) from {} group by 1 order by 1")
                                                        .format(sql.Identifier(inter, "int_identity_records"))).fetchall())
    seeds = workdir / "seeds"
    seeds.mkdir(exist_ok=True)
    for name in ("identity_blocked_values.csv", "identity_identifier_rules.csv"):
        shutil.copy2(project.dir / "seeds" / "identity" / name, seeds / name)
    return counts


def main(argv: list[str] | None = None) -> dict | None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--splink-runner", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.splink_runner:
        splink_runner(args.splink_runner)
        return None
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from _peers import BENCH_DIR, ScratchProject, ensure_venv, log

    started = time.perf_counter()
    splink_bin = ensure_venv("venv-splink", SPLINK_REQUIREMENTS)
    result: dict = {"benchmark": "peer_splink", "people": args.people, "seed": args.seed,
                    "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
    project = ScratchProject("splink", args.port).start()
    result["project_commit"] = project.commit
    try:
        log(f"demo data: {args.people} people")
        result["prepare_s"] = {"demo_data": round(project.demo_data(args.people, args.seed), 1),
                               "dbt_upstream": round(project.build("+int_identity_clusters", *IDENTITY_MODELS), 1)}
        log("our identity resolution (dbt on PostgreSQL)")
        wall = project.dbt("run", "--select", *IDENTITY_MODELS)
        models = project.model_results()
        project.dbt("run", "--select", "identity_limit_drops", "identity_skipped_groups")  # monitoring, not timed
        result["ours"] = {"dbt_wall_s": round(wall, 2), "models_s": round(sum(models.values()), 2),
                          "by_model_s": {k: round(v, 2) for k, v in models.items()}}
        workdir = BENCH_DIR / "splink" / "work"
        (workdir / "splink.duckdb").unlink(missing_ok=True)
        result["graph"] = export(project, workdir)
        log("Splink (DuckDB)")
        t = time.perf_counter()
        out = subprocess.run([str(splink_bin / "python"), str(Path(__file__).resolve()), "--splink-runner", str(workdir)],
                             stdout=subprocess.PIPE, text=True, check=True)  # its progress goes to our stderr
        splink_wall = time.perf_counter() - t
        result["splink"] = {"process_wall_s": round(splink_wall, 2), **json.loads(out.stdout.splitlines()[-1])}
        guarded = result["splink"]["guarded"]
        result["time_ratio_ours_models_to_splink_guarded"] = round(
            result["ours"]["models_s"] / (guarded["prep_s"] + guarded["link_and_cluster_s"]), 3)
        result["time_ratio_ours_models_to_splink_link_and_cluster"] = round(
            result["ours"]["models_s"] / guarded["link_and_cluster_s"], 3)
        result["identical_cluster_share_guarded"] = guarded["vs_ours"]["identical_cluster_share"]
        result["pairwise_agreement_guarded"] = guarded["vs_ours"]["pairwise_agreement"]
    finally:
        if not args.keep:
            project.stop()
    emit(result, args.output, started)
    return result


if __name__ == "__main__":
    main()
