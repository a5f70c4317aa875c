{#- Star edges of the customers' graph: one row per member of a linked identifier group, pointing at the
    group's anchor (k - 1 edges for a group of k records, never k²). -#}

with

final as (

    {{ rsync_braze.identity_star_edges(ref('int_identity_identifiers'), ref('int_identity_groups')) | indent(4) }}

)

select * from final
