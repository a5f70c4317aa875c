{#- One row per order of every channel: e-shop orders (completed, refunded, cancelled) and till receipts (sales
    and refunds), with the key of the identity-graph node that owns it (person_key = the record_key of
    int_identity_records), never the person id itself: persons merge and split from one run to the next,
    while an order's node does not change, so the incremental table stays right and persons are joined
    downstream (int_orders_persons).
    Incremental: e-shop orders written since the latest updated_at already loaded (the shop stamps every
    change), receipts dated within var('rsync_braze_orders_lookback_days') of the latest receipt loaded (a
    till has no update stamp and syncs late). -#}

{{ config(
    materialized='incremental',
    unique_key='order_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with

eshop_orders as (

    select * from {{ ref('stg_eshop__orders') }}
    {%- if is_incremental() %}
    where updated_at >= {{ rsync_braze._incremental_watermark(this, 'updated_at', 'eshop') }}
    {%- endif %}

),

pos_receipts as (

    select * from {{ ref('stg_pos__transactions') }}
    {%- if is_incremental() %}
    where transacted_at >= {{ rsync_braze._incremental_watermark(this, 'ordered_at', 'pos', var('rsync_braze_orders_lookback_days', 14)) }}
    {%- endif %}

),

unioned as (

    select
        order_id,
        'eshop' as channel,
        'eshop:' || customer_id as person_key,
        cast(null as varchar) as store_id,
        ordered_at,
        order_status,
        is_refunded as is_refund,
        currency,
        total_amount as amount,
        updated_at
    from eshop_orders

    union all

    select
        transaction_id as order_id,
        'pos' as channel,
        {#- Anonymous receipts (no card, no phone) belong to nobody. #}
        case
            when loyalty_card is not null or phone_e164 is not null
                then 'pos:' || coalesce(loyalty_card, '') || '|' || coalesce(phone_e164, '')
        end as person_key,
        store_id,
        transacted_at as ordered_at,
        case when is_refund then 'refund' else 'completed' end as order_status,
        is_refund,
        currency,
        total_amount as amount,
        transacted_at as updated_at
    from pos_receipts

)

select * from unioned
