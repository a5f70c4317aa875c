{#- One row per node of the customers' graph with its cluster: the connected components of the star edges
    (macro identity_resolve, run by the pre-hook inside dbt build), after the limits per person. Nodes
    without a link are clusters of their own. -#}

{{ config(
    pre_hook="{{ rsync_braze.identity_resolve_hook('customers', ref('int_identity_edges'), ref('int_identity_identifiers'), ref('identity_identifier_rules')) }}"
) }}

{%- set components = this.incorporate(path={"identifier": this.identifier ~ "__components"}) %}

with

records as (

    select * from {{ ref('int_identity_records') }}

),

components as (

    select * from {{ components }}

),

final as (

    select
        records.node_id,
        records.record_key,
        records.source,
        coalesce(components.cluster_id, records.node_id) as cluster_id
    from records
    left join components on components.node_id = records.node_id

)

select * from final
