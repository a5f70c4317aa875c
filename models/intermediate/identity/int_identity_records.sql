{#- One row per node of the customers' identifier graph: every person record (CRM contact, e-shop account,
    file contact) and every distinct (loyalty card, phone) pair seen on till receipts. Receipts with the same
    card and phone are one node: a card used on 40 receipts is one record, not 40, so group-size caps count
    identities rather than purchases. A blocked phone or card on a receipt (the store's own phone, a value of
    identity_blocked_values) is left out of the key first: otherwise every receipt of strangers carrying only
    the store's phone would be one node, i.e. one person. Receipts with no usable key are anonymous and stay
    out. -#}

with

person_records as (

    select * from {{ ref('int_customer_records_unioned') }}

),

receipts as (

    select * from {{ ref('stg_pos__transactions') }}

),

stores as (

    select * from {{ ref('stg_pos__stores') }}

),

receipt_values as (

    select distinct 'phone' as id_type, phone_e164 as id_value from receipts where phone_e164 is not null
    union all
    select distinct 'loyalty_card' as id_type, loyalty_card as id_value from receipts where loyalty_card is not null

),

blocked_receipt_values as (

    select id_type, id_value from (
        {{ rsync_braze.identity_blocked_values('customers', 'receipt_values', ref('identity_blocked_values')) | indent(8) }}
    ) listed

    union

    select 'phone' as id_type, phone_e164 as id_value from stores where phone_e164 is not null

),

usable_receipts as (

    select
        case when blocked_card.id_value is null then receipts.loyalty_card end as loyalty_card,
        case when blocked_phone.id_value is null then receipts.phone_e164 end as phone_e164,
        receipts.transacted_at
    from receipts
    left join blocked_receipt_values blocked_card
        on blocked_card.id_type = 'loyalty_card' and blocked_card.id_value = receipts.loyalty_card
    left join blocked_receipt_values blocked_phone
        on blocked_phone.id_type = 'phone' and blocked_phone.id_value = receipts.phone_e164

),

receipt_keys as (

    select
        loyalty_card,
        phone_e164,
        min(transacted_at) as first_seen_at,
        max(transacted_at) as updated_at,
        count(*) as receipt_count
    from usable_receipts
    where loyalty_card is not null or phone_e164 is not null
    group by loyalty_card, phone_e164

),

nodes as (

    select
        'customers' as entity,
        record_key,
        source,
        record_id,
        email,
        phone_e164,
        loyalty_card,
        last_name,
        birth_date,
        postcode,
        first_seen_at,
        updated_at,
        source_rank,
        1 as record_count
    from person_records

    union all

    select
        'customers' as entity,
        'pos:' || coalesce(loyalty_card, '') || '|' || coalesce(phone_e164, '') as record_key,
        'pos' as source,
        coalesce(loyalty_card, '') || '|' || coalesce(phone_e164, '') as record_id,
        cast(null as varchar) as email,
        phone_e164,
        loyalty_card,
        cast(null as varchar) as last_name,
        cast(null as date) as birth_date,
        cast(null as varchar) as postcode,
        first_seen_at,
        updated_at,
        {{ rsync_braze.source_rank("'pos'") }} as source_rank,
        receipt_count as record_count
    from receipt_keys

),

final as (

    select
        {{ rsync_braze.identity_hash_bigint('record_key') }} as node_id,
        *
    from nodes

)

select * from final
