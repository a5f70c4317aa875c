{#- One row per custom event for Braze's events sync, with a unique event_id: order_completed (each e-shop
    order and till sale that was not cancelled, at its order time), order_refunded (a refund receipt, or an
    e-shop order marked refunded, at the refund's time) and the web events of identified visitors except
    page views (one per page would cost a data point each for little targeting value). external_id is the
    person id of braze_users; amounts are in the order's own currency. -#}

with

{#- Only persons synced as users (braze_users): an event must not create a profile of its own in Braze. #}
users as (

    select person_id from {{ ref('int_customer_golden_records') }}

),

orders as (

    select * from {{ ref('int_orders_persons') }}
    where order_status <> 'cancelled'
        and person_id in (select person_id from users)

),

web_events as (

    select * from {{ ref('int_web_events_persons') }}
    where event_type <> 'page_view'
        and person_id in (select person_id from users)

),

order_events as (

    select
        'order:' || order_id as event_id,
        person_id as external_id,
        'order_completed' as event_name,
        ordered_at as occurred_at,
        order_id,
        channel,
        cast(amount as double precision) as amount,
        currency,
        store_id,
        cast(null as varchar) as product_id
    from orders
    where channel = 'eshop' or not is_refund

    union all

    select
        'refund:' || order_id as event_id,
        person_id as external_id,
        'order_refunded' as event_name,
        {#- A refunded e-shop order was refunded when it was last updated; a refund receipt when it was made. #}
        case when channel = 'eshop' then updated_at else ordered_at end as occurred_at,
        order_id,
        channel,
        cast(abs(amount) as double precision) as amount,
        currency,
        store_id,
        cast(null as varchar) as product_id
    from orders
    where is_refund

),

site_events as (

    select
        'web:' || event_id as event_id,
        person_id as external_id,
        event_type as event_name,
        occurred_at,
        cast(null as varchar) as order_id,
        'web' as channel,
        cast(null as double precision) as amount,
        cast(null as varchar) as currency,
        cast(null as varchar) as store_id,
        properties ->> 'product_id' as product_id
    from web_events

),

final as (

    select * from order_events
    union all
    select * from site_events

)

select * from final
