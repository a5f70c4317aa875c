{#- Clusters of records for one entity, honouring the limits per person of the identifier rules.

    edges: relation (node_id, anchor_id, id_type, id_value, priority), the star edges of the linking groups.
    identifiers: relation (node_id, id_type, id_value), every identifier of every record.
    rules: relation (entity, id_type, priority, max_group_size, max_per_person), the identifier rules.
    output: relation (re)created as (node_id, cluster_id) for the nodes that have edges.

    Limits are not monotone (a merge can break "at most one CRM id"), so resolution runs in passes: cluster,
    find clusters holding more values of a limited type than allowed, drop the links of the lowest-priority
    identifier type inside each such cluster (priority 1 is the strongest), cluster again; until no cluster
    breaks a limit. Dropped links are kept in <output>__limit_drops and every iteration in
    <output>__iterations (pass_number, iteration, edges_remaining, nodes_set_aside). Returns the iterations
    of the last pass. -#}
{% macro identity_resolve(entity, edges, identifiers, rules, output) %}
    {{ return(adapter.dispatch('identity_resolve', 'rsync_braze')(entity, edges, identifiers, rules, output)) }}
{% endmacro %}

{% macro default__identity_resolve(entity, edges, identifiers, rules, output) %}
    {%- if not execute -%}{{ return(0) }}{%- endif -%}
    {%- set max_iterations = var('rsync_braze_identity_max_iterations', 30) -%}
    {%- set max_passes = var('rsync_braze_identity_max_limit_passes', 10) -%}
    {%- set log_table = output.incorporate(path={"identifier": output.identifier ~ "__iterations"}) -%}
    {%- set drops = output.incorporate(path={"identifier": output.identifier ~ "__limit_drops"}) -%}
    {%- set violations = output.incorporate(path={"identifier": output.identifier ~ "__violations"}) -%}

    {%- do run_query("drop table if exists " ~ log_table) -%}
    {%- do run_query("create table " ~ log_table ~ " (pass_number integer, iteration integer, edges_remaining bigint, nodes_set_aside bigint)") -%}
    {%- do run_query("drop table if exists " ~ drops) -%}
    {%- do run_query("create table " ~ drops ~ " (pass_number integer, cluster_id bigint, id_type varchar, id_value varchar, priority integer)") -%}

    {%- set state = namespace(iterations=0, violating=1, passes=0) -%}
    {%- for pass_number in range(1, max_passes + 1) -%}
    {%- if state.violating > 0 -%}
        {%- set state.passes = pass_number -%}
        {%- set edges_sql -%}
            select e.node_id, e.anchor_id from {{ edges }} e
            where not exists (
                select 1 from {{ drops }} d where d.id_type = e.id_type and d.id_value = e.id_value
            )
        {%- endset -%}
        {%- set state.iterations = rsync_braze.identity_connected_components(edges_sql, output, max_iterations, log_table, pass_number) -%}
        {#- Clusters holding more distinct values of a limited identifier type than the rule allows. -#}
        {%- do rsync_braze.identity_create_table(violations, "
            select c.cluster_id, i.id_type, count(distinct i.id_value) as value_count
            from " ~ identifiers ~ " i
            inner join " ~ output ~ " c on c.node_id = i.node_id
            inner join " ~ rules ~ " r on r.id_type = i.id_type and r.entity = '" ~ entity ~ "'
            where r.max_per_person is not null
            group by c.cluster_id, i.id_type, r.max_per_person
            having count(distinct i.id_value) > r.max_per_person") -%}
        {%- set state.violating = rsync_braze._identity_scalar("select count(*) from " ~ violations) -%}
        {%- if state.violating > 0 -%}
            {%- if pass_number == max_passes -%}
                {{ exceptions.raise_compiler_error("identity_resolve(" ~ entity ~ "): " ~ state.violating ~ " clusters still break a limit per person after "
                    ~ max_passes ~ " passes. Raise var rsync_braze_identity_max_limit_passes or review the max_per_person rules.") }}
            {%- endif -%}
            {%- do log("identity resolution (" ~ entity ~ "): pass " ~ pass_number ~ " leaves " ~ state.violating
                       ~ " clusters breaking a limit per person; dropping their weakest links", info=true) -%}
            {#- In each violating cluster, every linking group of the weakest identifier type it holds. -#}
            {%- do run_query("
                insert into " ~ drops ~ "
                with cluster_edges as (
                    select distinct c.cluster_id, e.id_type, e.id_value, e.priority
                    from " ~ edges ~ " e
                    inner join " ~ output ~ " c on c.node_id = e.node_id
                    where c.cluster_id in (select cluster_id from " ~ violations ~ ")
                      and not exists (select 1 from " ~ drops ~ " d where d.id_type = e.id_type and d.id_value = e.id_value)
                ),
                weakest as (
                    select cluster_id, max(priority) as priority from cluster_edges group by cluster_id
                )
                select " ~ pass_number ~ ", ce.cluster_id, ce.id_type, ce.id_value, ce.priority
                from cluster_edges ce
                inner join weakest w on w.cluster_id = ce.cluster_id and w.priority = ce.priority") -%}
        {%- endif -%}
    {%- endif -%}
    {%- endfor -%}
    {%- do run_query("drop table if exists " ~ violations) -%}
    {%- do log("identity resolution (" ~ entity ~ "): " ~ state.passes ~ " pass(es), " ~ state.iterations ~ " iterations in the last", info=true) -%}
    {{ return(state.iterations) }}
{% endmacro %}


{#- For a model's pre-hook: resolve the entity into <this>__components (and its __iterations and
    __limit_drops tables), then return no SQL, so that dbt build runs the loop before the model reads the
    result. -#}
{% macro identity_resolve_hook(entity, edges, identifiers, rules) %}
    {%- if execute -%}
        {%- set output = this.incorporate(path={"identifier": this.identifier ~ "__components"}) -%}
        {%- do rsync_braze.identity_resolve(entity, edges, identifiers, rules, output) -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}


{#- For identity_retired_person_ids' post-hook: keep this run's record → person map, which the next run
    compares with its own to find retired ids. -#}
{% macro identity_snapshot_record_persons(record_persons) %}
    {%- if execute -%}
        {%- set snapshot = this.incorporate(path={"identifier": "identity_record_person_snapshot"}) -%}
        {%- do run_query("drop table if exists " ~ snapshot) -%}
        {%- do run_query("create table " ~ snapshot ~ " as select record_key, person_id from " ~ record_persons) -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}
