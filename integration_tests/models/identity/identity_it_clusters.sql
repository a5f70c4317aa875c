{#- One row per record of the cases with its cluster: the pre-hook runs identity_resolve (connected components
    in a loop, limits per person) into <this>__components, as int_identity_clusters does in the root project;
    a record without links is a cluster of its own. -#}

{{ config(
    materialized='table',
    pre_hook="{{ rsync_braze.identity_resolve_hook('people', ref('identity_it_edges'), ref('identity_it_identifiers'), ref('data_identity_rules')) }}"
) }}

{%- set components = this.incorporate(path={"identifier": this.identifier ~ "__components"}) %}

with

records as (

    select * from {{ ref('identity_it_records') }}

),

components as (

    select * from {{ components }}

),

final as (

    select
        records.*,
        coalesce(components.cluster_id, records.node_id) as cluster_id
    from records
    left join components on components.node_id = records.node_id

)

select * from final
