{#- Star edges of the customers' graph: one row per member of a linked identifier group, pointing at the
    group's anchor (k - 1 edges for a group of k records, never k²). -#}

with

identifiers as (

    select * from {{ ref('int_identity_identifiers') }}

),

groups as (

    select * from {{ ref('int_identity_groups') }} where link_status = 'linked'

),

final as (

    select
        identifiers.node_id,
        groups.anchor_node_id as anchor_id,
        groups.id_type,
        groups.id_value,
        groups.priority
    from identifiers
    inner join groups
        on groups.id_type = identifiers.id_type
        and groups.id_value = identifiers.id_value
    where identifiers.node_id <> groups.anchor_node_id

)

select * from final
