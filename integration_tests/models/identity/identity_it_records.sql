{#- One row per record of the cases (its node id, graph, key and expected group). -#}

{{ config(materialized='table') }}

with

cases as (

    select * from {{ ref('identity_it_cases') }}

),

final as (

    select distinct node_id, graph_id, record_key, expected_group from cases

)

select * from final
