{#- One row per (record, identifier type, value) of the cases: the identifiers the graph is built from. -#}

{{ config(materialized='table') }}

with

cases as (

    select * from {{ ref('identity_it_cases') }}

),

final as (

    select
        node_id,
        source,
        id_type,
        id_value,
        cast(null as timestamp) as first_seen_at,
        cast(null as timestamp) as last_seen_at
    from cases
    where id_type is not null and id_value is not null

)

select * from final
