{#- Connected components of an edge table, as a loop of set-based statements (Splink's cluster-level
    minimum-representative algorithm, with stable clusters set aside between iterations).

    edges_sql: a query with bigint columns node_id and anchor_id (star edges: each member of an identifier
    group to the group's anchor). Nodes without edges are not in the output: callers give them their own
    label. output: a relation, (re)created as (node_id, cluster_id), cluster_id being the smallest node id
    of the component (node ids are hashes, so this carries no order). log: an existing table to append one
    row per iteration to (pass_number, iteration, edges_remaining, nodes_set_aside), or none.

    Each iteration: every cluster moves to the smallest representative among its own and its neighbours'
    (a whole cluster jumps at once); clusters with no edge to another cluster are final and leave the work
    tables; edges whose two ends now share a representative are deleted. The loop stops when no edge joins
    two clusters, and fails loudly after max_iterations. Returns the number of iterations used. -#}
{% macro identity_connected_components(edges_sql, output, max_iterations, log_relation=none, pass_number=1) %}
    {{ return(adapter.dispatch('identity_connected_components', 'rsync_braze')(edges_sql, output, max_iterations, log_relation, pass_number)) }}
{% endmacro %}

{% macro default__identity_connected_components(edges_sql, output, max_iterations, log_relation, pass_number) %}
    {%- if not execute -%}{{ return(0) }}{%- endif -%}
    {%- if max_iterations is not number or max_iterations < 1 -%}
        {{ exceptions.raise_compiler_error("identity_connected_components: max_iterations must be a positive integer, got " ~ max_iterations ~ " (var rsync_braze_identity_max_iterations)") }}
    {%- endif -%}
    {%- set nbr = output.incorporate(path={"identifier": output.identifier ~ "__nbr"}) -%}
    {%- set rep = output.incorporate(path={"identifier": output.identifier ~ "__rep"}) -%}
    {%- set rep_next = output.incorporate(path={"identifier": output.identifier ~ "__rep_next"}) -%}
    {%- set nbr_next = output.incorporate(path={"identifier": output.identifier ~ "__nbr_next"}) -%}

    {#- Both directions of every edge, with each end's representative (at first, itself). -#}
    {%- do rsync_braze.identity_create_table(nbr, "
        select distinct node_id, node_id as node_rep, neighbour_id, neighbour_id as neighbour_rep
        from (
            select node_id, anchor_id as neighbour_id from (" ~ edges_sql ~ ") e where node_id <> anchor_id
            union all
            select anchor_id as node_id, node_id as neighbour_id from (" ~ edges_sql ~ ") e where node_id <> anchor_id
        ) both_ways") -%}
    {%- do rsync_braze.identity_create_table(rep, "select distinct node_id, node_id as rep from " ~ nbr) -%}
    {%- do rsync_braze.identity_create_table(output, "select node_id, rep as cluster_id from " ~ rep ~ " where 1 = 0") -%}

    {%- set state = namespace(iterations=0, remaining=rsync_braze._identity_scalar("select count(*) from " ~ nbr)) -%}
    {%- for iteration in range(1, max_iterations + 1) -%}
    {%- if state.remaining > 0 -%}
        {%- set state.iterations = iteration -%}
        {#- New representative of each cluster (grouped by its old representative): the smallest of its own
            and its neighbours'. A cluster is stable when it has no neighbour row, i.e. no edge leaves it. -#}
        {%- do rsync_braze.identity_create_table(rep_next, "
            with updates as (
                select old_rep, min(candidate) as new_rep, min(is_self) as is_stable
                from (
                    select node_rep as old_rep, neighbour_rep as candidate, 0 as is_self from " ~ nbr ~ "
                    union all
                    select distinct rep as old_rep, rep as candidate, 1 as is_self from " ~ rep ~ "
                ) candidates
                group by old_rep
            )
            select r.node_id, u.new_rep as rep, u.is_stable
            from " ~ rep ~ " r
            inner join updates u on r.rep = u.old_rep") -%}
        {%- do run_query("insert into " ~ output ~ " select node_id, rep from " ~ rep_next ~ " where is_stable = 1") -%}
        {#- Edges between nodes now under one representative are done; the rest carry the new ones. -#}
        {%- do rsync_braze.identity_create_table(nbr_next, "
            select n.node_id, a.rep as node_rep, n.neighbour_id, b.rep as neighbour_rep
            from " ~ nbr ~ " n
            inner join " ~ rep_next ~ " a on a.node_id = n.node_id
            inner join " ~ rep_next ~ " b on b.node_id = n.neighbour_id
            where a.rep <> b.rep") -%}
        {%- do rsync_braze.identity_create_table(rep, "select node_id, rep from " ~ rep_next ~ " where is_stable = 0") -%}
        {%- do run_query("drop table if exists " ~ nbr) -%}
        {%- do run_query("alter table " ~ nbr_next ~ " rename to " ~ adapter.quote(nbr.identifier)) -%}
        {%- set state.remaining = rsync_braze._identity_scalar("select count(*) from " ~ nbr) -%}
        {%- set set_aside = rsync_braze._identity_scalar("select count(*) from " ~ rep_next ~ " where is_stable = 1") -%}
        {%- do log("identity connected components: pass " ~ pass_number ~ ", iteration " ~ iteration ~ ", "
                   ~ state.remaining ~ " edges between clusters remain, " ~ set_aside ~ " nodes set aside", info=true) -%}
        {%- if log_relation is not none -%}
            {%- do run_query("insert into " ~ log_relation ~ " values (" ~ pass_number ~ ", " ~ iteration ~ ", "
                             ~ state.remaining ~ ", " ~ set_aside ~ ")") -%}
        {%- endif -%}
    {%- endif -%}
    {%- endfor -%}

    {%- if state.remaining > 0 -%}
        {{ exceptions.raise_compiler_error("identity_connected_components did not converge in " ~ max_iterations
            ~ " iterations (" ~ state.remaining ~ " edges still join two clusters). Raise var "
            ~ "rsync_braze_identity_max_iterations, or look for a deep chain of links in the identifier groups.") }}
    {%- endif -%}
    {#- Clusters still in the work table when no edge remains are final too. -#}
    {%- do run_query("insert into " ~ output ~ " select node_id, rep from " ~ rep) -%}
    {%- do rsync_braze.identity_analyze(output) -%}
    {%- for work in [nbr, rep, rep_next] -%}
        {%- do run_query("drop table if exists " ~ work) -%}
    {%- endfor -%}
    {{ return(state.iterations) }}
{% endmacro %}
