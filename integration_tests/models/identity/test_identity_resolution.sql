{#- One row per record of the cases with its resolved cluster (identity_it_clusters). `actual` names the
    cluster by its smallest '<graph>:<record>', `expected` names the expected group the same way, so the two
    are equal on every row exactly when the clusters are the expected partition. -#}

{{ config(materialized='table') }}

with

clustered as (

    select * from {{ ref('identity_it_clusters') }}

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
