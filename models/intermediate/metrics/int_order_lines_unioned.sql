{#- One row per order line of every channel, with its order's channel, node key, time, status and currency
    (see int_orders_unioned). Incremental on the same rules as int_orders_unioned: the lines of the orders
    loaded again are deleted and inserted again. -#}

{{ config(
    materialized='incremental',
    unique_key='order_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with

orders as (

    select * from {{ ref('int_orders_unioned') }}
    {%- if is_incremental() %}
    {#- The orders this run (re)loaded: their updated_at is at or after the lines' watermark per channel. #}
    where {{ rsync_braze._orders_changed_since(this) }}
    {%- endif %}

),

eshop_lines as (

    select * from {{ ref('stg_eshop__order_lines') }}

),

pos_lines as (

    select * from {{ ref('stg_pos__transaction_lines') }}

),

lines as (

    select
        order_line_id,
        order_id,
        product_id,
        product_category,
        quantity,
        unit_price,
        line_amount
    from eshop_lines

    union all

    select
        transaction_line_id as order_line_id,
        transaction_id as order_id,
        product_id,
        product_category,
        quantity,
        unit_price,
        line_amount
    from pos_lines

),

final as (

    select
        lines.order_line_id,
        lines.order_id,
        orders.channel,
        orders.person_key,
        orders.store_id,
        orders.ordered_at,
        orders.order_status,
        orders.is_refund,
        orders.currency,
        lines.product_id,
        lines.product_category,
        lines.quantity,
        lines.unit_price,
        lines.line_amount,
        orders.updated_at
    from lines
    inner join orders on orders.order_id = lines.order_id

)

select * from final
