{#- One row per record of the cases with its resolved cluster: the pre-hook runs identity_resolve (connected
    components in a loop, limits per person) as the root project does. `actual` names the cluster by its
    smallest '<graph>:<record>', `expected` names the expected group the same way, so the two are equal on
    every row exactly when the clusters are the expected partition. -#}

{{ config(
    materialized='table',
    pre_hook="{{ rsync_braze.identity_resolve_hook('people', ref('identity_it_edges'), ref('identity_it_identifiers'), ref('data_identity_rules')) }}"
) }}

{%- set components = this.incorporate(path={"identifier": this.identifier ~ "__components"}) %}

with

records as (

    select distinct node_id, graph_id, record_key, expected_group from {{ ref('identity_it_cases') }}

),

components as (

    select * from {{ components }}

),

clustered as (

    select
        records.*,
        coalesce(components.cluster_id, records.node_id) as cluster_id
    from records
    left join components on components.node_id = records.node_id

),

final as (

    select
        graph_id,
        record_key,
        expected_group,
        cluster_id,
        min(graph_id || ':' || record_key) over (partition by cluster_id) as actual,
        min(graph_id || ':' || record_key) over (partition by graph_id, expected_group) as expected
    from clustered

)

select * from final
