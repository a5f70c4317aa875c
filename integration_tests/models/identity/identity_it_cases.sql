{#- One row per (graph, record, identifier) of the cases to resolve: the seed data_identity_cases, or a table
    named by var('identity_it_cases') (tests/test_identity_properties.py writes random graphs there, the
    benchmark a million records). Each record gets its node id, the hash of '<graph>:<record>'. -#}

{{ config(materialized='table') }}

-- depends_on: {{ ref('data_identity_cases') }}
{%- set cases = var('identity_it_cases', none) %}

with

cases as (

    select * from {{ cases if cases else ref('data_identity_cases') }}

),

final as (

    select
        {{ rsync_braze.identity_hash_bigint("graph_id || ':' || record_key") }} as node_id,
        graph_id,
        record_key,
        source,
        id_type,
        id_value,
        expected_group
    from cases

)

select * from final
