{#- One row per identifier group that made no link although several records share it: a blocked value or a
    group above its type's max_group_size. Review it when a person looks split, or to find junk values. -#}

with

groups as (

    select * from {{ ref('int_identity_groups') }}

),

final as (

    select
        entity,
        id_type,
        id_value,
        link_status,
        block_reason,
        record_count,
        source_count,
        max_group_size,
        first_seen_at,
        last_seen_at
    from groups
    where link_status in ('blocked', 'over_size_cap', 'no_rule')
      and record_count > 1

)

select * from final
