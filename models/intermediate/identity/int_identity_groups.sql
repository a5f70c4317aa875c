{#- One row per identifier group (id_type, value) of the customers' graph with its verdict: 'linked' (its
    records are one person), 'single' (one record), 'blocked' (a blocked value: seed identity_blocked_values,
    or a store's own phone), 'over_size_cap' (more records than the type's max_group_size) or 'no_rule'.
    Only linked groups make edges. The anchor is the member with the smallest hashed node id. -#}

with

stores as (

    select * from {{ ref('stg_pos__stores') }}

),

{#- A clerk types the shop's own number on receipts of strangers: a store phone never identifies a person. -#}
store_phones as (

    select distinct 'phone' as id_type, phone_e164 as id_value, 'phone of a store' as block_reason
    from stores
    where phone_e164 is not null

),

final as (

    {{ rsync_braze.identity_groups(
        'customers',
        ref('int_identity_identifiers'),
        ref('identity_identifier_rules'),
        ref('identity_blocked_values'),
        extra_blocked='select id_type, id_value, block_reason from store_phones'
    ) | indent(4) }}

)

select * from final
