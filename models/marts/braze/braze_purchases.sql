{#- One row per order line of a completed purchase (e-shop orders neither cancelled nor refunded, till sales),
    for Braze's purchases sync: purchase_id (the line id, unique), external_id, product_id, currency (the
    order's own), price (unit price), quantity, purchased_at. Refunds are not purchases; braze_events carries
    them as order_refunded. -#}

with

{#- Only persons synced as users (braze_users): an event must not create a profile of its own in Braze. #}
users as (

    select person_id from {{ ref('int_customer_golden_records') }}

),

order_lines as (

    select * from {{ ref('int_order_lines_persons') }}
    where order_status = 'completed'
        and not is_refund
        and person_id in (select person_id from users)

),

final as (

    select
        order_line_id as purchase_id,
        person_id as external_id,
        product_id,
        currency,
        cast(unit_price as double precision) as price,
        quantity,
        ordered_at as purchased_at,
        order_id,
        channel,
        store_id,
        product_category
    from order_lines

)

select * from final
