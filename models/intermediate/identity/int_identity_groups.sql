{#- One row per identifier group (id_type, value) of the customers' graph with its verdict: 'linked' (its
    records are one person), 'single' (one record), 'blocked' (a blocked value: seed identity_blocked_values,
    or a store's own phone) or 'over_size_cap' (more records than the type's max_group_size). Only linked
    groups make edges. The anchor is the member with the smallest hashed node id. -#}

with

identifiers as (

    select * from {{ ref('int_identity_identifiers') }}

),

rules as (

    select * from {{ ref('identity_identifier_rules') }} where entity = 'customers'

),

blocklist as (

    select * from {{ ref('identity_blocked_values') }} where entity in ('customers', '*')

),

stores as (

    select * from {{ ref('stg_pos__stores') }}

),

groups as (

    select
        id_type,
        id_value,
        count(distinct node_id) as record_count,
        count(distinct source) as source_count,
        min(node_id) as anchor_node_id,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at
    from identifiers
    group by id_type, id_value

),

blocked_exact as (

    select groups.id_type, groups.id_value, min(blocklist.reason) as block_reason
    from groups
    inner join blocklist
        on blocklist.match_type = 'exact'
        and blocklist.id_type in (groups.id_type, '*')
        and blocklist.pattern = groups.id_value
    group by groups.id_type, groups.id_value

),

blocked_regex as (

    select groups.id_type, groups.id_value, min(blocklist.reason) as block_reason
    from groups
    inner join blocklist
        on blocklist.match_type = 'regex'
        and blocklist.id_type in (groups.id_type, '*')
    where {{ rsync_braze.identity_regex_matches('groups.id_value', 'blocklist.pattern') }}
    group by groups.id_type, groups.id_value

),

{#- A clerk types the shop's own number on receipts of strangers: a store phone never identifies a person. -#}
blocked_store_phones as (

    select distinct 'phone' as id_type, phone_e164 as id_value, 'phone of a store' as block_reason
    from stores
    where phone_e164 is not null

),

blocked as (

    select id_type, id_value, min(block_reason) as block_reason
    from (
        select * from blocked_exact
        union all
        select * from blocked_regex
        union all
        select * from blocked_store_phones
    ) reasons
    group by id_type, id_value

),

final as (

    select
        'customers' as entity,
        groups.id_type,
        groups.id_value,
        groups.record_count,
        groups.source_count,
        groups.anchor_node_id,
        groups.first_seen_at,
        groups.last_seen_at,
        rules.priority,
        rules.max_group_size,
        blocked.block_reason,
        case
            when rules.id_type is null then 'no_rule'
            when blocked.block_reason is not null then 'blocked'
            when groups.record_count > rules.max_group_size then 'over_size_cap'
            when groups.record_count = 1 then 'single'
            else 'linked'
        end as link_status
    from groups
    left join rules on rules.id_type = groups.id_type
    left join blocked on blocked.id_type = groups.id_type and blocked.id_value = groups.id_value

)

select * from final
